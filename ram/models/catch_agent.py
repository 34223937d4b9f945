"""Agents that play Catch (Mnih et al. 2014, Section 4.2) from the reward alone.

RAM's glimpse network and core (an LSTM of 256 units in the paper's game), with two heads on the core
state: the Gaussian location network that picks the next glimpse, and a game action network, a linear
softmax over the paddle's three moves. A baseline network predicts the reward. There is no label, so
no cross-entropy: REINFORCE from the episode's final reward trains the heads, the core and the glimpse
network together; the baseline reads a detached state and learns only from its squared error.

``ScreenAgent`` is the full-screen baseline on the same game: the same network fed the whole screen
every frame (a screen-sized glimpse at one scale that never moves), so the two differ only in what the
agent sees.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from envs.catch import MOVES
from ram.models.base import Model
from ram.models.play import Play, catch_rate, play, reinforce_loss
from ram.models.ram import Core, GlimpseNetwork


class CatchRAM(Model):
    task, samples, shows_glimpses = "catch", True, True
    fast_methods = ("_step",)
    #: it chooses where to look (the full-screen baseline does not)
    looks: bool = True

    def __init__(self, *, glimpse_size: int = 6, scales: int = 3, glimpse_hidden: int = 128, loc_hidden: int = 128,
                 hidden: int = 256, core: str = "lstm", rnn_init: str = "identity", loc_std: float = 0.15,
                 retina_pool: str = "mean", baseline_to_core: bool = False):
        super().__init__()
        self.baseline_to_core = baseline_to_core
        self.straight_until, self.progress = 0.0, 0.0  # the curriculum's end, as a fraction of training
        # the retina averages a 2^s-wide block into each pixel of scale s, so a one-pixel ball weighs 4^-s there;
        # "sum" scales it back (1 at every scale), which the game's tiny objects need to be seen at all
        gain = 4.0 ** torch.arange(scales) if retina_pool == "sum" else torch.ones(scales)
        self.retina_shape = (scales, glimpse_size, glimpse_size)
        self.register_buffer("_gain", gain[:, None, None], persistent=False)  # k, 1, 1
        self.register_buffer("_std", torch.tensor(float(loc_std)), persistent=False)
        self.glimpse_net = GlimpseNetwork(scales * glimpse_size**2, glimpse_hidden, loc_hidden, hidden)
        self.core = Core(core, hidden, rnn_init)
        self.location_net = nn.Linear(hidden, 2) if self.looks else None
        self.move_net = nn.Linear(hidden, len(MOVES))
        self.baseline_net = nn.Linear(hidden, 1)

    @classmethod
    def from_config(cls, cfg) -> "CatchRAM":
        m = cfg.model
        agent = cls(glimpse_size=m.glimpse_size, scales=m.scales, glimpse_hidden=m.glimpse_hidden,
                    loc_hidden=m.loc_hidden, hidden=m.hidden, core=m.core, rnn_init=m.rnn_init, loc_std=m.loc_std,
                    retina_pool=m.retina_pool, baseline_to_core=m.baseline_to_core)
        agent.straight_until = cfg.game.straight_epochs / cfg.train.epochs
        return agent

    @classmethod
    def config_problem(cls, cfg) -> str | None:
        m = cfg.model
        if m.start == "learned":
            return "model.start=learned is not built for Catch: use model.start=center or random"
        if m.policy != "learned" or m.loc_std_final is not None:
            return "Catch agents keep model.policy=learned and a fixed model.loc_std (model.loc_std_final=null)"
        if cfg.train.rollouts > 1:
            return f"train.rollouts={cfg.train.rollouts}: Catch plays each game once (fresh games are free): set 1"
        return super().config_problem(cfg)

    @staticmethod
    def describe(m: dict) -> str:
        return f"RAM Catch {m['glimpse_size']}x{m['glimpse_size']}x{m['scales']} ({m['core']})"

    # ----------------------------------------------------------------------------- the Model interface
    def loss(self, env, options: dict, generator, train_cfg) -> tuple[torch.Tensor, dict]:
        # training games are fresh random starts: the trainer's indices only count them. During the
        # curriculum (game.straight_epochs) the balls fall straight: "follow the ball" is learned first
        options = {"ball_speed": 0} if self.progress < self.straight_until else None
        return reinforce_loss(play(self, env, generator=generator, options=options), train_cfg.reinforce_weight,
                              train_cfg.reinforce_reduce, train_cfg.entropy, train_cfg.gae_lambda)

    def set_progress(self, progress: float) -> None:
        self.progress = progress

    def error(self, env, mode: str, mc_samples: int) -> float:
        """Fraction of the split's fixed games missed: greedy ('deterministic') or sampled ('single')."""
        if mode not in ("single", "deterministic"):
            raise ValueError(f"Catch is scored 'single' (sampled) or 'deterministic' (greedy), not {mode!r}")
        return 1 - catch_rate(self, env, greedy=mode == "deterministic")

    def test_errors(self, env, mc_samples: int) -> dict:
        greedy, sampled = catch_rate(self, env, greedy=True), catch_rate(self, env, greedy=False)
        return {"test_error_single": 1 - sampled, "test_error_deterministic": 1 - greedy,
                "test_catch_rate_greedy": greedy, "test_catch_rate_sampled": sampled, "test_games": env.size}

    def one_image(self, canvas_size: int) -> Callable[[], object]:
        """One frame's inference (what the MACs count for a game: per frame, not per episode)."""
        device = next(self.parameters()).device
        patch = torch.zeros(1, *self.retina_shape, device=device)  # 1, k, g, g
        loc = torch.zeros(1, 2, device=device)
        return lambda: self._step(patch, loc, self.initial_state(1, device), None, None)

    def record(self, env, deterministic: bool, generator, options: dict) -> Play:
        return play(self, env, greedy=deterministic, generator=generator, options=options, record=True)

    # ----------------------------------------------------------------------------- the agent itself
    @property
    def loc_std(self) -> float:
        return self._std.item()

    def initial_state(self, batch: int, device) -> tuple[torch.Tensor, ...]:
        return self.core.initial(batch, device)

    def step(self, glimpse: torch.Tensor, loc: torch.Tensor, state: tuple[torch.Tensor, ...], greedy: bool = False,
             generator: torch.Generator | None = None) -> tuple:
        """One frame's glimpse in; (state, next location, move, log-probability of both, the move
        distribution's entropy, baseline) out."""
        B = loc.shape[0]
        loc_noise = None if greedy or not self.looks else torch.randn(B, 2, device=loc.device, generator=generator)
        # Gumbel noise: argmax(logits + G) is a sample of softmax(logits), drawn from our own generator
        gumbel = None if greedy else -torch.log(-torch.log(
            torch.rand(B, len(MOVES), device=loc.device, generator=generator).clamp_min(1e-20)))  # B, 3
        return self._step(glimpse, loc, state, loc_noise, gumbel)

    def _step(self, glimpse, loc, state, loc_noise, gumbel) -> tuple:
        glimpse = glimpse * self._gain  # B, k, g, g
        state = self.core(self.glimpse_net(glimpse, loc), state)
        h = state[0]  # B, hidden: the move head reads the state itself, so REINFORCE trains the core too
        logits = self.move_net(h).float()  # B, 3
        move = logits.argmax(1) if gumbel is None else (logits + gumbel).argmax(1)  # B
        log_p = F.log_softmax(logits, 1)  # B, 3
        log_prob = log_p.gather(1, move[:, None]).squeeze(1)  # B
        entropy = -(log_p.exp() * log_p).sum(1)  # B
        if self.looks:
            # the location head reads a detached state: its REINFORCE terms, scaled by 1/std, would drown the
            # moves' in the core (as REINFORCE to the core did on digits, docs/recipe.md)
            mean = torch.tanh(self.location_net(h.detach()).float())  # B, 2
            std = self._std
            where = mean if loc_noise is None else mean.detach() + std * loc_noise  # B, 2
            log_prob = log_prob + ((-((where - mean) ** 2) / (2 * std**2)).sum(1)
                                   - 2 * (torch.log(std) + 0.5 * math.log(2 * math.pi)))
        else:
            where = torch.zeros_like(loc)  # the full-screen glimpse stays where it is
        # B; by default detached, so that the baseline never trains the core. With baseline_to_core its error
        # does: predicting the catch shapes features (ball and paddle) that the policy's faint gradient alone
        # did not form on the bouncing game (tests/test_catch_agent.py)
        baseline = self.baseline_net(h if self.baseline_to_core else h.detach()).squeeze(1)
        return state, where, move, log_prob, entropy, baseline


class ScreenAgent(CatchRAM):
    """The full-screen baseline: the whole screen every frame (model.glimpse_size = the screen, 1 scale)."""

    looks = False

    @classmethod
    def config_problem(cls, cfg) -> str | None:
        m, S = cfg.model, cfg.game.screen_size
        if (m.glimpse_size, m.scales, m.start) != (S, 1, "center"):
            return (f"model.name=screen_catch sees the whole {S}x{S} screen: set model.glimpse_size={S} "
                    "model.scales=1 model.start=center")
        return super().config_problem(cfg)

    @staticmethod
    def describe(m: dict) -> str:
        return f"full-screen Catch policy ({m['core']})"
