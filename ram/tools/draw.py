"""Pillow pictures of recorded glimpse rollouts: grid frames for a GIF, and one retina strip per sample.

Canvas, boxes and path come from ``envs.render.render_glimpses`` (boxes from ``patch_corners``, so they
are exactly the pixels the retina read); this file lays samples out on a grid and adds the text.
Every colour used is in one fixed palette, so GIF frames keep the box colours exactly.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from envs.render import BOX_COLOURS, OUTSIDE_COLOUR, PATH_COLOUR, render_glimpses
from envs.retina import patch_corners

BACKGROUND = (24, 24, 28)
TEXT, DIM = (235, 235, 235), (150, 150, 160)
RIGHT, WRONG = (40, 200, 80), (235, 50, 50)
BAR = (110, 110, 125)
PAD, HEADER, CAPTION, BORDER = 8, 28, 20, 3  # pixels; BORDER < PAD: the verdict frame sits in the gap
STEP_MS, ANSWER_MS = 700, 2500  # how long a GIF shows each glimpse, and the answer at the end


def font(size: int = 14) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)  # a scalable font ships with Pillow >= 10.1
    except (TypeError, OSError):
        return ImageFont.load_default()


def _palette() -> Image.Image:
    """A 'P' image whose palette holds every drawing colour exactly, and greys for the canvas."""
    fixed = [BACKGROUND, TEXT, DIM, RIGHT, WRONG, BAR, tuple(OUTSIDE_COLOUR), tuple(PATH_COLOUR),
             *map(tuple, BOX_COLOURS)]
    greys = [(v, v, v) for v in np.linspace(0, 255, 256 - len(fixed)).round().astype(int)]
    colours = [int(c) for rgb in fixed + greys for c in rgb]
    pal = Image.new("P", (1, 1))
    pal.putpalette(colours)
    return pal


PALETTE = _palette()


@dataclass
class Trace:
    """A recorded batch of episodes, on the CPU, ready to draw."""

    canvases: np.ndarray  # B, S, S in 0..255
    locations: np.ndarray  # T, B, 2: the location of each glimpse
    glimpses: np.ndarray  # T, B, k, g, g in [0, 1]: what the retina returned
    probs: np.ndarray  # B, classes after the last glimpse
    labels: np.ndarray  # B
    indices: np.ndarray  # B: which canvas of the split each sample is

    @property
    def preds(self) -> np.ndarray:
        return self.probs.argmax(1)

    @property
    def correct(self) -> np.ndarray:
        return self.preds == self.labels

    @classmethod
    def from_rollout(cls, r, canvases: torch.Tensor, indices) -> "Trace":
        return cls(canvases.cpu().numpy(), r.locations.cpu().numpy(), r.glimpses.cpu().numpy(),
                   r.logits.softmax(1).cpu().numpy(), r.labels.cpu().numpy(), np.asarray(indices))

    def select(self, keep) -> "Trace":
        return Trace(self.canvases[keep], self.locations[:, keep], self.glimpses[:, keep], self.probs[keep],
                     self.labels[keep], self.indices[keep])

    @staticmethod
    def cat(traces: list["Trace"]) -> "Trace":
        return Trace(*(np.concatenate([getattr(t, f) for t in traces], axis=1 if f in ("locations", "glimpses") else 0)
                       for f in ("canvases", "locations", "glimpses", "probs", "labels", "indices")))


def box_corners(trace: Trace) -> np.ndarray:
    """Top-left canvas pixel (x, y) of every box, (T, B, k, 2), by the retina's own arithmetic."""
    T, B = trace.locations.shape[:2]
    k, g = trace.glimpses.shape[2:4]
    loc = torch.as_tensor(trace.locations.reshape(T * B, 2), dtype=torch.float32)
    return patch_corners(loc, g, k, trace.canvases.shape[-1]).numpy().reshape(T, B, k, 2)


@dataclass
class Grid:
    """Where things are in a grid frame: sample i's canvas pixel (x, y) is at
    origin[i] + (margin + (x, y)) * zoom."""

    size: int  # canvas pixels
    zoom: int
    margin: int  # canvas pixels shown around the canvas, so boxes past the edge stay whole
    cols: int
    rows: int

    @property
    def line(self) -> int:
        return 2 if self.zoom >= 2 else 1  # box outline thickness in screen pixels

    @property
    def cell(self) -> int:
        return (self.size + 2 * self.margin) * self.zoom

    @property
    def width(self) -> int:
        return PAD + self.cols * (self.cell + PAD)

    @property
    def height(self) -> int:
        return HEADER + PAD + self.rows * (self.cell + CAPTION + PAD)

    def origin(self, i: int) -> tuple[int, int]:
        return PAD + (i % self.cols) * (self.cell + PAD), HEADER + PAD + (i // self.cols) * (self.cell + CAPTION + PAD)

    def pixel(self, i: int, x: int, y: int) -> tuple[int, int]:
        """Frame pixel (column, row) of the top-left corner of canvas pixel (x, y) of sample i."""
        ox, oy = self.origin(i)
        return ox + (self.margin + x) * self.zoom, oy + (self.margin + y) * self.zoom


def make_grid(trace: Trace, zoom: int = 0, cols: int = 0) -> Grid:
    S, B = trace.canvases.shape[-1], len(trace.labels)
    corners = box_corners(trace)  # T, B, k, 2
    widths = trace.glimpses.shape[-1] * 2 ** np.arange(trace.glimpses.shape[2])  # k
    reach = np.maximum(-corners, corners + widths[:, None] - S).max(initial=0)  # pixels past an edge
    zoom = zoom or max(1, round(240 / (S + 2 * reach)))  # about 240 screen pixels a cell, whatever the size
    cols = cols or math.ceil(math.sqrt(B))
    return Grid(S, zoom, int(max(reach, 0)), cols, math.ceil(B / cols))


def grid_frame(trace: Trace, grid: Grid, t: int, title: str) -> Image.Image:
    """Frame t < T: every sample with its path so far and the boxes of glimpse t.
    Frame t == T: the boxes of the last glimpse, and the guess against the true label."""
    T = trace.locations.shape[0]
    k, g = trace.glimpses.shape[2:4]
    img = Image.new("RGB", (grid.width, grid.height), BACKGROUND)
    draw = ImageDraw.Draw(img)
    f = font(14)
    draw.text((PAD, 6), title, fill=TEXT, font=f)
    for i in range(len(trace.labels)):
        ox, oy = grid.origin(i)
        path = trace.locations[:min(t, T - 1) + 1, i]  # t+1, 2: the glimpses taken so far
        cell = render_glimpses(trace.canvases[i], path, g, k, grid.zoom, grid.margin, grid.line)
        img.paste(Image.fromarray(cell), (ox, oy))
        caption, colour = f"#{trace.indices[i]}", DIM
        if t == T:
            ok = bool(trace.correct[i])
            colour = RIGHT if ok else WRONG
            caption = f"#{trace.indices[i]}  true {trace.labels[i]}  guess {trace.preds[i]}"
            for d in range(1, BORDER + 1):
                draw.rectangle((ox - d, oy - d, ox + grid.cell - 1 + d, oy + grid.cell - 1 + d), outline=colour)
        draw.text((ox, oy + grid.cell + 3), caption, fill=colour, font=font(12))
    return img


def frames(trace: Trace, grid: Grid, heading: str = "") -> list[Image.Image]:
    """T + 1 frames: one per glimpse, then the answer."""
    T = trace.locations.shape[0]
    right = int(trace.correct.sum())
    out = [grid_frame(trace, grid, t, f"{heading}glimpse {t + 1}/{T}") for t in range(T)]
    out.append(grid_frame(trace, grid, T, f"{heading}answer: {right}/{len(trace.labels)} right"))
    return out


def to_palette(img: Image.Image) -> Image.Image:
    return img.quantize(palette=PALETTE, dither=Image.Dither.NONE)


def save_gif(images: list[Image.Image], path) -> None:
    durations = [STEP_MS] * (len(images) - 1) + [ANSWER_MS]
    first, *rest = [to_palette(im) for im in images]
    first.save(path, save_all=True, append_images=rest, duration=durations, loop=0)


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    to_palette(img).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


# ------------------------------------------------------------------------------------- retina strips
@dataclass
class Strip:
    """Where glimpse t sits in a retina strip: columns x0 + t * step, rows y0 .. y0 + height."""

    x0: int
    y0: int
    step: int
    patch: int
    height: int


def strip_layout(glimpse_size: int, scales: int) -> Strip:
    patch = max(2, round(48 / glimpse_size)) * glimpse_size  # about 48 screen pixels per patch
    return Strip(x0=28, y0=HEADER + 14, step=patch + 4, patch=patch, height=scales * (patch + 4) - 4)


def retina_strip(trace: Trace, i: int) -> Image.Image:
    """What the retina returned at each glimpse of sample i (one column per glimpse, one row per scale,
    finest on top) and the class probabilities after the last one."""
    T, _, k, g, _ = trace.glimpses.shape
    lay = strip_layout(g, k)
    classes = trace.probs.shape[1]
    bar_h, bar_w = 14, 120
    chart_x = lay.x0 + T * lay.step + 24
    width = chart_x + 24 + bar_w + 48
    height = max(lay.y0 + lay.height, HEADER + 14 + classes * bar_h) + PAD
    img = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(img)
    ok = bool(trace.correct[i])
    draw.text((PAD, 6), f"#{trace.indices[i]}  true {trace.labels[i]}  guess {trace.preds[i]}",
              fill=RIGHT if ok else WRONG, font=font(14))
    small = font(11)
    for t in range(T):
        x = lay.x0 + t * lay.step
        draw.text((x + lay.patch // 2 - 3, HEADER), str(t + 1), fill=DIM, font=small)
        for s in range(k):
            patch = Image.fromarray((trace.glimpses[t, i, s] * 255).round().astype(np.uint8))
            img.paste(patch.resize((lay.patch, lay.patch), Image.NEAREST), (x, lay.y0 + s * (lay.patch + 4)))
    for s in range(k):  # a swatch in the box colour of each scale, as drawn on the canvas
        y = lay.y0 + s * (lay.patch + 4)
        draw.rectangle((8, y, 8 + 10, y + lay.patch - 1), fill=tuple(BOX_COLOURS[s % len(BOX_COLOURS)]))
    for c in range(classes):
        y = HEADER + 14 + c * bar_h
        p = float(trace.probs[i, c])
        colour = (RIGHT if ok else WRONG) if c == trace.preds[i] else BAR
        draw.text((chart_x, y), str(c), fill=RIGHT if c == trace.labels[i] else DIM, font=small)
        draw.rectangle((chart_x + 16, y + 2, chart_x + 16 + max(1, round(p * bar_w)), y + bar_h - 3), fill=colour)
        draw.text((chart_x + 24 + bar_w, y), f"{p:.2f}", fill=DIM, font=small)
    return img
