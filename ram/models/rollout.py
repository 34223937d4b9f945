"""RAM's episodes: run the agent through the batched environment, the hybrid loss of the paper, and
the error over a fixed split."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from envs.vector_env import GlimpseVectorEnv
from ram.models.advantage import advantages

if TYPE_CHECKING:  # ram.py calls into this module: the annotation only
    from ram.models.ram import RAM

EVAL_SEED = 1234  # evaluation rollouts draw from their own generator: scores are reproducible


@dataclass
class Rollout:
    logits: torch.Tensor  # B, classes, after the last glimpse
    log_probs: torch.Tensor  # L, B: log-density of each location the policy chose (T-1, or T with a learned start)
    baselines: torch.Tensor  # L, B: predicted reward at those steps
    reward: torch.Tensor  # B: 1 where the class was right (from the environment)
    labels: torch.Tensor  # B: the true digits (from the environment's final info)
    locations: torch.Tensor  # T, B, 2: where each glimpse was taken
    glimpses: torch.Tensor | None = None  # T, B, k, g, g when recorded


def rollout(model: "RAM", env: GlimpseVectorEnv, deterministic: bool = False, generator=None,
            options: dict | None = None, record: bool = False, start_deterministic: bool | None = None) -> Rollout:
    """One episode of every sub-environment: T glimpses, then a class guess scored by the env.
    start_deterministic: a learned first location from its mean or drawn (None: as ``deterministic``)."""
    start_det = deterministic if start_deterministic is None else start_deterministic
    first = model.first_step(env.num_envs, env.device, start_det, generator)  # a learned start, else None
    if first is not None:
        options = {**(options or {}), "loc": first.loc}
    obs, _ = env.reset(options=options)
    state = model.initial_state(env.num_envs, env.device)
    log_probs, baselines, seen = ([first.log_prob], [first.baseline], []) if first is not None else ([], [], [])
    for t in range(model.glimpses):
        if record:
            seen.append(obs["glimpse"])
        step = model.step(obs["glimpse"], obs["loc"], state, deterministic, generator)
        state = step.state
        if t < model.glimpses - 1:
            log_probs.append(step.log_prob)
            baselines.append(step.baseline)
            obs, *_ = env.step({"loc": step.loc, "label": None})  # the guess only counts at the last step
    logits = model.classify(state)
    _, reward, _, _, info = env.step({"loc": step.loc, "label": logits.argmax(1)})
    empty = logits.new_zeros(0, env.num_envs)
    return Rollout(logits, torch.stack(log_probs) if log_probs else empty,
                   torch.stack(baselines) if baselines else empty, reward, info["label"],
                   env.locations(), torch.stack(seen) if record else None)


def hybrid_loss(r: Rollout, reinforce_weight: float = 1.0, reduce: str = "sum",
                gae_lambda: float = 1.0) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Cross-entropy + REINFORCE with a learned baseline + the baseline's squared error.

    Every location of an episode shares its return R (the final reward), the baseline's target. The
    advantage (R - b_t, or GAE(gae_lambda) over the baseline's values) uses a detached baseline, so
    REINFORCE moves only the policy (the location network, and the core when the model lets it) and the
    squared error only the baseline network. ``reduce``: the REINFORCE terms of an episode's locations
    summed (the likelihood-ratio gradient of the episode) or averaged over them."""
    ce = F.cross_entropy(r.logits, r.labels)
    returns = r.reward[None].expand_as(r.baselines)  # L, B (L locations chosen by the policy)
    advantage = advantages(r.baselines, r.reward, gae_lambda)  # L, B
    per_episode = (advantage * r.log_probs).sum(0) if reduce == "sum" else (advantage * r.log_probs).mean(0)
    reinforce = -per_episode.mean() if r.log_probs.numel() else ce.new_zeros(())
    baseline = F.mse_loss(r.baselines, returns) if r.baselines.numel() else ce.new_zeros(())
    loss = ce + reinforce_weight * reinforce + baseline
    return loss, {"loss": loss.detach(), "ce": ce.detach(), "reinforce": reinforce.detach(),
                  "baseline": baseline.detach(), "reward": r.reward.mean()}


@torch.no_grad()
def wrong_episodes(model: "RAM", env: GlimpseVectorEnv, mode: str, mc_samples: int = 10) -> torch.Tensor:
    """(N,) bool: which of the env's fixed episodes the model misclassifies. mode: single, deterministic or mc."""
    model.eval()
    generator = torch.Generator(env.device).manual_seed(EVAL_SEED)
    env.generator.manual_seed(EVAL_SEED)  # random first glimpses (model.start=random) are fixed too
    wrong = torch.zeros(env.size, dtype=torch.bool, device=env.device)
    for options, valid in env.split_batches():
        if mode == "mc":
            probs = sum(rollout(model, env, False, generator, options).logits.softmax(1) for _ in range(mc_samples))
            correct = probs.argmax(1) == env.labels()
        else:
            correct = rollout(model, env, mode == "deterministic", generator, options).reward.bool()
        wrong[options["indices"][valid]] = ~correct[valid]  # the wrapped-around repeats are not scored twice
    model.train()
    return wrong
