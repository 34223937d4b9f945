"""Multiply-accumulates (MACs) per image, counted by PyTorch from the operations that actually run.

``torch.utils.flop_counter.FlopCounterMode`` sees every matrix product and convolution of one real
inference pass (RNN and LSTM cells included, whatever layer they sit in) and counts 2 FLOPs per
multiply-accumulate, so a layer called T times (RAM's glimpse network, core, location and baseline nets,
once per glimpse) counts T times. Biases, BatchNorm (foldable into the conv), ReLU, pooling and softmax
are elementwise and not counted.

RAM's retina does no multiplications: each g x g cell of a glimpse is a box sum read from the integral
image (4 lookups, 3 additions); ``retina_adds`` reports those, and the integral image itself (2 S^2
additions per canvas) is the one part of RAM whose cost grows with the canvas (a retina that cropped
and averaged each patch instead would cost sum_s (g 2^s)^2 additions per glimpse, flat in S).
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode


def count_macs(model: nn.Module, forward: Callable[[], object]) -> int:
    """MACs of ``forward()`` (a callable that runs ``model``), in eval mode and without gradients."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            forward()
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2  # a multiply-accumulate is two FLOPs


def model_macs(model, canvas_size: int) -> int:
    """MACs of one image's inference (``model.one_image``): RAM's T glimpses and its classifier, or one
    pass of a full-image network over an S x S canvas."""
    return count_macs(model, model.one_image(canvas_size))


def retina_adds(glimpse_size: int, scales: int, glimpses: int) -> int:
    """Additions RAM's retina makes per image from the integral image: 3 per cell, k g^2 cells per glimpse."""
    return 3 * scales * glimpse_size**2 * glimpses


def integral_adds(canvas_size: int) -> int:
    """Additions of the integral image (two cumulative sums over the canvas), once per image."""
    return 2 * canvas_size**2
