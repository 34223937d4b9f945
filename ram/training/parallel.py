"""Training on several processes with PyTorch's distributed engine (started by ``torchrun``).

One process per device. Every process builds the same model (same seed; DistributedDataParallel also
broadcasts rank 0's weights), draws its own canvases and policy noise (generators seeded by rank), and
trains on its own slice of each global batch; DDP averages the gradients, so every replica takes the
same optimizer step. Rank 0 speaks for the run: it alone validates and tests (and broadcasts the
validation error, so every rank makes the same best-checkpoint decision), writes the run directory,
the checkpoints and the logs, and prints.

Semantics: ``train.batch_size`` is per process; the global batch is ``batch_size x world size`` and an
epoch has ``train digits // global batch`` steps. ``train.lr_scaling`` (none, linear or sqrt)
multiplies ``train.lr`` and ``train.lr_min`` by the world size or its square root.

Without torchrun (no ``WORLD_SIZE`` in the environment) everything here is a no-op: one process,
rank 0, world size 1, and training is exactly what it was. This module knows process groups only (the
lowest layer: the logger and the guards ask it who is rank 0); what a step computes is the model's.
"""

from __future__ import annotations

import contextlib
import math
import os
from datetime import timedelta

import torch
import torch.distributed as dist
import torch.nn as nn

from ram.errors import ConfigError

RANK_SEED_STRIDE = 100_003  # rank r draws from seed + r * stride: streams of nearby seeds never overlap


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    """This process's rank; before the process group exists, torchrun's $RANK tells it."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return int(os.environ.get("RANK", "0"))


def is_main() -> bool:
    return rank() == 0


def rank_seed(seed: int, rank_: int | None = None) -> int:
    """The seed of this rank's canvas generator (its policy-noise generator takes the next one)."""
    return seed + RANK_SEED_STRIDE * (rank() if rank_ is None else rank_)


def lr_scale(rule: str, world: int | None = None) -> float:
    """How much the learning rate grows with the world size: none, linear or sqrt."""
    world = world_size() if world is None else world
    return {"none": 1.0, "linear": float(world), "sqrt": math.sqrt(world)}[rule]


def local_device(device: torch.device) -> torch.device:
    """Under torchrun each process takes the GPU of its LOCAL_RANK."""
    if world_size() > 1 and device.type == "cuda":
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return device


@contextlib.contextmanager
def session(train_cfg):
    """Join the process group torchrun set up (NCCL for GPUs, gloo for CPUs), and leave it afterwards.

    A no-op in a plain ``python train.py`` run."""
    world = int(os.environ.get("WORLD_SIZE", 1))
    if world == 1 or dist.is_initialized():
        yield
        return
    device = train_cfg.device
    if device.startswith("cuda:"):
        raise ConfigError(f"train.device={device} would put every process on one GPU: use train.device=cuda "
                          "(each process takes the GPU of its LOCAL_RANK)")
    gpu = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if gpu:
        local, gpus = int(os.environ.get("LOCAL_RANK", 0)), torch.cuda.device_count()
        if gpus == 0:
            raise ConfigError("train.device=cuda but no GPU is visible: use train.device=cpu (gloo)")
        if local >= gpus:
            raise ConfigError(f"process LOCAL_RANK={local} needs a GPU but {gpus} are visible: start at most {gpus} "
                              "processes per node (--nproc_per_node), or use train.device=cpu (gloo)")
        torch.cuda.set_device(local)  # NCCL's object collectives use the current device
    dist.init_process_group("nccl" if gpu else "gloo", timeout=timedelta(minutes=30))
    try:
        if is_main():
            B = train_cfg.batch_size
            print(f"distributed: {world} processes ({dist.get_backend()}), global batch {world} x {B} = {world * B}, "
                  f"lr x {lr_scale(train_cfg.lr_scaling):g} ({train_cfg.lr_scaling})")
            yield
        else:  # the other ranks would print every line N times
            with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
                yield
    finally:
        dist.destroy_process_group()


def agree(obj):
    """Rank 0's value of obj on every rank (e.g. the run name, which holds rank 0's clock)."""
    if world_size() == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def on_main(fn):
    """fn() computed on rank 0 only, its (picklable) result handed to every rank."""
    return agree(fn() if is_main() else None)


def shard(batch: torch.Tensor) -> torch.Tensor:
    """This rank's contiguous slice of a global batch (rank 0 the first batch_size entries, and so on)."""
    return batch.tensor_split(world_size())[rank()]


def gather(obj) -> list:
    """Every rank's obj, in rank order, on every rank."""
    if world_size() == 1:
        return [obj]
    out = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


def average(values: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The mean over ranks of each (scalar) tensor, in one all-reduce."""
    if world_size() == 1 or not values:
        return values
    stacked = torch.stack([torch.as_tensor(v, dtype=torch.float32) for v in values.values()])
    dist.all_reduce(stacked)
    return dict(zip(values, stacked / world_size()))


def data_parallel(module: nn.Module, device: torch.device, unused_parameters: bool) -> nn.Module:
    """The training loss module wrapped in DistributedDataParallel under torchrun, bare otherwise.

    Every parameter usually gets a gradient in each step (RAM: the cross-entropy reaches the glimpse, core
    and action nets, REINFORCE the location net and the squared error the baseline net); when some may
    not (``unused_parameters``, e.g. RAM with a single glimpse), DDP must be told to look for them."""
    if world_size() == 1:
        return module
    return nn.parallel.DistributedDataParallel(
        module, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=unused_parameters)
