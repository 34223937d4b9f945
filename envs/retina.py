"""The glimpse sensor: k concentric square patches around a location, each reduced to g x g.

Patch s (s = 0..k-1) is g * 2**s pixels wide and is reduced to g x g by averaging 2**s x 2**s cells;
pixels outside the canvas count as zero. Locations are (x, y) in [-1, 1]^2, (-1, -1) being the
top-left corner of the canvas and (1, 1) the bottom-right one.

Every cell average is read from a per-episode integral image (summed-area table) with one gather for
all scales, so a glimpse costs O(k g^2) whatever the patch sizes, with no loop over the batch.
Canvases hold integers 0..255, so the table is kept in int32: exact for canvases up to 2**31 / 255
pixels (about 2900x2900; larger ones get int64), and on the CPU faster to build than a float table.
"""

from __future__ import annotations

import torch


def patch_corners(loc: torch.Tensor, size: int, scales: int, canvas_size: int) -> torch.Tensor:
    """Top-left pixel (x, y) of each scale's patch, (B, k, 2) long. Patch centres round to a pixel."""
    widths = size * 2 ** torch.arange(scales, device=loc.device)  # k
    return _corners(loc, widths / 2, canvas_size)


def _corners(loc: torch.Tensor, half_widths: torch.Tensor, canvas_size: int) -> torch.Tensor:
    centre = (loc.clamp(-1, 1) + 1) * (canvas_size / 2)  # B, 2 in pixel units
    return torch.floor(centre[:, None, :] - half_widths[None, :, None] + 0.5).long()  # B, k, 2


class Retina:
    """Batched glimpse sensor. ``integral(canvas)`` once per episode, then ``glimpse(table, loc)``."""

    def __init__(self, size: int = 12, scales: int = 3):
        if size < 1 or scales < 1:
            raise ValueError(f"retina needs size >= 1 and scales >= 1, got size={size} scales={scales}")
        self.size, self.scales = size, scales
        self._constants: dict[torch.device, tuple[torch.Tensor, ...]] = {}

    def constants(self, device: torch.device) -> tuple[torch.Tensor, ...]:
        """Per-scale half widths (k,), cell edge offsets (k, g+1) and cell areas (k, 1, 1), made once
        per device: rebuilding them at every glimpse costs more than the glimpse's own arithmetic."""
        if device not in self._constants:
            g, step = self.size, 2 ** torch.arange(self.scales, device=device)  # cell width of each scale
            self._constants[device] = ((g * step) / 2, torch.arange(g + 1, device=device) * step[:, None],
                                       (step * step * 255).to(torch.float32)[:, None, None])
        return self._constants[device]

    def integral(self, canvas: torch.Tensor) -> torch.Tensor:
        """(B, H, W) canvas in 0..255 -> (B, H+1, W+1) summed-area table with a zero first row/column."""
        B, H, W = canvas.shape
        dtype = torch.int32 if H * W * 255 < 2**31 else torch.int64
        table = canvas.new_zeros(B, H + 1, W + 1, dtype=dtype)
        torch.cumsum(canvas.to(dtype), -1, out=table[:, 1:, 1:])  # written in place: no padded copy
        return table.cumsum_(-2)

    def glimpse(self, table: torch.Tensor, loc: torch.Tensor) -> torch.Tensor:
        """Glimpses (B, k, g, g) float32 in [0, 1] at locations loc (B, 2)."""
        B, H1, W1 = table.shape
        g, k = self.size, self.scales
        half_widths, offsets, area = self.constants(loc.device)
        corner = _corners(loc, half_widths, W1 - 1)  # B, k, 2
        edges = corner[..., None] + offsets[None, :, None]  # B, k, 2, g+1 (cell edges in x and y)
        ex, ey = edges[:, :, 0].clamp(0, W1 - 1), edges[:, :, 1].clamp(0, H1 - 1)  # clamping = zero outside
        index = ey[..., :, None] * W1 + ex[..., None, :]  # B, k, g+1, g+1
        v = table.view(B, -1).gather(1, index.view(B, -1)).view(B, k, g + 1, g + 1)
        sums = v.diff(dim=-1).diff(dim=-2)  # B, k, g, g: v[1:,1:] - v[:-1,1:] - v[1:,:-1] + v[:-1,:-1]
        return (sums.to(torch.float32) / area).clamp_(0.0, 1.0)

    def __call__(self, canvas: torch.Tensor, loc: torch.Tensor) -> torch.Tensor:
        """One-off glimpse straight from canvases (B, H, W); episodes should reuse ``integral``."""
        return self.glimpse(self.integral(canvas), loc)
