"""An exponential moving average of the weights (Polyak averaging), for ``train.ema``.

Late in a run the deterministic validation error moves 0.1-0.2 points from one epoch to the next (recipe
round 20), so the best-validation epoch is partly a lucky draw. The average of the last few thousand steps'
weights is one model that smooths that noise out. Training steps the raw weights; validation, best.pt, the
test score and the rollout GIFs use the average.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch


class WeightAverage:
    """avg <- d * avg + (1 - d) * weights after every optimizer step, with d = min(decay, (1 + n) / (10 + n))
    after n updates: the warm-up forgets the random initial weights within the first steps."""

    def __init__(self, model: torch.nn.Module, decay: float):
        self.model, self.decay, self.updates = model, decay, 0
        self.live = list(model.parameters())  # the raw weights the optimizer steps (listed once, not every step)
        self.params = [p.detach().clone() for p in self.live]

    @torch.no_grad()
    def update(self) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        torch._foreach_lerp_(self.params, self.live, 1 - d)

    @contextmanager
    def swapped_in(self):
        """The model holds the averaged weights inside the block and its own, bit for bit, after it."""
        raw = [p.detach().clone() for p in self.live]
        self._copy_into_model(self.params)
        try:
            yield self.model
        finally:
            self._copy_into_model(raw)

    @torch.no_grad()
    def _copy_into_model(self, tensors: list[torch.Tensor]) -> None:
        for p, t in zip(self.live, tensors):
            p.copy_(t)

    def model_state(self) -> dict:
        """The model's state_dict with every parameter replaced by its average (buffers as they are)."""
        with self.swapped_in():
            return {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def state_dict(self) -> dict:
        return {"params": [t.clone() for t in self.params], "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        for mine, saved in zip(self.params, state["params"], strict=True):
            mine.copy_(saved)
        self.updates = state["updates"]


class TailAverage:
    """The uniform mean of several state_dicts (the validated weights of the last epochs, ``eval.average_from``):
    mean <- mean + (x - mean) / n for the n-th one added, in float32 like the weights themselves.

    Stochastic weight averaging (Izmailov et al. 2018) over the tail of the cosine schedule, on top of the
    step-wise EMA: late in the run the weights move little, so the mean is one model in the same basin, and it
    smooths the 0.1-0.2 points that the validation error moves from epoch to epoch (recipe round 28).
    benchmarks/tail_average.py averages a run's saved snapshots with this same class, so the two agree exactly."""

    def __init__(self):
        self.mean: dict[str, torch.Tensor] = {}
        self.count, self.first, self.last = 0, None, None  # how many, and the first and last epoch averaged

    @torch.no_grad()
    def add(self, state: dict[str, torch.Tensor], epoch: int) -> None:
        self.count += 1
        self.first, self.last = epoch if self.first is None else self.first, epoch
        for name, value in state.items():
            if not value.is_floating_point():  # integer buffers (none in RAM today) are taken as they are
                self.mean[name] = value.detach().clone()
            elif self.count == 1:
                self.mean[name] = value.detach().clone()
            else:
                self.mean[name].add_(value.detach() - self.mean[name], alpha=1 / self.count)

    def model_state(self) -> dict[str, torch.Tensor]:
        return {k: v.clone() for k, v in self.mean.items()}

    def state_dict(self) -> dict:
        return {"mean": self.model_state(), "count": self.count, "first": self.first, "last": self.last}

    def load_state_dict(self, state: dict) -> None:
        self.mean = {k: v.clone() for k, v in state["mean"].items()}
        self.count, self.first, self.last = state["count"], state["first"], state["last"]
