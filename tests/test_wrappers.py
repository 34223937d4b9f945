"""FlatAction and FlatActionVector: flat spaces, and the very episodes of the Dict env for the same actions."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import data_equivalence

import envs  # noqa: F401  (registers the ids)
from envs.data import digits
from envs.wrappers import FlatAction, FlatActionVector

C60 = "RAM/ClutteredMNIST60-v0"


def flat_actions(n, rng, shape=(12,), labels=None):
    """n random flat actions; where labels are given, the class scores peak at them (a right guess)."""
    actions = rng.uniform(-1, 1, (n, *shape)).astype(np.float32)
    if labels is not None:
        actions[..., 2 + labels] = 1.0  # the top score, whatever the others are (they are below 1 almost surely)
    return list(actions)


def as_dict(action):
    """The rule, written out independently of the wrapper: location first, then argmax of the scores."""
    return {"loc": action[..., :2], "label": action[..., 2:].argmax(-1)}


def unflatten(obs, glimpse_shape):
    return {"glimpse": obs["glimpse"].reshape(glimpse_shape), "loc": obs["loc"]}


def test_spaces_are_one_box_action_and_a_dict_of_vectors(data_dir):
    env = FlatAction(gym.make(C60))
    assert env.action_space == gym.spaces.Box(-1.0, 1.0, (12,), np.float32)  # x, y, 10 class scores
    assert env.observation_space["glimpse"] == gym.spaces.Box(0.0, 1.0, (3 * 12 * 12,), np.float32)
    assert env.observation_space["loc"] == env.unwrapped.observation_space["loc"]
    obs, info = env.reset(seed=0)
    assert obs in env.observation_space and info == {}
    vec = FlatActionVector(gym.make_vec("RAM/CenteredMNIST28-v0", num_envs=5))
    assert vec.action_space.shape == (5, 12) and vec.single_action_space.shape == (12,)  # any sensor: x, y, 10 scores
    assert vec.single_observation_space["glimpse"].shape == (64,)  # 1 scale of 8x8
    assert vec.observation_space["glimpse"].shape == (5, 64)
    assert vec.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP


@pytest.mark.parametrize("split", ["train", "val"])
def test_the_flat_env_plays_the_dict_envs_episodes_for_the_same_actions(split, data_dir):
    dict_env, flat_env = gym.make(C60, split=split), FlatAction(gym.make(C60, split=split))
    truth = digits("val", data_dir)[1].numpy()
    rng = np.random.default_rng(0)
    rewards = []
    for episode in range(6):
        options = {"index": episode} if split == "val" else None
        right = truth[episode] if split == "val" and episode % 2 else None  # some right guesses on val
        actions = flat_actions(8, rng, labels=right)
        seed = 100 + episode
        d = [dict_env.reset(seed=seed, options=options)] + [dict_env.step(as_dict(a)) for a in actions]
        f = [flat_env.reset(seed=seed, options=options)] + [flat_env.step(a) for a in actions]
        assert data_equivalence(unflatten(f[0][0], (3, 12, 12)), d[0][0], exact=True) and f[0][1] == d[0][1]
        for (fo, *f_rest), (do, *d_rest) in zip(f[1:], d[1:]):
            assert data_equivalence(unflatten(fo, (3, 12, 12)), do, exact=True)
            assert f_rest == d_rest  # reward, terminated, truncated, info
        assert f[-1][2] and not any(step[2] for step in f[1:-1])  # ends on the 8th action, as the Dict env
        rewards.append(f[-1][1])
    if split == "val":
        assert rewards[1::2] == [1.0, 1.0, 1.0]  # the argmax of the scores is the guess


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_the_flat_vector_env_plays_the_dict_vector_envs_episodes_through_an_autoreset(backend, data_dir):
    make = lambda: gym.make_vec(C60, num_envs=3, backend=backend)
    dict_vec, flat_vec = make(), FlatActionVector(make())
    rng = np.random.default_rng(1)
    actions = [np.stack(flat_actions(3, rng)) for _ in range(20)]  # two episodes, two autoresets
    if backend == "torch":
        actions = [torch.from_numpy(a) for a in actions]
    d = [dict_vec.reset(seed=5)] + [dict_vec.step(as_dict(a)) for a in actions]
    f = [flat_vec.reset(seed=5)] + [flat_vec.step(a) for a in actions]
    numpy = lambda x: x.numpy() if torch.is_tensor(x) else x
    for (fo, *f_rest), (do, *d_rest) in zip(f, d):
        assert data_equivalence({k: numpy(v) for k, v in unflatten(fo, (3, 3, 12, 12)).items()},
                                {k: numpy(v) for k, v in do.items()}, exact=True)
        if len(f_rest) == 4:  # a step: reward, terminated, truncated, info
            for fx, dx in zip(f_rest[:3], d_rest[:3]):
                assert data_equivalence(numpy(fx), numpy(dx), exact=True)
            assert data_equivalence({k: numpy(v) for k, v in f_rest[3].items()},
                                    {k: numpy(v) for k, v in d_rest[3].items()}, exact=True)
    assert [bool(numpy(step[2]).all()) for step in f[1:]].count(True) == 2


def test_bad_input_gets_a_clear_error(data_dir):
    env = FlatAction(gym.make(C60))
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"a flat action has shape \(12,\).*got \(2,\)"):
        env.step(np.zeros(2, np.float32))
    vec = FlatActionVector(gym.make_vec(C60, num_envs=2))
    vec.reset(seed=0)
    with pytest.raises(ValueError, match=r"shape \(2, 12\).*got \(12,\)"):
        vec.step(np.zeros(12, np.float32))
    with pytest.raises(ValueError, match="wraps a glimpse env"):
        FlatAction(gym.make("CartPole-v1"))
