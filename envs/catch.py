"""Catch, the dynamic environment of Mnih et al. (2014, Section 4.2), played through the retina.

A one-pixel ball falls from the top row of a square screen, bouncing off the side walls; a paddle on
the bottom row moves left, right or stays; reward 1 when the ball reaches the bottom row on the
paddle, else 0, and the episode ends. The agent sees the screen only through glimpses
(``envs.retina.Retina``, 6x6 at 3 scales by default). The game rules are batched tensor code
(``catch_step``): the whole batch of ``CatchVectorEnv`` steps together, with no loop over it.
"""

from __future__ import annotations

import functools

import gymnasium as gym
import numpy as np
import torch
from gymnasium import logger, spaces
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from envs.batched import BatchedGlimpseEnv
from envs.render import render_glimpses
from envs.retina import Retina

SPLIT_SEEDS = {"val": 0, "test": 1}  # added to episode_seed: the val and test episodes differ
SPLIT_SIZE = 10_000  # fixed episodes in each of 'val' and 'test'
STATE = ("ball_x", "ball_y", "vx", "paddle_x")  # the columns of CatchVectorEnv.state() and options["state"]
MOVES = ("left", "stay", "right")  # action["move"] 0, 1, 2: the paddle moves by move - 1 pixels
ZOOM, MARGIN = 8, 6  # render: screen pixels are 8x8, with 6 pixels around for boxes past the edge


def catch_spaces(glimpse_size: int, scales: int) -> tuple[spaces.Dict, spaces.Dict]:
    """(observation space, action space) of one Catch episode."""
    observation = spaces.Dict({
        "glimpse": spaces.Box(0.0, 1.0, (scales, glimpse_size, glimpse_size), np.float32),
        "loc": spaces.Box(-1.0, 1.0, (2,), np.float32),
    })
    action = spaces.Dict({"loc": spaces.Box(-1.0, 1.0, (2,), np.float32), "move": spaces.Discrete(len(MOVES))})
    return observation, action


def catch_step(ball_x: torch.Tensor, vx: torch.Tensor, paddle_x: torch.Tensor, move: torch.Tensor,
               screen_size: int, paddle_width: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One frame of the game for a batch, (B,) long tensors in and out (the row falls by one elsewhere).

    The paddle moves by ``move - 1`` pixels (move 0 left, 1 stay, 2 right), clamped to the screen; the
    ball moves ``vx`` columns, and a ball that would leave the screen is reflected about the wall
    column (column -1 becomes 1, column S becomes S-2) and its ``vx`` flips sign."""
    last = screen_size - 1
    paddle_x = (paddle_x + (move - 1).clamp(-1, 1)).clamp(0, screen_size - paddle_width)
    x = ball_x + vx
    left, right = x < 0, x > last
    x = torch.where(left, -x, torch.where(right, 2 * last - x, x))
    return x, torch.where(left | right, -vx, vx), paddle_x


@functools.lru_cache(maxsize=8)
def fixed_starts(split: str, screen_size: int, paddle_width: int, ball_speed: int, seed: int = 0) -> torch.Tensor:
    """The starts (SPLIT_SIZE, 3) long of the fixed 'val' or 'test' episodes: ball column, vx and
    paddle column, each uniform as in training, drawn on the CPU by numpy from (seed, split), so they are
    the same on every device and machine (cached: drawn once)."""
    rng = np.random.default_rng([seed, SPLIT_SEEDS[split]])
    columns, speeds, paddles = screen_size, 2 * ball_speed + 1, screen_size - paddle_width + 1
    code = rng.integers(0, columns * speeds * paddles, SPLIT_SIZE)  # one draw per episode, decoded
    code, ball_x = np.divmod(code, columns)
    paddle_x, speed = np.divmod(code, speeds)
    return torch.from_numpy(np.stack([ball_x, speed - ball_speed, paddle_x], 1)).long()


class CatchVectorEnv(BatchedGlimpseEnv):
    """Catch a falling ball with a paddle, seeing the screen only through glimpses, a batch at a time.

    ## Description
    The dynamic environment of Mnih et al. (2014), Section 4.2. A ``screen_size`` square screen holds a
    one-pixel ball and a ``paddle_width``-pixel paddle on the bottom row. The ball starts on the top
    row in a random column with a random horizontal velocity ``vx`` in {-ball_speed, ..., ball_speed}
    (uniform, 0 included) and falls one row per frame, moving ``vx`` columns per frame and bouncing off
    the side walls. The agent never sees the screen, only glimpses: ``scales`` concentric patches around
    a location, the first ``glimpse_size`` pixels wide and each next twice as wide, averaged down to
    ``glimpse_size`` squared (``envs.retina.Retina``; ball and paddle pixels are 255, the rest 0). All
    sub-environments step together as tensor code on ``device``.

    ## Action Space
    ``Dict(loc=Box(-1, 1, (2,)), move=Discrete(3))`` per sub-environment: where to look at the next
    frame, as (x, y) with (-1, -1) the top-left corner of the screen, and the paddle's move, 0 left,
    1 stay, 2 right (one pixel; a paddle at a wall that moves into it stays). Both count at every step.

    ## Observation Space
    ``Dict(glimpse=Box(0, 1, (scales, glimpse_size, glimpse_size)), loc=Box(-1, 1, (2,)))``: the
    glimpse of the current frame and the location it was taken at.

    ## Rewards
    1 at the step where the ball reaches the bottom row when its column is under the paddle (one of the
    paddle's ``paddle_width`` columns), else 0; 0 at every other step.

    ## Starting State
    Ball on the top row (y = 0) in a uniformly random column, ``vx`` uniform in {-ball_speed, ...,
    ball_speed}, paddle's left column uniform in [0, screen_size - paddle_width]; fresh for 'train',
    one of ``SPLIT_SIZE`` fixed seeded starts for 'val' and 'test'. The first observation is a glimpse
    of that frame at the centre (``start="center"``) or at a uniformly random location (``start="random"``).

    ## Episode End
    A step is one frame: the paddle moves by the action, then the ball moves one row down and ``vx``
    columns, reflected at the walls (a ball in column 0 moving left goes to column 1, one in column
    screen_size-1 moving right to screen_size-2, and ``vx`` flips sign). The episode terminates when the
    ball reaches the bottom row, which is always after exactly ``screen_size - 1`` steps (23 on the
    default 24x24 screen: the paddle can reach every column in time, so every episode can be won). The
    terminal observation is the glimpse of that last frame at the last action's location. No
    truncation. Autoreset is next-step; every sub-environment ends at the same step.

    ## Arguments
    num_envs, screen_size (24), paddle_width (2), ball_speed (1: the largest |vx|, below screen_size),
    glimpse_size (6), scales (3), split ('train': fresh random starts; 'val' or 'test': fixed seeded
    ones), episode_seed (seed of the fixed val/test starts), start ('center' or 'random'), device,
    backend ('numpy' arrays or 'torch' tensors on ``device``), render_mode ('rgb_array').

    ``reset(options={"indices": idx})`` (val/test only) plays the fixed episodes idx (num_envs of them,
    in [0, SPLIT_SIZE)); without it they are drawn at random (so are the starts an autoreset brings).
    ``options={"repeats": M}`` gives each of ``num_envs // M`` starts to M neighbouring sub-environments
    (with indices: num_envs // M of them). ``options={"loc": l}`` (num_envs, 2) takes the first glimpse
    at l, overriding ``start``. ``options={"state": s}`` (num_envs, 4) integers (ball_x, ball_y, vx,
    paddle_x), one ball_y for the whole batch, below the bottom row, sets the game state directly (for
    tests and demonstrations): the episode then lasts ``screen_size - 1 - ball_y`` steps.
    ``state()`` returns the same (num_envs, 4) layout. ``options={"ball_speed": v}`` (fresh starts only,
    v in [0, ball_speed]) draws this reset's velocities from {-v, ..., v}: a training curriculum.

    ## Seeding
    ``reset(seed=s)`` (an int) seeds the one generator the whole batch draws from (starts, random first
    locations), so the same seed and actions give the same batch of episodes. Sub-environment i of a
    batch is not the episode a single env seeded with s would play, except where nothing is random: on
    'val' and 'test' with ``options={"indices": idx}`` and ``start="center"``, sub-env i plays exactly
    the episode of ``CatchEnv`` reset with ``options={"index": idx[i]}``, on any device.

    ## Returns
    backend 'numpy': numpy arrays, rewards float64 and terminations/truncations bool (as
    ``SyncVectorEnv`` gives them); backend 'torch': tensors on ``device``, rewards float32. Every call
    returns new arrays, never views of the environment's state. ``info`` is empty.

    ## Version History
    * v0: initial version
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 8, "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, num_envs: int = 16, screen_size: int = 24, paddle_width: int = 2, ball_speed: int = 1,
                 glimpse_size: int = 6, scales: int = 3, split: str = "train", episode_seed: int = 0,
                 start: str = "center", device: str | torch.device = "cpu", backend: str = "numpy",
                 render_mode: str | None = None):
        self.check_modes(backend, start, render_mode)
        if split not in ("train", "val", "test"):
            raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}")
        for name, value in (("num_envs", num_envs), ("screen_size", screen_size), ("paddle_width", paddle_width),
                            ("ball_speed", ball_speed), ("episode_seed", episode_seed)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
                raise ValueError(f"{name} must be an int, got {value!r}")
        if num_envs < 1:
            raise ValueError(f"num_envs must be at least 1, got {num_envs}")
        if screen_size < 2:
            raise ValueError(f"screen_size must be at least 2 (the ball must fall at least one row), got {screen_size}")
        if not 1 <= paddle_width <= screen_size:
            raise ValueError(f"paddle_width must lie in [1, screen_size={screen_size}], got {paddle_width}")
        if not 0 <= ball_speed < screen_size:
            raise ValueError(f"ball_speed (the largest |vx|) must lie in [0, screen_size={screen_size}), got {ball_speed}")
        self.num_envs, self.split, self.start = int(num_envs), split, start
        self.screen_size, self.paddle_width, self.ball_speed = int(screen_size), int(paddle_width), int(ball_speed)
        self.backend, self.render_mode, self.device = backend, render_mode, torch.device(device)
        self.retina = Retina(glimpse_size, scales)
        self._fixed = None if split == "train" else fixed_starts(
            split, self.screen_size, self.paddle_width, self.ball_speed, int(episode_seed)).to(self.device)
        self.generator = torch.Generator(self.device)
        self.generator.seed()
        self.single_observation_space, self.single_action_space = catch_spaces(glimpse_size, scales)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._columns = torch.arange(self.screen_size, device=self.device)
        self._batch = torch.arange(self.num_envs, device=self.device)
        self._row, self._autoreset = 0, False
        self._ball_x = self._vx = self._paddle_x = self._locs = None

    @property
    def size(self) -> int:
        """How many fixed episodes the split holds (0 for 'train', whose starts are always fresh)."""
        return 0 if self._fixed is None else len(self._fixed)

    @property
    def steps_left(self) -> int:
        """Steps until the current episode ends (a host int: every sub-environment ends together)."""
        return self.screen_size - 1 - self._row

    @property
    def episode_steps(self) -> int:
        """Steps of an episode that starts on the top row: screen_size - 1."""
        return self.screen_size - 1

    def _user_ints(self, name: str, value, shape: tuple[int, ...]) -> torch.Tensor:
        """A (long) tensor of the given shape on the device; shapes checked always, values by the caller."""
        tensor = torch.as_tensor(value, device=self.device)
        if tuple(tensor.shape) != shape:
            raise ValueError(f"{name} must have shape {shape}, got {tuple(tensor.shape)}")
        if tensor.is_floating_point() and not torch.is_tensor(value) and not (tensor == tensor.round()).all():
            raise ValueError(f"{name} must hold integers, got {value!r}")
        return tensor.long()

    def _starts(self, options: dict) -> tuple[torch.Tensor, int]:
        """(ball_x, vx, paddle_x) as (B, 3) long of the new episodes, and the row the ball starts on."""
        B, rand = self.num_envs, dict(generator=self.generator, device=self.device)
        if "state" in options:
            return self._given_state(options["state"])
        repeats = self._repeats(options)
        n = B // repeats
        if "indices" in options:
            if self._fixed is None:
                raise ValueError("options['indices'] picks fixed episodes, which only split='val' or 'test' holds")
            starts = self._fixed[self._indices(options, n)]
        elif self._fixed is not None:
            starts = self._fixed[torch.randint(self.size, (n,), **rand)]
        else:
            S, v = self.screen_size, options.get("ball_speed", self.ball_speed)
            if not isinstance(v, (int, np.integer)) or not 0 <= v <= self.ball_speed:
                raise ValueError(f"options['ball_speed']={v!r} must be an int in [0, ball_speed={self.ball_speed}]")
            starts = torch.stack([torch.randint(S, (n,), **rand), torch.randint(2 * v + 1, (n,), **rand) - v,
                                  torch.randint(S - self.paddle_width + 1, (n,), **rand)], 1)
        return (starts if repeats == 1 else starts.repeat_interleave(repeats, 0)), 0

    def _given_state(self, state) -> tuple[torch.Tensor, int]:
        """options['state'] (B, 4) (ball_x, ball_y, vx, paddle_x), checked: the test hook."""
        B, S = self.num_envs, self.screen_size
        state = self._user_ints("options['state'] (ball_x, ball_y, vx, paddle_x)", state, (B, 4)).cpu()
        x, y, vx, p = state.unbind(1)
        if not (y == y[0]).all() or not 0 <= y[0] < S - 1:
            raise ValueError(f"options['state'] needs one ball_y for the whole batch, in [0, {S - 1}), got {y.tolist()}")
        if not ((0 <= x) & (x < S)).all() or not (vx.abs() <= self.ball_speed).all():
            raise ValueError(f"options['state'] needs ball_x in [0, {S}) and |vx| <= ball_speed={self.ball_speed}")
        if not ((0 <= p) & (p <= S - self.paddle_width)).all():
            raise ValueError(f"options['state'] needs paddle_x in [0, {S - self.paddle_width}] "
                             f"(the paddle is {self.paddle_width} pixels wide)")
        return torch.stack([x, vx, p], 1).to(self.device), int(y[0])

    def screens(self) -> torch.Tensor | None:
        """The current frames (B, S, S) uint8: 255 at the ball and the paddle, 0 elsewhere."""
        if self._ball_x is None:
            return None
        S, W = self.screen_size, self.paddle_width
        screen = torch.zeros(self.num_envs, S, S, dtype=torch.uint8, device=self.device)
        paddle = (self._columns >= self._paddle_x[:, None]) & (self._columns < self._paddle_x[:, None] + W)
        screen[:, S - 1] = paddle.to(torch.uint8) * 255
        screen[self._batch, self._row, self._ball_x] = 255
        return screen

    def state(self) -> torch.Tensor:
        """The game state (B, 4) long: ball_x, ball_y, vx, paddle_x (the layout of options['state'])."""
        return torch.stack([self._ball_x, torch.full_like(self._ball_x, self._row), self._vx, self._paddle_x], 1)

    def _look(self, loc: torch.Tensor) -> dict:
        """A glimpse of the current frame at loc (B, 2), as new arrays (the env keeps its own loc)."""
        self._locs.append(loc)
        glimpse = self.retina.glimpse(self.retina.integral(self.screens()), loc)
        return {"glimpse": self._out(glimpse), "loc": self._out(loc.clone())}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        self._seed(seed)
        options = options or {}
        starts, self._row = self._starts(options)
        self._ball_x, self._vx, self._paddle_x = starts.unbind(1)
        loc = self._first_location(options)
        self._autoreset, self._locs = False, []
        return self._look(loc), {}

    def step(self, actions: dict):
        if self._autoreset:
            return self._autoreset_step()
        if self._ball_x is None:
            raise RuntimeError("call reset() before step()")
        if not isinstance(actions, dict) or actions.get("move") is None or actions.get("loc") is None:
            raise ValueError("a Catch action is a dict with 'loc' (num_envs, 2) and 'move' (num_envs,) in {0, 1, 2}")
        B = self.num_envs
        move = self._user_ints("actions['move']", actions["move"], (B,))
        if not torch.is_tensor(actions["move"]) and not ((move >= 0) & (move <= 2)).all():
            raise ValueError(f"actions['move'] must be 0 (left), 1 (stay) or 2 (right), got {actions['move']!r}")
        loc = torch.as_tensor(actions["loc"], dtype=torch.float32, device=self.device)
        if loc.shape != (B, 2):
            raise ValueError(f"actions['loc'] must have shape (num_envs, 2) = ({B}, 2), got {tuple(loc.shape)}")
        self._ball_x, self._vx, self._paddle_x = catch_step(self._ball_x, self._vx, self._paddle_x, move,
                                                            self.screen_size, self.paddle_width)
        self._row += 1
        done = self._row == self.screen_size - 1
        if done:
            offset = self._ball_x - self._paddle_x
            reward = ((offset >= 0) & (offset < self.paddle_width)).float()
        else:
            reward = torch.zeros(B, device=self.device)
        self._autoreset = done
        obs = self._look(loc.clamp(-1, 1))
        terminated = torch.full((B,), done, dtype=torch.bool, device=self.device)
        return obs, self._reward(reward), self._out(terminated), self._out(torch.zeros_like(terminated)), {}

    def render(self):
        """One RGB frame per sub-environment (a tuple): the screen and the boxes of the last glimpse."""
        if self.render_mode != "rgb_array":
            logger.warn("render() needs render_mode='rgb_array', e.g. gymnasium.make_vec(id, render_mode='rgb_array')")
            return None
        if self._ball_x is None:
            return None
        screens, locs = self.screens().cpu().numpy(), self.locations()[-1].cpu().numpy()
        return tuple(render_glimpses(screens[b], locs[b:b + 1], self.retina.size, self.retina.scales,
                                     zoom=ZOOM, margin=MARGIN) for b in range(self.num_envs))

    def close_extras(self, **kwargs):
        self._ball_x = self._vx = self._paddle_x = self._locs = None


class CatchEnv(gym.Env):
    """Catch a falling ball with a paddle, seeing the screen only through glimpses.

    ## Description
    The dynamic environment of Mnih et al. (2014), Section 4.2: a ``screen_size`` square screen, a
    one-pixel ball that starts on the top row in a random column with a random horizontal velocity
    ``vx`` in {-ball_speed, ..., ball_speed}, falls one row per frame and bounces off the side walls,
    and a ``paddle_width``-pixel paddle on the bottom row. The agent sees the screen only through
    glimpses: ``scales`` concentric patches around a location, the first ``glimpse_size`` pixels wide
    and each next twice as wide, averaged down to ``glimpse_size`` squared. It runs the batched
    environment with one sub-environment, so both give identical episodes.

    ## Action Space
    ``Dict(loc=Box(-1, 1, (2,), float32), move=Discrete(3))``: where to look at the next frame, as
    (x, y) with (-1, -1) the top-left corner, and the paddle's move: 0 left, 1 stay, 2 right (one
    pixel, clamped to the screen). Both count at every step.

    ## Observation Space
    ``Dict(glimpse=Box(0, 1, (scales, glimpse_size, glimpse_size), float32), loc=Box(-1, 1, (2,), float32))``:
    the glimpse of the current frame and the location it was taken at.

    ## Rewards
    1 when the ball reaches the bottom row in one of the paddle's columns, else 0 (0 at every other step).

    ## Starting State
    Ball on the top row in a uniformly random column, ``vx`` uniform, paddle's left column uniform in
    [0, screen_size - paddle_width] (fresh for 'train', one of the fixed seeded starts for 'val' and
    'test'); the first glimpse is at the centre (``start="center"``) or at a random location.

    ## Episode End
    Each step the paddle moves, then the ball falls one row and moves ``vx`` columns, reflected at the
    walls. Terminates when the ball reaches the bottom row: after exactly ``screen_size - 1`` steps
    (23 by default). The terminal observation is the glimpse of that last frame. No truncation.

    ## Arguments
    screen_size (24), paddle_width (2), ball_speed (1: the largest |vx|), glimpse_size (6), scales (3),
    split ('train', 'val', 'test'), episode_seed, start, render_mode ('rgb_array': the screen with the
    glimpse boxes). ``reset(options={"index": i})`` (val/test) plays fixed episode i;
    ``options={"state": (ball_x, ball_y, vx, paddle_x)}`` sets the game state (tests, demonstrations).
    For tensors on a device, or many episodes at once, use ``gymnasium.make_vec("RAM/Catch-v0", num_envs=...)``.

    ## Seeding
    ``reset(seed=s)`` seeds the episode's start and random first location: the same seed and actions
    give the same episode.

    ## Version History
    * v0: initial version
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 8}

    def __init__(self, render_mode: str | None = None, **kwargs):
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        for key in ("num_envs", "backend", "device"):
            if key in kwargs:
                raise ValueError(f"CatchEnv is one numpy env on the CPU and takes no {key!r}: use "
                                 f"gymnasium.make_vec(id, num_envs=..., backend='torch', device=...) instead")
        self.render_mode = render_mode
        self._vec = CatchVectorEnv(num_envs=1, backend="torch", device="cpu", render_mode=render_mode, **kwargs)
        self.observation_space, self.action_space = catch_spaces(self._vec.retina.size, self._vec.retina.scales)

    @staticmethod
    def _first(obs: dict) -> dict:
        return {key: value[0].numpy().copy() for key, value in obs.items()}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        options = dict(options or {})
        if "index" in options:
            options["indices"] = [options.pop("index")]
        if "state" in options:
            options["state"] = np.asarray(options["state"])[None]
        obs, _ = self._vec.reset(seed=seed, options=options)
        return self._first(obs), {}

    def step(self, action: dict):
        if self._vec._autoreset:
            raise RuntimeError("the episode is over: call reset() before step()")
        if not isinstance(action, dict) or action.get("move") is None or action.get("loc") is None:
            raise ValueError("a Catch action is a dict with 'loc' (2,) and 'move' in {0, 1, 2}")
        batched = {"loc": np.asarray(action["loc"], dtype=np.float32)[None], "move": np.asarray([action["move"]])}
        obs, reward, terminated, truncated, info = self._vec.step(batched)
        return self._first(obs), float(reward[0]), bool(terminated[0]), bool(truncated[0]), {}

    def render(self):
        if self.render_mode != "rgb_array":
            gym.logger.warn("render() needs render_mode='rgb_array', e.g. gymnasium.make(id, render_mode='rgb_array')")
            return None
        frames = self._vec.render()
        return None if frames is None else frames[0]

    def close(self):
        self._vec.close()


def random_agent_catch_rate(episodes: int = SPLIT_SIZE, seed: int = 0, split: str = "test", batch: int = 1000,
                            **kwargs) -> dict:
    """The catch rate of an agent that moves (and looks) uniformly at random, on the first ``episodes``
    fixed episodes of ``split``, its moves drawn from a generator seeded with ``seed``. kwargs: the
    env's (screen_size, paddle_width, ball_speed, ...). Returns {"rate", "caught", "episodes"}."""
    if not 1 <= episodes <= SPLIT_SIZE:
        raise ValueError(f"episodes must lie in [1, {SPLIT_SIZE}] (the fixed episodes of a split), got {episodes}")
    generator = torch.Generator().manual_seed(seed)
    caught = 0.0
    for first in range(0, episodes, batch):
        n = min(batch, episodes - first)
        env = CatchVectorEnv(num_envs=n, split=split, backend="torch", **kwargs)
        env.reset(options={"indices": torch.arange(first, first + n)})
        for _ in range(env.episode_steps):
            action = {"loc": torch.rand(n, 2, generator=generator) * 2 - 1,
                      "move": torch.randint(3, (n,), generator=generator)}
            _, reward, terminated, _, _ = env.step(action)
        assert terminated.all()
        caught += float(reward.sum())
    return {"rate": caught / episodes, "caught": int(caught), "episodes": episodes}
