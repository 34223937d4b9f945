"""Flat spaces for standard RL libraries (stable-baselines3, CleanRL, ...), which take no Dict action.

The glimpse envs act with ``Dict(loc=Box(2,), label=Discrete(classes))``, Catch with
``Dict(loc=Box(2,), move=Discrete(3))``. These wrappers take one ``Box(-1, 1, (2 + n,))`` instead: the
location, then one score per choice of the Discrete part, whose argmax is the choice (the class guess,
which counts at the last step only; the paddle's move, which counts at every step). A Gaussian policy
that acts in [-1, 1] is all a library needs. The observation keeps its keys, with the glimpse flattened to a vector:
stable-baselines3 takes a 3-D float Box for an image and warns (it is no image for a CNN: 12x12),
while its ``MultiInputPolicy`` feeds a Dict of vectors through an MLP as it is. The wrapped env plays
exactly the episodes of the Dict env for the same actions: same rewards, ends and infos.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import VectorWrapper
from gymnasium.vector.utils import batch_space


DISCRETE_KEYS = {"label": "class", "move": "move"}  # the Discrete part of a glimpse env's action: what it scores


def discrete_key(action: spaces.Space) -> str:
    """'label' (the glimpse classification envs) or 'move' (Catch): the key of the Discrete action."""
    keys = set(action.spaces) - {"loc"} if isinstance(action, spaces.Dict) and "loc" in action.spaces else set()
    if len(keys) != 1 or next(iter(keys)) not in DISCRETE_KEYS or not isinstance(action[next(iter(keys))],
                                                                                   spaces.Discrete):
        raise ValueError(f"FlatAction wraps a glimpse env, whose action is Dict(loc, label) or Dict(loc, move), "
                         f"got {action}: wrap gymnasium.make('RAM/...') or make_vec('RAM/...', ...)")
    return next(iter(keys))


def flat_spaces(observation: spaces.Dict, action: spaces.Dict) -> tuple[spaces.Dict, spaces.Box]:
    """(observation space, action space) of one flat episode, from the glimpse env's Dict spaces."""
    key = discrete_key(action)
    glimpse = observation["glimpse"]
    flat_observation = spaces.Dict({
        "glimpse": spaces.Box(0.0, 1.0, (int(np.prod(glimpse.shape)),), np.float32),  # scales * g * g
        "loc": observation["loc"],
    })
    return flat_observation, spaces.Box(-1.0, 1.0, (2 + int(action[key].n),), np.float32)


def flat_observation(obs: dict, batched: bool) -> dict:
    """The glimpse (..., k, g, g) as a vector (..., k*g*g); numpy arrays or tensors, as given."""
    glimpse = obs["glimpse"]
    flat = glimpse.reshape(glimpse.shape[0], -1) if batched else glimpse.reshape(-1)  # (B, k*g*g) or (k*g*g,)
    return {"glimpse": flat, "loc": obs["loc"]}


def dict_action(action, shape: tuple[int, ...], key: str = "label") -> dict:
    """{"loc": action[..., :2], key: argmax of action[..., 2:]}: the Dict action the env takes."""
    if not torch.is_tensor(action):
        action = np.asarray(action, dtype=np.float32)
    if tuple(action.shape) != shape:
        raise ValueError(f"a flat action has shape {shape} (location x, y, then one score per {DISCRETE_KEYS[key]}), "
                         f"got {tuple(action.shape)}")
    return {"loc": action[..., :2], key: action[..., 2:].argmax(-1)}


class FlatAction(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """A glimpse env with a ``Box(-1, 1, (2 + classes,))`` action and a flat glimpse observation.

    ## Action Space
    ``Box(-1, 1, (2 + classes,), float32)``: the next location (x, y), then one score per class; the
    argmax of the scores is the guess, scored at the last step. On Catch ``Box(-1, 1, (5,))``: the
    location, then the scores of the moves left, stay, right, whose argmax moves the paddle at every step.

    ## Observation Space
    ``Dict(glimpse=Box(0, 1, (scales * glimpse_size**2,)), loc=Box(-1, 1, (2,)))``: the glimpse,
    flattened (``obs["glimpse"].reshape(scales, glimpse_size, glimpse_size)`` gives it back), and its location.

    Rewards, episode ends and ``info`` are the wrapped env's.
    """

    def __init__(self, env: gym.Env):
        gym.utils.RecordConstructorArgs.__init__(self)  # in env.spec: gymnasium can remake the wrapped env
        gym.Wrapper.__init__(self, env)
        self.observation_space, self.action_space = flat_spaces(env.observation_space, env.action_space)
        self._key = discrete_key(env.action_space)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        return flat_observation(obs, batched=False), info

    def step(self, action):
        action = dict_action(action, self.action_space.shape, self._key)
        obs, reward, terminated, truncated, info = self.env.step({"loc": action["loc"], self._key: int(action[self._key])})
        return flat_observation(obs, batched=False), reward, terminated, truncated, info


class FlatActionVector(VectorWrapper):
    """``FlatAction`` for the natively batched ``GlimpseVectorEnv`` or ``CatchVectorEnv``
    (``gymnasium.make_vec``), either backend.

    Actions are (num_envs, 2 + classes) (Catch: (num_envs, 5)), numpy arrays (or tensors with ``backend="torch"``); the
    observation's glimpse is (num_envs, scales * glimpse_size**2). Rewards, ends, infos and the
    next-step autoreset are the wrapped env's.
    """

    def __init__(self, env: gym.vector.VectorEnv):
        super().__init__(env)
        self.single_observation_space, self.single_action_space = flat_spaces(
            env.single_observation_space, env.single_action_space)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._key = discrete_key(env.single_action_space)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        return flat_observation(obs, batched=True), info

    def step(self, actions):
        obs, reward, terminated, truncated, info = self.env.step(dict_action(actions, self.action_space.shape, self._key))
        return flat_observation(obs, batched=True), reward, terminated, truncated, info
