"""fgamcd-env: fine-grained AI model caching and downloading with robust CoMP broadcasting.

>>> import fgamcd_env
>>> sc = fgamcd_env.make_scenario("paper", seed=0)
>>> sc.num_pbs, sc.num_models, sc.channels.shape
(450, 60, (450, 6, 30, 20))
"""

from __future__ import annotations

from typing import Any

from fgamcd_env.core.config import RepositoryConfig, ScenarioConfig
from fgamcd_env.core.presets import PRESETS, get_config, register_preset
from fgamcd_env.core.repository import Repository, build_repository
from fgamcd_env.core.scenario import Scenario, SeedLike, make_instance
from fgamcd_env.env import FGAMCDParallelEnv, env, parallel_env, raw_env

__all__ = [
    "PRESETS",
    "FGAMCDParallelEnv",
    "Repository",
    "RepositoryConfig",
    "Scenario",
    "ScenarioConfig",
    "build_repository",
    "env",
    "get_config",
    "make_scenario",
    "parallel_env",
    "raw_env",
    "register_preset",
]
__version__ = "0.1.0"


def make_scenario(
    name_or_config: str | ScenarioConfig = "paper", seed: SeedLike = None, **overrides: Any
) -> Scenario:
    """Draw an immutable problem instance from a preset name or config, with overrides.

    ``seed`` is an int (same seed, same instance), a ``np.random.Generator`` or None.
    Unknown override keys and bad values raise ``ValueError`` naming the field.
    """
    return make_instance(get_config(name_or_config, **overrides), seed)


def _register() -> None:
    """``fgamcd/FGAMCD-v0`` in PettingZoo's registries (PettingZoo >= 1.27 has them) and the
    centralised single-agent view ``fgamcd/FGAMCD-Centralised-v0`` in Gymnasium's."""
    import gymnasium

    if "fgamcd/FGAMCD-Centralised-v0" not in gymnasium.registry:
        gymnasium.register(
            "fgamcd/FGAMCD-Centralised-v0", entry_point="fgamcd_env.wrappers:CentralisedEnv"
        )
    try:
        from pettingzoo import register
        from pettingzoo.env_registry.registration import aec_registry, parallel_registry
    except ImportError:
        return
    if "fgamcd/FGAMCD-v0" not in parallel_registry:
        register("parallel", "fgamcd/FGAMCD-v0", entry_point="fgamcd_env.fgamcd_v0:parallel_env")
    if "fgamcd/FGAMCD-v0" not in aec_registry:
        register("aec", "fgamcd/FGAMCD-v0", entry_point="fgamcd_env.fgamcd_v0:env")


_register()
