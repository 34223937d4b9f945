"""train.py end to end: run directory, learning on a small set, resume, one-line errors."""

import json
import re
import subprocess
import sys

import pytest
import torch

import train
from tests.conftest import REPO


def run_train(*args) -> int:
    return train.main([str(a) for a in args])


def test_short_run_learns(data_dir, tmp_path):
    out = tmp_path / "run"
    code = run_train("--config", REPO / "configs/mnist28.yaml", "--out", out, "--data-dir", data_dir,
                     "train.epochs=3", "data.train_size=4096", "data.val_size=2000", "eval.mc_samples=2")
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    for key in ("test_error_single", "test_error_deterministic", "test_error_mc"):
        assert 0 <= results[key] < 0.7, results  # chance is 0.9
    assert results["params"] == sum(p.numel() for p in torch.load(out / "checkpoints/best.pt",
                                                                   weights_only=True)["model"].values())
    assert results["train_images_per_s"] > 0
    lines = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
    assert [l["epoch"] for l in lines] == [1, 2, 3]
    assert lines[-1]["val_error"] < lines[0]["val_error"]


def test_resume_continues_from_the_saved_epoch(data_dir, tmp_path):
    out = tmp_path / "run"
    common = ["--data-dir", data_dir, "data.train_size=512", "data.val_size=1000", "eval.mc_samples=1",
              "model.glimpses=2"]
    assert run_train("--out", out, *common, "train.epochs=1") == 0
    first = torch.load(out / "checkpoints/last.pt", weights_only=True)
    assert first["epoch"] == 1 and first["global_step"] == 8  # 512 digits / batch 64
    assert run_train("--out", out, "--resume", *common, "train.epochs=2") == 0
    last = torch.load(out / "checkpoints/last.pt", weights_only=True)
    assert last["epoch"] == 2 and last["global_step"] == 16
    assert [json.loads(l)["epoch"] for l in (out / "metrics.jsonl").read_text().splitlines()] == [1, 2]


def test_cli_end_to_end_writes_the_run_directory(data_dir, tmp_path):
    out = tmp_path / "cli"
    proc = subprocess.run([sys.executable, "train.py", "--data-dir", data_dir, "--out", str(out), "train.epochs=1",
                           "data.train_size=2048", "model.glimpses=2", "train.threads=1", "eval.mc_samples=1"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    for name in ("config.yaml", "metrics.jsonl", "results.json", "checkpoints/last.pt", "checkpoints/best.pt"):
        assert (out / name).is_file(), name
    results = json.loads((out / "results.json").read_text())
    assert {"test_error_single", "test_error_deterministic", "test_error_mc", "params",
            "train_images_per_s"} <= results.keys()


@pytest.mark.parametrize("override,message", [
    ("train.epoch=1", "unknown key 'train.epoch'; did you mean train.epochs?"),
    ("model.glimpses=0", "model.glimpses=0 must be greater than 0"),
    ("train.lr=fast", "train.lr: expected float, got 'fast'"),
])
def test_bad_override_is_one_line(tmp_path, capsys, override, message):
    assert run_train("--out", tmp_path / "x", override) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message in err
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("bug", [ValueError("mat1 and mat2 shapes cannot be multiplied (64x432 and 144x128)"),
                                 OSError("[Errno 5] Input/output error")])
def test_a_bug_keeps_its_traceback(tmp_path, monkeypatch, bug):
    """Only the project's own errors (ram.errors.RamError, envs' DataError) are one line; anything else,
    a shape error deep in torch for instance, reaches the user with its traceback."""
    from ram.training.trainer import Trainer

    def fail(*args, **kwargs):
        raise bug

    monkeypatch.setattr(Trainer, "__init__", fail)
    with pytest.raises(type(bug), match=re.escape(str(bug))):
        run_train("--out", tmp_path / "x", "logger.wandb=disabled")
