"""The yardstick: the same RAM, fed by a glimpse sensor of the kind public implementations use.

The most-used public PyTorch RAM (kevinzakka/recurrent-visual-attention, ``modules.Retina``) takes a
glimpse like this: for each scale, zero-pad the whole batch of images, crop each image's patch in a
Python loop over the batch (slicing with 0-d tensors, one host read per bound), stack, and average-pool
the patch down to g x g. ``LoopRetina`` does exactly that, with our patch placement (``patch_corners``)
so its glimpses equal ours; ``loop_reference_env`` puts it into a real training env, so everything
else (canvases, model, loss, optimiser) is the project's own code and only the sensor differs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from envs.retina import patch_corners


class LoopRetina:
    """Per-sample-loop glimpse sensor with the same interface as ``envs.retina.Retina``."""

    def __init__(self, size: int = 12, scales: int = 3):
        self.size, self.scales = size, scales

    def integral(self, canvas: torch.Tensor) -> torch.Tensor:
        return canvas  # no per-episode table: every glimpse crops the raw canvases again

    def glimpse(self, canvas: torch.Tensor, loc: torch.Tensor) -> torch.Tensor:
        """Glimpses (B, k, g, g) float32 in [0, 1] at locations loc (B, 2) from canvases (B, H, W)."""
        B, H, W = canvas.shape
        g, k = self.size, self.scales
        corner = patch_corners(loc, g, k, W)  # B, k, 2 (x, y)
        images = canvas[:, None]  # B, 1, H, W
        scales = []
        for s in range(k):
            width = g * 2**s
            pad = (width + 1) // 2  # enough for a patch centred on any point of the canvas
            padded = F.pad(images, (pad, pad, pad, pad))
            start = corner[:, s] + pad  # B, 2
            end = start + width
            patches = [padded[i, :, start[i, 1]:end[i, 1], start[i, 0]:end[i, 0]] for i in range(B)]
            scales.append(F.avg_pool2d(torch.stack(patches), 2**s))  # B, 1, g, g
        return (torch.cat(scales, 1) / 255.0).clamp_(0.0, 1.0)

    def __call__(self, canvas: torch.Tensor, loc: torch.Tensor) -> torch.Tensor:
        return self.glimpse(self.integral(canvas), loc)


def loop_reference_env(env):
    """The env with its batched retina swapped for the per-sample loop (in place; returns it)."""
    env.retina = LoopRetina(env.retina.size, env.retina.scales)
    return env
