"""The world: MNIST data, translated and cluttered canvases, the glimpse sensor, Gymnasium environments.

Importing ``envs`` registers one environment id per benchmark of Mnih et al. (2014)::

    env = gymnasium.make("RAM/ClutteredMNIST60-v0")
    envs = gymnasium.make_vec("RAM/ClutteredMNIST60-v0", num_envs=128)  # natively batched
"""

from gymnasium.envs.registration import register, registry

from envs.canvas import BENCHMARKS
from envs.glimpse_env import GlimpseEnv
from envs.retina import Retina
from envs.vector_env import GlimpseVectorEnv

# benchmark -> (id, kwargs). Sensor settings are the paper's for each benchmark.
ENV_IDS = {
    "mnist28": ("RAM/CenteredMNIST28-v0", dict(BENCHMARKS["mnist28"], glimpse_size=8, scales=1, glimpses=7)),
    "translated60": ("RAM/TranslatedMNIST60-v0", dict(BENCHMARKS["translated60"], glimpse_size=12, scales=3, glimpses=8)),
    "cluttered60": ("RAM/ClutteredMNIST60-v0", dict(BENCHMARKS["cluttered60"], glimpse_size=12, scales=3, glimpses=8)),
    "cluttered100": ("RAM/ClutteredMNIST100-v0", dict(BENCHMARKS["cluttered100"], glimpse_size=12, scales=4, glimpses=8)),
}

for _env_id, _kwargs in ENV_IDS.values():
    if _env_id not in registry:
        register(id=_env_id, entry_point="envs.glimpse_env:GlimpseEnv",
                 vector_entry_point="envs.vector_env:GlimpseVectorEnv", kwargs=_kwargs)

__all__ = ["BENCHMARKS", "ENV_IDS", "GlimpseEnv", "GlimpseVectorEnv", "Retina"]
