"""Reliability: a killed run resumes exactly, Ctrl-C saves, bad input is one line, a numerical fault keeps
the last good checkpoint.

Training runs are real ``python train.py`` subprocesses with small settings. Two runs count as the same
when every parameter, optimizer, scheduler and generator tensor in their checkpoints is equal
(torch.equal), and results.json and metrics.jsonl are equal apart from the fields that measure time
(TIMING): those depend on the machine's load, never on what was computed.
"""

import gzip
import json
import os
import random
import re
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import train
from envs.mnist import FILES, DataError, download, load_split, read_idx
from ram.training.checkpoint import (CheckpointError, capture_rng, load_checkpoint, load_model_checkpoint, load_weights,
                            restore_rng, save_checkpoint)
from ram.training.config import load_config
from ram.records.logger import RunLogger
from ram.models.ram import RAM
from tests.conftest import REPO

TIMING = {"train_images_per_s", "train_time_s", "wall_time_s", "images_per_s", "train_time", "wall_time"}
SMALL = ["--config", "configs/mnist28.yaml", "train.epochs=3", "data.train_size=512", "train.batch_size=64",
         "train.checkpoint_every=2", "train.threads=1", "data.val_size=200", "eval.batch_size=500",
         "eval.mc_samples=2", "model.hidden=64", "model.glimpse_hidden=32", "model.loc_hidden=32",
         "model.start=random",  # random first glimpses: the env generator matters in training and evaluation
         "train.ema=0.9",  # the weight average is state too: resume must restore it
         "logger.wandb=disabled"]  # the dashboard has its own tests; here it would only add start-up time


# ----------------------------------------------------------------------------------- helpers
def start_run(args: list, log: Path, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "train.py", *map(str, args)], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=open(log, "w"), env={**os.environ, **(env or {})})


def wait_for_checkpoint(proc: subprocess.Popen, out: Path, timeout: float = 120) -> float:
    """Poll until the run has written its first checkpoint; returns the moment it appeared."""
    deadline = time.time() + timeout
    while not (out / "checkpoints" / "last.pt").exists():
        assert proc.poll() is None, f"the run ended (rc {proc.returncode}) before its first checkpoint"
        assert time.time() < deadline, "no checkpoint within the timeout"
        time.sleep(0.005)
    return time.time()


def same_state(a, b, where="") -> None:
    """Every tensor torch.equal, every other value ==, recursively; timing fields skipped."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            if k not in TIMING:
                same_state(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            same_state(x, y, f"{where}[{i}]")
    elif torch.is_tensor(a):
        assert torch.equal(a, b), f"{where} differs"
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def without_timing(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in TIMING}


def assert_same_run(a: Path, b: Path) -> None:
    for name in ("last.pt", "best.pt"):
        same_state(torch.load(a / "checkpoints" / name, weights_only=True),
                   torch.load(b / "checkpoints" / name, weights_only=True), name)
    results_a, results_b = (json.loads((d / "results.json").read_text()) for d in (a, b))
    assert without_timing(results_a) == without_timing(results_b)
    metrics_a, metrics_b = ([without_timing(json.loads(l)) for l in (d / "metrics.jsonl").read_text().splitlines()]
                            for d in (a, b))
    assert metrics_a == metrics_b and [m["epoch"] for m in metrics_a] == [1, 2, 3]


def resume(out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "train.py", "--out", str(out), "--resume"], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def reference(data_dir, tmp_path_factory):
    """An uninterrupted run, and how long it trained after its first checkpoint (the window to strike in)."""
    out = tmp_path_factory.mktemp("reference") / "run"
    proc = start_run(["--data-dir", data_dir, "--out", out, *SMALL], out.parent / "log")
    first = wait_for_checkpoint(proc, out)
    assert proc.wait(300) == 0, (out.parent / "log").read_text()[-2000:]
    window = max((out / "checkpoints" / "last.pt").stat().st_mtime - first, 0.05)
    return SimpleNamespace(out=out, window=window)


def moment_rng() -> random.Random:
    """A generator for the random moments, seeded from $RAM_TEST_SEED or fresh; the seed is printed
    (pytest shows it with a failure), so a failing moment can be replayed."""
    seed = int(os.environ.get("RAM_TEST_SEED") or random.SystemRandom().randrange(2**32))
    print(f"random moments from seed {seed} (replay with RAM_TEST_SEED={seed})")
    return random.Random(seed)


def strike(sig: int, data_dir: str, tmp_path: Path, window: float) -> tuple[Path, str, float]:
    """Start a run, wait for its first checkpoint, send ``sig`` at a random moment of its training.
    Returns (run dir, stderr, delay). A run that finished before the signal is started again."""
    rng = moment_rng()
    for attempt in range(4):
        out = tmp_path / f"struck{attempt}"
        proc = start_run(["--data-dir", data_dir, "--out", out, *SMALL], tmp_path / f"log{attempt}")
        wait_for_checkpoint(proc, out)
        delay = rng.uniform(0, window) / (attempt + 1)
        time.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(sig)
            proc.wait(120)
            print(f"signal {sig} after {delay:.3f}s: last.pt at step "
                  f"{torch.load(out / 'checkpoints/last.pt', weights_only=True)['global_step']}")
            return out, (tmp_path / f"log{attempt}").read_text(), delay
        assert proc.returncode == 0
    pytest.fail("the run always finished before the signal")


# ----------------------------------------------------------------------------------- kill and resume
def test_kill9_at_a_random_moment_then_resume_is_exact(reference, data_dir, tmp_path):
    out, _, _ = strike(signal.SIGKILL, data_dir, tmp_path, reference.window)
    saved = torch.load(out / "checkpoints/last.pt", weights_only=True)
    # what a kill at the worst moments leaves behind: a metrics line written after the last checkpoint,
    # half a metrics line, and half a checkpoint under its temporary name
    with open(out / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"epoch": saved["epoch"] + 1, "val_error": 0.5}) + '\n{"epoch": 9, "val_')
    (out / "checkpoints" / "last.pt.tmp").write_bytes((out / "checkpoints/last.pt").read_bytes()[:1000])
    done = resume(out)
    assert done.returncode == 0, done.stderr[-2000:]
    assert_same_run(reference.out, out)


def test_a_run_being_trained_cannot_be_resumed_by_a_second_process(reference, data_dir, tmp_path):
    """A sweep started again while its first run still trains must not resume that run beside it."""
    out = tmp_path / "busy"
    proc = start_run(["--data-dir", data_dir, "--out", out, *SMALL, "train.epochs=50"], tmp_path / "log")
    try:
        wait_for_checkpoint(proc, out)
        second = resume(out)
        assert second.returncode == 2, second.stderr[-2000:]
        message = second.stderr.strip()
        assert message == (f"error: {out} is being trained by another process right now: let that one finish (or "
                           "stop it) before resuming, or pick another --out")
        assert proc.poll() is None  # the first run trains on, untouched
    finally:
        proc.kill()
        proc.wait(60)
    # the lock dies with its process (here kill -9): the run resumes (train.epochs=1: no more than one epoch)
    done = subprocess.run([sys.executable, "train.py", "--out", str(out), "--resume", "train.epochs=1"], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_saves_and_exits_cleanly_then_resumes_exactly(reference, data_dir, tmp_path, sig):
    out, err, _ = strike(sig, data_dir, tmp_path, reference.window / 3)
    assert "Traceback" not in err
    message = err.strip().splitlines()[-1]
    assert re.fullmatch(rf"interrupted at step (\d+) \(epoch \d\): saved {re.escape(str(out))}/checkpoints/last\.pt; "
                        rf"resume with: python train.py --out {re.escape(str(out))} --resume", message), message
    step = int(re.search(r"step (\d+)", message).group(1))
    assert torch.load(out / "checkpoints/last.pt", weights_only=True)["global_step"] == step
    done = resume(out)
    assert done.returncode == 0, done.stderr[-2000:]
    assert_same_run(reference.out, out)


SAVER = """
import sys, torch
from pathlib import Path
from ram.training.checkpoint import save_checkpoint
for i in range(1, 100000):
    save_checkpoint({"i": i, "w": torch.full((1 << 19,), float(i))}, Path(sys.argv[1]))  # 2 MB each
"""


def test_a_kill_while_saving_leaves_a_whole_checkpoint(tmp_path):
    path = tmp_path / "last.pt"
    proc = subprocess.Popen([sys.executable, "-c", SAVER, str(path)], cwd=REPO)
    try:
        while not path.exists():
            assert proc.poll() is None
            time.sleep(0.005)
        time.sleep(moment_rng().uniform(0.05, 0.5))  # a random moment, most likely mid-save
    finally:
        proc.kill()
        proc.wait()
    state = torch.load(path, weights_only=True)
    assert state["i"] >= 1 and torch.equal(state["w"], torch.full((1 << 19,), float(state["i"])))


def test_metrics_of_redone_epochs_and_torn_lines_are_dropped_on_resume(tmp_path):
    lines = [json.dumps({"epoch": e, "val_error": 0.1 * e}) for e in (1, 2, 3)]
    (tmp_path / "metrics.jsonl").write_text("\n".join(lines) + '\n{"epoch": 4, "va')
    RunLogger(tmp_path, resume_epoch=2)
    assert (tmp_path / "metrics.jsonl").read_text() == lines[0] + "\n" + lines[1] + "\n"
    RunLogger(tmp_path)  # a fresh run in a directory without checkpoints starts a fresh history
    assert not (tmp_path / "metrics.jsonl").exists()


def test_every_generator_round_trips_through_a_weights_only_checkpoint(tmp_path):
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    np.random.standard_normal()  # leaves a cached gaussian in numpy's state
    save_checkpoint({"rng": capture_rng()}, tmp_path / "rng.pt")
    first = (random.random(), np.random.standard_normal(3).tolist(), torch.rand(3).tolist())
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    restore_rng(torch.load(tmp_path / "rng.pt", weights_only=True)["rng"])
    assert (random.random(), np.random.standard_normal(3).tolist(), torch.rand(3).tolist()) == first


# ----------------------------------------------------------------------------------- numerical faults
@pytest.mark.parametrize("log_every,caught_by", [(1, "the loss is nan at step 2"),  # at a log interval
                                                 (1000, "the loss is non-finite at step 2")])  # before a save
def test_nonfinite_loss_stops_and_keeps_the_last_good_checkpoint(data_dir, tmp_path, capsys, log_every, caught_by):
    out = tmp_path / "run"
    # lr 1e30: Adam's first step moves every weight by ~1e30 (still finite), the second forward pass overflows
    code = train.main(["--config", str(REPO / "configs/mnist28.yaml"), "--data-dir", data_dir, "--out", str(out),
                       "train.epochs=1", "data.train_size=256", "train.batch_size=64", "data.val_size=200",
                       "train.lr=1e30", "train.grad_clip=0", "train.checkpoint_every=1", f"train.log_every={log_every}",
                       "logger.wandb=disabled"])
    assert code == 2
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert message.startswith(f"error: {caught_by} (epoch 1): training stopped; the last good checkpoint (step 1) "
                              f"is kept in {out}/checkpoints/last.pt"), message
    saved = torch.load(out / "checkpoints/last.pt", weights_only=True)
    assert saved["global_step"] == 1 and all(t.isfinite().all() for t in saved["model"].values())
    assert not (out / "checkpoints/best.pt").exists() and not (out / "results.json").exists()


# ----------------------------------------------------------------------------------- bad config
def one_line_error(capsys, argv) -> str:
    assert train.main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("error: "), err
    return err


@pytest.mark.parametrize("args,message", [
    (["model.glimpse=4"], "unknown key 'model.glimpse'; did you mean model.glimpses?"),
    (["trian.epochs=4"], "unknown key 'trian'; did you mean train?"),
    (["train.epochs=two"], "override 'train.epochs=two': train.epochs: expected int, got 'two' (str)"),
    (["train.epochs=1.5"], "train.epochs: expected int, got 1.5 (float)"),
    (["model.loc_std=[1, 2]"], "model.loc_std: expected float, got [1, 2] (list)"),
    (["model.glimpses=0"], "model.glimpses=0 must be greater than 0"),
    (["model.loc_std=-0.1"], "model.loc_std=-0.1 must be greater than 0"),
    (["train.lr=.nan"], "train.lr=nan must be a finite number"),
    (["model.glimpse_size=64", "model.scales=4"], "makes a 512px patch, more than 4x the 60px canvas"),
    (["--data-dir", "/no/such/mnist"], "data.data_dir='/no/such/mnist' does not exist"),
    (["train.device=gpu"], "train.device='gpu' is not a device"),
    (["data.train_size=100", "train.batch_size=128"], "train.batch_size=128 is larger than data.train_size=100"),
    (["--config", "configs/nope.yaml"], "config file configs/nope.yaml does not exist"),
])
def test_bad_config_is_one_line_before_any_work(tmp_path, capsys, args, message):
    err = one_line_error(capsys, ["--out", tmp_path / "run", *args])
    assert message in err
    assert not (tmp_path / "run").exists()


def test_bad_yaml_file_names_the_file_and_line(tmp_path, capsys):
    (tmp_path / "bad.yaml").write_text("train:\n  epochs: 3\n lr: [\n")
    assert "bad.yaml: not valid YAML at line" in one_line_error(capsys, ["--config", tmp_path / "bad.yaml"])
    (tmp_path / "typo.yaml").write_text("model:\n  hiden: 64\n")
    assert f"{tmp_path / 'typo.yaml'}: unknown key 'model.hiden'; did you mean model.hidden?" in \
        one_line_error(capsys, ["--config", tmp_path / "typo.yaml"])


def test_floats_in_exponent_notation_are_numbers():
    assert load_config(None, ["train.lr=1e-4", "train.lr_min=1e-6"]).train.lr == 1e-4  # YAML 1.1 reads a string


# ----------------------------------------------------------------------------------- checkpoints of another run
def test_resume_with_another_model_is_one_line(reference, tmp_path, capsys):
    out = tmp_path / "copy"
    shutil.copytree(reference.out, out)
    err = one_line_error(capsys, ["--out", out, "--resume", "model.hidden=32"])
    assert "was trained with model.hidden=64, but the config has model.hidden=32: resume with the run's own" in err
    assert "nothing to resume in" in one_line_error(capsys, ["--out", tmp_path / "empty", "--resume"])
    assert "already holds a run: add --resume" in one_line_error(capsys, ["--out", out, *SMALL])


def test_viewer_loads_a_checkpoint_by_its_own_config_and_rejects_another(reference):
    path = reference.out / "checkpoints/best.pt"
    cfg, state = load_model_checkpoint(path)
    assert cfg.model.hidden == 64
    model = RAM.from_config(cfg)
    load_weights(model, state, path)
    assert torch.equal(model.action_net.weight, state["model"]["action_net.weight"])
    with pytest.raises(CheckpointError, match=r"best\.pt was trained with model\.glimpse_hidden=32, model\.loc_hidden=32, "
                                              r"model\.hidden=64, model\.start='random', but the config has "
                                              r"model\.glimpse_hidden=128, model\.loc_hidden=128, model\.hidden=256, "
                                              r"model\.start='learned': build the model from the checkpoint's own config"):
        load_model_checkpoint(path, load_config(REPO / "configs/mnist28.yaml"))
    with pytest.raises(CheckpointError, match=r"best\.pt does not fit this model \(size mismatch for") as e:
        load_weights(RAM(glimpse_size=8, scales=1, glimpses=7, hidden=32), state, path)
    assert "\n" not in str(e.value)


def test_truncated_or_foreign_checkpoint_is_one_line(reference, tmp_path):
    (tmp_path / "cut.pt").write_bytes((reference.out / "checkpoints/last.pt").read_bytes()[:5000])
    with pytest.raises(CheckpointError, match=r"cut\.pt cannot be read \(.*\): it is truncated"):
        load_checkpoint(tmp_path / "cut.pt")
    torch.save(RAM().state_dict(), tmp_path / "weights.pt")
    with pytest.raises(CheckpointError, match=r"weights\.pt is not a checkpoint of this project"):
        load_checkpoint(tmp_path / "weights.pt")


def test_a_full_disk_keeps_the_previous_checkpoint(tmp_path):
    if not Path("/dev/full").exists():
        pytest.skip("needs /dev/full")
    path = tmp_path / "last.pt"
    save_checkpoint({"i": 1}, path)
    (tmp_path / "last.pt.tmp").symlink_to("/dev/full")  # every write to the temporary file fails with ENOSPC
    with pytest.raises(CheckpointError, match=r"could not write checkpoint .*last\.pt \(No space left on device\)"):
        save_checkpoint({"i": 2}, path)
    assert torch.load(path, weights_only=True) == {"i": 1}


# ----------------------------------------------------------------------------------- bad data
def idx_bytes(magic: int, shape: tuple, data: bytes) -> bytes:
    return struct.pack(f">I{len(shape)}I", magic, *shape) + data


def test_bad_idx_files_name_the_file(tmp_path):
    cases = {
        "wrong-magic": (idx_bytes(1234, (3,), b"\x01\x02\x03"), "has magic number 1234, expected 2051"),
        "short-body": (idx_bytes(2051, (10, 28, 28), bytes(100)), "holds 100 data bytes but its header promises 7840"),
        "tiny": (b"\x00\x00", "is too short to be an IDX file (2 bytes)"),
    }
    for name, (raw, message) in cases.items():
        (tmp_path / name).write_bytes(raw)
        with pytest.raises(DataError, match=re.escape(f"{tmp_path / name} {message}")):
            read_idx(tmp_path / name)


def test_truncated_and_corrupt_gzip_name_the_file(data_dir, tmp_path):
    good = (Path(data_dir) / "t10k-labels-idx1-ubyte.gz").read_bytes()
    (tmp_path / "cut.gz").write_bytes(good[:len(good) // 2])
    with pytest.raises(DataError, match=r"cut\.gz is not a readable gzip file \(Compressed file ended"):
        read_idx(tmp_path / "cut.gz")
    flipped = bytearray(good)
    flipped[len(good) // 2: len(good) // 2 + 8] = bytes(8)
    (tmp_path / "flipped.gz").write_bytes(bytes(flipped))
    with pytest.raises(DataError, match=r"flipped\.gz is not a readable gzip file"):
        read_idx(tmp_path / "flipped.gz")
    (tmp_path / "plain.gz").write_bytes(gzip.decompress(good))  # named .gz but not compressed
    with pytest.raises(DataError, match=r"plain\.gz is not a readable gzip file \(Not a gzipped file"):
        read_idx(tmp_path / "plain.gz")


def test_image_label_count_mismatch_names_both_files(tmp_path):
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(2051, (10, 28, 28), bytes(7840)))
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(2049, (9,), bytes(9)))
    with pytest.raises(DataError, match=re.escape(f"{tmp_path / 't10k-images-idx3-ubyte'} holds 10 images but "
                                                  f"{tmp_path / 't10k-labels-idx1-ubyte'} holds 9 labels")):
        load_split("test", tmp_path)


def corrupt_train_dir(data_dir: str, tmp_path: Path) -> Path:
    """The four files, with the training labels truncated: an md5 mismatch."""
    bad = tmp_path / "mnist"
    bad.mkdir()
    for name in FILES:
        (bad / name).symlink_to(Path(data_dir) / name)
    (bad / "train-labels-idx1-ubyte.gz").unlink()
    (bad / "train-labels-idx1-ubyte.gz").write_bytes((Path(data_dir) / "train-labels-idx1-ubyte.gz").read_bytes()[:-100])
    return bad


def test_train_py_reports_bad_data_as_one_line_exit_2(data_dir, tmp_path):
    bad = corrupt_train_dir(data_dir, tmp_path)
    proc = subprocess.run([sys.executable, "train.py", "--data-dir", str(bad), "--out", str(tmp_path / "run"),
                           *SMALL], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert re.fullmatch(rf"error: {re.escape(str(bad))}/train-labels-idx1-ubyte\.gz has md5 [0-9a-f]{{32}}, expected "
                        r"d53e105e.*delete it and download it again", proc.stderr.strip()), proc.stderr


def test_interrupted_download_leaves_nothing_that_looks_complete(data_dir, tmp_path, serve):
    good = (Path(data_dir) / "t10k-labels-idx1-ubyte.gz").read_bytes()
    url = serve({"*": good[:len(good) // 2]}, claim=len(good))  # promises the whole file, closes halfway
    with pytest.raises(DataError, match=rf"download of t10k-labels-idx1-ubyte\.gz from {url}t10k-labels-idx1-ubyte"
                                        rf"\.gz was cut short \({len(good) // 2} of {len(good)} bytes\)"):
        download("t10k-labels-idx1-ubyte.gz", tmp_path, urls=(url,), timeout=10)
    assert list(tmp_path.iterdir()) == []
    wrong = bytearray(good)
    wrong[100] ^= 0xFF
    url = serve({"*": bytes(wrong)})  # complete, but not the canonical bytes
    with pytest.raises(DataError, match=r"download of t10k-labels-idx1-ubyte\.gz from .* has md5 [0-9a-f]{32}, "
                                        r"expected ec29112d"):
        download("t10k-labels-idx1-ubyte.gz", tmp_path, urls=(url,), timeout=10)
    assert list(tmp_path.iterdir()) == []


def test_train_py_reports_a_cut_download_as_one_line(data_dir, tmp_path, serve):
    good = (Path(data_dir) / "train-images-idx3-ubyte.gz").read_bytes()
    url = serve({"*": good[:4096]}, claim=len(good))
    env = {k: v for k, v in os.environ.items() if k != "RAM_DATA_DIR"}
    env.update(XDG_CACHE_HOME=str(tmp_path / "cache"), RAM_MNIST_MIRRORS=url)
    proc = subprocess.run([sys.executable, "train.py", "--out", str(tmp_path / "run"), *SMALL], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert re.fullmatch(r"error: download of train-images-idx3-ubyte\.gz from .* was cut short \(4096 of \d+ bytes\): "
                        r"run again to retry", proc.stderr.strip()), proc.stderr
    assert list((tmp_path / "cache" / "ram" / "mnist").iterdir()) == []
