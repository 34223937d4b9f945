"""Validation halves: the trainer logs the error of the even and odd validation episodes beside the whole, and
benchmarks/selection_rules.py judges how to pick the kept epoch on one half by the other."""

import json

import pytest
import torch

from benchmarks import selection_rules
from ram.build import build_model, make_env
from ram.training.config import load_config
from ram.training.trainer import Trainer


def small(data_dir, *extra):
    return load_config(None, [f"data.data_dir={data_dir}", "data.benchmark=mnist28", "data.train_size=256",
                              "data.val_size=501", "model.glimpse_size=8", "model.scales=1", "model.glimpses=2",
                              "train.batch_size=32", "train.epochs=2", "eval.batch_size=64",
                              "logger.wandb=disabled", *extra])


@pytest.mark.parametrize("model", ["ram", "cnn_paper"])
def test_wrong_episodes_marks_each_fixed_episode_once_and_counts_the_error(data_dir, model):
    """501 episodes in batches of 64: the last batch wraps around, and its repeats must not be scored twice."""
    cfg = small(data_dir, f"model.name={model}")
    torch.manual_seed(0)
    net = build_model(cfg)
    env = make_env(cfg, "val", 64, "cpu")
    wrong = net.wrong_episodes(env, "deterministic", 1)
    assert wrong.shape == (501,) and wrong.dtype == torch.bool
    assert wrong.sum().item() / 501 == net.error(env, "deterministic", 1)
    assert 0 < wrong.sum() < 501  # an untrained net gets some right and some wrong: the mask is not constant


def test_validation_logs_two_halves_that_make_up_the_whole(data_dir, tmp_path):
    trainer = Trainer(small(data_dir), tmp_path / "run")
    trainer.fit()
    records = [json.loads(line) for line in (tmp_path / "run/metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in records if "val_error" in r]
    assert len(epochs) == 2
    for r in epochs:  # 251 even episodes and 250 odd ones
        assert r["val_error"] * 501 == pytest.approx(r["val_error_a"] * 251 + r["val_error_b"] * 250)
    assert selection_rules.halves(tmp_path / "run") is not None


def write_run(path, a, b):
    path.mkdir(parents=True)
    lines = [json.dumps({"epoch": e, "val_error": (x + y) / 2, "val_error_a": x, "val_error_b": y})
             for e, (x, y) in enumerate(zip(a, b), start=1)]
    (path / "metrics.jsonl").write_text("\n".join(lines) + "\n")


def test_a_rule_that_picks_a_lucky_score_is_found_out_by_the_other_half(tmp_path, capsys):
    """Both halves fall from 3% to 1%; half a has one lucky early dip (0.5% at epoch 3) that half b, the same
    weights on other digits, does not share. The best-epoch rule takes the dip and scores 2.6% on b; the last
    epoch scores 1%."""
    true = [0.03 - 0.002 * i for i in range(11)]  # 3.0% down to 1.0%
    a = list(true)
    a[2] = 0.005
    write_run(tmp_path / "lucky", a, true)
    write_run(tmp_path / "old", [], [])  # a run from before the halves were logged: skipped, not an error
    out = tmp_path / "rules"
    assert selection_rules.main([str(tmp_path / "lucky"), str(tmp_path / "old"), "--out", str(out)]) == 0
    rows = {r["rule"]: r for r in json.loads(out.with_suffix(".json").read_text())["rules"]}
    best, last = rows["best epoch (today's rule)"], rows["last epoch"]
    assert best["held_out"] == pytest.approx((0.026 + 0.010) / 2)  # picked epoch 3 on a, epoch 11 on b
    assert best["picked_on"] == pytest.approx((0.005 + 0.010) / 2)
    assert last["held_out"] == pytest.approx(0.010)
    assert last["vs_today"] == pytest.approx(0.010 - (0.026 + 0.010) / 2)  # pick by pick: -1.6 and 0 points
    assert last["vs_today_se"] == pytest.approx(0.016 / 2 ** 0.5 / 2 ** 0.5)
    assert rows["best 5-epoch mean"]["held_out"] == pytest.approx(0.010)  # one dip cannot win a 5-epoch mean
    assert "old" in capsys.readouterr().err
    assert out.with_suffix(".md").read_text().index("last epoch") < out.with_suffix(".md").read_text().index(
        "best epoch (today's rule)")  # ranked by held-out error


def test_runs_without_halves_get_a_one_line_error(tmp_path, capsys):
    write_run(tmp_path / "old", [], [])
    assert selection_rules.main([str(tmp_path / "old")]) == 2
    assert "val_error_a" in capsys.readouterr().err.splitlines()[-1]


def test_the_trailing_mean_never_looks_ahead():
    """A trainer can only apply a rule that needs no later epoch: the trailing pick on a curve cut at any epoch is
    the pick among that cut's epochs, whatever comes after."""
    curve = {e: 0.03 - 0.002 * e + (0.004 if e % 3 == 0 else 0.0) for e in range(1, 12)}
    for cut in range(1, 12):
        head = {e: v for e, v in curve.items() if e <= cut}
        means = {e: sum(head[x] for x in range(max(1, e - 4), e + 1)) / (e - max(1, e - 4) + 1) for e in head}
        assert selection_rules.trailing(head, 5) == min(means, key=lambda e: (means[e], e))
    steady = {1: 0.05, 2: 0.01, 3: 0.05, 4: 0.02, 5: 0.02, 6: 0.02}
    assert selection_rules.trailing(steady, 3) == 6  # three steady 2% scores beat the lone 1% dip at epoch 2


def test_snapshots_hold_the_weights_each_late_epoch_validated(data_dir, tmp_path):
    """eval.snapshots_from=0.5 of 2 epochs: only epoch 2 is kept, and it scores on validation exactly what the
    trainer logged for it, the moving average's error (train.ema) and not the raw weights'."""
    from ram.tools.evaluate import score

    trainer = Trainer(small(data_dir, "eval.snapshots_from=0.5", "train.ema=0.9"), tmp_path / "run")
    trainer.fit()
    kept = sorted(p.name for p in (tmp_path / "run/checkpoints/epochs").iterdir())
    assert kept == ["epoch_002.pt"]
    logged = [json.loads(line) for line in (tmp_path / "run/metrics.jsonl").read_text().splitlines()]
    val = [r["val_error"] for r in logged if r.get("epoch") == 2 and "val_error" in r][0]
    scored = score(tmp_path / "run/checkpoints/epochs/epoch_002.pt", split="val", data_dir=str(data_dir), batch=64)
    assert scored["epoch"] == 2
    assert scored["test_error_deterministic"] == pytest.approx(val, abs=1e-9)


def test_score_test_scores_the_weights_the_rule_picked(data_dir, tmp_path, capsys):
    """Epoch 1 is the best (forced below), epoch 2 the last and the only snapshot: 'last epoch' scores the
    snapshot, the best-epoch rule scores best.pt, and a pick with no kept weights is a one-line error."""
    from ram.tools.evaluate import score

    run = tmp_path / "run"
    Trainer(small(data_dir, "eval.snapshots_from=0.5", "eval.mc_samples=1", "train.ema=0.9"), run).fit()
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    for r in records:  # make epoch 1 the best and record it as such, as a run where it was would have
        if r.get("epoch") == 2 and "val_error" in r:
            r["val_error"] = 1.0
    (run / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    results = json.loads((run / "results.json").read_text())
    (run / "results.json").write_text(json.dumps({**results, "best_epoch": 1}))
    last = selection_rules.score_test([run], "last epoch", str(data_dir))[0]
    assert last["epoch"] == 2
    snap = score(run / "checkpoints/epochs/epoch_002.pt", data_dir=str(data_dir))
    assert last["test_error_deterministic"] == snap["test_error_deterministic"]
    assert selection_rules.RULES["best epoch (today's rule)"](selection_rules.whole(run)) == 1
    assert selection_rules.picked_checkpoint(run, 1, 2) == run / "checkpoints/best.pt"
    assert selection_rules.picked_checkpoint(run, 2, 2) == run / "checkpoints/epochs/epoch_002.pt"
    (run / "checkpoints/epochs/epoch_002.pt").unlink()  # the last epoch's weights are in last.pt as well
    again = selection_rules.score_test([run], "last epoch", str(data_dir))[0]
    assert again["test_error_deterministic"] == snap["test_error_deterministic"]
    (run / "checkpoints/epochs/epoch_002.pt").unlink()
    (run / "checkpoints/last.pt").unlink()
    with pytest.raises(SystemExit, match="kept no weights of epoch 2"):
        selection_rules.score_test([run], "last epoch", str(data_dir))


@pytest.mark.parametrize("select_from, kept", [(0.0, 1), (0.5, 2), (1.0, 3)])
def test_select_from_keeps_the_best_epoch_of_the_tail_only(data_dir, tmp_path, monkeypatch, select_from, kept):
    """Validation scores 5%, 10%, 20% over 3 epochs: every epoch may be kept at 0, epochs 2-3 at 0.5 (2 >= 1.5),
    the last one only at 1. best.pt, the test score and results.json follow the kept epoch, and the benchmark's
    rule for the same fraction picks the same one."""
    scores = iter([0.05, 0.10, 0.20])
    monkeypatch.setattr(Trainer, "_validate", lambda self, env, mode: {"val_error": next(scores)})
    run = tmp_path / "run"
    results = Trainer(small(data_dir, "train.epochs=3", f"eval.select_from={select_from}"), run).fit()
    assert results["best_epoch"] == kept and torch.load(run / "checkpoints/best.pt")["epoch"] == kept
    assert results["val_error_best"] == [0.05, 0.10, 0.20][kept - 1]
    assert selection_rules.best({1: 0.05, 2: 0.10, 3: 0.20}, select_from) == kept


def test_select_from_refuses_the_settings_that_count_from_the_best_epoch(data_dir):
    from ram.errors import ConfigError

    for setting in ("train.early_stop=5", "train.lr_schedule=plateau"):
        with pytest.raises(ConfigError, match="eval.select_from=0.8 ignores the epochs before it"):
            small(data_dir, "eval.select_from=0.8", setting)
    with pytest.raises(ConfigError, match="between 0 and 1"):
        small(data_dir, "eval.select_from=1.5")
