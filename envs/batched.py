"""What every natively batched glimpse environment shares: the plumbing around the task.

``GlimpseVectorEnv`` (digits) and ``CatchVectorEnv`` (the game) differ in what a sub-environment holds
and how it steps. They share how a batch is seeded, how fixed val/test episodes are picked and covered,
where the first glimpse goes, next-step autoreset, and how tensors leave the env (numpy or torch). A new
task subclasses ``BatchedGlimpseEnv`` and writes only its own reset and step.
"""

from __future__ import annotations

import numpy as np
import torch
from gymnasium.vector import VectorEnv


class BatchedGlimpseEnv(VectorEnv):
    """A VectorEnv whose whole batch steps together as tensor code on ``self.device``.

    Subclasses set ``num_envs``, ``split``, ``start``, ``backend``, ``device``, ``generator`` (one
    torch.Generator for the whole batch) and ``_locs`` (the glimpse locations of the current episode),
    and define ``size`` (how many fixed episodes the split holds)."""

    @staticmethod
    def check_modes(backend: str, start: str, render_mode: str | None) -> None:
        if backend not in ("numpy", "torch"):
            raise ValueError(f"backend must be 'numpy' or 'torch', got {backend!r}")
        if start not in ("center", "random"):
            raise ValueError(f"start must be 'center' or 'random', got {start!r}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")

    def _out(self, x: torch.Tensor):
        return x.cpu().numpy() if self.backend == "numpy" else x

    def _reward(self, x: torch.Tensor):
        return x.cpu().numpy().astype(np.float64) if self.backend == "numpy" else x

    def _seed(self, seed: int | None) -> None:
        """Gymnasium's reset(seed=...) for the batch: one int seeds the one generator every draw uses."""
        if seed is not None and not isinstance(seed, (int, np.integer)):
            raise ValueError(f"seed must be an int (it seeds the whole batch) or None, got {type(seed).__name__}")
        super().reset(seed=seed)
        if seed is not None:
            self.generator.manual_seed(int(seed))

    def _repeats(self, options: dict) -> int:
        """options['repeats'] = M: the batch holds num_envs / M episodes, each M times side by side."""
        repeats = options.get("repeats", 1)
        if not isinstance(repeats, (int, np.integer)) or repeats < 1 or self.num_envs % repeats:
            raise ValueError(f"options['repeats']={repeats!r} must be a positive divisor of num_envs={self.num_envs}")
        return int(repeats)

    def _indices(self, options: dict, n: int) -> torch.Tensor:
        """options['indices'] (n,): which of the split's fixed episodes to play, checked, as a long tensor."""
        given = options["indices"]
        if not torch.is_tensor(given):  # user input: checked here (tensors from a trainer: no host sync)
            given = np.asarray(given)
            if given.size and (given.min() < 0 or given.max() >= self.size):
                raise ValueError(f"options['indices'] must lie in [0, {self.size}) for split {self.split!r}")
        index = torch.as_tensor(given, device=self.device).long()
        if index.shape != (n,):
            held = f"num_envs={self.num_envs}" if n == self.num_envs else f"num_envs/repeats={n}"
            raise ValueError(f"options['indices'] must hold {held} indices, got shape {tuple(index.shape)}")
        return index

    def _first_location(self, options: dict) -> torch.Tensor:
        """Where the first glimpse of each episode goes (B, 2): options['loc'], else the centre or a random spot."""
        B = self.num_envs
        if "loc" in options:
            loc = torch.as_tensor(options["loc"], dtype=torch.float32, device=self.device).clamp(-1, 1)
            if loc.shape != (B, 2):
                raise ValueError(f"options['loc'] must have shape (num_envs, 2) = ({B}, 2), got {tuple(loc.shape)}")
            return loc
        if self.start == "center":
            return torch.zeros(B, 2, device=self.device)
        return torch.rand(B, 2, generator=self.generator, device=self.device) * 2 - 1

    def _autoreset_step(self):
        """The step after an episode ended (next-step autoreset; every sub-environment ends together):
        a reset, reported as a step with zero reward."""
        obs, info = self.reset()
        zeros = torch.zeros(self.num_envs, device=self.device)
        return obs, self._reward(zeros), self._out(zeros.bool()), self._out(zeros.bool()), info

    def locations(self) -> torch.Tensor:
        """Locations of the glimpses taken so far in this episode, (glimpses taken, B, 2)."""
        return torch.stack(self._locs)

    def split_batches(self):
        """Yields (options, valid) that cover the split's fixed episodes once, num_envs at a time, for
        ``reset(options=options)``: the last batch wraps around to the start, and ``valid`` (B,) bool
        marks its entries that are not repeats."""
        N, B = self.size, self.num_envs
        if N == 0:
            raise ValueError(f"split_batches() covers fixed episodes, which split {self.split!r} does not hold")
        for first in range(0, N, B):
            index = torch.arange(first, first + B, device=self.device)
            yield {"indices": index % N}, index < N
