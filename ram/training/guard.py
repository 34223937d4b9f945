"""Stopping a run safely: Ctrl-C saves a checkpoint first, a non-finite loss never reaches one, and two
processes never train one run directory.

Why the loss is not checked every step: ``loss.isfinite().item()`` would make the host wait for the
device at every step, which costs throughput on a GPU. Instead the trainer checks at the moments it
already waits for the device: at every log interval (the logged values are on the host anyway),
before every checkpoint (saving copies the weights to the host anyway) and at the end of every epoch.
Before a checkpoint it checks the sum of all losses since the epoch began, which is non-finite as soon
as one step was, and every parameter. So a fault is caught at most ``log_every`` or
``checkpoint_every`` steps late (those steps are wasted work, nothing more) and a checkpoint never
holds a poisoned model: the last good one stays on disk.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
from pathlib import Path

import torch

from ram.errors import RamError
from ram.training.parallel import average, world_size


class NonFiniteError(RamError, ValueError):
    """The loss or the weights became NaN or infinite; the run stopped before saving them."""


class RunBusy(RamError, RuntimeError):
    """Another live process is training the same run directory."""


@contextlib.contextmanager
def hold_run_dir(run_dir: Path):
    """Lock RUN_DIR for this process while it trains (flock on the directory itself, so no file is left
    behind, and the kernel releases it when the process ends, even on kill -9). Without it a sweep started
    again while its first run still trains would resume that run from the checkpoint it is about to
    overwrite, and both processes would write the same files. Where the filesystem cannot lock a
    directory, the run trains unlocked."""
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    run_dir = Path(run_dir)
    created = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(run_dir, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunBusy(f"{run_dir} is being trained by another process right now: let that one finish (or stop "
                          "it) before resuming, or pick another --out") from None
        except OSError:  # e.g. NFS, where flock on a directory fails: train unlocked
            pass
        yield
    finally:
        os.close(fd)  # releases the lock
        if created and not any(run_dir.iterdir()):  # a run that failed before writing anything leaves no folder
            run_dir.rmdir()


class Interrupted(Exception):
    """Ctrl-C: the run saved a checkpoint at a step boundary and stopped. The message says how to go on."""


def nonfinite_message(what: str, value, step: int, epoch: int, saved_step: int | None, run_dir) -> str:
    kept = (f"the last good checkpoint (step {saved_step}) is kept in {run_dir}/checkpoints/last.pt"
            if saved_step is not None else "no checkpoint had been written yet")
    return (f"{what} is {value} at step {step} (epoch {epoch + 1}): training stopped; {kept}; lower train.lr or "
            "set train.grad_clip and start a new run")


def finite(value) -> bool:
    return math.isfinite(float(value))


def all_ranks_ok(ok: bool, device) -> bool:
    """True only if ``ok`` on every process, so that all ranks of a torchrun job stop together (one
    all-reduce at the moments this is asked; nothing at all in a single process)."""
    if world_size() == 1:
        return ok
    return bool(average({"ok": torch.tensor(float(ok), device=device)})["ok"] == 1)


def params_finite(model: torch.nn.Module) -> bool:
    """One host sync for all parameters."""
    return bool(torch.stack([p.detach().isfinite().all() for p in model.parameters()]).all())


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)  # Ctrl-C, and what batch schedulers send before a kill


@contextlib.contextmanager
def stop_on_sigint(trainer):
    """While active, the first Ctrl-C (or SIGTERM) asks ``trainer`` to save and stop at the next step
    boundary (``trainer.stop_requested``); a second one acts as it did before, stopping at once without
    saving. Under torchrun the signals keep their defaults (stop now): the run resumes from its last
    periodic checkpoint."""
    previous = {}

    def ask(signum, frame):
        trainer.stop_requested = True
        for sig, handler in previous.items():  # a second signal stops at once
            signal.signal(sig, handler)
        print(f"\n{signal.Signals(signum).name}: stopping at the next step boundary to save a checkpoint "
              "(send it again to stop without saving)", file=sys.stderr, flush=True)

    if world_size() > 1:  # ranks would see the flag at different steps and wait on each other forever
        yield
        return
    try:
        for sig in STOP_SIGNALS:
            previous[sig] = signal.signal(sig, ask)
    except ValueError:  # not the main thread: the signals stay as they were
        yield
        return
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
