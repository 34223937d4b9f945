"""Checks every batched glimpse env must pass, shared by the digit (test_envs) and Catch (test_catch) tests."""

import numpy as np
import torch
from gymnasium.utils.env_checker import data_equivalence


def as_numpy(x):
    """A copy of nested outputs with every tensor as a numpy array (data_equivalence knows no tensors)."""
    if isinstance(x, dict):
        return {k: as_numpy(v) for k, v in x.items()}
    if isinstance(x, (tuple, list)):
        return type(x)(as_numpy(v) for v in x)
    return x.cpu().numpy().copy() if isinstance(x, torch.Tensor) else x


def batch_of(single: list[dict]) -> dict:
    """One batched action from the single envs' actions: each key's values stacked."""
    return {key: np.stack([np.asarray(a[key]) for a in single]) for key in single[0]}


def assert_fresh_arrays(make, actions: list) -> None:
    """Scribbling over everything an env returned (and over the actions given to it) changes nothing:
    two envs made by ``make``, one scribbled over after every call, give the same outputs."""
    clean, scribbled = make(), make()

    def scribble(x):
        for value in (x.values() if isinstance(x, dict) else [x]):
            if isinstance(value, (np.ndarray, torch.Tensor)):
                value[...] = 7

    outputs = as_numpy([clean.reset(seed=1)] + [clean.step(a) for a in actions])
    obs, _ = scribbled.reset(seed=1)
    scribble(obs)
    for t, action in enumerate(actions):
        mine = {k: np.array(v, copy=True) for k, v in action.items()}
        result = scribbled.step(mine)
        scribble(mine)
        assert data_equivalence(as_numpy(result), outputs[t + 1], exact=True)
        for part in result:
            scribble(part)
    if hasattr(clean, "locations"):  # the batched envs: what render() and the trainer read back
        assert torch.equal(clean.locations(), scribbled.locations())
    if hasattr(clean, "state"):
        assert torch.equal(clean.state(), scribbled.state())
