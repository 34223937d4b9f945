"""Advantages of an episode's choices for REINFORCE with a learned baseline, shared by the digit and the
Catch agents: one reward R arrives after the last choice, and the baseline b_t predicts it before each."""

from __future__ import annotations

import torch


def advantages(baselines: torch.Tensor, reward: torch.Tensor, lam: float = 1.0) -> torch.Tensor:
    """(L, B) detached advantages of L choices: GAE(lambda) over the baseline's values b_t (L, B), the
    reward R (B) coming after the last choice.

    lambda = 1 gives R - b_t (every choice shares the episode's outcome: the paper's). Smaller lambdas lean
    on the baseline's next value, b_(t+1) - b_t at 0: how much the glimpse or move that choice led to
    raised the predicted reward. Less variance, more bias while the baseline is poor."""
    b = baselines.detach()  # L, B
    if lam == 1 or not len(b):
        return reward[None] - b
    delta = torch.cat([b[1:], reward[None]]) - b  # L, B: the value after each choice, less the value before
    out, running = torch.empty_like(delta), torch.zeros_like(delta[0])
    for t in reversed(range(len(delta))):  # over the episode's steps, never over the batch
        running = delta[t] + lam * running
        out[t] = running
    return out
