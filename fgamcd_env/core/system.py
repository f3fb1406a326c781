"""Decisions, delays and reward for one PB (one environment step): eqs. (1)-(3), (7), (8), (12).

All functions are pure: numpy arrays in, numpy arrays or small frozen records out.
Shapes: ``cache`` (N,) a_n(k); ``migrate`` (N, N) b_{n,m}(k) (row n sends to column m).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields

import numpy as np


@dataclass(frozen=True)
class Decision:
    """What the agents asked for and what the forcing rules of section 2 let through."""

    cache: np.ndarray  # (N,) bool, applied a_n(k)
    migrate: np.ndarray  # (N, N) bool, applied b_{n,m}(k), zero diagonal
    cache_forced_off: np.ndarray  # (N,) bool: asked to cache but C~_n(k) < S(k)
    migrate_forced_off: np.ndarray  # (N, N) bool: asked to migrate but not cached (2), or n == m


@functools.cache
def off_diagonal(n: int) -> np.ndarray:
    """(N, N) bool, True where m != n (cached, read-only): the pairs a migration can link."""
    out = ~np.eye(n, dtype=bool)
    out.setflags(write=False)
    return out


def apply_forcing(
    cache_asked: np.ndarray,
    migrate_asked: np.ndarray,
    remaining_bytes: np.ndarray,
    size_bytes: float,
) -> Decision:
    """Storage (1): no caching when C~_n(k) < S(k). Migration (2): only from a node that caches."""
    cache_asked = np.asarray(cache_asked, dtype=bool)
    migrate_asked = np.asarray(migrate_asked, dtype=bool)
    fits = np.asarray(remaining_bytes) >= size_bytes
    cache = cache_asked & fits
    allowed = cache[:, None] & off_diagonal(cache.shape[0])
    migrate = migrate_asked & allowed
    return Decision(cache, migrate, cache_asked & ~fits, migrate_asked & ~allowed)


def participation(cache: np.ndarray, migrate: np.ndarray) -> np.ndarray:
    """(3): lambda_n = min(a_n + sum_{m != n} b_{m,n}, 1), as a bool array."""
    migrate = np.asarray(migrate, dtype=bool) & off_diagonal(len(cache))
    return np.asarray(cache, dtype=bool) | migrate.any(axis=0)


def redundant_migrations(cache: np.ndarray, migrate: np.ndarray) -> int:
    """Migrations that change no lambda_n of (3) but still cost delay in (7): every b_{n,m} into
    a node m that caches the PB itself, and all but one of the b_{n,m} into any other node."""
    into = (np.asarray(migrate, dtype=bool) & off_diagonal(len(cache))).sum(axis=0)
    cache = np.asarray(cache, dtype=bool)
    return int(np.where(cache, into, np.maximum(into - 1, 0)).sum())


def prune_migrations(
    cache: np.ndarray, migrate: np.ndarray, backhaul_bps: np.ndarray
) -> np.ndarray:
    """b(k) without its redundant migrations (:func:`redundant_migrations`): none into a node
    that caches the PB, and into any other node only from the sender with the fastest link
    R^bac_{n,m} (the lowest n on ties). lambda of (3) is unchanged, so the broadcast is too,
    and the migration delay of (7) can only fall."""
    cache = np.asarray(cache, dtype=bool)
    mig = np.asarray(migrate, dtype=bool) & off_diagonal(len(cache))
    out = np.zeros_like(mig)
    for m in np.flatnonzero(mig.any(axis=0) & ~cache):
        senders = np.flatnonzero(mig[:, m])
        out[senders[np.argmax(np.asarray(backhaul_bps)[senders, m])], m] = True
    return out


def remaining_capacity(
    remaining_bytes: np.ndarray, cache: np.ndarray, size_bytes: float
) -> np.ndarray:
    """C~_n(k+1) = max(C~_n(k) - a_n(k) S(k), 0)."""
    return np.maximum(np.asarray(remaining_bytes) - np.asarray(cache) * size_bytes, 0.0)


def migration_delay_s(migrate: np.ndarray, size_bytes: float, backhaul_bps: np.ndarray) -> float:
    """First term of (7): sum_n sum_{m != n} b_{n,m} S / R^bac_{n,m} [s]."""
    migrate = np.asarray(migrate, dtype=bool) & off_diagonal(len(migrate))
    if not migrate.any():
        return 0.0
    return float(np.sum(8.0 * size_bytes / backhaul_bps[migrate]))


def broadcast_delay_s(size_bytes: float, rates_bps: np.ndarray, requesting: np.ndarray) -> float:
    """Second term of (7): max over requesting users of S / R_u [s]; +inf if some R_u is 0."""
    requesting = np.asarray(requesting, dtype=bool)
    if not requesting.any():
        return 0.0
    r = np.asarray(rates_bps)[requesting]
    if np.any(r <= 0.0):
        return float("inf")
    return float(np.max(8.0 * size_bytes / r))


def qos_satisfied(rates_bps: np.ndarray, qos_bps: np.ndarray, requesting: np.ndarray) -> bool:
    """(9b): every requesting user gets at least Q_u."""
    requesting = np.asarray(requesting, dtype=bool)
    return bool(np.all(np.asarray(rates_bps)[requesting] >= np.asarray(qos_bps)[requesting]))


@dataclass(frozen=True)
class RewardTerms:
    """Named terms of reward (12) for one PB; ``reward`` is what every agent receives."""

    requested: bool  # some user needs the PB
    migration_delay_s: float
    broadcast_delay_s: float  # worst-case delay; 0 when nothing is delivered
    qos_infeasible: bool  # Lambda(k) = 1
    no_delivery: bool  # requested, but no participant or a worst-case rate of zero
    penalty: float  # r1 * Lambda(k) or r2
    reward: float

    @property
    def delay_s(self) -> float:
        """T(k) of (7) (without the broadcast part when the PB is not delivered)."""
        return self.migration_delay_s + self.broadcast_delay_s

    def as_dict(self) -> dict[str, float | bool]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["delay_s"] = self.delay_s
        return out


def reward_terms(
    requested: bool,
    any_participating: bool,
    migration_delay: float,
    broadcast_delay: float,
    qos_feasible: bool,
    penalty_qos: float,
    penalty_no_delivery: float,
) -> RewardTerms:
    """Reward (12) as named terms.

    - nobody requests the PB: 0 (migration still costs backhaul time, reported but not rewarded,
      as in (12));
    - requested, no participant: -r2;
    - requested, some requesting user with a worst-case rate of 0 (infinite delay): QoS fails and
      the PB is not delivered: -r1 - r2 - migration delay (the paper's (12) would give -inf here;
      both penalties keep it worse than any finite, QoS-infeasible delivery);
    - otherwise -T(k) - r1 * Lambda(k), Lambda(k) = 1 when the QoS (9b) is not met.
    """
    if not requested:
        return RewardTerms(False, migration_delay, 0.0, False, False, 0.0, 0.0)
    if not any_participating:
        return RewardTerms(
            True, migration_delay, 0.0, False, True, penalty_no_delivery, -penalty_no_delivery
        )
    if not np.isfinite(broadcast_delay):
        penalty = penalty_qos + penalty_no_delivery
        return RewardTerms(
            True, migration_delay, 0.0, True, True, penalty, -penalty - migration_delay
        )
    penalty = 0.0 if qos_feasible else penalty_qos
    return RewardTerms(
        True,
        migration_delay,
        broadcast_delay,
        not qos_feasible,
        False,
        penalty,
        -(migration_delay + broadcast_delay) - penalty,
    )


def total_delay_s(terms: list[RewardTerms]) -> float:
    """(8): T = sum_k T(k)."""
    return float(sum(t.delay_s for t in terms))
