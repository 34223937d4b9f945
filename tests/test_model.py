"""The hybrid loss routes each gradient to the right network."""

import pytest
import torch

from envs.vector_env import GlimpseVectorEnv
from ram.models.ram import RAM
from ram.models.rollout import hybrid_loss, rollout


@pytest.fixture(scope="module")
def batch(data_dir):
    torch.manual_seed(0)
    model = RAM(glimpse_size=12, scales=3, glimpses=4)
    env = GlimpseVectorEnv(num_envs=32, glimpses=4, backend="torch", data_dir=data_dir, train_size=512)
    env.reset(seed=0)
    r = rollout(model, env, generator=torch.Generator().manual_seed(0))
    return model, r


def grads(model, loss) -> dict[str, bool]:
    """Which sub-networks received a non-zero gradient from loss."""
    model.zero_grad(set_to_none=True)
    loss.backward(retain_graph=True)
    return {name: any(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())
            for name, net in (("glimpse", model.glimpse_net), ("core", model.core), ("location", model.location_net),
                              ("baseline", model.baseline_net), ("action", model.action_net))}


def test_cross_entropy_never_reaches_the_location_network(batch):
    model, r = batch
    _, parts = hybrid_loss(r)
    ce = torch.nn.functional.cross_entropy(r.logits, r.labels)
    assert grads(model, ce) == {"glimpse": True, "core": True, "location": False, "baseline": False, "action": True}


def test_reinforce_trains_only_the_location_network(batch):
    model, r = batch
    returns = r.reward[None].expand_as(r.baselines)
    reinforce = -((returns - r.baselines).detach() * r.log_probs).sum(0).mean()
    assert grads(model, reinforce) == {"glimpse": False, "core": False, "location": True, "baseline": False, "action": False}


def test_baseline_error_trains_only_the_baseline_network(batch):
    model, r = batch
    mse = torch.nn.functional.mse_loss(r.baselines, r.reward[None].expand_as(r.baselines))
    assert grads(model, mse) == {"glimpse": False, "core": False, "location": False, "baseline": True, "action": False}


def test_hybrid_loss_is_the_sum_of_its_parts(batch):
    _, r = batch
    loss, parts = hybrid_loss(r, reinforce_weight=0.5)
    assert torch.allclose(loss, parts["ce"] + 0.5 * parts["reinforce"] + parts["baseline"])
    assert r.log_probs.shape == (3, 32) and r.locations.shape == (4, 32, 2)
    assert set(r.reward.unique().tolist()) <= {0.0, 1.0}


def test_deterministic_policy_follows_the_mean(data_dir):
    model = RAM(glimpse_size=12, scales=3, glimpses=3)
    env = GlimpseVectorEnv(num_envs=8, glimpses=3, backend="torch", split="val", data_dir=data_dir)
    options = {"indices": torch.arange(8)}
    a = rollout(model, env, deterministic=True, options=options)
    b = rollout(model, env, deterministic=True, options=options)
    assert torch.equal(a.locations, b.locations) and torch.equal(a.logits, b.logits)


def test_lstm_core_runs(data_dir):
    model = RAM(glimpse_size=8, scales=1, glimpses=3, core="lstm")
    env = GlimpseVectorEnv(num_envs=4, canvas_size=28, distractors=0, glimpse_size=8, scales=1, glimpses=3,
                           backend="torch", data_dir=data_dir, train_size=64)
    loss, _ = hybrid_loss(rollout(model, env))
    loss.backward()
    assert model.core.cell.weight_hh.grad is not None
