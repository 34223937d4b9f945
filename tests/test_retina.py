"""The glimpse sensor against the one per-sample reference written out here, straight from the
definition: on fixed corner cases, on random shapes and locations (hypothesis), and on a canvas big
enough that a float32 summed-area table would round. The per-sample-loop sensor of the throughput
benchmark (benchmarks/loop_reference.py) must match the same reference: it is the yardstick."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.loop_reference import LoopRetina
from envs.retina import Retina


def reference_glimpse(canvas: np.ndarray, loc: np.ndarray, g: int, k: int) -> np.ndarray:
    """One sample, straight from the definition: patch s is g*2**s pixels wide around the centre
    (loc+1)/2*S, top-left floor(centre - width/2 + 0.5), cells of 2**s x 2**s pixels averaged, zero
    outside, /255. The corner is computed in float32 like the sensor, so a centre that lands exactly on
    a half pixel rounds the same way in both."""
    S = canvas.shape[0]
    f32 = np.float32
    centre = (np.clip(loc.astype(f32), f32(-1), f32(1)) + f32(1)) * f32(S / 2)  # (x, y)
    out = np.zeros((k, g, g))
    for s in range(k):
        width, cell = g * 2**s, 2**s
        x0, y0 = np.floor(centre - f32(width / 2) + f32(0.5)).astype(int)
        patch = np.zeros((width, width))
        ys, xs = slice(max(y0, 0), min(y0 + width, S)), slice(max(x0, 0), min(x0 + width, S))
        patch[ys.start - y0:ys.stop - y0, xs.start - x0:xs.stop - x0] = canvas[ys, xs]
        out[s] = patch.reshape(g, cell, g, cell).mean(axis=(1, 3)) / 255
    return out


def assert_matches_reference(canvas: np.ndarray, loc: np.ndarray, g: int, k: int) -> None:
    """Both sensors (the batched one and the benchmark's per-sample loop) equal the reference."""
    images, where = torch.from_numpy(canvas), torch.from_numpy(loc)
    ours, loop = Retina(g, k)(images, where).numpy(), LoopRetina(g, k).glimpse(images, where).numpy()
    B = len(canvas)
    assert ours.shape == loop.shape == (B, k, g, g) and ours.dtype == np.float32
    for b in range(B):
        want = reference_glimpse(canvas[b], loc[b], g, k)
        np.testing.assert_allclose(ours[b], want, rtol=0, atol=2e-6)
        np.testing.assert_allclose(loop[b], want, rtol=0, atol=2e-6)


@pytest.mark.parametrize("canvas_size,size,scales", [(28, 8, 1), (60, 12, 3), (100, 12, 4), (37, 5, 2), (61, 5, 2)])
def test_retina_matches_the_reference_at_corners_edges_and_outside(canvas_size, size, scales):
    g = torch.Generator().manual_seed(canvas_size)
    canvas = torch.randint(0, 256, (8, canvas_size, canvas_size), generator=g).float().numpy()
    loc = np.array([[-1, -1], [1, 1], [0, 0], [-1, 1], [0.3, -0.77], [0.999, -0.05], [1.3, -1.3], [-1.2, 0.4]],
                   dtype=np.float32)  # the last two centres lie off the canvas: clamped to its edge
    assert_matches_reference(canvas, loc, size, scales)


@settings(max_examples=60, deadline=None)
@given(S=st.integers(1, 80), g=st.integers(1, 10), k=st.integers(1, 4), B=st.integers(1, 4), seed=st.integers(0, 2**32 - 1),
       edge=st.booleans())
def test_retina_matches_the_reference_on_random_shapes_and_locations(S, g, k, B, seed, edge):
    rng = np.random.default_rng(seed)
    canvas = rng.integers(0, 256, (B, S, S)).astype(np.float32)
    if edge:  # locations on a coarse grid, out of range too: exact half pixels and clamping
        loc = rng.integers(-6, 7, (B, 2)).astype(np.float32) / 4
    else:
        loc = rng.uniform(-1.2, 1.2, (B, 2)).astype(np.float32)
    assert_matches_reference(canvas, loc, g, k)


def test_retina_on_a_large_canvas_uses_an_exact_table():
    rng = np.random.default_rng(0)
    canvas = rng.integers(0, 256, (2, 300, 300)).astype(np.float32)  # 300*300*255 > 2**24: a float32 table would round
    loc = rng.uniform(-1, 1, (2, 2)).astype(np.float32)
    assert_matches_reference(canvas, loc, 12, 3)


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
