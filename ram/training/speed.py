"""Speed switches of the trainer: fused Adam, bf16 autocast, torch.compile and CUDA graphs.

All but the fused optimiser are off by default (``train.amp``, ``train.compile``, ``train.cuda_graphs``):
the default run is plain eager float32 on any device.
"""

from __future__ import annotations

import warnings

import torch

from ram.errors import ConfigError


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX-512 BF16 or AMX); without it bf16 is emulated."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch built without oneDNN
        return False


def adam(params, lr: float, weight_decay: float, decoupled: bool = False) -> torch.optim.Optimizer:
    """Adam with the fused kernel where this torch has one for the device (CUDA; CPU since torch 2.4):
    one kernel over all parameters instead of a dozen small ops per tensor (about 3x faster on CPU).

    ``decoupled``: AdamW (Loshchilov & Hutter 2019), each step shrinks every weight by lr x weight_decay of
    itself, outside the gradient's normalisation; Adam's own weight decay is an L2 term added to the gradient,
    which the normalisation turns into a step of about lr wherever the gradient is small."""
    params, optimizer = list(params), torch.optim.AdamW if decoupled else torch.optim.Adam
    try:
        return optimizer(params, lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, ValueError):  # older torch or an unsupported device
        return optimizer(params, lr=lr, weight_decay=weight_decay, foreach=True)


def configure(model: torch.nn.Module, t, device: torch.device) -> torch.nn.Module:
    """Apply ``train.amp``, ``train.compile`` and ``train.cuda_graphs`` (a TrainConfig) to the model in
    place. Only methods are wrapped, so parameters, ``state_dict`` and checkpoints are unchanged."""
    if t.cuda_graphs and device.type != "cuda":
        raise ConfigError(f"train.cuda_graphs=true needs a CUDA device, but the run uses {device}: "
                         "set train.cuda_graphs=false")
    if t.amp and device.type == "cpu" and not cpu_has_bf16():
        # measured: a cluttered60 RAM epoch at 189 images/s against 1,409 in float32 beside it (AMD EPYC, AVX2)
        warnings.warn("train.amp=true on a CPU without native bf16 (AVX-512 BF16 or AMX): bf16 is emulated and "
                      "trains about 7x slower than float32 here; set train.amp=false", stacklevel=2)
    for name in model.fast_methods:  # RAM: the per-glimpse arithmetic and the classifier; else forward
        method = getattr(model, name)
        if t.amp:  # matmuls in bf16, weights and optimiser state stay fp32; RAM's policy stays fp32
            method = torch.autocast(device.type, dtype=torch.bfloat16)(method)
        if t.compile or t.cuda_graphs:
            # 'reduce-overhead' records each call's kernels as CUDA graphs and replays them: one launch
            # per glimpse instead of dozens. The random draws stay outside (RAM.step makes the noise).
            method = torch.compile(method, mode="reduce-overhead" if t.cuda_graphs else None, dynamic=False)
        setattr(model, name, method)
    return model
