"""Catch (the paper's dynamic environment): the game's rules against a plain-Python reference, API
conformance, seeding, single == batched, the random agent's catch rate, and stable-baselines3."""

import json
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env, data_equivalence

import envs  # noqa: F401  (registers the ids)
from envs import CATCH_ID, CatchEnv, CatchVectorEnv
from envs.catch import SPLIT_SIZE, fixed_starts, random_agent_catch_rate
from envs.wrappers import FlatAction, FlatActionVector
from env_checks import assert_fresh_arrays, batch_of

REPO = Path(__file__).resolve().parents[1]
LEFT, STAY, RIGHT = 0, 1, 2


def reference_episode(start, moves, screen_size=24, paddle_width=2):
    """The rules, one episode in plain Python: states (ball_x, ball_y, vx, paddle_x) and rewards per step."""
    x, y, vx, p = start
    last = screen_size - 1
    states, rewards = [(x, y, vx, p)], []
    for move in moves:
        p = min(max(p + move - 1, 0), screen_size - paddle_width)
        x += vx
        if x < 0:
            x, vx = -x, -vx
        elif x > last:
            x, vx = 2 * last - x, -vx
        y += 1
        rewards.append(float(p <= x < p + paddle_width) if y == last else 0.0)
        states.append((x, y, vx, p))
        if y == last:
            break
    return states, rewards


def landing_column(x, vx, screen_size=24, rows=None):
    """Where a ball from the top row (or ``rows`` above the bottom) lands: the reference, paddle aside."""
    rows = screen_size - 1 if rows is None else rows
    states, _ = reference_episode((x, screen_size - 1 - rows, vx, 0), [STAY] * rows, screen_size, 1)
    return states[-1][0]


def stay(n):
    return {"loc": np.zeros((n, 2), np.float32), "move": np.full(n, STAY)}


def play(env, actions, seed=None, options=None):
    out = [env.reset(seed=seed, options=options)]
    return out + [env.step(a) for a in actions]



def single_actions(n, seed=0):
    rng = np.random.default_rng(seed)
    return [{"loc": rng.uniform(-1, 1, 2).astype(np.float32), "move": int(rng.integers(3))} for _ in range(n)]



def test_check_env_passes_with_warnings_as_errors_and_make_vec_gives_the_native_vector_env():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env = gym.make(CATCH_ID)
        check_env(env.unwrapped)  # also remakes it with render_mode='rgb_array' and closes it twice
        vec = gym.make_vec(CATCH_ID, num_envs=8)
    assert isinstance(vec, CatchVectorEnv) and vec.spec.id == env.spec.id == CATCH_ID
    assert vec.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP
    assert vec.single_observation_space == env.observation_space and vec.single_action_space == env.action_space
    assert env.action_space["move"] == gym.spaces.Discrete(3) and env.observation_space["glimpse"].shape == (3, 6, 6)
    obs, info = vec.reset(seed=0)
    assert obs in vec.observation_space and info == {}
    obs, reward, terminated, truncated, info = vec.step(vec.action_space.sample())
    assert obs in vec.observation_space and info == {}
    assert reward.dtype == np.float64 and reward.shape == (8,)  # as SyncVectorEnv returns them
    assert terminated.dtype == truncated.dtype == np.bool_ and terminated.shape == (8,)
    vec.close()
    vec.close()
    env.close()


def test_the_id_is_namespaced_and_versioned_and_carries_the_papers_game_and_retina():
    spec = gym.spec(CATCH_ID)
    assert spec.namespace == "RAM" and spec.name == "Catch" and spec.version == 0
    assert spec.entry_point == "envs.catch:CatchEnv" and spec.vector_entry_point == "envs.catch:CatchVectorEnv"
    assert spec.kwargs == dict(screen_size=24, paddle_width=2, ball_speed=1, glimpse_size=6, scales=3)


def test_a_ball_that_lands_on_the_paddle_pays_one_and_one_beside_it_zero():
    """Ball one row above the bottom, falling straight (vx 0), paddle at columns 10-11."""
    vec = CatchVectorEnv(num_envs=6, backend="numpy")
    columns = np.array([9, 10, 11, 12, 0, 23])
    state = np.stack([columns, np.full(6, 22), np.zeros(6, int), np.full(6, 10)], 1)
    vec.reset(options={"state": state})
    _, reward, terminated, truncated, _ = vec.step(stay(6))
    np.testing.assert_array_equal(reward, [0, 1, 1, 0, 0, 0])
    assert terminated.all() and not truncated.any()
    # the paddle moves before the ball lands: moving onto the ball catches it, moving away misses it
    state[:, 3] = [8, 8, 12, 12, 1, 21]  # one step from a catch, or from a miss
    vec.reset(options={"state": state})
    _, reward, _, _, _ = vec.step({"loc": np.zeros((6, 2), np.float32), "move": [RIGHT, LEFT, LEFT, RIGHT, LEFT, RIGHT]})
    np.testing.assert_array_equal(reward, [1, 0, 1, 0, 1, 1])  # 8->9 covers 9, 8->7 misses 10, 12->11 covers 11,
    # 12->13 misses 12, 1->0 covers 0 and 21->22 covers 23


def test_a_full_episode_pays_one_for_a_paddle_sent_to_the_landing_column_and_zero_one_beside_it():
    vec = CatchVectorEnv(num_envs=1, split="val", backend="numpy")
    for index in range(5):
        x0, vx, p0 = fixed_starts("val", 24, 2, 1).tolist()[index]
        land = landing_column(x0, vx)
        for target, paid in ((min(land, 22), 1.0), (land + 2 if land < 21 else land - 3, 0.0)):
            vec.reset(options={"indices": [index]})
            for t in range(23):
                p = vec.state()[0, 3].item()
                move = STAY if p == target else (RIGHT if p < target else LEFT)
                _, reward, terminated, _, _ = vec.step({"loc": np.zeros((1, 2), np.float32), "move": [move]})
                assert terminated[0] == (t == 22)
            assert vec.state()[0, 0].item() == land and reward[0] == paid


def test_walls_bounce_the_ball_back_and_flip_its_velocity():
    vec = CatchVectorEnv(num_envs=5, screen_size=12, ball_speed=3, backend="torch")
    # (x, vx) at a wall moving out, near a wall moving fast, and one moving freely
    state = torch.tensor([[0, 0, -1, 0], [11, 0, 1, 0], [1, 0, -3, 0], [10, 0, 3, 0], [5, 0, 2, 0]])
    vec.reset(options={"state": state})
    vec.step({"loc": torch.zeros(5, 2), "move": torch.full((5,), STAY)})
    x, vx = vec.state()[:, 0], vec.state()[:, 2]
    assert x.tolist() == [1, 10, 2, 9, 7] and vx.tolist() == [1, -1, 3, -3, 2]
    for _ in range(10):  # the ball never leaves the screen
        vec.step({"loc": torch.zeros(5, 2), "move": torch.full((5,), STAY)})
        assert ((vec.state()[:, 0] >= 0) & (vec.state()[:, 0] < 12)).all()


def test_the_paddle_moves_one_pixel_per_step_and_stops_at_the_walls():
    vec = CatchVectorEnv(num_envs=4, backend="torch")
    vec.reset(options={"state": torch.tensor([[5, 0, 0, 0], [5, 0, 0, 22], [5, 0, 0, 7], [5, 0, 0, 7]])})
    vec.step({"loc": torch.zeros(4, 2), "move": torch.tensor([LEFT, RIGHT, LEFT, RIGHT])})
    assert vec.state()[:, 3].tolist() == [0, 22, 6, 8]


@pytest.mark.parametrize("screen_size", [24, 7])
def test_the_ball_falls_one_row_per_step_and_an_episode_lasts_exactly_screen_size_minus_one_steps(screen_size):
    vec = CatchVectorEnv(num_envs=3, screen_size=screen_size, backend="torch")
    vec.reset(seed=0)
    rng = np.random.default_rng(0)
    for t in range(1, 2 * screen_size):  # two episodes, through a next-step autoreset
        _, reward, terminated, _, _ = vec.step({"loc": torch.zeros(3, 2), "move": torch.from_numpy(rng.integers(3, size=3))})
        row = t % screen_size  # the autoreset step brings the top row back
        assert (vec.state()[:, 1] == row).all()
        assert terminated.all() == (row == screen_size - 1) and terminated.any() == terminated.all()
        assert (reward[~terminated] == 0).all()
        screen = vec.screens()
        assert screen.shape == (3, screen_size, screen_size) and screen.dtype == torch.uint8
        lit = (screen[:, :-1] == 255).sum((1, 2))  # above the paddle row: the ball alone, on its row
        assert (lit == (1 if row < screen_size - 1 else 0)).all()
        assert ((screen[:, -1] == 255).sum(1) >= 2).all()  # the paddle (and the ball, once it lands)
    assert vec.episode_steps == screen_size - 1


def test_the_batched_env_plays_the_plain_python_reference_step_by_step():
    """Random starts, speeds and moves on two games: the same trajectories and rewards, exactly."""
    rng = np.random.default_rng(0)
    for S, W, v in ((24, 2, 1), (13, 3, 4)):
        B = 64
        starts = np.stack([rng.integers(S, size=B), np.zeros(B, int), rng.integers(-v, v + 1, size=B),
                           rng.integers(S - W + 1, size=B)], 1)
        moves = rng.integers(3, size=(S - 1, B))
        vec = CatchVectorEnv(num_envs=B, screen_size=S, paddle_width=W, ball_speed=v, backend="numpy")
        vec.reset(options={"state": starts})
        states, rewards = [vec.state().numpy()], []
        for t in range(S - 1):
            rewards.append(vec.step({"loc": np.zeros((B, 2), np.float32), "move": moves[t]})[1])
            states.append(vec.state().numpy())
        for b in range(B):
            ref_states, ref_rewards = reference_episode(tuple(starts[b]), moves[:, b].tolist(), S, W)
            assert [tuple(s[b]) for s in states] == ref_states and [r[b] for r in rewards] == ref_rewards


@pytest.mark.parametrize("start", ["center", "random"])
def test_the_same_seed_gives_the_same_episode_and_another_seed_another(start):
    env = gym.make(CATCH_ID, start=start)
    actions = single_actions(23)
    first, again, other = play(env, actions, seed=7), play(env, actions, seed=7), play(env, actions, seed=8)
    assert data_equivalence(first, again, exact=True)
    assert not data_equivalence(first, other)
    vec = gym.make_vec(CATCH_ID, num_envs=4, start=start)
    batched = [batch_of(single_actions(4, seed=t)) for t in range(30)]  # through an autoreset
    assert data_equivalence(play(vec, batched, seed=7), play(vec, batched, seed=7), exact=True)


@pytest.mark.parametrize("split", ["train", "val"])
def test_the_single_env_and_a_one_env_batch_play_the_same_episode_for_the_same_seed(split):
    single = gym.make(CATCH_ID, split=split, start="random")
    vec = gym.make_vec(CATCH_ID, num_envs=1, split=split, start="random")
    actions = single_actions(23, seed=3)
    for seed in (0, 1):
        s, v = play(single, actions, seed=seed), play(vec, [batch_of([a]) for a in actions], seed=seed)
        assert data_equivalence(s[0][0], {k: x[0] for k, x in v[0][0].items()}, exact=True)
        for (so, sr, st, stt, si), (vo, vr, vt, vtt, vi) in zip(s[1:], v[1:]):
            assert data_equivalence(so, {k: x[0] for k, x in vo.items()}, exact=True)
            assert (sr, st, stt, si) == (vr[0], vt[0], vtt[0], vi)
        assert s[-1][2] and not any(step[2] for step in s[1:-1])


@pytest.mark.parametrize("split", ["val", "test"])
def test_a_batch_on_fixed_episodes_equals_single_envs_on_the_same_indices(split):
    indices = np.array([3, 1, 4, 1, 9999])
    vec = CatchVectorEnv(num_envs=5, split=split)
    per_env = [single_actions(23, seed=i) for i in range(5)]
    batched = play(vec, [batch_of([per_env[i][t] for i in range(5)]) for t in range(23)], options={"indices": indices})
    for i, index in enumerate(indices):
        alone = play(CatchEnv(split=split), per_env[i], options={"index": int(index)})
        for (so, sr, st, _, _), (vo, vr, vt, _, _) in zip(alone[1:], batched[1:]):
            assert data_equivalence(so, {k: x[i] for k, x in vo.items()}, exact=True) and (sr, st) == (vr[i], vt[i])


def test_fixed_episodes_are_seeded_uniform_starts_that_differ_between_val_and_test():
    val, test = fixed_starts("val", 24, 2, 1), fixed_starts("test", 24, 2, 1)
    assert val.shape == test.shape == (SPLIT_SIZE, 3) and not torch.equal(val, test)
    assert torch.equal(CatchVectorEnv(num_envs=2, split="val")._fixed, val)  # every instance holds the same
    assert not torch.equal(fixed_starts("val", 24, 2, 1, seed=1), val)  # episode_seed changes them
    x, vx, p = val.unbind(1)
    assert x.min() == 0 and x.max() == 23 and set(vx.tolist()) == {-1, 0, 1} and p.min() == 0 and p.max() == 22
    assert abs(x.float().mean() - 11.5) < 0.3 and abs(vx.float().mean()) < 0.05  # uniform: means within ~4 sigma
    vec = CatchVectorEnv(num_envs=8, split="test", backend="torch")
    vec.reset(options={"indices": torch.arange(8)})
    assert torch.equal(vec.state()[:, [0, 2, 3]], test[:8]) and (vec.state()[:, 1] == 0).all()
    batches = list(CatchVectorEnv(num_envs=3000, split="val").split_batches())
    assert len(batches) == 4 and int(sum(valid.sum() for _, valid in batches)) == SPLIT_SIZE


def test_repeats_give_neighbouring_sub_environments_the_same_start():
    vec = CatchVectorEnv(num_envs=6, backend="torch")
    vec.reset(seed=0, options={"repeats": 3})
    state = vec.state()
    assert torch.equal(state[0], state[2]) and torch.equal(state[3], state[5])
    fixed = CatchVectorEnv(num_envs=4, split="val", backend="torch")
    fixed.reset(options={"indices": [5, 6], "repeats": 2})
    assert torch.equal(fixed.state()[:, [0, 2, 3]], fixed_starts("val", 24, 2, 1)[[5, 5, 6, 6]])


def test_the_glimpse_sees_the_current_frame_at_the_chosen_location():
    vec = CatchVectorEnv(num_envs=2, scales=1, glimpse_size=2, backend="torch")
    vec.reset(options={"state": torch.tensor([[4, 0, 0, 0], [4, 0, 0, 0]])})
    # a 2x2 glimpse centred between pixels 3 and 4 of row 1 (where the ball falls) and one elsewhere
    loc = torch.tensor([[4 / 12 - 1, 1 / 12 - 1 + 1 / 12], [0.5, -0.5]])
    obs, *_ = vec.step({"loc": loc, "move": torch.full((2,), STAY)})
    assert obs["glimpse"][0].sum().item() == 1.0 and obs["glimpse"][1].sum().item() == 0.0
    assert torch.equal(obs["loc"], loc)


def test_a_random_agent_catches_at_the_rate_the_rules_predict():
    """On the fixed test episodes, the exact expected catch rate of uniformly random moves, computed here
    from the reference rules and the paddle's random walk, and the measured rate agree within 3 sigma;
    over all starts of the default game it is exactly paddle_width / screen_size."""
    S, W = 24, 2
    positions = S - W + 1
    step = np.zeros((positions, positions))  # the paddle's random walk: left, stay, right, clamped
    for p in range(positions):
        for move in (LEFT, STAY, RIGHT):
            step[p, min(max(p + move - 1, 0), positions - 1)] += 1 / 3
    walk = np.linalg.matrix_power(step, S - 1)  # where a paddle from p0 ends after S - 1 random moves
    covers = np.array([[p <= x < p + W for x in range(S)] for p in range(positions)], float)  # (p, x)
    lands = np.array([[landing_column(x, vx) for vx in (-1, 0, 1)] for x in range(S)])  # (x0, vx + 1)
    over_all = np.mean([walk[p0] @ covers[:, lands[x0, v]] for x0 in range(S) for v in range(3)
                        for p0 in range(positions)])
    assert abs(over_all - W / S) < 1e-12
    result = random_agent_catch_rate(episodes=SPLIT_SIZE, seed=0)
    starts = fixed_starts("test", S, W, 1).numpy()
    p_catch = np.array([walk[p0] @ covers[:, lands[x0, vx + 1]] for x0, vx, p0 in starts])
    sigma = np.sqrt((p_catch * (1 - p_catch)).sum()) / len(p_catch)
    assert result["episodes"] == SPLIT_SIZE and result["caught"] == round(result["rate"] * SPLIT_SIZE)
    assert abs(result["rate"] - p_catch.mean()) < 3 * sigma, (result, p_catch.mean(), sigma)


def test_the_committed_random_agent_result_is_what_the_function_measures():
    saved = json.loads((REPO / "benchmarks" / "results" / "catch_random.json").read_text())
    measured = random_agent_catch_rate(episodes=saved["episodes"], seed=saved["seed"], split=saved["split"])
    assert measured["rate"] == saved["rate"] and saved["analytic"] == pytest.approx(2 / 24)


def test_render_rgb_array_draws_the_screen_with_the_glimpse_boxes():
    env = gym.make(CATCH_ID, render_mode="rgb_array")
    env.reset(seed=0)
    env.step(single_actions(1)[0])
    frame = env.render()
    assert frame.shape == (288, 288, 3) and frame.dtype == np.uint8  # (24 + 2 * 6 margin) * zoom 8
    assert (frame == 255).all(-1).sum() >= 3 * 64  # ball and paddle: 3 white screen pixels of 8x8
    assert (frame[..., 0] != frame[..., 2]).any()  # coloured boxes
    vec = gym.make_vec(CATCH_ID, num_envs=2, render_mode="rgb_array", screen_size=10)
    vec.reset(seed=0)
    frames = vec.render()
    assert len(frames) == 2 and all(f.shape == (176, 176, 3) for f in frames)
    with pytest.warns(UserWarning, match="render_mode"):
        assert CatchEnv().render() is None


@pytest.mark.parametrize("make", [
    lambda: gym.make(CATCH_ID).unwrapped,
    lambda: gym.make_vec(CATCH_ID, num_envs=2),
    lambda: gym.make_vec(CATCH_ID, num_envs=2, backend="torch"),
], ids=["single", "vector-numpy", "vector-torch"])
def test_every_step_returns_fresh_arrays(make):
    """Scribbling over everything an env returned (and over the actions given to it) changes nothing."""
    vector = isinstance(make(), CatchVectorEnv)
    assert_fresh_arrays(make, [batch_of(single_actions(2, seed=t)) if vector else single_actions(1, seed=t)[0]
                               for t in range(25 if vector else 23)])


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
def test_the_torch_backend_returns_tensors_on_the_device_and_plays_the_numpy_backends_fixed_episodes(device):
    vec = gym.make_vec(CATCH_ID, num_envs=3, backend="torch", device=device, split="val")
    obs, _ = vec.reset(options={"indices": torch.arange(3, device=device)})
    actions = {"loc": torch.zeros(3, 2, device=device), "move": torch.tensor([0, 1, 2], device=device)}
    seen = [obs]
    for _ in range(23):
        obs, reward, terminated, truncated, info = vec.step(actions)
        seen.append(obs)
        assert all(isinstance(x, torch.Tensor) and x.device.type == device for x in obs.values())
    assert reward.device.type == terminated.device.type == device and reward.dtype == torch.float32
    assert terminated.all() and terminated.dtype == truncated.dtype == torch.bool
    numpy_env = gym.make_vec(CATCH_ID, num_envs=3, split="val")
    numpy_seen = play(numpy_env, [{k: v.cpu().numpy() for k, v in actions.items()}] * 23, options={"indices": [0, 1, 2]})
    for mine, theirs in zip(seen, [numpy_seen[0][0]] + [s[0] for s in numpy_seen[1:]]):
        np.testing.assert_array_equal(mine["glimpse"].cpu().numpy(), theirs["glimpse"])


def test_kwargs_reach_the_env_through_make_and_make_vec():
    kwargs = dict(screen_size=16, paddle_width=4, ball_speed=2, glimpse_size=4, scales=2)
    env = gym.make(CATCH_ID, **kwargs)
    vec = gym.make_vec(CATCH_ID, num_envs=2, **kwargs)
    assert env.observation_space["glimpse"].shape == (2, 4, 4) and vec.observation_space["glimpse"].shape == (2, 2, 4, 4)
    assert vec.spec.kwargs["screen_size"] == 16 and vec.spec.kwargs["num_envs"] == 2
    env.reset(seed=0)
    assert [env.step(single_actions(1)[0])[2] for _ in range(15)] == [False] * 14 + [True]
    assert env.unwrapped._vec.screens().shape == (1, 16, 16)
    assert (env.unwrapped._vec.screens()[0, -1] == 255).sum() >= 4  # a 4-pixel paddle


@pytest.mark.parametrize("kwargs, message", [
    (dict(paddle_width=25), r"paddle_width must lie in \[1, screen_size=24\], got 25"),
    (dict(paddle_width=0), "paddle_width must lie in"),
    (dict(ball_speed=24), r"ball_speed \(the largest \|vx\|\) must lie in \[0, screen_size=24\), got 24"),
    (dict(ball_speed=-1), "ball_speed"),
    (dict(screen_size=1), "screen_size must be at least 2"),
    (dict(screen_size=24.0), "screen_size must be an int"),
    (dict(split="validation"), "split must be 'train', 'val' or 'test'"),
    (dict(start="corner"), "start must be 'center' or 'random'"),
    (dict(glimpse_size=0), "retina needs size >= 1"),
    (dict(render_mode="human"), "render_mode must be None or 'rgb_array'"),
])
def test_bad_keywords_get_a_one_line_error(kwargs, message):
    make = CatchVectorEnv if "render_mode" in kwargs else (lambda **kw: gym.make(CATCH_ID, **kw))  # make wraps 'human'
    with pytest.raises(ValueError, match=message) as error:
        make(**kwargs)
    assert "\n" not in str(error.value)


def test_bad_input_gets_a_one_line_error():
    errors = []

    def expect(call, message, error=ValueError):
        with pytest.raises(error, match=message) as caught:
            call()
        errors.append(str(caught.value))

    vec = CatchVectorEnv(num_envs=2)
    expect(lambda: vec.step(stay(2)), "call reset", RuntimeError)
    expect(lambda: gym.make_vec(CATCH_ID, num_envs=2, backend="jax"), "backend must be")
    expect(lambda: gym.make(CATCH_ID, backend="torch"), "make_vec")
    expect(lambda: vec.reset(seed=[1, 2]), "seed must be an int")
    expect(lambda: vec.reset(options={"indices": [0, 1]}), "only split='val' or 'test'")
    expect(lambda: CatchVectorEnv(num_envs=2, split="val").reset(options={"indices": [0, SPLIT_SIZE]}),
           r"must lie in \[0, 10000\)")
    expect(lambda: CatchVectorEnv(num_envs=2, split="val").reset(options={"indices": [0]}), "num_envs=2 indices")
    expect(lambda: vec.reset(options={"repeats": 3}), "positive divisor of num_envs=2")
    expect(lambda: vec.reset(options={"state": [[0, 0, 0, 0]]}), r"must have shape \(2, 4\)")
    expect(lambda: vec.reset(options={"state": [[0, 0, 0, 0], [0, 1, 0, 0]]}), "one ball_y for the whole batch")
    expect(lambda: vec.reset(options={"state": [[0, 23, 0, 0], [0, 23, 0, 0]]}), r"in \[0, 23\)")
    expect(lambda: vec.reset(options={"state": [[24, 0, 0, 0], [0, 0, 0, 0]]}), r"ball_x in \[0, 24\)")
    expect(lambda: vec.reset(options={"state": [[0, 0, 2, 0], [0, 0, 0, 0]]}), r"\|vx\| <= ball_speed=1")
    expect(lambda: vec.reset(options={"state": [[0, 0, 0, 23], [0, 0, 0, 0]]}), r"paddle_x in \[0, 22\]")
    vec.reset(seed=0)
    expect(lambda: vec.step({"loc": np.zeros((2, 2), np.float32)}), "'move'")
    expect(lambda: vec.step({"loc": np.zeros((2, 2), np.float32), "move": [0, 3]}), "must be 0 .left., 1 .stay. or 2")
    expect(lambda: vec.step({"loc": np.zeros((2, 2), np.float32), "move": [0]}), r"move'\] must have shape \(2,\)")
    expect(lambda: vec.step({"loc": np.zeros(2, np.float32), "move": [0, 0]}), r"loc'\] must have shape")
    expect(lambda: random_agent_catch_rate(episodes=0), "episodes must lie in")
    env = CatchEnv(screen_size=2)
    env.reset(seed=0)
    assert env.step(single_actions(1)[0])[2]  # a 2-row screen: one step
    expect(lambda: env.step(single_actions(1)[0]), "call reset", RuntimeError)
    assert all("\n" not in e for e in errors)


def test_flat_action_plays_the_dict_envs_episodes_and_moves_by_the_argmax():
    dict_env, flat_env = gym.make(CATCH_ID), FlatAction(gym.make(CATCH_ID))
    assert flat_env.action_space == gym.spaces.Box(-1.0, 1.0, (5,), np.float32)  # x, y, 3 move scores
    assert flat_env.observation_space["glimpse"] == gym.spaces.Box(0.0, 1.0, (3 * 6 * 6,), np.float32)
    rng = np.random.default_rng(0)
    actions = list(rng.uniform(-1, 1, (23, 5)).astype(np.float32))
    d = play(dict_env, [{"loc": a[:2], "move": int(a[2:].argmax())} for a in actions], seed=4)
    f = play(flat_env, actions, seed=4)
    for (fo, *f_rest), (do, *d_rest) in zip(f, d):
        assert data_equivalence({"glimpse": fo["glimpse"].reshape(3, 6, 6), "loc": fo["loc"]}, do, exact=True)
        assert f_rest == d_rest
    vec = FlatActionVector(gym.make_vec(CATCH_ID, num_envs=2, backend="torch"))
    vec.reset(options={"state": torch.tensor([[5, 0, 0, 3], [5, 0, 0, 3]])})
    vec.step(torch.tensor([[0, 0, 1, 0, 0], [0, 0, 0, 0, 1]], dtype=torch.float32))  # left, right
    assert vec.env.state()[:, 3].tolist() == [2, 4]
    with pytest.raises(ValueError, match=r"\(5,\) \(location x, y, then one score per move\)"):
        flat_env.step(np.zeros(2, np.float32))


def test_stable_baselines3_check_env_passes_with_warnings_as_errors_and_ppo_learns_on_catch():
    from stable_baselines3 import PPO  # the rl extra; tests/test_rl.py fails at import without it
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sb3_check_env(FlatAction(gym.make(CATCH_ID)))
    env = FlatAction(gym.make(CATCH_ID))
    model = PPO("MultiInputPolicy", env, n_steps=256, batch_size=64, n_epochs=2, seed=0, device="cpu")
    before = [p.detach().clone() for p in model.policy.parameters()]
    model.learn(total_timesteps=2048)
    assert model.num_timesteps == 2048
    assert any(not b.equal(p) for b, p in zip(before, model.policy.parameters()))
    episodes = list(model.ep_info_buffer)
    assert len(episodes) == 2048 // 23 and all(e["l"] == 23 for e in episodes)  # every game lasts 23 frames
    assert {e["r"] for e in episodes} <= {0.0, 1.0}
    obs, _ = env.reset(seed=0)
    assert model.predict(obs, deterministic=True)[0] in env.action_space
