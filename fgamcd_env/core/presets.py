"""Preset registry: named ``ScenarioConfig`` values (``paper``, ``llm``, ``small``).

Register more with ``register_preset``; tests are parametrised over ``PRESETS``.
"""

from __future__ import annotations

from typing import Any

from fgamcd_env.core.config import LLM_BASES, RepositoryConfig, ScenarioConfig

PRESETS: dict[str, ScenarioConfig] = {}


def register_preset(config: ScenarioConfig) -> ScenarioConfig:
    if config.name in PRESETS:
        raise ValueError(f"preset {config.name!r} is already registered")
    PRESETS[config.name] = config
    return config


def get_config(name_or_config: str | ScenarioConfig, **overrides: Any) -> ScenarioConfig:
    """A preset by name (or a config as is), with ``overrides`` applied and validated."""
    if isinstance(name_or_config, ScenarioConfig):
        base = name_or_config
    elif isinstance(name_or_config, str):
        if name_or_config not in PRESETS:
            raise ValueError(f"unknown scenario {name_or_config!r}; presets: {sorted(PRESETS)}")
        base = PRESETS[name_or_config]
    else:
        raise ValueError(
            f"scenario must be a preset name or a ScenarioConfig, got {name_or_config!r}"
        )
    return base.replace(**overrides) if overrides else base


# Table II exactly (the defaults of ScenarioConfig and RepositoryConfig).
register_preset(ScenarioConfig(name="paper"))

# Section V-E: 20 fine-tuned Llama-2 models (fp16), embeddings + first 28 / 35 decoder layers
# frozen. 8 Llama-2-7B models from 1 stage-1 model and 12 Llama-2-13B models from 4 give K = 285.
register_preset(
    ScenarioConfig(
        name="llm",
        storage_bytes=375e9,
        bandwidth_hz=4e10,
        backhaul_min_bps=3.2e12,
        backhaul_max_bps=4.8e12,
        repository=RepositoryConfig(
            kind="llm",
            bases=LLM_BASES,
            models_per_base=(8, 12),
            stage1_models=(1, 4),
            reuse_ratios=None,
            frozen_blocks=(29, 36),
            bytes_per_param=2,
        ),
    )
)

# Tiny and fast, for tests: N=3, U=6, M=4, six ResNet-18 models over 32 PBs. With 4 antennas
# users sit within 40 m of their node, so that MRT from the own nodes meets the QoS of about 80 %
# of the requested PBs, as in ``paper`` (see benchmarks/calibration.py).
register_preset(
    ScenarioConfig(
        name="small",
        num_nodes=3,
        num_users=6,
        num_antennas=4,
        user_max_distance_m=40.0,
        storage_bytes=100e6,
        repository=RepositoryConfig(
            bases=("resnet18",),
            models_per_base=(6,),
            stage1_models=(2,),
            reuse_ratios=(0.25,),
        ),
    )
)
