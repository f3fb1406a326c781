"""Centralised reference (beyond the paper): full information, searched against the exact simulator.

1. Caching: for each candidate placement (own-users greedy filled with the PBs most wanted within
   each node's reach, TrimCaching, coarse-grained), plan migrations as below and keep the
   placement whose planned episode has the smallest cost.
2. Migration, per PB k (PBs interact only through storage, which the placement fixes): start from
   the better of no migration and the relay rule of ``baselines.policy.relay_migration`` and
   greedily add the participant (migrated from the caching node with
   the fastest backhaul link) that lowers the exact step cost migration + worst-case broadcast
   delay + r1 * Lambda(k) most, evaluated by the environment's own (memoised) delivery, until no
   addition helps.

It is a yardstick for every method's optimality gap, not an optimum: both stages are greedy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from baselines.placement import coarse_placement, greedy_hit_placement, user_reach
from baselines.policy import joint_to_actions, relay_migration
from fgamcd_env.core import system
from fgamcd_env.core.scenario import Scenario
from fgamcd_env.env import FGAMCDParallelEnv


def filled_placement(scenario: Scenario) -> np.ndarray:
    """Own-users greedy placement, then each node fills its storage with the PBs most requested
    by users it reaches (more copies -> more CoMP participants without migration)."""
    plan = greedy_hit_placement(scenario, reach="own")
    sizes = scenario.pb_sizes_bytes.astype(float)
    reach = user_reach(scenario, "visible")
    for n in range(scenario.num_nodes):
        wanted = scenario.demand[:, reach[:, n]].sum(axis=1)  # (K,) requesters within reach
        budget = scenario.config.storage_bytes - sizes[plan[n]].sum()
        for k in np.lexsort((sizes, -wanted)):
            if wanted[k] == 0:
                break
            if not plan[n, k] and sizes[k] <= budget:
                plan[n, k] = True
                budget -= sizes[k]
    return plan


def _step_cost(env: FGAMCDParallelEnv, k: int, cache: np.ndarray, migrate: np.ndarray) -> float:
    sc, cfg = env.scenario, env.config
    size = float(sc.pb_sizes_bytes[k])
    lam = system.participation(cache, migrate)
    mig = system.migration_delay_s(migrate, size, sc.backhaul_bps[k])
    if not lam.any():
        return cfg.penalty_no_delivery
    out = env.delivery(k, lam)
    terms = system.reward_terms(
        True, True, mig, out.delay_s, out.qos_feasible, cfg.penalty_qos, cfg.penalty_no_delivery
    )
    return -terms.reward


def plan_migrations(env: FGAMCDParallelEnv, plan: np.ndarray) -> tuple[np.ndarray, float]:
    """(K, N, N) greedy migrations for a caching plan, and the planned cost of the episode."""
    sc = env.scenario
    n = sc.num_nodes
    migrations = np.zeros((sc.num_pbs, n, n), dtype=bool)
    total = 0.0
    for k in np.flatnonzero(sc.demand.any(axis=1)):
        cache = plan[:, k]
        starts = [np.zeros((n, n), dtype=bool), relay_migration(sc, k, cache)]
        best, migrate = min(
            ((_step_cost(env, k, cache, m), i, m) for i, m in enumerate(starts)),
            key=lambda t: (t[0], t[1]),
        )[0::2]
        sources = np.flatnonzero(cache)
        while sources.size:
            lam = system.participation(cache, migrate)
            trials = []
            for m in np.flatnonzero(~lam):
                src = sources[int(np.argmax(sc.backhaul_bps[k, sources, m]))]
                cand = migrate.copy()
                cand[src, m] = True
                trials.append((_step_cost(env, k, cache, cand), int(m), cand))
            if not trials:
                break
            cost, _, cand = min(trials, key=lambda t: (t[0], t[1]))
            if cost >= best - 1e-12:
                break
            best, migrate = cost, cand
        migrations[k] = migrate
        total += best
    return migrations, total


class CentralisedReference:
    """Plans the whole episode at reset (see the module docstring); then follows the plan."""

    name = "centralised"

    def __init__(self, **env_kwargs: Any) -> None:
        self.env_kwargs: dict[str, Any] = dict(env_kwargs)
        self._scenario: Scenario | None = None
        self.plan: np.ndarray | None = None
        self.migrations: np.ndarray | None = None
        self.candidates: dict[str, float] = {}

    def reset(self, env: FGAMCDParallelEnv) -> None:
        if self._scenario is env.scenario:
            return
        sc = env.scenario
        best = None
        self.candidates = {}
        for label, placement in (
            ("filled", filled_placement),
            ("trimcaching", lambda s: greedy_hit_placement(s, "visible")),
            ("coarse", coarse_placement),
        ):
            plan = placement(sc)
            migrations, cost = plan_migrations(env, plan)
            self.candidates[label] = cost
            if best is None or cost < best[0]:
                best = (cost, plan, migrations)
        assert best is not None
        _, self.plan, self.migrations = best
        self._scenario = sc

    def act(self, observations: dict[str, Any], env: FGAMCDParallelEnv) -> dict[str, np.ndarray]:
        assert self.plan is not None and self.migrations is not None, "call reset(env) first"
        k = env.current_pb
        return joint_to_actions(self.plan[:, k], self.migrations[k], env.agents)
