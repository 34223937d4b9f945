"""Draw a canvas with its glimpse boxes as an RGB array (numpy only, so environments can render)."""

from __future__ import annotations

import numpy as np

from envs.retina import patch_corners

BOX_COLOURS = np.array([[255, 200, 0], [0, 200, 255], [255, 80, 200], [120, 255, 120]], dtype=np.uint8)
PATH_COLOUR = np.array([255, 60, 60], dtype=np.uint8)


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


def render_glimpses(canvas: np.ndarray, locs: np.ndarray, size: int, scales: int, zoom: int = 4) -> np.ndarray:
    """RGB frame (H*zoom, W*zoom, 3) uint8: the canvas, the path of locs (t, 2) and the boxes of the last one."""
    import torch  # the corner arithmetic is shared with the retina, which is torch code

    frame = np.repeat(np.repeat(canvas.astype(np.uint8), zoom, 0), zoom, 1)[..., None].repeat(3, -1)
    if len(locs) == 0:
        return frame
    H = canvas.shape[0]
    centres = ((np.clip(locs, -1, 1) + 1) * (H * zoom / 2)).astype(int)  # t, 2 (x, y)
    for (xa, ya), (xb, yb) in zip(centres[:-1], centres[1:]):  # path as dots along each segment
        for f in np.linspace(0, 1, 16):
            x, y = int(xa + f * (xb - xa)), int(ya + f * (yb - ya))
            frame[max(y - 1, 0):y + 1, max(x - 1, 0):x + 1] = PATH_COLOUR
    corners = patch_corners(torch.as_tensor(locs[-1:], dtype=torch.float32), size, scales, H)[0].numpy()
    for s, (x0, y0) in enumerate(corners):
        width = size * 2**s
        draw_rect(frame, x0 * zoom, y0 * zoom, (x0 + width) * zoom, (y0 + width) * zoom,
                  BOX_COLOURS[s % len(BOX_COLOURS)])
    return frame
