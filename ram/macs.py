"""Multiply-accumulates (MACs) per image, counted from layer shapes during one real forward pass.

A forward hook on every weight layer adds its MACs by formula; a layer called T times (RAM's glimpse
network, core, location and baseline nets, once per glimpse) counts T times. What is counted:
- Linear: in_features x out_features per row;
- Conv2d: out_h x out_w x out_channels x (in_channels / groups) x kernel_h x kernel_w;
- RNNCell: hidden x (input + hidden); LSTMCell: 4 x that; GRUCell: 3 x that.
Biases, BatchNorm (foldable into the conv), ReLU, pooling and softmax are elementwise and not counted.

RAM's retina does no multiplications: each g x g cell of a glimpse is a box sum read from the integral
image (4 lookups, 3 additions); ``retina_adds`` reports those, and the integral image itself (2 S^2
additions per canvas) is the one part of RAM whose cost grows with the canvas (a retina that cropped
and averaged each patch instead would cost sum_s (g 2^s)^2 additions per glimpse, flat in S).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ram.model import RAM


def layer_macs(module: nn.Module, inputs: tuple, output) -> int:
    """MACs of one call of a weight layer, for the whole batch it was given (0 for other modules)."""
    x = inputs[0]
    if isinstance(module, nn.Linear):
        return x.numel() // module.in_features * module.in_features * module.out_features
    if isinstance(module, nn.Conv2d):
        out = output  # B, C_out, H_out, W_out
        kh, kw = module.kernel_size
        return out.numel() * (module.in_channels // module.groups) * kh * kw
    gates = {nn.RNNCell: 1, nn.LSTMCell: 4, nn.GRUCell: 3}
    for kind, n in gates.items():
        if isinstance(module, kind):
            rows = x.shape[0] if x.dim() == 2 else 1
            return rows * n * module.hidden_size * (module.input_size + module.hidden_size)
    return 0


def count_macs(model: nn.Module, forward) -> int:
    """MACs of ``forward()`` (a callable that runs ``model`` on one image), summed over all layer calls."""
    total = [0]

    def hook(module, inputs, output):
        total[0] += layer_macs(module, inputs, output)

    handles = [m.register_forward_hook(hook) for m in model.modules() if not list(m.children())]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            forward()
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return total[0]


def ram_forward(model: RAM, device=None):
    """A callable running RAM's inference on one image: T glimpse steps, then the action net."""
    device = device or next(model.parameters()).device
    patch = torch.zeros(1, model.glimpse_net.what.in_features, device=device)  # the flattened k x g x g glimpse
    loc = torch.zeros(1, 2, device=device)

    def forward():
        state = model.initial_state(1, device)
        for _ in range(model.glimpses):
            step = model.step(patch, loc, state, deterministic=True)
            state = step.state
        model.classify(state)

    return forward


def model_macs(model: nn.Module, canvas_size: int) -> int:
    """MACs per image of RAM (per-glimpse networks x T, plus the action net) or of a full-image baseline."""
    if isinstance(model, RAM):
        return count_macs(model, ram_forward(model))
    device = next(model.parameters()).device
    canvas = torch.zeros(1, canvas_size, canvas_size, device=device)
    return count_macs(model, lambda: model(canvas))


def retina_adds(glimpse_size: int, scales: int, glimpses: int) -> int:
    """Additions RAM's retina makes per image from the integral image: 3 per cell, k g^2 cells per glimpse."""
    return 3 * scales * glimpse_size**2 * glimpses


def integral_adds(canvas_size: int) -> int:
    """Additions of the integral image (two cumulative sums over the canvas), once per image."""
    return 2 * canvas_size**2
