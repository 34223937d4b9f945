"""What a run is made of, built from its config: the device, the environment, the model.

The trainer, the viewer and the comparison table all build through here, so a view or a score sees
exactly what training saw. ``build_model`` is the one place a model is chosen by its name."""

from __future__ import annotations

import torch

from envs.catch import CatchVectorEnv
from envs.vector_env import GlimpseVectorEnv
from ram.errors import ConfigError
from ram.models.base import Model
from ram.models.registry import MODELS


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"train.device={name} but this machine has no CUDA device: use train.device=cpu or auto")
    return torch.device(name)


def make_env(cfg, split: str, batch: int, device) -> GlimpseVectorEnv | CatchVectorEnv:
    """The benchmark's batched env of ``batch`` episodes on the split (train, val or test): MNIST canvases,
    or games of Catch (data.benchmark=catch)."""
    d, m = cfg.data, cfg.model
    if d.benchmark == "catch":
        g = cfg.game
        return CatchVectorEnv(num_envs=batch, screen_size=g.screen_size, paddle_width=g.paddle_width,
                              ball_speed=g.ball_speed, glimpse_size=m.glimpse_size, scales=m.scales, split=split,
                              start=m.start, device=device, backend="torch")
    start = "center" if m.start == "learned" else m.start  # a learned start hands the env its first location
    return GlimpseVectorEnv(num_envs=batch, canvas_size=d.canvas_size, distractors=d.distractors,
                            glimpse_size=m.glimpse_size, scales=m.scales, glimpses=m.glimpses, split=split,
                            data_dir=d.data_dir, val_size=d.val_size, train_size=d.train_size or None,
                            canvas_seed=d.canvas_seed, start=start, device=device, backend="torch",
                            dataset=d.dataset, verify=d.verify)


def epoch_size(cfg, env) -> int:
    """Episodes of one training epoch: every training digit once, or game.episodes fresh games."""
    return cfg.game.episodes if cfg.data.benchmark == "catch" else env.size


def build_model(cfg) -> Model:
    """The model ``cfg.model.name`` names (ram/models/registry.py), built from the whole config."""
    return MODELS[cfg.model.name].from_config(cfg)


def count_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
