"""Draw a canvas with its glimpse boxes as an RGB array (numpy only, so environments can render)."""

from __future__ import annotations

import numpy as np

from envs.retina import patch_corners

BOX_COLOURS = np.array([[255, 200, 0], [0, 200, 255], [255, 80, 200], [120, 255, 120]], dtype=np.uint8)
PATH_COLOUR = np.array([255, 60, 60], dtype=np.uint8)
OUTSIDE_COLOUR = np.array([48, 48, 64], dtype=np.uint8)  # beyond the canvas edge, where only boxes go


def draw_rect(frame: np.ndarray, x0: int, y0: int, x1: int, y1: int, colour: np.ndarray) -> None:
    """Outline of pixels [x0, x1) x [y0, y1) on frame (H, W, 3), clipped to the frame."""
    H, W = frame.shape[:2]
    xa, xb, ya, yb = max(x0, 0), min(x1, W), max(y0, 0), min(y1, H)
    if xa >= xb or ya >= yb:
        return
    for y in (y0, y1 - 1):
        if 0 <= y < H:
            frame[y, xa:xb] = colour
    for x in (x0, x1 - 1):
        if 0 <= x < W:
            frame[ya:yb, x] = colour


def render_glimpses(canvas: np.ndarray, locs: np.ndarray, size: int, scales: int, zoom: int = 4,
                    margin: int = 0, line: int = 1) -> np.ndarray:
    """RGB frame ((H+2*margin)*zoom, (W+2*margin)*zoom, 3) uint8: the canvas, the path of locs (t, 2) and
    the boxes of the last one. ``margin`` canvas pixels of OUTSIDE_COLOUR around the canvas show the part
    of a box that reaches past the edge (the retina reads zeros there). Box outlines are ``line`` pixels
    thick, drawn inwards from the box's outermost pixels."""
    import torch  # the corner arithmetic is shared with the retina, which is torch code

    H, W = canvas.shape
    frame = np.empty(((H + 2 * margin) * zoom, (W + 2 * margin) * zoom, 3), dtype=np.uint8)
    frame[:] = OUTSIDE_COLOUR
    m = margin * zoom
    frame[m:m + H * zoom, m:m + W * zoom] = np.repeat(np.repeat(canvas.astype(np.uint8), zoom, 0), zoom, 1)[..., None]
    if len(locs) == 0:
        return frame
    centres = ((np.clip(locs, -1, 1) + 1) * (H * zoom / 2)).astype(int) + m  # t, 2 (x, y)
    for (xa, ya), (xb, yb) in zip(centres[:-1], centres[1:]):  # path as dots along each segment
        for f in np.linspace(0, 1, 16):
            x, y = int(xa + f * (xb - xa)), int(ya + f * (yb - ya))
            frame[max(y - 1, 0):y + 1, max(x - 1, 0):x + 1] = PATH_COLOUR
    r = max(1, zoom // 2)  # a bigger dot where each glimpse was taken
    for x, y in centres:
        frame[max(y - r, 0):y + r + 1, max(x - r, 0):x + r + 1] = PATH_COLOUR
    corners = patch_corners(torch.as_tensor(locs[-1:], dtype=torch.float32), size, scales, H)[0].numpy() + margin
    for s, (x0, y0) in enumerate(corners):
        width = size * 2**s
        for d in range(line):
            draw_rect(frame, x0 * zoom + d, y0 * zoom + d, (x0 + width) * zoom - d, (y0 + width) * zoom - d,
                      BOX_COLOURS[s % len(BOX_COLOURS)])
    return frame
