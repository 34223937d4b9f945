"""What changes over a run: the learning rate and the location policy's exploration noise.

Both are functions of training progress (the fraction of the run's steps done), so a resumed run
recomputes them exactly from its step count; only the plateau schedule's drops, which depend on the
validation curve, are kept in the checkpoint (as ``lr_drop``).
"""

from __future__ import annotations

import math


def lr_factor(schedule: str, progress: float, floor: float) -> float:
    """The learning rate as a fraction of train.lr, from 1 at progress 0 to ``floor`` (lr_min / lr) at 1.

    plateau and constant hold 1 here (plateau's drops multiply it from outside)."""
    p = min(max(progress, 0.0), 1.0)
    if schedule == "cosine":
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * p))
    if schedule == "linear":  # Torch7's rnn example: linear decay to a floor
        return 1 - (1 - floor) * p
    if schedule == "exponential":
        return floor**p
    return 1.0


def loc_std(start: float, final: float | None, progress: float) -> float:
    """The policy std: fixed at ``start``, or annealed linearly to ``final`` by the end of the run.

    Annealing lets the classifier see wide exploration early and, late in training, paths close to the
    mean path that the deterministic policy takes at test time."""
    if final is None:
        return start
    return start + (final - start) * min(max(progress, 0.0), 1.0)
