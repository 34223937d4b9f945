"""Canvases: digit placement, distractor count, value range, fixed validation/test sets."""

import torch

from envs.canvas import BENCHMARKS, fixed_canvases, make_canvases
from envs.data import digits


def test_centred_28_is_the_digit_itself(data_dir):
    images, _ = digits("test", data_dir)
    canvases = make_canvases(images, torch.arange(8), 28)
    assert torch.equal(canvases, images[:8].float())


def test_translated_digit_lies_fully_inside(data_dir):
    images, _ = digits("test", data_dir)
    index = torch.arange(256)
    canvases = make_canvases(images, index, 60, generator=torch.Generator().manual_seed(0))
    assert canvases.shape == (256, 60, 60)
    # no pixel of the digit was cut off: the canvas holds exactly the digit's mass
    assert torch.equal(canvases.sum((1, 2)), images[index].float().sum((1, 2)))
    # and the digit sits somewhere, exactly: find it by matching every offset
    windows = canvases.unfold(1, 28, 1).unfold(2, 28, 1)  # B, 33, 33, 28, 28
    hits = (windows == images[index].float()[:, None, None]).all(-1).all(-1)  # B, 33, 33
    assert hits.flatten(1).any(1).all()
    # positions are spread over the whole range, not stuck in a corner
    ys = hits.flatten(1).float().argmax(1) // 33
    assert ys.min() <= 3 and ys.max() >= 29


def test_distractor_count_size_and_source():
    # pool: image 0 is blank (the target), the others hold ones: distractors are the only mass
    pool = torch.ones(5, 28, 28, dtype=torch.uint8)
    pool[0] = 0
    canvases = make_canvases(pool, torch.zeros(64, dtype=torch.long), 100, distractors=8,
                             generator=torch.Generator().manual_seed(1))
    assert torch.equal(canvases.sum((1, 2)), torch.full((64,), 8 * 64.0))  # 8 crops of 8x8 ones each
    # a distractor never comes from the target digit itself
    pool = torch.zeros(2, 28, 28, dtype=torch.uint8)
    pool[1] = 1
    canvases = make_canvases(pool, torch.zeros(32, dtype=torch.long), 60, distractors=4)
    assert torch.equal(canvases.sum((1, 2)), torch.full((32,), 4 * 64.0))


def test_values_are_clipped_to_pixel_range(data_dir):
    images, _ = digits("test", data_dir)
    canvases = make_canvases(images, torch.arange(512), **BENCHMARKS["cluttered60"])
    assert canvases.min() == 0 and canvases.max() == 255
    assert torch.equal(canvases, canvases.round())  # integers, so patch sums stay exact
    # clutter adds mass: a cluttered canvas holds more than its digit
    assert (canvases.sum((1, 2)) > images[:512].float().sum((1, 2))).float().mean() > 0.95


def test_fixed_sets_are_identical_across_runs_and_differ_by_seed(data_dir):
    images, _ = digits("val", data_dir)
    a = fixed_canvases(images[:300], 60, 4, seed=0)
    b = fixed_canvases(images[:300], 60, 4, seed=0)
    c = fixed_canvases(images[:300], 60, 4, seed=1)
    assert a.dtype == torch.uint8 and torch.equal(a, b) and not torch.equal(a, c)


def test_training_canvases_are_fresh(data_dir):
    images, _ = digits("train", data_dir, train_size=1000)
    g = torch.Generator().manual_seed(0)
    first = make_canvases(images, torch.arange(64), 60, 4, generator=g)
    second = make_canvases(images, torch.arange(64), 60, 4, generator=g)
    assert not torch.equal(first, second)


def test_returned_corners_locate_the_target_and_change_no_draw(data_dir):
    images, _ = digits("val", data_dir)
    plain = fixed_canvases(images[:300], 60, 4, seed=0, chunk=128)
    canvases, corners = fixed_canvases(images[:300], 60, 4, seed=0, chunk=128, return_corners=True)
    assert torch.equal(canvases, plain)  # asking for the corners draws nothing more
    assert corners.shape == (300, 2) and corners.min() >= 0 and corners.max() <= 60 - 28
    # the whole digit lies at its corner (clutter only adds to it), and the corners are not all one place
    x, y = corners[:, 0, None, None], corners[:, 1, None, None]
    rows, cols = y + torch.arange(28)[:, None], x + torch.arange(28)
    under = canvases[torch.arange(300)[:, None, None], rows, cols]  # N, 28, 28: the canvas at the target's box
    assert (under >= images[:300]).all()
    assert len(set(corners[:, 0].tolist())) > 10
