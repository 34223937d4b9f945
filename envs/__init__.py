"""The world: MNIST data, translated and cluttered canvases, the glimpse sensor, Gymnasium environments.

Importing ``envs`` registers one environment id per benchmark of Mnih et al. (2014)::

    env = gymnasium.make("RAM/ClutteredMNIST60-v0")
    envs = gymnasium.make_vec("RAM/ClutteredMNIST60-v0", num_envs=128)  # natively batched

and ``RAM/Catch-v0``, the paper's dynamic environment (Section 4.2), with the paper's screen and retina.
"""

from gymnasium.envs.registration import register, registry

from envs.canvas import BENCHMARKS
from envs.catch import CatchEnv, CatchVectorEnv
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

# The paper's Catch: a 24x24 screen, a 2-pixel paddle, a 6x6 retina at 3 scales.
CATCH_ID = "RAM/Catch-v0"
CATCH_KWARGS = dict(screen_size=24, paddle_width=2, ball_speed=1, glimpse_size=6, scales=3)
if CATCH_ID not in registry:
    register(id=CATCH_ID, entry_point="envs.catch:CatchEnv", vector_entry_point="envs.catch:CatchVectorEnv",
             kwargs=CATCH_KWARGS)

__all__ = ["BENCHMARKS", "CATCH_ID", "ENV_IDS", "CatchEnv", "CatchVectorEnv", "GlimpseEnv", "GlimpseVectorEnv",
           "Retina"]
