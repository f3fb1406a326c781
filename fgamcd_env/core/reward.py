"""What the environment pays per step: the paper's reward (12), or a shaped form for learners.

``RewardConfig()`` is (12) exactly. :data:`LEARNING_REWARD` is the form MAASN-DA and QMIX-DA
train on; every other library can train on it too (``parallel_env(..., reward=LEARNING_REWARD)``).
Each field is a named term with its weight, as the env's ``infos[agent]["shaped"]`` reports.

Why each shaping term exists (on ``paper``, N = 6, K = 450; the docs' Agents page has the
same design note):

- ``delay_weight``: in (12) a PB's delay (milliseconds) is about 1e-3 of one penalty (r1 = 10),
  below what a critic resolves, so a learner on (12) optimises penalty counts and never delay.
  At 1000, 10 ms of delay weighs one penalty.
- ``migration_weight``: at 1, a 0.2 ms migration costs 0.02 of reward and most of the learners'
  migrations changed no participation; 5 makes them pay for it.
- ``charge_all_migrations``: (12) pays 0 for a PB nobody requests, yet (8) counts its migration
  delay, so a learner on (12) migrates unrequested PBs for free.
- ``scale`` and ``clip``: rewards divided by r1 so they are O(1); a PB broadcast at a near-zero
  worst-case rate has a delay of minutes, and one such step made a critic diverge.
- ``undelivered_at_floor``: with r1 = r2 a QoS-infeasible delivery costs r1 + T(k) > r2, and
  ``delay_weight`` widens that gap, so dropping a hard PB would be a learner's best move.
- ``storage_cost``: with discount 0.95 and K = 450 the cost of filling the storage early lies
  beyond the discount horizon (caching an unrequested PB is free in (12)); without it both
  learners cached everything until storage ran out and could not deliver later PBs.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from fgamcd_env.core.system import RewardTerms


@dataclass(frozen=True)
class RewardConfig:
    """Weights of the reward terms; the defaults give the paper's reward (12)."""

    delay_weight: float = 1.0  # weight of T(k) [1/s] against the penalties r1, r2
    migration_weight: float = 1.0  # extra factor on the migration part of T(k)
    charge_all_migrations: bool = False  # also charge the migration delay of unrequested PBs
    scale: float = 1.0  # the reward is multiplied by this
    clip: float | None = None  # scaled reward clipped below at -clip (None: no clip)
    undelivered_at_floor: bool = False  # a requested PB nobody delivers gets -clip
    storage_cost: float = 0.0  # minus storage_cost * sum_n a_n(k) S(k) / C_n
    storage_cost_unrequested_only: bool = False  # only PBs nobody requests pay storage_cost

    def __post_init__(self) -> None:
        def fail(name: str, why: str) -> None:
            raise ValueError(f"RewardConfig.{name}={getattr(self, name)!r}: {why}")

        for name in ("delay_weight", "migration_weight", "scale"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                fail(name, "must be a finite number")
            if v <= 0:
                fail(name, "must be > 0")
        v = self.storage_cost
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            fail("storage_cost", "must be a finite number >= 0")
        if self.clip is not None:
            v = self.clip
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
                fail("clip", "must be None or a number > 0")
        for name in (
            "charge_all_migrations",
            "undelivered_at_floor",
            "storage_cost_unrequested_only",
        ):
            if not isinstance(getattr(self, name), bool):
                fail(name, "must be True or False")
        if self.undelivered_at_floor and self.clip is None:
            fail("undelivered_at_floor", "needs a clip (the floor is -clip)")
        for f in dataclasses.fields(self):  # 1000 and 1000.0 are one config
            if f.type == "float":
                object.__setattr__(self, f.name, float(getattr(self, f.name)))

    @property
    def is_paper(self) -> bool:
        """Whether this is the paper's reward (12) unchanged."""
        return self == _PAPER_REWARD

    def replace(self, **changes: Any) -> RewardConfig:
        """A copy with fields changed; an unknown field is a ``ValueError``."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise ValueError(f"unknown RewardConfig field(s) {unknown}; valid: {sorted(names)}")
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_value(cls, value: RewardConfig | str | dict[str, Any] | None) -> RewardConfig:
        """``"paper"`` / None, ``"learning"``, a dict of fields, or a config as is."""
        if value is None or value == "paper":
            return cls()
        if value == "learning":
            return LEARNING_REWARD
        if isinstance(value, cls):
            return value
        if isinstance(value, dict):
            return cls().replace(**value)
        raise ValueError(
            f"reward={value!r}: must be 'paper', 'learning', a dict of RewardConfig fields or a "
            "RewardConfig"
        )


#: The shaped reward MAASN-DA and QMIX-DA train on (see the module docstring for each term).
LEARNING_REWARD = RewardConfig(
    delay_weight=1000.0,
    migration_weight=5.0,
    charge_all_migrations=True,
    scale=0.1,
    clip=5.0,
    undelivered_at_floor=True,
    storage_cost=10.0,
)


@dataclass(frozen=True)
class ShapedReward:
    """The shaped reward of one step and its parts (all after weighting)."""

    reward: float  # what the agents receive
    paper_reward: float  # reward (12) of the step
    delay_term: float  # -(weighted delay + penalty) * scale, before clipping
    clipped: bool  # the floor -clip applied (clip, or an undelivered PB at the floor)
    storage_cost: float  # subtracted after clipping

    def as_dict(self) -> dict[str, float | bool]:
        return dataclasses.asdict(self)


def shaped_reward(
    cfg: RewardConfig, terms: RewardTerms, cached_fraction: float | np.ndarray
) -> ShapedReward:
    """The step's reward under ``cfg`` from its (12) ``terms`` and the storage it takes,
    ``cached_fraction`` = sum_n a_n(k) S(k) / C_n.

    With the weights w = ``delay_weight``, mw = ``migration_weight``: a requested PB pays
    -(w T_bc + w mw T_mig) - penalty, an unrequested one -w mw T_mig if
    ``charge_all_migrations`` (else 0); times ``scale``, clipped below at -``clip``; a requested
    PB nobody delivers is set to -``clip`` if ``undelivered_at_floor``; minus
    ``storage_cost * cached_fraction`` (for unrequested PBs only if
    ``storage_cost_unrequested_only``). The default config returns (12) unchanged.
    """
    req = bool(terms.requested)
    w, mw = cfg.delay_weight, cfg.migration_weight
    mig = np.float64(terms.migration_delay_s)
    # The order of the operations is part of the definition: learners trained on it reproduce
    # bit for bit.
    r = np.float64(terms.reward) - (w - 1.0) * req * np.float64(terms.delay_s)
    r = r - (mw - 1.0) * w * req * mig
    if cfg.charge_all_migrations:
        r = r - (not req) * mw * w * mig
    scaled = r * cfg.scale
    clipped = False
    if cfg.clip is not None:
        clipped = bool(scaled < -cfg.clip)
        r = np.maximum(scaled, -cfg.clip)
        if cfg.undelivered_at_floor and terms.no_delivery:
            r, clipped = np.float64(-cfg.clip), True
    else:
        r = scaled
    cost = cfg.storage_cost * np.float64(cached_fraction)
    if cfg.storage_cost_unrequested_only:
        cost = cost * (not req)
    return ShapedReward(
        reward=float(r - cost),
        paper_reward=float(terms.reward),
        delay_term=float(scaled),
        clipped=clipped,
        storage_cost=float(cost),
    )


_PAPER_REWARD = RewardConfig()
