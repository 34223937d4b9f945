"""The Recurrent Attention Model (Mnih et al., NIPS 2014).

At step t the glimpse network fuses what the retina saw with where it looked, the core updates its
state, the location network proposes where to look next (a Gaussian with fixed std), and the
baseline network predicts the expected reward. After the last glimpse the action network classifies.

Gradient routing (the hybrid loss of the paper): the core and glimpse networks learn from the
classification loss; the location and baseline networks read a detached copy of the state, so they
learn from REINFORCE and the squared error respectively, and never from the cross-entropy. With
``reinforce_to_core=True`` the location network reads the state itself, so REINFORCE also trains the
core and glimpse networks (as in Torch7's and most public reproductions); the baseline never does.

The first glimpse is the environment's (centre or random, ``start``) unless ``start="learned"``: then
a learned mean (one parameter pair, tanh'd) draws the first location like any other, and REINFORCE
trains it. ``start_std`` gives that first draw its own std: wide, it spreads the training starts over the
canvas as ``start="random"`` does, while the deterministic policy starts at the learned mean.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from ram.models.base import CLASSES, Model
from ram.models.rollout import Rollout, hybrid_loss, rollout, wrong_episodes
from ram.training.schedule import loc_std as annealed_std


class GlimpseNetwork(nn.Module):
    """g_t = ReLU(W [ReLU(W_g x_t) ; ReLU(W_l l_{t-1})]): 'what' (128) and 'where' (128) -> 256."""

    def __init__(self, in_features: int, glimpse_hidden: int, loc_hidden: int, out_features: int):
        super().__init__()
        self.what = nn.Linear(in_features, glimpse_hidden)
        self.where = nn.Linear(2, loc_hidden)
        self.out = nn.Linear(glimpse_hidden + loc_hidden, out_features)

    def forward(self, glimpse: torch.Tensor, loc: torch.Tensor) -> torch.Tensor:
        what = F.relu(self.what(glimpse.flatten(1)))  # B, glimpse_hidden
        where = F.relu(self.where(loc))  # B, loc_hidden
        return F.relu(self.out(torch.cat([what, where], 1)))  # B, out_features


class Core(nn.Module):
    """h_t = f(h_{t-1}, g_t): a ReLU RNN as in the paper, or an LSTM. State is a tuple of tensors.

    rnn_init="identity" starts the ReLU RNN's recurrent weights at the identity with zero bias (IRNN,
    Le, Jaitly and Hinton 2015; the paper does not say how it initialised them): the first glimpse then
    survives the later updates, and on 60x60 cluttered MNIST validation error after 4 epochs fell from
    61% to 41% against PyTorch's default uniform init ("default")."""

    def __init__(self, kind: str, size: int, rnn_init: str = "identity"):
        super().__init__()
        self.kind = kind
        self.cell = nn.RNNCell(size, size, nonlinearity="relu") if kind == "rnn" else nn.LSTMCell(size, size)
        if kind == "rnn" and rnn_init == "identity":
            nn.init.eye_(self.cell.weight_hh)
            nn.init.zeros_(self.cell.bias_hh)

    def initial(self, batch: int, device) -> tuple[torch.Tensor, ...]:
        zeros = torch.zeros(batch, self.cell.hidden_size, device=device)
        return (zeros,) if self.kind == "rnn" else (zeros, zeros)

    def forward(self, g: torch.Tensor, state: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        return (self.cell(g, state[0]),) if self.kind == "rnn" else self.cell(g, state)


@dataclass
class Step:
    """What the agent produced at one step. ``loc`` is the sampled next location (unclamped)."""

    state: tuple[torch.Tensor, ...]
    mean: torch.Tensor  # B, 2
    loc: torch.Tensor  # B, 2
    log_prob: torch.Tensor  # B
    baseline: torch.Tensor  # B


class RAM(Model):
    samples, shows_glimpses = True, True
    fast_methods = ("_step", "classify")  # the per-glimpse arithmetic and the classifier; draws stay outside

    def __init__(self, *, glimpse_size: int = 12, scales: int = 3, glimpses: int = 8, glimpse_hidden: int = 128,
                 loc_hidden: int = 128, hidden: int = 256, core: str = "rnn", rnn_init: str = "identity",
                 loc_std: float = 0.15, loc_std_final: float | None = None, start: str = "center",
                 start_std: float | None = None,
                 reinforce_to_core: bool = False, policy: str = "learned", classes: int = CLASSES):
        super().__init__()
        self.glimpses, self.start, self.reinforce_to_core, self.policy = glimpses, start, reinforce_to_core, policy
        self.loc_std_start, self.loc_std_final, self.start_std = loc_std, loc_std_final, start_std
        # a tensor, so that an annealed std (set_loc_std) neither recompiles _step nor enters the state_dict
        self.register_buffer("_std", torch.tensor(float(loc_std)), persistent=False)
        self.glimpse_net = GlimpseNetwork(scales * glimpse_size**2, glimpse_hidden, loc_hidden, hidden)
        self.core = Core(core, hidden, rnn_init)
        self.location_net = nn.Linear(hidden, 2)
        self.baseline_net = nn.Linear(hidden, 1)
        self.action_net = nn.Linear(hidden, classes)
        if start == "learned":  # only then: checkpoints of the other starts keep their exact keys
            self.start_loc = nn.Parameter(torch.zeros(2))

    @classmethod
    def from_config(cls, cfg) -> "RAM":
        m = cfg.model
        return cls(glimpse_size=m.glimpse_size, scales=m.scales, glimpses=m.glimpses, glimpse_hidden=m.glimpse_hidden,
                   loc_hidden=m.loc_hidden, hidden=m.hidden, core=m.core, rnn_init=m.rnn_init, loc_std=m.loc_std,
                   loc_std_final=m.loc_std_final, start=m.start, start_std=m.start_std,
                   reinforce_to_core=m.reinforce_to_core,
                   policy=m.policy)

    @classmethod
    def config_problem(cls, cfg) -> str | None:
        if cfg.model.baseline_to_core:
            return ("model.baseline_to_core is for the Catch agents: on digits the classifier's cross-entropy trains "
                    "the core; set model.baseline_to_core=false")
        if cfg.model.retina_pool != "mean":
            return "model.retina_pool=sum is for the Catch agents: RAM on digits reads the mean (model.retina_pool=mean)"
        if cfg.model.start_std is not None and cfg.model.start != "learned":
            return (f"model.start_std is the std of a learned first location, but model.start={cfg.model.start!r}: "
                    "set model.start=learned or model.start_std=null")
        if cfg.model.policy == "random" and cfg.model.start != "random":
            return (f"model.policy=random draws every location uniformly, but model.start={cfg.model.start!r}: "
                    "set model.start=random too")
        return super().config_problem(cfg)

    @staticmethod
    def describe(m: dict) -> str:
        random = ", random locations" if m.get("policy") == "random" else ""
        return f"RAM {m['glimpses']} glimpses {m['glimpse_size']}x{m['glimpse_size']}x{m['scales']} ({m['core']}{random})"

    # ----------------------------------------------------------------------------- the Model interface
    def loss(self, env, options: dict, generator, train_cfg) -> tuple[torch.Tensor, dict]:
        options = {**options, "repeats": train_cfg.rollouts}  # M rollouts of each image, on one canvas
        r = rollout(self, env, generator=generator, options=options)
        return hybrid_loss(r, train_cfg.reinforce_weight, train_cfg.reinforce_reduce, train_cfg.gae_lambda)

    def set_progress(self, progress: float) -> None:
        if self.loc_std_final is not None:  # model.loc_std_final: the exploration noise anneals
            self.set_loc_std(annealed_std(self.loc_std_start, self.loc_std_final, progress))

    @property
    def unused_parameters(self) -> bool:
        # no location is ever used (one glimpse) or none is learned (random policy): the location net sits out
        return self.glimpses < 2 or self.policy == "random"

    def gradient_parts(self) -> dict[str, list[nn.Parameter]]:
        # REINFORCE trains the policy, the baseline loss the baseline, the cross-entropy the rest (and, with
        # model.reinforce_to_core, REINFORCE reaches the rest too)
        policy = list(self.location_net.parameters()) + ([self.start_loc] if self.start == "learned" else [])
        baseline = list(self.baseline_net.parameters())
        apart = {id(p) for p in policy + baseline}
        return {"classifier": [p for p in self.parameters() if id(p) not in apart], "policy": policy,
                "baseline": baseline}

    def wrong_episodes(self, env, mode: str, mc_samples: int) -> torch.Tensor:
        return wrong_episodes(self, env, mode, mc_samples)

    def test_errors(self, env, mc_samples: int) -> dict:
        errors = {f"test_error_{mode}": self.error(env, mode, mc_samples) for mode in ("single", "deterministic", "mc")}
        return {**errors, "mc_samples": mc_samples}

    def one_image(self, canvas_size: int) -> Callable[[], torch.Tensor]:
        """T glimpse steps on one (blank) glimpse, then the action net; the canvas size does not enter."""
        device = next(self.parameters()).device
        patch = torch.zeros(1, self.glimpse_net.what.in_features, device=device)  # the flattened k x g x g glimpse
        loc = torch.zeros(1, 2, device=device)

        def forward() -> torch.Tensor:
            state = self.initial_state(1, device)
            for _ in range(self.glimpses):
                state = self.step(patch, loc, state, deterministic=True).state
            return self.classify(state)

        return forward

    def record(self, env, deterministic: bool, generator, options: dict) -> Rollout:
        return rollout(self, env, deterministic, generator, options, record=True)

    # ----------------------------------------------------------------------------- the agent itself
    @property
    def loc_std(self) -> float:
        return self._std.item()

    def set_loc_std(self, std: float) -> None:
        """The policy's std from now on (the trainer anneals it; it is not a learned parameter)."""
        self._std.fill_(std)

    def initial_state(self, batch: int, device) -> tuple[torch.Tensor, ...]:
        return self.core.initial(batch, device)

    def first_step(self, batch: int, device, deterministic: bool = False,
                   generator: torch.Generator | None = None) -> Step | None:
        """With start="learned": the first location drawn from the learned mean; else None (the env's)."""
        if self.start != "learned":
            return None
        state = self.initial_state(batch, device)
        noise = None if deterministic else torch.randn(batch, 2, device=device, generator=generator)  # B, 2
        mean = torch.tanh(self.start_loc).expand(batch, 2)  # B, 2
        std = self._std if self.start_std is None else self._std.new_tensor(self.start_std)
        sample, log_prob = self._sample(mean, noise, std)
        return Step(state, mean, sample, log_prob, self.baseline_net(state[0]).squeeze(1))

    def step(self, glimpse: torch.Tensor, loc: torch.Tensor, state: tuple[torch.Tensor, ...],
             deterministic: bool = False, generator: torch.Generator | None = None) -> Step:
        """One glimpse in, the new state and the next location out."""
        if self.policy == "random":  # the control: a uniform location, in every mode, that nothing learns
            state, mean, _, log_prob, baseline = self._step(glimpse, loc, state, None)
            anywhere = torch.rand(loc.shape, device=loc.device, generator=generator) * 2 - 1  # B, 2
            return Step(state, mean, anywhere, torch.zeros_like(log_prob).detach(), baseline)
        noise = None if deterministic else torch.randn(loc.shape, device=loc.device, generator=generator)  # B, 2
        return Step(*self._step(glimpse, loc, state, noise))

    def _sample(self, mean: torch.Tensor, noise: torch.Tensor | None,
                std: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """A location around mean (B, 2) and its log-density, summed over x and y (B); std: the policy's."""
        std = self._std if std is None else std
        sample = mean if noise is None else mean.detach() + std * noise  # the sample carries no gradient
        # log N(sample; mean, std): its gradient reaches only what computed the mean
        log_prob = (-((sample - mean) ** 2) / (2 * std**2)).sum(1) - 2 * (torch.log(std) + 0.5 * math.log(2 * math.pi))
        return sample, log_prob

    def _step(self, glimpse: torch.Tensor, loc: torch.Tensor, state: tuple[torch.Tensor, ...],
              noise: torch.Tensor | None) -> tuple:
        """The arithmetic of ``step``, random draws excluded so that ``torch.compile`` can fuse it whole."""
        state = self.core(self.glimpse_net(glimpse, loc), state)
        h = state[0].detach()  # the baseline (and by default the location) net must not train the core
        policy_in = state[0] if self.reinforce_to_core else h
        mean = torch.tanh(self.location_net(policy_in).float())  # B, 2; float: the policy stays fp32 under autocast
        sample, log_prob = self._sample(mean, noise)
        baseline = self.baseline_net(h).squeeze(1)  # B
        return state, mean, sample, log_prob, baseline

    def classify(self, state: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """Class logits (B, classes) from the last core state."""
        return self.action_net(state[0])
