"""The Weights & Biases mirror, with the real wandb: offline runs read back with wandb's own .wandb reader
(`wandb leet inspect --json`), disabled runs start nothing, and an unreachable server costs no run."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

import train
from ram.training.config import LoggerConfig, load_config
from ram.records.dashboard import resolve_mode
from ram.records.logger import RunLogger

REPO = Path(__file__).resolve().parents[1]
SMALL = ["data.train_size=256", "data.val_size=200", "train.epochs=1", "train.batch_size=64", "train.log_every=1",
         "eval.batch_size=200", "eval.mc_samples=2", "model.glimpses=2", "model.hidden=32", "model.glimpse_hidden=16",
         "model.loc_hidden=16"]


def train_small(run_dir: Path, *overrides: str) -> int:
    """train.py in-process: 4 steps of a tiny RAM on 28x28 MNIST, then val and test."""
    return train.main(["--config", str(REPO / "configs" / "mnist28.yaml"), "--out", str(run_dir), *SMALL, *overrides])


def descendants() -> dict[int, str]:
    """{pid: name} of every live process below this one, from /proc (no psutil)."""
    parent = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            name, rest = stat.split("(", 1)[1].rsplit(")", 1)
            if rest.split()[0] != "Z":  # zombies are gone, only not yet reaped
                parent[int(entry)] = (int(rest.split()[1]), name)
    found, frontier = {}, {os.getpid()}
    while frontier:
        frontier = {pid for pid, (ppid, _) in parent.items() if ppid in frontier and pid not in found}
        found.update({pid: parent[pid][1] for pid in frontier})
    return found


@pytest.fixture(autouse=True)
def wandb_env(monkeypatch, tmp_path):
    """No test reaches the internet or the user's login; every wandb process is gone afterwards."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_ERROR_REPORTING", "false")
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")  # discard port: nothing answers
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    for key in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):  # not the user's ~/.config, ~/.cache
        monkeypatch.setenv(key, str(tmp_path / "home" / key.lower()))
    for key in ("WANDB_API_KEY", "WANDB_PROJECT", "WANDB_ENTITY", "WANDB_DISABLED", "WANDB_DIR", "RANK"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)  # a stray ./wandb folder would land here, where the tests look for it
    yield
    if "wandb" in sys.modules:
        sys.modules["wandb"].teardown()  # ends the wandb-core service of this test process
    deadline = time.monotonic() + 10
    while any("wandb" in name for name in descendants().values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [n for n in descendants().values() if "wandb" in n], "a wandb process outlived the test"


def inspect(run_dir: Path) -> tuple[list[dict], dict]:
    """(records, summary) of the single offline wandb run in run_dir, read by wandb's own reader."""
    (offline,) = sorted((run_dir / "wandb").glob("offline-run-*"))
    env = {k: v for k, v in os.environ.items() if k != "WANDB_API_KEY"} | {"WANDB_MODE": "offline"}

    def read(*flags: str) -> str:
        cmd = [sys.executable, "-m", "wandb", "leet", "inspect", "--json", *flags, str(offline)]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
        assert done.returncode == 0, f"{' '.join(cmd[1:])} failed: {done.stderr.strip()}"
        return done.stdout

    return [json.loads(line) for line in read().splitlines() if line.strip()], json.loads(read("--summary"))


def test_offline_run_records_config_steps_epochs_and_test_errors(data_dir, tmp_path):
    run_dir = tmp_path / "run"
    assert train_small(run_dir, "logger.wandb=offline") == 0
    results = json.loads((run_dir / "results.json").read_text())
    (epoch,) = [json.loads(l) for l in (run_dir / "metrics.jsonl").read_text().splitlines()]
    records, summary = inspect(run_dir)

    history = {r["history"]["step"]["num"]: r["history"]["item"] for r in records if r["type"] == "history"}
    assert sorted(history) == [1, 2, 3, 4]  # 256 digits / batch 64, logged every step
    for step in (1, 2, 3, 4):
        for key in ("loss", "ce", "reinforce", "baseline", "reward", "lr", "images_per_s", "grad_norm"):
            assert isinstance(history[step][f"train/{key}"], (int, float)), (step, key)
    assert history[4]["val/error"] == pytest.approx(epoch["val_error"])
    assert history[4]["epoch"] == 1
    assert history[4]["train_epoch/loss"] == pytest.approx(epoch["train_loss"])

    assert summary["state"] == "finished" and summary["exit_code"] == 0
    for key in ("test_error_single", "test_error_deterministic", "test_error_mc"):
        assert summary["summary"][key] == pytest.approx(results[key])
    assert summary["config"]["train"]["log_every"] == 1 and summary["config"]["data"]["train_size"] == 256
    assert summary["config"]["logger"]["wandb"] == "offline" and summary["name"] == "run"
    assert not (tmp_path / "wandb").exists()  # wandb's files stay inside the run directory


def test_media_and_checkpoint_artifact_are_mirrored(tmp_path, capsys):
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "checkpoints" / "best.pt").write_bytes(b"weights")
    frames = [Image.new("L", (16, 16), c) for c in (0, 128, 255)]
    gif = run_dir / "rollout.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=100, loop=0)
    cfg = load_config(overrides=["logger.wandb=offline", "logger.log_checkpoint=true"])
    logger = RunLogger(run_dir, cfg=cfg)
    logger.log_step({"loss": 1.5}, step=3)
    logger.log_media("rollouts/val", gif, step=3)
    logger.log_media("rollouts/gone", run_dir / "missing.gif", step=4)  # reported, skipped, nothing else lost
    logger.log_step({"loss": 1.25}, step=5)
    logger.finish({"test_error_single": 0.25})
    assert "log_media" in capsys.readouterr().err
    records, summary = inspect(run_dir)

    items = [r["history"]["item"] for r in records if r["type"] == "history"]
    (media,) = [i for i in items if "rollouts/val.path" in i]  # the reader flattens nested keys with dots
    assert media["rollouts/val._type"] == "video-file" and media["_step"] == 3 and media["train/loss"] == 1.5
    saved = next((run_dir / "wandb").glob("offline-run-*")) / "files" / media["rollouts/val.path"]
    assert saved.suffix == ".gif" and saved.read_bytes() == gif.read_bytes()
    assert [i["train/loss"] for i in items if "train/loss" in i] == [1.5, 1.25]
    (artifact,) = [r["artifact"] for r in records if r["type"] == "artifact"]
    assert artifact["type"] == "model" and "best.pt" in json.dumps(artifact)
    assert summary["summary"]["test_error_single"] == 0.25


def test_disabled_writes_no_wandb_files_and_starts_no_process(data_dir, tmp_path):
    run_dir = tmp_path / "run"
    before = descendants()
    assert train_small(run_dir, "logger.wandb=disabled") == 0
    assert set(descendants()) - set(before) == set()
    assert json.loads((run_dir / "results.json").read_text())["test_error_mc"] >= 0
    assert not list(tmp_path.rglob("*wandb*"))


def test_unreachable_server_falls_back_to_offline_quickly(data_dir, tmp_path, monkeypatch, capsys):
    with socket.socket() as s:  # a port that was free a moment ago: connections are refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("WANDB_BASE_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("WANDB_API_KEY", "f" * 40)  # well-formed, fake
    monkeypatch.delenv("WANDB_MODE")
    run_dir = tmp_path / "run"
    start = time.monotonic()
    assert train_small(run_dir, "logger.init_timeout=5") == 0  # auto: "logged in"
    wall = time.monotonic() - start
    assert wall < 60, f"an unreachable server held the run for {wall:.0f}s"
    assert "logging offline instead" in capsys.readouterr().err
    results = json.loads((run_dir / "results.json").read_text())
    assert {"test_error_single", "test_error_deterministic", "test_error_mc"} <= set(results)
    assert [json.loads(l)["epoch"] for l in (run_dir / "metrics.jsonl").read_text().splitlines()] == [1]
    records, summary = inspect(run_dir)  # and the dashboard copy was kept, offline
    assert summary["summary"]["test_error_mc"] == pytest.approx(results["test_error_mc"])


def test_online_without_a_key_goes_offline_instead_of_prompting(tmp_path, capsys):
    logger = RunLogger(tmp_path, cfg=load_config(overrides=["logger.wandb=online"]))
    logger.finish({"test_error_single": 0.5})
    assert "online needs an API key" in capsys.readouterr().err
    assert len(list((tmp_path / "wandb").glob("offline-run-*"))) == 1


def test_other_ranks_write_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    logger = RunLogger(tmp_path, cfg=load_config(overrides=["logger.wandb=offline"]))
    logger.log_epoch({"epoch": 1, "step": 4, "val_error": 0.5})
    logger.log_step({"loss": 1.0}, step=4)
    logger.finish({"test_error_single": 0.5})
    assert list(tmp_path.iterdir()) == []


def test_mode_resolution(monkeypatch):
    assert resolve_mode("disabled") == ("disabled", "logger.wandb=disabled")  # the config wins over WANDB_MODE
    assert resolve_mode("auto")[0] == "offline"  # the fixture's WANDB_MODE=offline
    monkeypatch.setenv("WANDB_MODE", "dryrun")
    assert resolve_mode("auto")[0] == "offline"
    monkeypatch.setenv("WANDB_MODE", "bogus")
    with pytest.raises(ValueError, match="WANDB_MODE"):
        resolve_mode("auto")
    monkeypatch.delenv("WANDB_MODE")
    assert resolve_mode("auto") == ("offline", "not logged in")
    monkeypatch.setenv("WANDB_API_KEY", "f" * 40)
    assert resolve_mode("auto") == ("online", "logged in")
    monkeypatch.setenv("WANDB_DISABLED", "true")
    assert resolve_mode("auto")[0] == "disabled"
    assert LoggerConfig().init_timeout <= 30  # no minute-long waits by default
