"""Catch's episodes: a batch of games played to the end, the REINFORCE loss of the final reward, and
the catch rate over a fixed split."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from ram.models.advantage import advantages

if TYPE_CHECKING:
    from envs.catch import CatchVectorEnv
    from ram.models.catch_agent import CatchRAM

EVAL_SEED = 1234  # sampled evaluation games draw from their own generator: scores are reproducible


@dataclass
class Play:
    log_probs: torch.Tensor  # T, B: log-probability of each step's move and location
    entropies: torch.Tensor  # T, B: entropy of each step's move distribution
    baselines: torch.Tensor  # T, B: predicted reward at each step
    reward: torch.Tensor  # B: 1 where the ball was caught
    moves: torch.Tensor  # T, B: 0 left, 1 stay, 2 right
    locations: torch.Tensor  # T + 1, B, 2: where each frame was looked at
    screens: torch.Tensor | None = None  # T + 1, B, S, S uint8 when recorded


def play(agent: "CatchRAM", env: "CatchVectorEnv", greedy: bool = False, generator=None,
         options: dict | None = None, record: bool = False) -> Play:
    """One game in every sub-environment: a glimpse, a move and the next glimpse's location each frame."""
    obs, _ = env.reset(options=options)
    state = agent.initial_state(env.num_envs, env.device)
    log_probs, entropies, baselines, moves, screens = [], [], [], [], []
    reward = None
    for _ in range(env.steps_left):  # every game of the batch ends at the same frame: no device sync to ask
        if record:
            screens.append(env.screens())
        state, loc, move, log_prob, entropy, baseline = agent.step(obs["glimpse"], obs["loc"], state, greedy,
                                                                   generator)
        log_probs.append(log_prob)
        entropies.append(entropy)
        baselines.append(baseline)
        moves.append(move)
        obs, reward, _, _, _ = env.step({"loc": loc, "move": move})
    if record:
        screens.append(env.screens())
    return Play(torch.stack(log_probs), torch.stack(entropies), torch.stack(baselines), reward, torch.stack(moves), env.locations(),
                torch.stack(screens) if record else None)


def reinforce_loss(p: Play, reinforce_weight: float = 1.0, reduce: str = "sum", entropy_weight: float = 0.0,
                   gae_lambda: float = 1.0) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """REINFORCE of the final reward with a learned baseline, plus the baseline's squared error, minus
    ``entropy_weight`` times the move policy's mean entropy.

    Every step of a game shares its return R, the baseline's target; the advantage of each step is
    ``advantages``' (R - b_t by default), from the detached baseline."""
    returns = p.reward[None].expand_as(p.baselines)  # T, B
    advantage = advantages(p.baselines, p.reward, gae_lambda)  # T, B
    terms = advantage * p.log_probs  # T, B
    reinforce = -(terms.sum(0) if reduce == "sum" else terms.mean(0)).mean()
    baseline = F.mse_loss(p.baselines, returns)
    entropy = p.entropies.mean()
    loss = reinforce_weight * reinforce + baseline - entropy_weight * entropy
    return loss, {"loss": loss.detach(), "reinforce": reinforce.detach(), "baseline": baseline.detach(),
                  "entropy": entropy.detach(), "reward": p.reward.mean()}


@torch.no_grad()
def catch_rate(agent: "CatchRAM", env: "CatchVectorEnv", greedy: bool) -> float:
    """Fraction of the env's fixed games (val or test) caught, each played once."""
    agent.eval()
    generator = torch.Generator(env.device).manual_seed(EVAL_SEED)
    env.generator.manual_seed(EVAL_SEED)  # random first glimpses (model.start=random) are fixed too
    caught = torch.zeros((), device=env.device)
    for options, valid in env.split_batches():
        caught += (play(agent, env, greedy, generator, options).reward * valid).sum()
    agent.train()
    return caught.item() / env.size
