"""A real third-party client: stable-baselines3 checks the flat env, and its PPO learns on it."""

import re
import warnings
from pathlib import Path

import gymnasium as gym
import pytest

try:
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_checker import check_env
except ImportError:  # .ci/run installs it: these tests are the point of the rl extra
    raise ImportError("stable-baselines3 is missing: pip install -e '.[dev,rl]'") from None

import envs  # noqa: F401  (registers the ids)
from envs import ENV_IDS
from envs.wrappers import FlatAction

C60 = "RAM/ClutteredMNIST60-v0"


@pytest.mark.parametrize("env_id", [env_id for env_id, _ in ENV_IDS.values()])
def test_stable_baselines3_check_env_passes_with_warnings_as_errors(env_id, data_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # SB3 warns of Dict actions, and of 3-D float boxes it takes for images
        check_env(FlatAction(gym.make(env_id)))
    with pytest.raises(AssertionError, match="only supports"):  # the rule the wrapper exists for: SB3 rejects the Dict env
        PPO("MultiInputPolicy", gym.make(env_id), device="cpu")


def test_ppo_learns_on_the_cluttered_env_and_its_episodes_follow_the_env_rules(data_dir):
    env = FlatAction(gym.make(C60, train_size=2048))
    model = PPO("MultiInputPolicy", env, n_steps=256, batch_size=64, n_epochs=2, seed=0, device="cpu")
    before = [p.detach().clone() for p in model.policy.parameters()]
    model.learn(total_timesteps=2048)
    assert model.num_timesteps == 2048
    assert any(not b.equal(p) for b, p in zip(before, model.policy.parameters()))  # it did update the policy
    episodes = list(model.ep_info_buffer)  # Monitor's record of every finished episode
    assert len(episodes) == 100 and all(e["l"] == 8 for e in episodes)  # 2048 steps of 8-glimpse episodes
    assert {e["r"] for e in episodes} <= {0.0, 1.0}
    obs, _ = env.reset(seed=0)
    action, _ = model.predict(obs, deterministic=True)
    assert action in env.action_space


def test_ppo_beats_chance_where_a_few_thousand_steps_can_learn(data_dir):
    """One glimpse of the whole centred digit: a 10-armed contextual bandit PPO solves well past chance (0.1)."""
    sensor = dict(glimpses=1, glimpse_size=28, scales=1)
    env = FlatAction(gym.make("RAM/CenteredMNIST28-v0", train_size=4096, **sensor))
    model = PPO("MultiInputPolicy", env, n_steps=512, batch_size=64, n_epochs=4, seed=0, device="cpu")
    model.learn(total_timesteps=4096)
    val = FlatAction(gym.make("RAM/CenteredMNIST28-v0", split="val", **sensor))
    wins = 0.0
    for index in range(300):
        obs, _ = val.reset(options={"index": index})
        wins += val.step(model.predict(obs, deterministic=True)[0])[1]
    assert wins / 300 > 0.3, f"PPO got {wins / 300:.2f} of 300 validation digits right"  # 0.5 measured


def test_the_readme_stable_baselines3_example_runs(data_dir, capsys):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## Use the environments in your own agent")[1].split("\n## ")[0]
    blocks = [b for b in re.findall(r"```python\n(.*?)```", section, re.S) if "stable_baselines3" in b]
    assert len(blocks) == 1
    exec(compile(blocks[0], "README.md", "exec"), {})  # as written: its own imports, nothing from the others
    assert re.search(r"guessed \d, the digit was \d: reward [01]\.0", capsys.readouterr().out)
