"""Natively batched glimpse-classification environment: the whole batch steps as tensor code."""

from __future__ import annotations

import functools

import numpy as np
import torch
from gymnasium import logger, spaces
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from envs.batched import BatchedGlimpseEnv
from envs.canvas import fixed_canvases, make_canvases
from envs.data import digits
from envs.datasets import get_dataset
from envs.render import render_glimpses
from envs.retina import Retina

CANVAS_SEEDS = {"val": 0, "test": 1}  # added to canvas_seed: val and test clutter differ


@functools.lru_cache(maxsize=8)
def fixed_split(split: str, data_dir, val_size: int, canvas_size: int, distractors: int, seed: int,
                dataset: str = "mnist", verify: bool = True):
    """The fixed canvases (N, S, S) uint8, labels (N,) and target digits' top-left pixels (N, 2) (x, y) of
    'val' or 'test' (cached: built once, and the env and analyses such as benchmarks/glimpse_hits.py share it)."""
    images, labels = digits(split, data_dir, val_size, dataset=dataset, verify=verify)
    canvases, corners = fixed_canvases(images, canvas_size, distractors, seed + CANVAS_SEEDS[split], return_corners=True)
    return canvases, labels, corners


def glimpse_spaces(glimpse_size: int, scales: int, classes: int = 10) -> tuple[spaces.Dict, spaces.Dict]:
    """(observation space, action space) of one episode."""
    observation = spaces.Dict({
        "glimpse": spaces.Box(0.0, 1.0, (scales, glimpse_size, glimpse_size), np.float32),
        "loc": spaces.Box(-1.0, 1.0, (2,), np.float32),
    })
    action = spaces.Dict({"loc": spaces.Box(-1.0, 1.0, (2,), np.float32), "label": spaces.Discrete(classes)})
    return observation, action


class GlimpseVectorEnv(BatchedGlimpseEnv):
    """Classify an MNIST canvas seen only through T multi-resolution glimpses, a batch at a time.

    ## Description
    Each sub-environment holds one canvas: an MNIST digit on a ``canvas_size`` square, optionally
    translated and cluttered with ``distractors`` 8x8 crops of other digits (Mnih et al., 2014). The
    agent never sees the canvas, only glimpses: ``scales`` concentric patches around a location, the
    first ``glimpse_size`` pixels wide and each next twice as wide, all averaged down to
    ``glimpse_size`` squared. All sub-environments step together as tensor code on ``device``.

    ## Action Space
    ``Dict(loc=Box(-1, 1, (2,)), label=Discrete(10))`` per sub-environment: where to look next, as
    (x, y) with (-1, -1) the top-left corner, and a class guess. The location counts at every step but
    the last (there is no glimpse after the last one), the guess only at the last step.

    ## Observation Space
    ``Dict(glimpse=Box(0, 1, (scales, glimpse_size, glimpse_size)), loc=Box(-1, 1, (2,)))``: the
    glimpse and the location it was taken at.

    ## Rewards
    1 at the last step when the guess is the true digit, else 0.

    ## Starting State
    A new canvas (a fresh one for 'train'; a fixed, seeded one for 'val' and 'test') and a first
    glimpse at the centre (``start="center"``) or at a uniformly random location (``start="random"``).

    ## Episode End
    The episode terminates after ``glimpses`` glimpses, that is after ``glimpses`` steps: the action
    of step t picks the location of glimpse t+1, and the guess of the last step is scored. The
    terminal observation repeats the last glimpse (no glimpse T+1 is taken, so an episode costs the
    sensor exactly T glimpses). ``info`` then holds ``label``, the true digit, for supervised (hybrid)
    training. Autoreset is next-step.

    ## Arguments
    num_envs, canvas_size, distractors, glimpse_size, scales, glimpses, split ('train', 'val' or
    'test'), dataset ('mnist', 'fashion-mnist' or 'kmnist': whose canonical files to read),
    data_dir (their folder; else $RAM_DATA_DIR for MNIST, $RAM_FASHION_MNIST_DIR, $RAM_KMNIST_DIR, or
    the download cache), verify (False: your own IDX files, checked for format and shape but not md5),
    val_size, train_size, canvas_seed (seed of the fixed val/test canvases), start, device, backend
    ('numpy' arrays or 'torch' tensors on ``device``), render_mode ('rgb_array').

    ``reset(options={"indices": idx})`` picks which digits (train) or fixed canvases (val/test) the
    batch holds; without it they are drawn at random (so are the canvases an autoreset brings).
    ``options={"indices": idx, "repeats": M}`` gives each of ``num_envs // M`` digits to M neighbouring
    sub-environments on one and the same canvas (M rollouts of an image, for lower-variance REINFORCE).
    ``options={"loc": l}`` (num_envs, 2) takes the first glimpse at l, overriding ``start`` (an agent
    that chooses its own first location).

    ## Seeding
    ``reset(seed=s)`` (an int) seeds the one generator that the whole batch draws from, so the same
    seed and actions give the same batch of episodes. Sub-environment i of a batch is not the episode
    a single env seeded with s would play (the batch draws its canvases jointly), except where nothing
    is random: on 'val' and 'test' with ``options={"indices": idx}`` and ``start="center"``, sub-env i
    plays exactly the episode of ``GlimpseEnv`` reset with ``options={"index": idx[i]}``.

    ## Returns
    backend 'numpy': numpy arrays, rewards float64 and terminations/truncations bool (as
    ``SyncVectorEnv`` gives them); backend 'torch': tensors on ``device``, rewards float32. Every call
    returns new arrays, never views of the environment's state.

    ## Version History
    * v0: initial version
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 2, "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, num_envs: int = 16, canvas_size: int = 60, distractors: int = 4, glimpse_size: int = 12,
                 scales: int = 3, glimpses: int = 8, split: str = "train", data_dir: str | None = None,
                 val_size: int = 5000, train_size: int | None = None, canvas_seed: int = 0, start: str = "center",
                 device: str | torch.device = "cpu", backend: str = "numpy", render_mode: str | None = None,
                 dataset: str = "mnist", verify: bool = True):
        self.check_modes(backend, start, render_mode)
        if glimpses < 1:
            raise ValueError(f"glimpses must be at least 1, got {glimpses}")
        get_dataset(dataset)  # an unknown name fails here, before any file is looked for
        self.num_envs, self.glimpses, self.split = num_envs, glimpses, split
        self.canvas_size, self.distractors = canvas_size, distractors
        self.start, self.backend, self.render_mode = start, backend, render_mode
        self.device = torch.device(device)
        self.retina = Retina(glimpse_size, scales)
        if split == "train":
            images, labels = digits("train", data_dir, val_size, train_size, dataset=dataset, verify=verify)
            self._images = images.to(self.device)
        else:
            images, labels, _ = fixed_split(split, data_dir, val_size, canvas_size, distractors, canvas_seed,
                                         dataset, bool(verify))
            self._images = images.to(self.device)  # here: the fixed canvases themselves
        self._all_labels = labels.to(self.device)
        self.generator = torch.Generator(self.device)
        self.generator.seed()
        self.single_observation_space, self.single_action_space = glimpse_spaces(glimpse_size, scales)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._t, self._autoreset = 0, False
        self._canvas = self._table = self._labels = self._locs = self._glimpse = None

    @property
    def size(self) -> int:
        """How many digits (train) or fixed canvases (val/test) the split holds."""
        return len(self._all_labels)

    def _look(self, loc: torch.Tensor) -> dict:
        """Take a glimpse at loc (B, 2), keep it, and return it as an observation."""
        self._locs.append(loc)
        self._glimpse = self.retina.glimpse(self._table, loc)  # B, k, g, g
        return self._obs()

    def _obs(self) -> dict:
        """The last glimpse and its location, as new arrays: the env keeps its own for the terminal step."""
        return {"glimpse": self._out(self._glimpse.clone()), "loc": self._out(self._locs[-1].clone())}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        self._seed(seed)
        options = options or {}
        repeats = self._repeats(options)
        n = self.num_envs // repeats  # distinct canvases in the batch
        if "indices" in options:
            index = self._indices(options, n)
        else:
            index = torch.randint(self.size, (n,), generator=self.generator, device=self.device)
        self._canvas = self._table = self._glimpse = None  # free the last episode's buffers for this one's
        if self.split == "train":
            canvas = make_canvases(self._images, index, self.canvas_size, self.distractors, generator=self.generator)
        else:
            canvas = self._images[index].float()
        tile = (lambda x: x) if repeats == 1 else (lambda x: x.repeat_interleave(repeats, 0))  # rollouts side by side
        self._table = tile(self.retina.integral(canvas))  # B, S+1, S+1
        self._canvas, self._labels = tile(canvas), tile(self._all_labels[index])  # B, S, S and B
        loc = self._first_location(options)
        self._t, self._autoreset, self._locs = 0, False, []
        return self._look(loc), {}

    def step(self, actions: dict):
        if self._autoreset:
            return self._autoreset_step()
        if self._table is None:
            raise RuntimeError("call reset() before step()")
        self._t += 1
        done = self._t >= self.glimpses
        truncated = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)
        info = {}
        if done:
            if actions.get("label") is None:
                raise ValueError("the last step's action needs a class guess: actions['label'] of shape (num_envs,)")
            guess = torch.as_tensor(actions["label"], device=self.device)
            reward = (guess == self._labels).float()
            info = {"label": self._out(self._labels.clone()), "_label": self._out(~truncated)}
            self._autoreset, self._table = True, None  # no glimpse follows: free the integral image now
        else:
            reward = torch.zeros(self.num_envs, device=self.device)
        terminated = torch.full_like(truncated, done)
        if done:  # the episode had its T glimpses: the terminal observation repeats the last one
            obs = self._obs()
        else:
            obs = self._look(torch.as_tensor(actions["loc"], dtype=torch.float32, device=self.device).clamp(-1, 1))
        return obs, self._reward(reward), self._out(terminated), self._out(truncated), info

    def canvases(self) -> torch.Tensor:
        """The current canvases (B, S, S) in 0..255 and, with ``locations()``, what rendering needs."""
        return self._canvas

    def labels(self) -> torch.Tensor:
        """The true digits (B,) of the current canvases (full-image baselines train on them)."""
        return self._labels

    def render(self):
        """One RGB frame per sub-environment (a tuple): the canvas, the path so far and the last glimpse's boxes."""
        if self.render_mode != "rgb_array":
            logger.warn("render() needs render_mode='rgb_array', e.g. gymnasium.make_vec(id, render_mode='rgb_array')")
            return None
        if self._canvas is None:
            return None
        canvas, locs = self._canvas.cpu().numpy(), self.locations().cpu().numpy()
        return tuple(render_glimpses(canvas[b], locs[:, b], self.retina.size, self.retina.scales)
                     for b in range(self.num_envs))

    def close_extras(self, **kwargs):
        self._canvas = self._table = self._labels = self._locs = self._glimpse = None
