"""The one interface every model offers the rest of the project: how it computes its training loss, how
it is scored, and what it can show.

In the spirit of nanoGPT's ``model(X, Y) -> logits, loss``: the trainer, the evaluator, the viewer and
the counters ask a model through these methods and never check which kind it is, so a new kind of
model (or a new task) is a new subclass, not a branch in every file. ``registry.py`` is the one place
that maps ``model.name`` to a class.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn

CLASSES = 10  # MNIST's digits: the outputs of every model's classifier


class Model(nn.Module):
    #: what it does: "classify" (an MNIST benchmark) or "catch" (the game); the config matches it to data.benchmark
    task: str = "classify"
    #: it samples glimpse paths: several rollouts per image (train.rollouts) and MC scores mean something
    samples: bool = False
    #: what the viewer can draw: its glimpse rollouts (``record``)
    shows_glimpses: bool = False
    #: the methods train.amp and train.compile wrap (ram/training/speed.py)
    fast_methods: tuple[str, ...] = ("forward",)

    # ----------------------------------------------------------------------------- from a config
    @classmethod
    def from_config(cls, cfg) -> "Model":
        """The model a Config describes."""
        raise NotImplementedError

    @classmethod
    def config_problem(cls, cfg) -> str | None:
        """What in a Config this kind of model cannot do, as a one-line message (None: all is well)."""
        t, v = cfg.train, cfg.view
        name = cfg.model.name
        if t.rollouts > 1 and not cls.samples:
            return (f"train.rollouts={t.rollouts} samples glimpse paths, which model.name={name!r} does not take: "
                    "set train.rollouts=1")
        if t.gae_lambda != 1 and not cls.samples:
            return (f"train.gae_lambda={t.gae_lambda} weighs the advantages of sampled glimpse locations, which "
                    f"model.name={name!r} does not take: set train.gae_lambda=1")
        if v.every and not cls.shows_glimpses:
            return (f"view.every={v.every} draws glimpse rollouts, which model.name={name!r} does not make: "
                    "set view.every=0")
        return None

    @staticmethod
    def describe(model_cfg: dict) -> str:
        """A short human name from a run's saved ``model`` section (for the comparison table)."""
        return str(model_cfg.get("name"))

    # ----------------------------------------------------------------------------- training
    def loss(self, env, options: dict, generator: torch.Generator, train_cfg) -> tuple[torch.Tensor, dict]:
        """The training loss on the batch ``env.reset(options=options)`` sets up, and its stats (detached
        scalars; 'loss' and 'reward', the fraction right or caught, at least)."""
        raise NotImplementedError

    def set_progress(self, progress: float) -> None:
        """Follow the fraction of training done (0 to 1), for what is scheduled inside the model."""

    @property
    def unused_parameters(self) -> bool:
        """Some parameters may get no gradient in a step (DistributedDataParallel must then look for them)."""
        return False

    def gradient_parts(self) -> dict[str, list[torch.nn.Parameter]]:
        """The parameters grouped by the loss that trains them, for ``train.grad_clip_parts``: one group
        unless a model's losses reach disjoint parts of it."""
        return {"all": list(self.parameters())}

    # ----------------------------------------------------------------------------- scoring
    def wrong_episodes(self, env, mode: str, mc_samples: int) -> torch.Tensor | None:
        """(N,) bool: which of the split's fixed episodes are misclassified, for models scored per episode;
        None for those scored another way (Catch's catch rate, which overrides ``error``)."""
        return None

    def error(self, env, mode: str, mc_samples: int) -> float:
        """Error (fraction) over the env's whole fixed split; mode: single, deterministic or mc."""
        wrong = self.wrong_episodes(env, mode, mc_samples)
        if wrong is None:
            raise NotImplementedError(f"{type(self).__name__} must define wrong_episodes or error")
        return wrong.sum().item() / env.size

    def test_errors(self, env, mc_samples: int) -> dict:
        """results.json's test errors (test_error_single, _deterministic, _mc) and what they averaged."""
        raise NotImplementedError

    def one_image(self, canvas_size: int) -> Callable[[], object]:
        """A callable running the inference of one image, for counting its MACs (ram/tools/macs.py)."""
        raise NotImplementedError

    # ----------------------------------------------------------------------------- showing
    def record(self, env, deterministic: bool, generator: torch.Generator, options: dict):
        """A rollout with the glimpses recorded (``shows_glimpses`` models only)."""
        raise NotImplementedError(f"{type(self).__name__} makes no glimpses to record")


class LossCall(nn.Module):
    """``model.loss`` as a module call: DistributedDataParallel arms its gradient all-reduce only inside a
    forward() call, and a model's own forward (if any) is its inference, not its loss."""

    def __init__(self, model: Model, train_cfg):
        super().__init__()
        self.model, self.train_cfg = model, train_cfg

    def forward(self, env, options: dict, generator: torch.Generator):
        return self.model.loss(env, options, generator, self.train_cfg)
