"""fgamcd-env: fine-grained AI model caching and downloading with robust CoMP broadcasting.

>>> import fgamcd_env
>>> sc = fgamcd_env.make_scenario("paper", seed=0)
>>> sc.num_pbs, sc.num_models, sc.channels.shape
(450, 60, (450, 6, 30, 20))
"""

from __future__ import annotations

from typing import Any

from fgamcd_env.core.config import LearningConfig, RepositoryConfig, ScenarioConfig
from fgamcd_env.core.presets import PRESETS, get_config, register_preset
from fgamcd_env.core.repository import Repository, build_repository
from fgamcd_env.core.scenario import Scenario, SeedLike, make_instance

__all__ = [
    "PRESETS",
    "LearningConfig",
    "Repository",
    "RepositoryConfig",
    "Scenario",
    "ScenarioConfig",
    "build_repository",
    "get_config",
    "make_scenario",
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
