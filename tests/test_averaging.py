"""train.ema: the moving average of the weights is what validation scores, best.pt keeps and test reports."""

import json

import pytest
import torch

import train
from ram.build import build_model, make_env
from ram.training.averaging import WeightAverage
from ram.training.checkpoint import checkpoint_config
from tests.conftest import REPO


def test_update_follows_the_warmed_up_decay_and_swapping_restores_the_raw_weights_bit_for_bit():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    start = [p.detach().clone() for p in model.parameters()]
    average = WeightAverage(model, decay=0.9)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    average.update()  # first update: d = min(0.9, 2 / 11)
    d = 2 / 11
    for avg, s in zip(average.params, start):
        torch.testing.assert_close(avg, d * s + (1 - d) * (s + 1))
    raw = [p.detach().clone() for p in model.parameters()]
    with average.swapped_in():
        assert all(torch.equal(p, a) for p, a in zip(model.parameters(), average.params))
    assert all(torch.equal(p, r) for p, r in zip(model.parameters(), raw))
    state = average.model_state()
    assert torch.equal(state["weight"], average.params[0]) and torch.equal(state["bias"], average.params[1])
    assert torch.equal(model.weight, raw[0])  # model_state leaves the model alone


def test_validation_scores_the_average_and_best_pt_holds_it(data_dir, tmp_path):
    out = tmp_path / "run"
    assert train.main(["--config", str(REPO / "configs/mnist28.yaml"), "--out", str(out), "--data-dir", data_dir,
                       "train.epochs=1", "data.train_size=2048", "data.val_size=1000", "eval.mc_samples=1",
                       "model.glimpses=3", "train.lr=3e-3", "train.ema=0.95", "logger.wandb=disabled"]) == 0
    best = torch.load(out / "checkpoints/best.pt", weights_only=True)
    last = torch.load(out / "checkpoints/last.pt", weights_only=True)
    assert last["ema"]["updates"] == 32  # one per optimizer step: 2048 digits / batch 64
    params = dict(zip([n for n, _ in build_model(checkpoint_config(last)).named_parameters()], last["ema"]["params"]))
    assert all(torch.equal(best["model"][n], params[n]) for n in params)  # one epoch: best is the last average
    assert any(not torch.equal(best["model"][n], last["model"][n]) for n in params)  # not the raw weights

    cfg = checkpoint_config(best)
    model = build_model(cfg)
    env = make_env(cfg, "val", 1000, torch.device("cpu"))
    model.load_state_dict(best["model"])
    averaged = model.error(env, "deterministic", 1)
    model.load_state_dict(last["model"])
    raw = model.error(env, "deterministic", 1)
    logged = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])["val_error"]
    assert averaged != raw, "the average and the raw weights must score apart for this test to say anything"
    assert logged == pytest.approx(averaged, abs=1e-9)


def test_a_decay_of_one_is_refused_in_one_line(tmp_path, capsys):
    assert train.main(["--out", str(tmp_path / "x"), "train.ema=1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "train.ema" in err and "[0, 1)" in err


def test_compare_ema_logs_a_second_average_and_changes_nothing_else(data_dir, tmp_path):
    # eval.compare_ema exists to compare two decays on one trajectory: it must not move training or best.pt
    args = ["--config", str(REPO / "configs/mnist28.yaml"), "--data-dir", data_dir, "train.epochs=2",
            "data.train_size=1024", "data.val_size=1000", "eval.mc_samples=1", "model.glimpses=3", "train.lr=3e-3",
            "train.ema=0.9", "logger.wandb=disabled"]
    assert train.main([*args, "--out", str(tmp_path / "plain")]) == 0
    assert train.main([*args, "eval.compare_ema=0.5", "--out", str(tmp_path / "compared")]) == 0
    rows = {name: [json.loads(line) for line in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
            for name in ("plain", "compared")}
    for plain, compared in zip(rows["plain"], rows["compared"], strict=True):
        assert plain["train_error"] == compared["train_error"] and plain["val_error"] == compared["val_error"]
        assert "val_error_compare" not in plain and "val_error_compare_a" in compared
    best = {name: torch.load(tmp_path / name / "checkpoints/best.pt", weights_only=True) for name in rows}
    assert all(torch.equal(v, best["compared"]["model"][k]) for k, v in best["plain"]["model"].items())

    last = torch.load(tmp_path / "compared/checkpoints/last.pt", weights_only=True)  # the logged average is decay 0.5's
    assert last["ema_compare"]["updates"] == last["ema"]["updates"] == 32  # every step: 2 x 1024 digits / batch 64
    cfg = checkpoint_config(last)
    model = build_model(cfg)
    model.load_state_dict(last["model"])
    compare = WeightAverage(model, 0.5)
    compare.load_state_dict(last["ema_compare"])
    env = make_env(cfg, "val", 1000, torch.device("cpu"))
    with compare.swapped_in():
        error = model.error(env, "deterministic", 1)
    assert rows["compared"][-1]["val_error_compare"] == pytest.approx(error, abs=1e-9)
    assert rows["compared"][-1]["val_error_compare"] != rows["compared"][-1]["val_error"]
