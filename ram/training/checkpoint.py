"""Checkpoints that survive a kill at any moment and load with ``torch.load(weights_only=True)``.

A checkpoint is a plain dict of tensors, numbers and strings: model, optimizer and LR-schedule state,
epoch and step, every random number generator, and the config it was trained with. That config is
checked against the one a run resumes with, or a viewer builds its model from, before any weight is
loaded, so a checkpoint of another model is a one-line error rather than a page of size mismatches.
"""

from __future__ import annotations

import copy
import os
import random
from pathlib import Path

import numpy as np
import torch

from ram.errors import RamError
from ram.training.config import Config, ConfigError, from_dict, to_dict


class CheckpointError(RamError, RuntimeError):
    """A checkpoint that is missing, unreadable, or of another model."""


# What may differ between a checkpoint and the config that resumes it (and every logger.* key). Everything
# else must match: resuming with another model, data or optimizer setting would not continue the same run.
RESUME_MAY_CHANGE = {"data.data_dir", "train.epochs", "train.early_stop", "train.device", "train.threads", "train.log_every",
                     "train.checkpoint_every", "eval.batch_size", "eval.mc_samples", "eval.select",
                     "eval.snapshots_from"}
VIEW_MUST_MATCH = ("model.",)  # viewing or evaluating needs the same network only


def save_checkpoint(state: dict, path: Path) -> None:
    """Write to a temporary file, fsync, then rename: the old file stays whole until the new one is."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:  # a full disk or a lost mount: the previous checkpoint is still whole
        tmp.unlink(missing_ok=True)
        raise CheckpointError(f"could not write checkpoint {path} ({e.strerror or e}): {path.name} still holds "
                              "the previous one; free space and resume with --resume") from None
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # make the rename itself durable
    finally:
        os.close(dir_fd)


def load_checkpoint(path: Path, map_location="cpu") -> dict:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist: check the run directory")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises several types for truncated or foreign files
        raise CheckpointError(f"checkpoint {path} cannot be read ({type(e).__name__}): it is truncated or "
                              "not a checkpoint of this project; use another one") from None
    if not isinstance(state, dict) or not isinstance(state.get("config"), dict) or "model" not in state:
        raise CheckpointError(f"{path} is not a checkpoint of this project (it has no config and model): "
                              "pass a checkpoints/last.pt or best.pt written by train.py")
    return state


# ------------------------------------------------------------------------------- compatibility
def _flat(config: dict) -> dict:
    return {f"{s}.{k}": v for s, section in config.items() if isinstance(section, dict) for k, v in section.items()}


def check_compatible(state: dict, cfg: Config, path: Path | str = "checkpoint", purpose: str = "resume") -> None:
    """One-line CheckpointError unless ``state`` was trained with a config ``cfg`` can use.

    purpose 'resume': model, data and optimizer settings must all match (epochs, device, threads,
    logging, checkpointing, evaluation and the data folder may change). 'view': the model must match."""
    # a key added after the checkpoint was written takes its default, which keeps the earlier behaviour
    saved = {**_flat(to_dict(Config())), **_flat(state["config"])}
    wanted = _flat(to_dict(cfg))
    if purpose == "view":
        keys = [k for k in wanted if k.startswith(VIEW_MUST_MATCH)]
    else:
        keys = [k for k in wanted if k not in RESUME_MAY_CHANGE and not k.startswith("logger.")]
    differ = [k for k in keys if saved[k] != wanted[k]]
    if differ:
        fix = ("resume with the run's own config.yaml, without overriding it" if purpose == "resume"
               else "build the model from the checkpoint's own config")
        raise CheckpointError(f"{path} was trained with {', '.join(f'{k}={saved[k]!r}' for k in differ)}, but the "
                              f"config has {', '.join(f'{k}={wanted[k]!r}' for k in differ)}: {fix}")


def checkpoint_config(state: dict, path: Path | str = "checkpoint") -> Config:
    """The Config a checkpoint was trained with. A data folder that is gone here is dropped (so
    $RAM_DATA_DIR or --data-dir applies): the weights do not depend on where the digits were read."""
    if not isinstance(state, dict) or not isinstance(state.get("config"), dict) or "model" not in state:
        raise CheckpointError(f"{path} holds no 'config' and 'model': it is not a checkpoint written by train.py")
    raw = copy.deepcopy(state["config"])
    data_dir = (raw.get("data") or {}).get("data_dir")
    if data_dir is not None and not Path(data_dir).expanduser().is_dir():
        raw["data"]["data_dir"] = None
    try:
        return from_dict(raw)
    except ConfigError as e:
        raise CheckpointError(f"{path} holds a config this version cannot use ({e}): start a new run") from None


def load_model_checkpoint(path: Path | str, cfg: Config | None = None, map_location="cpu") -> tuple[Config, dict]:
    """(config, checkpoint) for a viewer or an evaluation script.

    Without ``cfg`` the checkpoint's own config is returned (build the model from it); with ``cfg`` the
    checkpoint must be of cfg's model, else a one-line CheckpointError. Then
    ``load_weights(model, checkpoint, path)`` puts the weights in."""
    state = load_checkpoint(Path(path), map_location)
    saved = checkpoint_config(state, path)
    if cfg is not None:
        check_compatible(state, cfg, path, purpose="view")
    return cfg or saved, state


def load_weights(model: torch.nn.Module, state: dict, path: Path | str = "checkpoint") -> None:
    """model.load_state_dict with a one-line error instead of a list of every mismatched tensor."""
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as e:
        first = next((l.strip() for l in str(e).splitlines()[1:] if l.strip()), str(e).splitlines()[0])
        raise CheckpointError(f"{path} does not fit this model ({first[:200]}): build the model from the "
                              "checkpoint's own config") from None


def own_rng(state: dict, path, rank: int, world: int) -> dict:
    """This rank's generator states from a checkpoint; a clear error if it was saved by another world size."""
    saved = state.get("world_size", 1)
    if saved != world:
        raise CheckpointError(f"{path} was saved by a run of {saved} process(es) but this one has {world}: "
                              f"resume with the same count (torchrun --nproc_per_node/--nnodes), or start a new run")
    return state["rng_ranks"][rank] if "rng_ranks" in state else state["rng"]


# ------------------------------------------------------------------------------- random state
def seed_all(seed: int) -> None:
    """Seed torch (CPU and CUDA), numpy and Python: a run's every generator follows from its seed."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def capture_rng(device: torch.device | str = "cpu") -> dict:
    """Every global generator as tensors and ints: torch CPU, CUDA (when used), numpy, Python."""
    version, mt, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos), "has_gauss": int(has_gauss),
                  "cached_gaussian": float(cached)},
        "python": {"version": version, "state": torch.tensor(mt, dtype=torch.int64), "gauss_next": gauss},
    }
    if torch.device(device).type == "cuda" and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict) -> None:
    """Inverse of capture_rng (a checkpoint without CUDA state leaves CUDA's generators alone)."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"].tolist()), p["gauss_next"]))
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
