"""Scenario configuration: frozen dataclasses with units, validated on construction.

Every Table II quantity of the paper has a field here (units in the name or the comment).
``ScenarioConfig.replace(**overrides)`` is the one way to change a field: an unknown key or a
bad value raises ``ValueError`` naming the field.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Literal

from fgamcd_env.core.units import db_to_linear, dbm_to_watt

CNN_BASES: tuple[str, ...] = ("inception_v3", "resnet18", "mobilenet_v2")
LLM_BASES: tuple[str, ...] = ("llama2_7b", "llama2_13b")
BASES_BY_KIND: dict[str, tuple[str, ...]] = {"cnn": CNN_BASES, "llm": LLM_BASES}


def _fail(owner: str, name: str, value: Any, why: str) -> None:
    raise ValueError(f"{owner}.{name}={value!r}: {why}")


def _freeze_lists(obj: Any) -> None:
    """Lists -> tuples in a frozen config's fields: JSON (``--set``, config files) gives lists,
    and a config must hash (repositories are cached by their config)."""
    for f in dataclasses.fields(obj):
        val = getattr(obj, f.name)
        if isinstance(val, list):
            object.__setattr__(obj, f.name, tuple(val))


def _replace(obj: Any, overrides: dict[str, Any]) -> Any:
    """``dataclasses.replace`` that names unknown keys instead of a TypeError."""
    names = {f.name for f in dataclasses.fields(obj)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ValueError(
            f"unknown {type(obj).__name__} field(s) {unknown}; valid fields: {sorted(names)}"
        )
    return dataclasses.replace(obj, **overrides)


@dataclass(frozen=True)
class RepositoryConfig:
    """How the AI-model repository is built from base architectures (paper section V-A).

    Each base model is fine-tuned into ``models_per_base[i]`` task models in two stages:
    ``stage1_models[i]`` of them fine-tune every parameter (all their PBs are unique); each
    remaining (stage-2) model starts from one stage-1 model, freezes its bottom blocks and
    fine-tunes the rest, so it shares the frozen bottom PBs with that parent.
    The number of frozen bottom blocks is either given (``frozen_blocks``) or chosen as the
    block prefix whose parameter share is closest to ``reuse_ratios`` (the paper's knob).
    """

    kind: Literal["cnn", "llm"] = "cnn"
    bases: tuple[str, ...] = CNN_BASES
    models_per_base: tuple[int, ...] = (20, 20, 20)
    stage1_models: tuple[int, ...] = (6, 6, 6)
    # Target share of a stage-2 model's parameters that are frozen (reused), per base, in [0, 1).
    reuse_ratios: tuple[float, ...] | None = (0.3341, 0.25, 0.45)
    # Alternative to reuse_ratios: number of frozen bottom blocks per base.
    frozen_blocks: tuple[int, ...] | None = None
    num_classes: int = 5  # classes of each fine-tuned CNN head (a CIFAR-100 superclass)
    bytes_per_param: int = 4  # float32 for CNNs, 2 (fp16) for LLMs

    def __post_init__(self) -> None:
        _freeze_lists(self)
        own = "RepositoryConfig"
        if self.kind not in BASES_BY_KIND:
            _fail(own, "kind", self.kind, f"must be one of {sorted(BASES_BY_KIND)}")
        allowed = BASES_BY_KIND[self.kind]
        if not self.bases:
            _fail(own, "bases", self.bases, "needs at least one base model")
        for b in self.bases:
            if b not in allowed:
                _fail(own, "bases", self.bases, f"{b!r} is not a {self.kind} base {allowed}")
        if len(set(self.bases)) != len(self.bases):
            _fail(own, "bases", self.bases, "duplicates")
        n = len(self.bases)
        for name in ("models_per_base", "stage1_models"):
            val = getattr(self, name)
            if len(val) != n or any(int(v) != v for v in val):
                _fail(own, name, val, f"needs {n} integers, one per base")
        for i, (m, s) in enumerate(zip(self.models_per_base, self.stage1_models, strict=True)):
            if m < 1:
                _fail(own, "models_per_base", self.models_per_base, "each must be >= 1")
            if not 1 <= s <= m:
                _fail(
                    own,
                    "stage1_models",
                    self.stage1_models,
                    f"base {self.bases[i]!r}: need 1 <= stage1 <= models ({m})",
                )
        if (self.reuse_ratios is None) == (self.frozen_blocks is None):
            _fail(
                own,
                "reuse_ratios",
                self.reuse_ratios,
                "set exactly one of reuse_ratios and frozen_blocks",
            )
        if self.reuse_ratios is not None:
            if len(self.reuse_ratios) != n or any(not 0.0 <= r < 1.0 for r in self.reuse_ratios):
                _fail(own, "reuse_ratios", self.reuse_ratios, f"needs {n} values in [0, 1)")
        if self.frozen_blocks is not None:
            if len(self.frozen_blocks) != n or any(
                int(v) != v or v < 0 for v in self.frozen_blocks
            ):
                _fail(own, "frozen_blocks", self.frozen_blocks, f"needs {n} integers >= 0")
        if self.num_classes < 2:
            _fail(own, "num_classes", self.num_classes, "must be >= 2")
        if self.bytes_per_param not in (1, 2, 4, 8):
            _fail(own, "bytes_per_param", self.bytes_per_param, "must be 1, 2, 4 or 8")

    @property
    def num_models(self) -> int:
        """J, the number of models in the repository."""
        return int(sum(self.models_per_base))

    def replace(self, **overrides: Any) -> RepositoryConfig:
        return _replace(self, overrides)


@dataclass(frozen=True)
class ScenarioConfig:
    """Every parameter of one FGAMCD scenario (paper Table II and section V-A), with units."""

    name: str = "custom"
    # Geometry
    area_side_m: float = 1000.0  # square area side [m]
    num_nodes: int = 6  # N edge nodes
    num_users: int = 30  # U users
    num_antennas: int = 20  # M antennas per node
    node_min_separation_m: float = 250.0  # nodes are drawn with at least this spacing [m]
    user_min_distance_m: float = 10.0  # users lie in an annulus around their own node [m]
    user_max_distance_m: float = 80.0  # see the calibration report in the README [m]
    visibility_radius_m: float = 500.0  # varpi_{n,m} = 1 within this distance [m]
    # Storage and requests
    storage_bytes: float = 1.25e9  # C_n [bytes]
    zipf_exponent: float = 0.5  # iota
    qos_min_bps: float = 5e9  # Q_u ~ U[qos_min, qos_max] [bit/s]
    qos_max_bps: float = 7e9
    # Radio
    ref_gain_db: float = -30.0  # upsilon, channel gain at 1 m [dB]
    pathloss_exponent: float = 3.0  # alpha
    rician_factor: float = 3.0  # K-factor of the small-scale fading (linear)
    noise_dbm: float = -80.0  # sigma_u^2 [dBm]
    p_max_dbm: float = 43.0  # P_max per node [dBm]
    bandwidth_hz: float = 400e6  # B [Hz]
    csi_error_shape: float = 1e10  # C_{n,u} = c * I_M [1/(channel amplitude)^2]
    # Backhaul
    backhaul_min_bps: float = 8e9  # R^bac ~ U[min, max] per (n, m, k) [bit/s]
    backhaul_max_bps: float = 12e9
    # Reward penalties (12)
    penalty_qos: float = 10.0  # r1
    penalty_no_delivery: float = 10.0  # r2
    repository: RepositoryConfig = field(default_factory=RepositoryConfig)

    def __post_init__(self) -> None:
        _freeze_lists(self)
        own = "ScenarioConfig"
        for name in ("num_nodes", "num_users", "num_antennas"):
            val = getattr(self, name)
            if isinstance(val, bool) or not isinstance(val, int) or val < 1:
                _fail(own, name, val, "must be a positive integer")
        positive = (
            "area_side_m",
            "storage_bytes",
            "qos_min_bps",
            "qos_max_bps",
            "bandwidth_hz",
            "csi_error_shape",
            "backhaul_min_bps",
            "backhaul_max_bps",
            "user_max_distance_m",
            "pathloss_exponent",
            "visibility_radius_m",
        )
        non_negative = (
            "node_min_separation_m",
            "user_min_distance_m",
            "zipf_exponent",
            "rician_factor",
            "penalty_qos",
            "penalty_no_delivery",
        )
        finite = ("ref_gain_db", "noise_dbm", "p_max_dbm")
        for name in (*positive, *non_negative, *finite):
            val = getattr(self, name)
            if isinstance(val, bool) or not isinstance(val, (int, float)) or not math.isfinite(val):
                _fail(own, name, val, "must be a finite number")
        for name in positive:
            if getattr(self, name) <= 0:
                _fail(own, name, getattr(self, name), "must be > 0")
        for name in non_negative:
            if getattr(self, name) < 0:
                _fail(own, name, getattr(self, name), "must be >= 0")
        if self.qos_min_bps > self.qos_max_bps:
            _fail(own, "qos_min_bps", self.qos_min_bps, "must be <= qos_max_bps")
        if self.backhaul_min_bps > self.backhaul_max_bps:
            _fail(own, "backhaul_min_bps", self.backhaul_min_bps, "must be <= backhaul_max_bps")
        if self.user_min_distance_m >= self.user_max_distance_m:
            _fail(
                own,
                "user_min_distance_m",
                self.user_min_distance_m,
                "must be < user_max_distance_m",
            )
        if 2 * self.user_max_distance_m >= self.area_side_m:
            _fail(
                own,
                "user_max_distance_m",
                self.user_max_distance_m,
                "cells must fit inside the area (2 * radius < area_side_m)",
            )
        if not isinstance(self.repository, RepositoryConfig):
            _fail(own, "repository", self.repository, "must be a RepositoryConfig")

    # Derived values are properties, never stored (so overrides cannot make them stale).
    @property
    def noise_w(self) -> float:
        return dbm_to_watt(self.noise_dbm)

    @property
    def p_max_w(self) -> float:
        return dbm_to_watt(self.p_max_dbm)

    @property
    def ref_gain(self) -> float:
        return db_to_linear(self.ref_gain_db)

    @property
    def users_per_node(self) -> int:
        """Slots per node in the observation: ceil(U / N) (padded when U % N != 0)."""
        return -(-self.num_users // self.num_nodes)

    def replace(self, **overrides: Any) -> ScenarioConfig:
        """A copy with fields changed; ``repository`` accepts a dict of its own overrides."""
        repo = overrides.get("repository")
        if isinstance(repo, dict):
            overrides = {**overrides, "repository": self.repository.replace(**repo)}
        return _replace(self, overrides)
