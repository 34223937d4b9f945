"""The glimpse sensor against a direct per-sample implementation written out here."""

import numpy as np
import pytest
import torch

from envs.retina import Retina


def reference_glimpse(canvas: np.ndarray, loc: np.ndarray, size: int, scales: int) -> np.ndarray:
    """One sample, loop by loop: pad with zeros, crop each scale, average 2**s x 2**s cells."""
    H, W = canvas.shape
    out = np.zeros((scales, size, size))
    for s in range(scales):
        width, cell = size * 2**s, 2**s
        cx, cy = (loc[0] + 1) / 2 * W, (loc[1] + 1) / 2 * H
        x0, y0 = int(np.floor(cx - width / 2 + 0.5)), int(np.floor(cy - width / 2 + 0.5))
        pad = width
        padded = np.pad(canvas.astype(np.float64), pad)
        patch = padded[y0 + pad:y0 + pad + width, x0 + pad:x0 + pad + width]
        for i in range(size):
            for j in range(size):
                out[s, i, j] = patch[i * cell:(i + 1) * cell, j * cell:(j + 1) * cell].mean()
    return out / 255


@pytest.mark.parametrize("canvas_size,size,scales", [(28, 8, 1), (60, 12, 3), (100, 12, 4), (37, 5, 2)])
def test_retina_matches_per_sample_reference(canvas_size, size, scales):
    g = torch.Generator().manual_seed(canvas_size)
    canvas = torch.randint(0, 256, (6, canvas_size, canvas_size), generator=g).float()
    loc = torch.tensor([[-1, -1], [1, 1], [0, 0], [-1, 1], [0.3, -0.77], [0.999, -0.05]])
    got = Retina(size, scales)(canvas, loc)
    assert got.shape == (6, scales, size, size) and got.dtype == torch.float32
    for b in range(6):
        want = reference_glimpse(canvas[b].numpy(), loc[b].numpy(), size, scales)
        np.testing.assert_allclose(got[b].numpy(), want, atol=1e-6)


def test_retina_on_real_canvas_is_in_unit_range(data_dir):
    from envs.canvas import make_canvases
    from envs.data import digits

    images, _ = digits("test", data_dir)
    canvas = make_canvases(images, torch.arange(32), 100, 8)
    loc = torch.rand(32, 2) * 2 - 1
    retina = Retina(12, 4)
    glimpse = retina.glimpse(retina.integral(canvas), loc)
    assert glimpse.min() >= 0 and glimpse.max() <= 1
    assert glimpse[:, 3].sum() > 0  # the widest patch (96 px) always sees part of the canvas


def test_scale_zero_at_centre_is_the_central_crop():
    canvas = torch.arange(60 * 60, dtype=torch.float32).reshape(1, 60, 60) % 256
    glimpse = Retina(12, 1)(canvas, torch.zeros(1, 2))
    assert torch.equal(glimpse[0, 0], canvas[0, 24:36, 24:36] / 255)
