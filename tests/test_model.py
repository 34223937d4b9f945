"""The hybrid loss routes each gradient to the right network, and the deterministic policy follows its mean."""

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


NETS = ("glimpse", "core", "location", "baseline", "action")


def nets(model) -> dict:
    return {"glimpse": model.glimpse_net, "core": model.core, "location": model.location_net,
            "baseline": model.baseline_net, "action": model.action_net}


def grads(model, loss) -> dict[str, bool]:
    """Which sub-networks received a non-zero gradient from loss."""
    model.zero_grad(set_to_none=True)
    loss.backward(retain_graph=True)
    return {name: any(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())
            for name, net in nets(model).items()}


def gradients(model, loss) -> dict[str, torch.Tensor]:
    """Each sub-network's whole gradient from loss, flattened (zeros where none arrived)."""
    model.zero_grad(set_to_none=True)
    loss.backward(retain_graph=True)
    return {name: torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).flatten()
                             for p in net.parameters()]) for name, net in nets(model).items()}


def test_cross_entropy_never_reaches_the_location_network(batch):
    """The sampled location carries no gradient: the classifier cannot steer the policy."""
    model, r = batch
    ce = torch.nn.functional.cross_entropy(r.logits, r.labels)
    assert grads(model, ce) == {"glimpse": True, "core": True, "location": False, "baseline": False, "action": True}


def test_reinforce_in_the_hybrid_loss_moves_only_the_location_network(batch):
    """With the REINFORCE weight at 0 and at 1 every other network gets the very same gradient: the
    advantage is detached (the baseline net learns from its squared error only) and the location net
    reads a detached state (REINFORCE does not reach the core or the glimpse net)."""
    model, r = batch
    without = gradients(model, hybrid_loss(r, reinforce_weight=0.0)[0])
    with_ = gradients(model, hybrid_loss(r, reinforce_weight=1.0)[0])
    for name in ("glimpse", "core", "baseline", "action"):
        torch.testing.assert_close(with_[name], without[name], rtol=0, atol=0, msg=f"REINFORCE reached the {name} net")
    assert without["location"].abs().sum() == 0 and with_["location"].abs().sum() > 0


def test_the_baselines_squared_error_in_the_hybrid_loss_trains_only_the_baseline_network(batch):
    """Without REINFORCE the hybrid loss is the cross-entropy plus the baseline's error; the trunk gets
    exactly the cross-entropy's gradient, so the baseline net reads a detached state."""
    model, r = batch
    hybrid = gradients(model, hybrid_loss(r, reinforce_weight=0.0)[0])
    ce = gradients(model, torch.nn.functional.cross_entropy(r.logits, r.labels))
    for name in ("glimpse", "core", "action"):
        torch.testing.assert_close(hybrid[name], ce[name], msg=f"the baseline error reached the {name} net")
    assert ce["baseline"].abs().sum() == 0 and hybrid["baseline"].abs().sum() > 0


def test_hybrid_loss_is_the_sum_of_its_parts(batch):
    _, r = batch
    loss, parts = hybrid_loss(r, reinforce_weight=0.5)
    assert torch.allclose(loss, parts["ce"] + 0.5 * parts["reinforce"] + parts["baseline"])
    assert r.log_probs.shape == (3, 32) and r.locations.shape == (4, 32, 2)
    assert set(r.reward.unique().tolist()) <= {0.0, 1.0}


def test_deterministic_policy_looks_where_the_mean_points(data_dir):
    torch.manual_seed(0)
    model = RAM(glimpse_size=12, scales=3, glimpses=3)
    env = GlimpseVectorEnv(num_envs=8, glimpses=3, backend="torch", split="val", data_dir=data_dir)
    options = {"indices": torch.arange(8)}
    means, step = [], model.step

    def spy(*args, **kwargs):  # the policy's mean at every step, as the model computed it
        out = step(*args, **kwargs)
        means.append(out.mean)
        return out

    model.step = spy
    r = rollout(model, env, deterministic=True, options=options)
    assert torch.equal(r.locations[1:], torch.stack(means[:-1]))  # glimpse t+1 is taken at mean t
    means.clear()
    sampled = rollout(model, env, generator=torch.Generator().manual_seed(0), options=options)
    assert not torch.equal(sampled.locations[1:], torch.stack(means[:-1]))  # a sampled one is not


def test_lstm_core_runs(data_dir):
    model = RAM(glimpse_size=8, scales=1, glimpses=3, core="lstm")
    env = GlimpseVectorEnv(num_envs=4, canvas_size=28, distractors=0, glimpse_size=8, scales=1, glimpses=3,
                           backend="torch", data_dir=data_dir, train_size=64)
    loss, _ = hybrid_loss(rollout(model, env))
    loss.backward()
    assert model.core.cell.weight_hh.grad is not None
