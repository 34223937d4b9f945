"""eval.average_from: best.pt ends as the uniform average of the tail's validated weights, the same average
benchmarks/tail_average.py builds from a run's snapshots, and a run resumed inside the tail keeps it whole."""

import json

import pytest
import torch

from benchmarks import tail_average
from ram.tools.evaluate import score
from ram.training.config import load_config
from ram.training.guard import Interrupted
from ram.training.trainer import Trainer


def small(data_dir, *extra):
    """3 epochs; epochs 2 and 3 averaged (after 0.34 x 3); every epoch's validated weights snapshotted."""
    return load_config(None, [f"data.data_dir={data_dir}", "data.benchmark=mnist28", "data.train_size=256",
                              "data.val_size=501", "model.glimpse_size=8", "model.scales=1", "model.glimpses=2",
                              "train.batch_size=32", "train.epochs=3", "train.lr=3e-3", "train.ema=0.9",
                              "eval.batch_size=64", "eval.mc_samples=1", "eval.snapshots_from=0",
                              "eval.average_from=0.34", "logger.wandb=disabled", *extra])


@pytest.fixture(scope="module")
def run(data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("tail") / "run"
    results = Trainer(small(data_dir), out).fit()
    return out, results


def weights(path):
    return torch.load(path, weights_only=True)["model"]


def test_best_pt_is_the_mean_of_the_tail_epochs_validated_weights(run):
    out, results = run
    best = weights(out / "checkpoints/best.pt")
    two, three = weights(out / "checkpoints/epochs/epoch_002.pt"), weights(out / "checkpoints/epochs/epoch_003.pt")
    for name in best:
        torch.testing.assert_close(best[name], (two[name] + three[name]) / 2)
    assert any(not torch.equal(best[n], three[n]) for n in best)  # not the last epoch's weights
    assert results["kept"] == "average" and results["average_epochs"] == [2, 3]
    assert json.loads((out / "results.json").read_text())["average_epochs"] == [2, 3]


def test_results_score_the_average_on_validation_and_test(run):
    out, results = run
    val = tail_average.validation(out / "checkpoints/best.pt")
    assert results["val_error_kept"] == pytest.approx(val["val_error"], abs=1e-12)
    assert results["val_error_kept_a"] == pytest.approx(val["val_error_a"], abs=1e-12)
    assert results["test_error_deterministic"] == pytest.approx(
        score(out / "checkpoints/best.pt", "test", mc_samples=1)["test_error_deterministic"], abs=1e-12)


def test_the_benchmark_builds_the_same_average_from_the_snapshots_bit_for_bit(run):
    out, _ = run
    path = tail_average.tail_checkpoint(out, 0.34)
    built, kept = weights(path), weights(out / "checkpoints/best.pt")
    assert built.keys() == kept.keys() and all(torch.equal(built[n], kept[n]) for n in kept)
    assert torch.load(path, weights_only=True)["average_epochs"] == [2, 3]


def test_a_run_stopped_inside_the_tail_resumes_to_the_same_average(run, data_dir, tmp_path, monkeypatch):
    out, _ = run
    trainer = Trainer(small(data_dir), tmp_path / "run")
    log_epoch = trainer.logger.log_epoch

    def stop_after_epoch_two(record):  # Ctrl-C during epoch 3: last.pt holds a tail of epoch 2 only
        log_epoch(record)
        trainer.stop_requested = record["epoch"] == 2

    monkeypatch.setattr(trainer.logger, "log_epoch", stop_after_epoch_two)
    with pytest.raises(Interrupted):
        trainer.fit()
    assert torch.load(tmp_path / "run/checkpoints/last.pt", weights_only=True)["tail"]["count"] == 1
    Trainer(small(data_dir), tmp_path / "run", resume=True).fit()
    again, kept = weights(tmp_path / "run/checkpoints/best.pt"), weights(out / "checkpoints/best.pt")
    assert all(torch.equal(again[n], kept[n]) for n in kept)


def test_without_the_snapshots_the_benchmark_says_which_epochs_to_keep(run, tmp_path, capsys):
    out, _ = run
    bare = tmp_path / "bare"
    (bare / "checkpoints").mkdir(parents=True)
    (bare / "checkpoints/last.pt").write_bytes((out / "checkpoints/last.pt").read_bytes())
    assert tail_average.main([str(bare), "--from", "0.34"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "epoch_002.pt, epoch_003.pt" in err and "eval.snapshots_from" in err


def test_the_verdict_compares_pick_by_pick_with_the_best_and_the_last_epoch():
    """Run: halves a = (0.10, 0.05, 0.08), b = (0.09, 0.07, 0.06); the average scores 0.04 on a and 0.05 on b.
    Picked on a, the best epoch is 2 (b scores it 0.07), and the last scores 0.06 on b; picked on b, the best is
    3 (a scores it 0.08), the last 0.08 on a."""
    curve_a, curve_b = {1: 0.10, 2: 0.05, 3: 0.08}, {1: 0.09, 2: 0.07, 3: 0.06}
    verdict = tail_average.judge([{"curve_a": curve_a, "curve_b": curve_b,
                                   "tail": {"val_error_a": 0.04, "val_error_b": 0.05}}])
    assert verdict["picks"] == 2
    assert verdict["vs_today"] == pytest.approx(((0.05 - 0.07) + (0.04 - 0.08)) / 2)
    assert verdict["vs_last"] == pytest.approx(((0.05 - 0.06) + (0.04 - 0.08)) / 2)
