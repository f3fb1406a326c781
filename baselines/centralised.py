"""Centralised reference (beyond the paper): full information, searched against the exact simulator.

1. Caching: for each candidate placement (own-users greedy filled with the PBs most wanted within
   each node's reach, TrimCaching, coarse-grained), plan migrations as below and keep the
   placement whose planned episode has the smallest cost.
2. Migration: ``baselines.migration.plan_migrations``, a per-PB greedy search against the
   environment's own (memoised) delivery.
3. Delivery: per PB the better of robust CoMP and TDMA unicasting (env ``beamformer="best"``,
   also beyond the paper); the migration search scores with it and also searches under each of
   the two modes alone, so for a given placement the plan is never worse than the CoMP-only or
   TDMA-only searches. Pass ``beamformer=...`` to restrict it to one mode.

It is a yardstick for every method's optimality gap, not an optimum: both stages are greedy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from baselines.migration import plan_migrations
from baselines.placement import coarse_placement, greedy_hit_placement, user_reach
from baselines.policy import joint_to_actions
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


class CentralisedReference:
    """Plans the whole episode at reset (see the module docstring); then follows the plan."""

    name = "centralised"

    def __init__(self, **env_kwargs: Any) -> None:
        self.env_kwargs: dict[str, Any] = {"beamformer": "best", **env_kwargs}
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
