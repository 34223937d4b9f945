"""The recipe switches: each does what its config key says, and the default keeps the earlier behaviour."""

import json
import math
from pathlib import Path

import pytest
import torch

import train
from envs.vector_env import GlimpseVectorEnv
from ram.training.checkpoint import check_compatible
from ram.training.clipping import clip_gradients
from ram.training.config import ConfigError, load_config, to_dict
from ram.models.ram import RAM
from ram.models.rollout import hybrid_loss, rollout
from ram.training.schedule import loc_std, lr_factor
from ram.training.trainer import Trainer
from tests.test_model import grads


def small_env(data_dir, num_envs=8, **kw):
    kw = {"canvas_size": 28, "distractors": 0, "glimpse_size": 8, "scales": 1, "glimpses": 3, "backend": "torch",
          "data_dir": data_dir, "train_size": 256, **kw}
    return GlimpseVectorEnv(num_envs=num_envs, **kw)


def test_repeats_put_m_rollouts_of_one_image_on_one_canvas(data_dir):
    env = small_env(data_dir, num_envs=12, canvas_size=60, distractors=4, start="random")
    env.reset(seed=0, options={"indices": torch.tensor([3, 7, 11]), "repeats": 4})
    canvases, labels, first = env.canvases(), env.labels(), env.locations()[0]
    for k in range(3):
        group = slice(4 * k, 4 * k + 4)
        assert all(torch.equal(canvases[4 * k], c) for c in canvases[group])  # the same canvas, clutter included
        assert labels[group].unique().numel() == 1
        assert first[group].unique(dim=0).shape[0] == 4  # but each rollout starts on its own
    assert not torch.equal(canvases[0], canvases[4])  # a different image in the next group
    with pytest.raises(ValueError, match="divisor of num_envs"):
        env.reset(options={"repeats": 5})


def test_a_given_first_location_is_where_the_first_glimpse_is_taken(data_dir):
    env = small_env(data_dir, num_envs=4, start="random")
    loc = torch.tensor([[0.5, -0.5], [0.0, 0.0], [-1.0, 1.0], [0.25, 0.75]])
    obs, _ = env.reset(seed=1, options={"loc": loc})
    assert torch.equal(obs["loc"], loc) and torch.equal(env.locations()[0], loc)


def reinforce_of(r):
    """Only the REINFORCE term of hybrid_loss: the total minus the other two parts."""
    loss, parts = hybrid_loss(r)
    return loss - torch.nn.functional.cross_entropy(r.logits, r.labels) - \
        torch.nn.functional.mse_loss(r.baselines, r.reward[None].expand_as(r.baselines))


@pytest.mark.parametrize("to_core", [False, True])
def test_reinforce_reaches_the_core_only_when_asked(data_dir, to_core):
    torch.manual_seed(0)
    model = RAM(glimpse_size=8, scales=1, glimpses=3, reinforce_to_core=to_core)
    env = small_env(data_dir, num_envs=32)
    env.reset(seed=0)
    r = rollout(model, env, generator=torch.Generator().manual_seed(0))
    got = grads(model, reinforce_of(r))
    assert got["location"] and not got["baseline"] and not got["action"]
    assert got["core"] == to_core and got["glimpse"] == to_core


def test_learned_start_draws_the_first_location_from_its_own_mean(data_dir):
    torch.manual_seed(0)
    model = RAM(glimpse_size=8, scales=1, glimpses=3, start="learned")
    with torch.no_grad():
        model.start_loc.copy_(torch.tensor([0.3, -0.2]))
    env = small_env(data_dir, num_envs=16)
    det = rollout(model, env, deterministic=True)
    assert torch.allclose(det.locations[0], torch.tanh(torch.tensor([0.3, -0.2])).expand(16, 2))
    r = rollout(model, env, generator=torch.Generator().manual_seed(0))
    assert r.log_probs.shape == (3, 16)  # T locations chosen by the policy, the first one included
    model.zero_grad()
    reinforce_of(r).backward()
    assert model.start_loc.grad is not None and model.start_loc.grad.abs().sum() > 0
    assert "start_loc" not in RAM(glimpse_size=8, scales=1, glimpses=3).state_dict()  # other starts: same keys


def test_a_learned_start_with_its_own_std_spreads_the_first_location_only(data_dir):
    torch.manual_seed(0)
    wide = RAM(glimpse_size=8, scales=1, glimpses=3, start="learned", start_std=0.5)
    env = small_env(data_dir, num_envs=4000)
    r = rollout(wide, env, generator=torch.Generator().manual_seed(0))
    first = torch.stack([r.locations[0], r.locations[1]])  # 2, B, 2: the learned start and the next location
    spread = (first - first.mean(1, keepdim=True)).std(1)  # 2, 2
    assert 0.4 < spread[0].min() and spread[0].max() < 0.5  # start_std (0.5, less where the canvas edge clamps)
    assert 0.13 < spread[1].min() and spread[1].max() < 0.17  # every later location: loc_std (0.15)
    det = rollout(wide, env, deterministic=True)
    assert torch.allclose(det.locations[0], torch.zeros(4000, 2))  # the deterministic start is the learned mean
    # its log-density is the wide Gaussian's: at the mean, -2 log(0.5) - log(2 pi)
    at_mean = wide.first_step(1, "cpu", deterministic=True).log_prob
    assert torch.allclose(at_mean, torch.tensor([-2 * math.log(0.5) - math.log(2 * math.pi)]))
    with pytest.raises(ConfigError, match="set model.start=learned or model.start_std=null"):
        load_config(None, ["model.start=random", "model.start_std=0.5"])
    assert load_config(None, ["model.start=learned", "model.start_std=0.5"]).model.start_std == 0.5


def test_reinforce_mean_is_the_sum_over_steps_divided_by_their_count(data_dir):
    torch.manual_seed(0)
    model = RAM(glimpse_size=8, scales=1, glimpses=4)
    env = small_env(data_dir, num_envs=16, glimpses=4)
    r = rollout(model, env, generator=torch.Generator().manual_seed(0))
    _, summed = hybrid_loss(r, reduce="sum")
    _, averaged = hybrid_loss(r, reduce="mean")
    assert torch.allclose(averaged["reinforce"] * 3, summed["reinforce"])


def test_gae_advantages_span_reinforce_and_one_step_differences():
    from ram.models.advantage import advantages

    b, reward = torch.tensor([[0.2, 0.5], [0.4, 0.1], [0.6, 0.3]]), torch.tensor([1.0, 0.0])  # L=3, B=2
    assert torch.allclose(advantages(b, reward, 1.0), reward[None] - b)  # plain REINFORCE with a baseline
    after = torch.cat([b[1:], reward[None]])
    assert torch.allclose(advantages(b, reward, 0.0), after - b)  # b_(t+1) - b_t, the reward after the last step
    delta, lam = after - b, 0.5
    by_hand = torch.stack([delta[0] + lam * delta[1] + lam**2 * delta[2], delta[1] + lam * delta[2], delta[2]])
    assert torch.allclose(advantages(b, reward, lam), by_hand)


def test_gae_lambda_sets_the_advantage_of_every_location(data_dir):
    torch.manual_seed(0)
    model = RAM(glimpse_size=8, scales=1, glimpses=4)
    env = small_env(data_dir, num_envs=16, glimpses=4)
    r = rollout(model, env, generator=torch.Generator().manual_seed(0))
    b = r.baselines.detach()  # 3, 16
    for lam, advantage in [(1.0, r.reward[None] - b), (0.0, torch.cat([b[1:], r.reward[None]]) - b)]:
        _, stats = hybrid_loss(r, gae_lambda=lam)
        assert torch.allclose(stats["reinforce"], -(advantage * r.log_probs).sum(0).mean())


def test_gae_lambda_needs_a_sampling_model():
    assert load_config(None, ["train.gae_lambda=0.5"]).train.gae_lambda == 0.5  # RAM on digits takes it
    with pytest.raises(ConfigError, match="train.gae_lambda=0.5 weighs the advantages of sampled glimpse"):
        load_config(None, ["model.name=cnn", "train.gae_lambda=0.5"])


def test_schedules_run_from_their_start_to_their_end():
    for kind in ("cosine", "linear", "exponential"):
        assert lr_factor(kind, 0.0, 0.01) == pytest.approx(1.0) and lr_factor(kind, 1.0, 0.01) == pytest.approx(0.01)
        assert 0.01 < lr_factor(kind, 0.5, 0.01) < 1
    assert lr_factor("constant", 0.7, 0.01) == lr_factor("plateau", 0.7, 0.01) == 1.0
    assert loc_std(0.2, None, 0.9) == 0.2
    assert loc_std(0.2, 0.05, 0.0) == 0.2 and loc_std(0.2, 0.05, 1.0) == pytest.approx(0.05)
    assert loc_std(0.2, 0.05, 0.5) == pytest.approx(0.125)


def test_the_sampled_policy_uses_the_annealed_std(data_dir):
    model = RAM(glimpse_size=8, scales=1, glimpses=3, loc_std=0.2)
    model.set_loc_std(0.05)
    env = small_env(data_dir, num_envs=4000, split="val")
    same = {"indices": torch.arange(4000)}
    r = rollout(model, env, generator=torch.Generator().manual_seed(0), options=same)
    det = rollout(model, env, deterministic=True, options=same)
    spread = (r.locations[1] - det.locations[1]).std().item()  # the same mean at step 1: the first glimpse is central
    assert spread == pytest.approx(0.05, rel=0.1)


def quick_cfg(data_dir, *extra):
    return load_config(None, [f"data.data_dir={data_dir}", "data.benchmark=mnist28", "data.train_size=256",
                              "data.val_size=500", "model.glimpse_size=8", "model.scales=1", "model.glimpses=2",
                              "train.batch_size=32", "logger.wandb=disabled", *extra])


def test_trainer_anneals_the_std_and_trains_m_rollouts_per_image(data_dir, tmp_path):
    cfg = quick_cfg(data_dir, "train.epochs=2", "train.rollouts=3", "model.loc_std=0.3", "model.loc_std_final=0.1",
                    "model.start=random", "eval.mc_samples=1")
    trainer = Trainer(cfg, tmp_path / "run")
    assert trainer.env.num_envs == 96 and trainer.steps_per_epoch == 8  # 32 images x 3 rollouts a step
    results = trainer.fit()
    assert results["train_episodes"] == 3 * 256 * 2 and results["rollouts"] == 3
    best = torch.load(tmp_path / "run/checkpoints/best.pt", weights_only=True)
    assert trainer.model.loc_std == pytest.approx(loc_std(0.3, 0.1, best["global_step"] / trainer.total_steps))
    trainer.set_progress()  # at the end of the run: the final std
    assert trainer.model.loc_std == pytest.approx(0.1)


def test_train_optimizer_adamw_reaches_the_trainer(data_dir, tmp_path):
    trainer = Trainer(quick_cfg(data_dir, "train.optimizer=adamw", "train.weight_decay=0.05"), tmp_path / "run")
    assert isinstance(trainer.optimizer, torch.optim.AdamW) and trainer.optimizer.defaults["weight_decay"] == 0.05
    assert type(Trainer(quick_cfg(data_dir), tmp_path / "run2").optimizer) is torch.optim.Adam


def test_plateau_drops_the_learning_rate_and_early_stop_ends_the_run(data_dir, tmp_path):
    cfg = quick_cfg(data_dir, "train.epochs=50", "train.lr_schedule=plateau", "train.lr_patience=2",
                    "train.lr_gamma=0.1", "train.early_stop=3")
    trainer = Trainer(cfg, tmp_path / "run")
    trainer.best_epoch, trainer.epoch = 4, 5
    trainer._plateau()
    assert trainer.lr_drop == 1.0 and not trainer.patience_out()
    trainer.epoch = 6
    trainer._plateau()
    assert trainer.lr_drop == pytest.approx(0.1) and trainer.last_drop_epoch == 6
    trainer.train_step(torch.arange(32))
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(cfg.train.lr * 0.1)
    trainer.epoch = 7
    trainer._plateau()
    assert trainer.lr_drop == pytest.approx(0.1)  # patience counts again from the drop
    assert trainer.patience_out()  # 3 epochs since the best


def test_early_stop_ends_a_real_run_and_says_so(data_dir, tmp_path):
    out = tmp_path / "run"
    # a learning rate of ~0 never improves on the first validation: the run stops after early_stop epochs
    assert train.main(["--out", str(out), "--data-dir", data_dir, "data.benchmark=mnist28", "data.train_size=256",
                       "data.val_size=500", "model.glimpse_size=8", "model.scales=1", "model.glimpses=2",
                       "train.batch_size=32", "train.epochs=20", "train.lr=1e-12", "train.lr_min=1e-12",
                       "train.early_stop=2", "eval.mc_samples=1", "logger.wandb=disabled"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["stopped_early"] and results["epochs"] < 20


def test_checkpoints_from_before_the_switches_stay_compatible(data_dir):
    cfg = quick_cfg(data_dir)
    old = to_dict(cfg)
    for key in ("loc_std_final", "reinforce_to_core"):
        del old["model"][key]
    for key in ("lr_schedule", "rollouts", "reinforce_reduce", "early_stop"):
        del old["train"][key]
    check_compatible({"config": old}, cfg, purpose="resume")  # the missing keys mean their defaults
    with pytest.raises(Exception, match="train.rollouts"):
        check_compatible({"config": old}, quick_cfg(data_dir, "train.rollouts=2"), purpose="resume")


@pytest.mark.parametrize("override,message", [
    ("model.start=somewhere", "model.start='somewhere' is not one of center, random, learned"),
    ("train.rollouts=0", "train.rollouts=0 must be greater than 0"),
    ("model.loc_std_final=-1", "model.loc_std_final=-1.0 must be greater than 0"),
    ("train.lr_gamma=2", "train.lr_gamma=2.0 must be below 1"),
    ("train.lr_schedule=fast", "train.lr_schedule='fast' is not one of"),
])
def test_bad_recipe_values_are_one_line_errors(override, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config(None, [override])


def test_rollouts_need_a_glimpse_model():
    with pytest.raises(ConfigError, match="train.rollouts=2 samples glimpse paths"):
        load_config(None, ["model.name=cnn", "train.rollouts=2"])


def test_random_policy_looks_anywhere_and_learns_nothing_from_where(data_dir):
    torch.manual_seed(0)
    model = RAM(glimpse_size=8, scales=1, glimpses=4, start="random", policy="random")
    env = small_env(data_dir, num_envs=2000, glimpses=4, split="val", start="random")
    same = {"indices": torch.arange(2000)}
    a = rollout(model, env, deterministic=True, generator=torch.Generator().manual_seed(0), options=same)
    later = a.locations[1:].reshape(-1, 2)  # the locations the policy chose
    assert later.min() > -1 and later.max() < 1 and later.std(0).min() > 0.5  # uniform on [-1, 1]: std 0.577
    assert not torch.allclose(a.locations[1], torch.tanh(model.location_net(torch.zeros(1, 256))).expand(2000, 2))
    model.zero_grad()
    loss, parts = hybrid_loss(a)
    loss.backward()
    assert model.location_net.weight.grad is None and parts["reinforce"] == 0
    assert model.action_net.weight.grad is not None  # the classifier still learns from what it saw


def test_random_policy_needs_a_random_start():
    with pytest.raises(ConfigError, match="set model.start=random too"):
        load_config(None, ["model.policy=random"])
    assert load_config(None, ["model.policy=random", "model.start=random"]).model.policy == "random"


def test_gradient_parts_split_ram_by_the_loss_that_trains_each_parameter():
    model = RAM(glimpse_size=8, scales=1, glimpses=3, start="learned")
    parts = model.gradient_parts()
    ids = [id(p) for params in parts.values() for p in params]
    assert sorted(ids) == sorted(id(p) for p in model.parameters())  # each parameter in exactly one part
    assert {id(p) for p in parts["policy"]} == {id(p) for p in [*model.location_net.parameters(), model.start_loc]}
    assert {id(p) for p in parts["baseline"]} == {id(p) for p in model.baseline_net.parameters()}


def part_norms(model):
    return {name: torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params])).item()
            for name, params in model.gradient_parts().items()}


@pytest.mark.parametrize("by_parts", [False, True])
def test_clipping_by_parts_leaves_the_classifier_step_to_its_own_norm(data_dir, by_parts):
    torch.manual_seed(0)
    model = RAM(glimpse_size=8, scales=1, glimpses=3)
    env = small_env(data_dir, num_envs=32)
    env.reset(seed=0)
    loss, _ = hybrid_loss(rollout(model, env, generator=torch.Generator().manual_seed(0)))
    loss.backward()
    for p in model.gradient_parts()["policy"]:
        p.grad *= 1000  # a policy gradient far noisier than the classifier's, as in a trained model
    before = part_norms(model)
    max_norm = 2 * before["classifier"]
    assert before["policy"] > 10 * max_norm
    total = clip_gradients(model, max_norm, by_parts)
    after = part_norms(model)
    assert total.item() == pytest.approx(sum(n * n for n in before.values()) ** 0.5, rel=1e-4)
    assert after["policy"] == pytest.approx(max_norm, rel=1e-3)  # clipped either way
    if by_parts:  # the classifier's step is its own: under the threshold, untouched
        assert after["classifier"] == pytest.approx(before["classifier"], rel=1e-5)
    else:  # one norm over everything: the policy's noise shrinks the classifier's step too
        assert after["classifier"] < 0.1 * before["classifier"]


def test_trainer_clips_each_part_when_asked(data_dir, tmp_path):
    for by_parts in (False, True):
        cfg = quick_cfg(data_dir, "train.grad_clip=0.001", f"train.grad_clip_parts={str(by_parts).lower()}")
        trainer = Trainer(cfg, tmp_path / f"run{by_parts}")
        trainer.train_step(torch.arange(32))
        norms = part_norms(trainer.model)  # the gradients the step was taken with
        assert all(n == pytest.approx(0.001, rel=0.01) for n in norms.values()) == by_parts
        assert sum(n * n for n in norms.values()) ** 0.5 <= 0.001 * (1.01 if not by_parts else 3 ** 0.5 * 1.01)


@pytest.mark.parametrize("default, row", [("cluttered60", "cluttered60_ram8"), ("mnist28", "mnist28_ram7"),
                                          ("translated60", "translated60_ram8"), ("cluttered100", "cluttered100_ram8")])
def test_a_default_config_resolves_to_the_paper_row_whose_measured_run_it_quotes(default, row):
    """configs/DEFAULT.yaml quotes the test error of a run of configs/paper/ROW.yaml (its comment, the README):
    the two files must not drift apart."""
    configs = Path(__file__).resolve().parents[1] / "configs"
    ours = to_dict(load_config(configs / f"{default}.yaml"))
    paper = to_dict(load_config(configs / "paper" / f"{row}.yaml"))
    assert ours == paper, {k: (ours[k], paper[k]) for k in ours if ours[k] != paper[k]}
