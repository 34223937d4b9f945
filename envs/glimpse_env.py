"""Single (numpy) glimpse-classification environment, one canvas per episode."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from envs.render import render_glimpses
from envs.vector_env import GlimpseVectorEnv, glimpse_spaces


class GlimpseEnv(gym.Env):
    """Classify an MNIST canvas seen only through T multi-resolution glimpses.

    ## Description
    One MNIST digit on a ``canvas_size`` square, optionally translated and cluttered with
    ``distractors`` 8x8 crops of other digits (Mnih et al., 2014). The agent sees the canvas only
    through glimpses: ``scales`` concentric patches around a location, the first ``glimpse_size``
    pixels wide and each next twice as wide, all averaged down to ``glimpse_size`` squared.
    It runs the batched environment with one sub-environment, so both give identical episodes.

    ## Action Space
    ``Dict(loc=Box(-1, 1, (2,), float32), label=Discrete(10))``: where to look next, as (x, y) with
    (-1, -1) the top-left corner of the canvas, and a class guess. The location counts at every step
    but the last (there is no glimpse after the last one), the guess only at the last step.

    ## Observation Space
    ``Dict(glimpse=Box(0, 1, (scales, glimpse_size, glimpse_size), float32), loc=Box(-1, 1, (2,), float32))``:
    the glimpse and the location it was taken at.

    ## Rewards
    1 at the last step when the guess is the true digit, else 0.

    ## Starting State
    A new canvas (fresh for 'train', one of the fixed seeded ones for 'val' and 'test') and a first
    glimpse at the centre (``start="center"``) or at a uniformly random location (``start="random"``).

    ## Episode End
    Terminates after ``glimpses`` steps: the action of step t picks the location of glimpse t+1 and
    the guess of the last step is scored; the terminal observation repeats the last glimpse and
    ``info["label"]`` holds the true digit. No truncation.

    ## Arguments
    canvas_size, distractors, glimpse_size, scales, glimpses, split ('train', 'val', 'test'),
    dataset ('mnist', 'fashion-mnist', 'kmnist'), data_dir (their folder; else $RAM_DATA_DIR for MNIST,
    $RAM_FASHION_MNIST_DIR, $RAM_KMNIST_DIR, or the download cache), verify (False: your own IDX files,
    format-checked, no md5), val_size, train_size, canvas_seed, start, render_mode ('rgb_array': the
    canvas with the path and the glimpse boxes).
    ``reset(options={"index": i})`` picks the digit (train) or fixed canvas (val/test) to classify.
    For tensors on a device, or many episodes at once, use ``gymnasium.make_vec(id, num_envs=...)``.

    ## Version History
    * v0: initial version
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 2}

    def __init__(self, render_mode: str | None = None, **kwargs):
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        for key in ("num_envs", "backend", "device"):
            if key in kwargs:
                raise ValueError(f"GlimpseEnv is one numpy env on the CPU and takes no {key!r}: use "
                                 f"gymnasium.make_vec(id, num_envs=..., backend='torch', device=...) instead")
        self.render_mode = render_mode
        self._vec = GlimpseVectorEnv(num_envs=1, backend="torch", device="cpu", **kwargs)
        self.observation_space, self.action_space = glimpse_spaces(self._vec.retina.size, self._vec.retina.scales)

    @staticmethod
    def _first(obs: dict) -> dict:
        return {key: value[0].numpy().copy() for key, value in obs.items()}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if options and "index" in options:
            options = {**options, "indices": [options["index"]]}
        obs, _ = self._vec.reset(seed=seed, options=options)
        return self._first(obs), {}

    def step(self, action: dict):
        if self._vec._autoreset:
            raise RuntimeError("the episode is over: call reset() before step()")
        batched = {"loc": np.asarray(action["loc"], dtype=np.float32)[None], "label": np.asarray([action["label"]])}
        obs, reward, terminated, truncated, info = self._vec.step(batched)
        info = {"label": int(info["label"][0])} if "label" in info else {}
        return self._first(obs), float(reward[0]), bool(terminated[0]), bool(truncated[0]), info

    def render(self):
        if self.render_mode != "rgb_array":
            gym.logger.warn("render() needs render_mode='rgb_array', e.g. gymnasium.make(id, render_mode='rgb_array')")
            return None
        if self._vec.canvases() is None:
            return None
        canvas, locs = self._vec.canvases()[0].numpy(), self._vec.locations()[:, 0].numpy()
        return render_glimpses(canvas, locs, self._vec.retina.size, self._vec.retina.scales)

    def close(self):
        self._vec.close()
