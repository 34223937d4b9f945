"""The Gymnasium environments: API conformance, seeding, single == batched, chance-level random agent."""

import re
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env, data_equivalence

import envs
from envs import ENV_IDS, GlimpseEnv, GlimpseVectorEnv
from envs.data import digits
from envs.mnist import DataError
from env_checks import assert_fresh_arrays, batch_of

C60 = "RAM/ClutteredMNIST60-v0"


def play(env, actions, seed=None, options=None):
    """Reset, then step through actions; every output, copied."""
    out = [env.reset(seed=seed, options=options)]
    out += [env.step(a) for a in actions]
    return out



def single_actions(n, seed=0, glimpses=8):
    rng = np.random.default_rng(seed)
    return [{"loc": rng.uniform(-1, 1, 2).astype(np.float32), "label": int(rng.integers(10))} for _ in range(n)]



@pytest.mark.parametrize("env_id", [env_id for env_id, _ in ENV_IDS.values()])
def test_check_env_passes_on_every_registered_id_with_warnings_as_errors(env_id, data_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env = gym.make(env_id)
        check_env(env.unwrapped)  # also remakes it from its spec with render_mode='rgb_array', and closes it twice
        vec = gym.make_vec(env_id, num_envs=3)  # warns if the autoreset mode is not declared
    assert vec.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP
    assert isinstance(vec, GlimpseVectorEnv) and vec.spec.id == env_id == env.spec.id
    assert vec.single_observation_space == env.observation_space and vec.single_action_space == env.action_space
    obs, info = vec.reset(seed=0)
    assert obs in vec.observation_space and info == {}
    obs, reward, terminated, truncated, info = vec.step(vec.action_space.sample())
    assert obs in vec.observation_space
    assert reward.dtype == np.float64 and reward.shape == (3,)  # as SyncVectorEnv returns them
    assert terminated.dtype == truncated.dtype == np.bool_ and terminated.shape == truncated.shape == (3,)
    vec.close()
    vec.close()  # closing twice is allowed
    env.close()


def test_ids_are_namespaced_and_versioned_and_carry_the_papers_sensor():
    assert gym.spec(C60).namespace == "RAM" and gym.spec(C60).version == 0
    assert gym.spec(C60).vector_entry_point == "envs.vector_env:GlimpseVectorEnv"
    kwargs = {name: gym.spec(env_id).kwargs for name, (env_id, _) in ENV_IDS.items()}
    assert kwargs["cluttered60"] == dict(canvas_size=60, distractors=4, glimpse_size=12, scales=3, glimpses=8)
    assert kwargs["mnist28"]["canvas_size"] == 28 and kwargs["cluttered100"]["distractors"] == 8


@pytest.mark.parametrize("start", ["center", "random"])
def test_same_seed_gives_the_same_episode_and_another_seed_another(start, data_dir):
    env = gym.make(C60, start=start)
    actions = single_actions(8)
    first, again, other = play(env, actions, seed=7), play(env, actions, seed=7), play(env, actions, seed=8)
    assert data_equivalence(first, again, exact=True)
    assert not np.array_equal(first[0][0]["glimpse"], other[0][0]["glimpse"])
    vec = gym.make_vec(C60, num_envs=4, start=start)
    batched = [batch_of(single_actions(4, seed=t)) for t in range(8)]
    assert data_equivalence(play(vec, batched, seed=7), play(vec, batched, seed=7), exact=True)


@pytest.mark.parametrize("split", ["train", "val"])
def test_single_env_and_one_env_batch_give_identical_episodes_for_the_same_seed(split, data_dir):
    single = gym.make(C60, split=split, start="random")
    vec = gym.make_vec(C60, num_envs=1, split=split, start="random")
    actions = single_actions(8, seed=3)
    for seed in (0, 1):
        s, v = play(single, actions, seed=seed), play(vec, [batch_of([a]) for a in actions], seed=seed)
        assert data_equivalence(s[0][0], {k: x[0] for k, x in v[0][0].items()}, exact=True)
        for (so, sr, st, stt, si), (vo, vr, vt, vtt, vi) in zip(s[1:], v[1:]):
            assert data_equivalence(so, {k: x[0] for k, x in vo.items()}, exact=True)
            assert (sr, st, stt) == (vr[0], vt[0], vtt[0])
            assert si == ({"label": vi["label"][0]} if vi else {})
        assert s[-1][2] and s[-1][4]["label"] in range(10)  # the episode ended on the last action


@pytest.mark.parametrize("split", ["val", "test"])
def test_a_batch_equals_single_envs_on_the_same_fixed_canvases(split, data_dir):
    """On val/test nothing is random given the canvas indices: sub-env i is the single env on indices[i]."""
    indices = np.array([3, 1, 4, 1])  # a repeat too
    vec = GlimpseVectorEnv(num_envs=4, split=split, data_dir=data_dir)
    per_env = [single_actions(8, seed=i) for i in range(4)]
    batched = play(vec, [batch_of([per_env[i][t] for i in range(4)]) for t in range(8)], options={"indices": indices})
    for i, index in enumerate(indices):
        alone = play(GlimpseEnv(split=split, data_dir=data_dir), per_env[i], options={"index": int(index)})
        assert data_equivalence(alone[0][0], {k: x[i] for k, x in batched[0][0].items()}, exact=True)
        for (so, sr, st, _, si), (vo, vr, vt, _, vi) in zip(alone[1:], batched[1:]):
            assert data_equivalence(so, {k: x[i] for k, x in vo.items()}, exact=True)
            assert (sr, st) == (vr[i], vt[i])
        assert si["label"] == vi["label"][i] == digits(split, data_dir)[1][index]


def test_native_vectorization_matches_gymnasiums_sync_vector_env(data_dir):
    """The vector_entry_point env and SyncVectorEnv over single envs give the same arrays, dtypes and infos."""
    native = gym.make_vec(C60, num_envs=3, split="val")
    sync = gym.make_vec(C60, num_envs=3, split="val", vectorization_mode="sync")
    actions = [batch_of(single_actions(3, seed=t)) for t in range(8)]
    # SyncVectorEnv hands every sub-env the same options, so the native batch holds canvas 42 three times
    assert data_equivalence(play(native, actions, options={"indices": [42, 42, 42]}),
                            play(sync, actions, options={"index": 42}), exact=True)


def test_a_random_agent_through_make_vec_wins_at_chance(data_dir):
    """Guesses drawn independently of the digit are right with probability exactly 0.1."""
    vec = gym.make_vec(C60, num_envs=32)
    vec.action_space.seed(0)
    vec.reset(seed=0)
    episodes, wins, steps = 0, 0.0, 0
    while episodes < 640:
        _, reward, terminated, truncated, info = vec.step(vec.action_space.sample())
        steps += 1
        assert not truncated.any() and (reward[~terminated] == 0).all()
        if terminated.any():
            assert terminated.all() and steps % 9 == 8  # 8 glimpses, then the next-step autoreset
            assert info["_label"].all() and info["label"].shape == (32,)
            episodes, wins = episodes + 32, wins + reward.sum()
    rate, sigma = wins / episodes, np.sqrt(0.1 * 0.9 / episodes)  # sigma = 0.012
    assert abs(rate - 0.1) < 5 * sigma, f"random agent won {rate:.3f} of {episodes} episodes"


def test_reward_is_one_exactly_for_the_true_label_which_info_carries_at_the_end(data_dir):
    vec = gym.make_vec(C60, num_envs=4, split="val")
    indices = np.array([0, 1, 2, 3])
    truth = digits("val", data_dir)[1][indices].numpy()
    guess = truth.copy()
    guess[::2] = (guess[::2] + 1) % 10  # wrong on envs 0 and 2
    vec.reset(options={"indices": indices})
    for t in range(8):
        _, reward, terminated, _, info = vec.step({"loc": np.zeros((4, 2), np.float32), "label": guess})
        assert ("label" in info) == terminated.all() == (t == 7)
    np.testing.assert_array_equal(info["label"], truth)
    np.testing.assert_array_equal(reward, [0.0, 1.0, 0.0, 1.0])


def test_an_episode_takes_exactly_t_glimpses_and_ends_on_the_last_one(data_dir):
    """The last action's location is not looked at: the terminal observation repeats the last glimpse."""
    vec = GlimpseVectorEnv(num_envs=2, split="val", glimpses=3, backend="torch")
    ends = []
    for last_loc in (-1.0, 1.0):
        obs, _ = vec.reset(options={"indices": [7, 8]})
        seen = [obs]
        for t in range(3):
            loc = torch.full((2, 2), last_loc if t == 2 else 0.5 * t)
            seen.append(vec.step({"loc": loc, "label": torch.zeros(2, dtype=torch.long)})[0])
        assert vec.locations().shape == (3, 2, 2)  # T locations, one per glimpse taken
        assert torch.equal(seen[-1]["glimpse"], seen[-2]["glimpse"]) and torch.equal(seen[-1]["loc"], seen[-2]["loc"])
        assert seen[-1]["glimpse"] is not seen[-2]["glimpse"]  # equal, but a new tensor
        ends.append(seen[-1])
    assert torch.equal(ends[0]["glimpse"], ends[1]["glimpse"])


def test_render_rgb_array_draws_the_canvas_with_the_glimpse_boxes(data_dir):
    env = gym.make(C60, render_mode="rgb_array", split="val")
    env.reset(seed=0)
    env.step(single_actions(1)[0])
    frame = env.render()
    assert frame.shape == (240, 240, 3) and frame.dtype == np.uint8  # 60x60 canvas, zoom 4
    assert (frame[..., 0] != frame[..., 2]).any()  # coloured boxes and path on a grey canvas
    vec = gym.make_vec("RAM/CenteredMNIST28-v0", num_envs=2, render_mode="rgb_array", split="val")
    vec.reset(seed=0)
    frames = vec.render()
    assert len(frames) == 2 and all(f.shape == (112, 112, 3) for f in frames)
    with pytest.warns(UserWarning, match="render_mode"):
        assert GlimpseEnv(split="val").render() is None


@pytest.mark.parametrize("make", [
    lambda: gym.make(C60).unwrapped,
    lambda: gym.make_vec(C60, num_envs=2),
    lambda: gym.make_vec(C60, num_envs=2, backend="torch"),
], ids=["single", "vector-numpy", "vector-torch"])
def test_every_step_returns_fresh_arrays(make, data_dir):
    """Scribbling over everything an env returned (and over the actions given to it) changes nothing."""
    vector = isinstance(make(), GlimpseVectorEnv)
    assert_fresh_arrays(make, [batch_of(single_actions(2, seed=t)) if vector else single_actions(1, seed=t)[0]
                               for t in range(9 if vector else 8)])  # the vector envs go on through an autoreset


def test_kwargs_reach_the_env_through_make_and_make_vec(data_dir, tmp_path):
    kwargs = dict(canvas_size=80, distractors=6, glimpse_size=6, scales=2, glimpses=3, split="test")
    env = gym.make(C60, data_dir=data_dir, **kwargs)
    vec = gym.make_vec(C60, num_envs=2, data_dir=data_dir, **kwargs)
    assert env.observation_space["glimpse"].shape == (2, 6, 6)
    assert vec.observation_space["glimpse"].shape == (2, 2, 6, 6)
    assert vec.spec.kwargs["canvas_size"] == 80 and vec.spec.kwargs["num_envs"] == 2
    assert env.unwrapped._vec.size == vec.size == 10000  # the test split
    env.reset(options={"index": 5})
    assert env.unwrapped._vec.canvases().shape == (1, 80, 80)
    assert [env.step(single_actions(1)[0])[2] for _ in range(3)] == [False, False, True]  # 3 glimpses
    # distractors: the same digit on a clean canvas holds fewer lit pixels than on a cluttered one
    plain = gym.make_vec(C60, num_envs=2, data_dir=data_dir, **{**kwargs, "distractors": 0})
    vec.reset(options={"indices": [5, 6]})
    plain.reset(options={"indices": [5, 6]})
    assert ((vec.canvases() > 0).sum((1, 2)) > (plain.canvases() > 0).sum((1, 2))).all()
    # data_dir is honoured: a folder without MNIST is an error, not a silent fallback to $RAM_DATA_DIR
    with pytest.raises(DataError, match="does not exist"):
        gym.make(C60, split="test", data_dir=str(tmp_path / "nowhere"))
    for name in Path(data_dir).glob("t10k-*.gz"):
        (tmp_path / name.name).symlink_to(name)
    assert gym.make(C60, split="test", data_dir=str(tmp_path)).unwrapped._vec.size == 10000


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
def test_torch_backend_returns_tensors_on_the_device(device, data_dir):
    vec = gym.make_vec(C60, num_envs=3, backend="torch", device=device, split="val")
    obs, _ = vec.reset(seed=0)
    actions = {"loc": torch.zeros(3, 2, device=device), "label": torch.arange(3, device=device)}
    for _ in range(8):
        for x in obs.values():
            assert isinstance(x, torch.Tensor) and x.device.type == device and x.dtype == torch.float32
        obs, reward, terminated, truncated, info = vec.step(actions)
    assert reward.device.type == terminated.device.type == info["label"].device.type == device
    assert reward.dtype == torch.float32 and terminated.dtype == truncated.dtype == torch.bool and terminated.all()
    numpy_env = gym.make_vec(C60, num_envs=3, split="val")
    numpy_obs, _ = numpy_env.reset(seed=0)
    torch_obs, _ = vec.reset(seed=0)
    np.testing.assert_array_equal(numpy_obs["glimpse"], torch_obs["glimpse"].cpu().numpy())


def test_bad_input_gets_a_clear_error(data_dir):
    vec = GlimpseVectorEnv(num_envs=2, split="val")
    with pytest.raises(ValueError, match="seed must be an int"):
        vec.reset(seed=[1, 2])
    with pytest.raises(ValueError, match=r"must lie in \[0, 5000\)"):
        vec.reset(options={"indices": [0, 5000]})
    with pytest.raises(ValueError, match="num_envs=2 indices"):
        vec.reset(options={"indices": [0, 1, 2]})
    vec.reset(seed=0)
    for _ in range(7):
        vec.step({"loc": np.zeros((2, 2), np.float32), "label": None})
    with pytest.raises(ValueError, match="needs a class guess"):
        vec.step({"loc": np.zeros((2, 2), np.float32), "label": None})
    with pytest.raises(ValueError, match="make_vec"):
        gym.make(C60, backend="torch")
    with pytest.raises(ValueError, match="backend must be"):
        gym.make_vec(C60, num_envs=2, backend="jax")
    with pytest.raises(ValueError, match="unknown split"):
        gym.make(C60, split="validation")
    env = gym.make(C60, glimpses=1, split="val")
    env.reset(seed=0)
    env.step(single_actions(1)[0])
    with pytest.raises(RuntimeError, match="call reset"):
        env.step(single_actions(1)[0])


def test_the_readme_example_runs(data_dir, capsys):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## Use the environments in your own agent")[1].split("\n## ")[0]
    blocks = [b for b in re.findall(r"```python\n(.*?)```", section, re.S) if "stable_baselines3" not in b]
    assert len(blocks) == 2  # the stable-baselines3 one runs in tests/test_rl.py
    exec(compile("\n".join(blocks), "README.md", "exec"), {})
    assert "the digit was" in capsys.readouterr().out


def test_the_overhead_benchmark_trains_the_same_through_the_env_as_through_the_sensor(data_dir, tmp_path):
    """benchmarks/env_overhead.py first checks that both paths give the same losses (else SystemExit)."""
    import argparse

    from benchmarks.env_overhead import measure

    args = argparse.Namespace(batch=16, repeats=2, steps=1, warmup=1, device="cpu", data_dir=data_dir)
    row = measure(1, args)
    assert row["threads"] == 1 and row["env_images_per_s"] > 0 and row["direct_images_per_s"] > 0
    assert len(row["env_repeats"]) == len(row["direct_repeats"]) == 2


def test_the_package_registers_on_import():
    assert all(env_id in gym.registry for env_id, _ in envs.ENV_IDS.values())
