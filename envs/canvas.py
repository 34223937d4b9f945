"""Translated and cluttered MNIST canvases, built in batches with tensor code on any device.

A canvas holds integer intensities 0..255 as float32 (so sums over patches stay exact). Clutter
follows DeepMind's recipe: each distractor is a random 8x8 crop of another random digit of the same
split, added at a random position; then the target digit is added at a random position fully inside
the canvas; pixels are clipped to 255.
"""

from __future__ import annotations

import torch

DIGIT = 28  # MNIST digits are 28x28

# The paper's four benchmarks. Other sizes work too (the scaling benchmark uses 200 and 400).
BENCHMARKS = {
    "mnist28": dict(canvas_size=28, distractors=0),
    "translated60": dict(canvas_size=60, distractors=0),
    "cluttered60": dict(canvas_size=60, distractors=4),
    "cluttered100": dict(canvas_size=100, distractors=8),
}


def paste(canvas: torch.Tensor, patches: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor) -> None:
    """Add patches (B, n, p, q) into canvas (B, H, W) in place, top-left corners at (ys, xs) (B, n)."""
    B, H, W = canvas.shape
    p, q = patches.shape[-2:]
    rows = ys[..., None, None] + torch.arange(p, device=canvas.device)[:, None]  # B, n, p, 1
    cols = xs[..., None, None] + torch.arange(q, device=canvas.device)  # B, n, 1, q
    index = (rows * W + cols).reshape(B, -1)  # B, n*p*q flat pixel indices
    canvas.view(B, -1).scatter_add_(1, index, patches.reshape(B, -1).to(canvas.dtype))


def make_canvases(images: torch.Tensor, index: torch.Tensor, canvas_size: int, distractors: int = 0,
                  distractor_size: int = 8, generator: torch.Generator | None = None,
                  return_corners: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Canvases (B, S, S) float32 in 0..255 for the digits images[index].

    images: (N, 28, 28) uint8, the pool that both targets and distractors come from (one split).
    index: (B,) long, which digits are the targets. A 28x28 canvas without clutter is the centred digit.
    return_corners: also return each target's top-left pixel (x, y), (B, 2) long, for analyses of where
    the agent looked; the draws, and so the canvases, are the same either way.
    """
    if canvas_size < DIGIT:
        raise ValueError(f"canvas_size {canvas_size} is smaller than a {DIGIT}x{DIGIT} digit")
    device, (B,), N = images.device, index.shape, images.shape[0]
    rand = dict(generator=generator, device=device)
    canvas = torch.zeros(B, canvas_size, canvas_size, device=device)
    if distractors:
        d = distractor_size
        # "another" digit: shift by 1..N-1 so a distractor never comes from the target itself
        source = (index[:, None] + 1 + torch.randint(N - 1, (B, distractors), **rand)) % N  # B, n
        oy, ox = torch.randint(DIGIT - d + 1, (2, B, distractors), **rand)  # crop corner inside the digit
        ar = torch.arange(d, device=device)
        crops = images[source[..., None, None], (oy[..., None] + ar)[..., None],
                       (ox[..., None] + ar)[..., None, :]]  # B, n, d, d
        py, px = torch.randint(canvas_size - d + 1, (2, B, distractors), **rand)
        paste(canvas, crops, py, px)
    if canvas_size == DIGIT:
        ty = tx = torch.zeros(B, 1, dtype=torch.long, device=device)
    else:
        ty, tx = torch.randint(canvas_size - DIGIT + 1, (2, B, 1), **rand)
    paste(canvas, images[index][:, None], ty, tx)
    canvas.clamp_(max=255.0)
    return (canvas, torch.cat([tx, ty], 1)) if return_corners else canvas


def fixed_canvases(images: torch.Tensor, canvas_size: int, distractors: int, seed: int,
                   distractor_size: int = 8, chunk: int = 2000,
                   return_corners: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """One canvas per digit, (N, S, S) uint8, identical on every machine and device for a given seed.

    Built on the CPU with its own generator, so validation and test images never depend on the
    training device, the batch size or the run's seed. return_corners: also the targets' top-left
    pixels (N, 2), as make_canvases gives them."""
    generator = torch.Generator().manual_seed(seed)
    images = images.cpu()
    canvases, corners = [], []
    for i in range(0, len(images), chunk):  # in chunks, each stored as uint8 at once: float canvases are 4x larger
        canvas, xy = make_canvases(images, torch.arange(i, min(i + chunk, len(images))), canvas_size, distractors,
                                   distractor_size, generator, return_corners=True)
        canvases.append(canvas.to(torch.uint8))
        corners.append(xy)
    return (torch.cat(canvases), torch.cat(corners)) if return_corners else torch.cat(canvases)
