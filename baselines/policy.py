"""The policy protocol shared by baselines and learned agents, and plan-following policies.

A policy sees the environment it acts in (``reset(env)`` at the start of each episode, when a
planner may read ``env.scenario``) and maps the current observations to one action per agent
(``act(observations, env)``), in the env's ``MultiDiscrete([2] * N)`` format
``[a_n, b_{n,m} for m != n]``. ``env_kwargs`` are the environment options the method needs
(e.g. TDMA delivery), merged in by ``baselines.evaluate``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Protocol, runtime_checkable

import numpy as np

from fgamcd_env.core.scenario import Scenario
from fgamcd_env.env import FGAMCDParallelEnv


@runtime_checkable
class Policy(Protocol):
    name: str
    env_kwargs: dict[str, Any]

    def reset(self, env: FGAMCDParallelEnv) -> None: ...

    def act(
        self, observations: dict[str, Any], env: FGAMCDParallelEnv
    ) -> dict[str, np.ndarray]: ...


def joint_to_actions(
    cache: np.ndarray, migrate: np.ndarray, agents: list[str]
) -> dict[str, np.ndarray]:
    """(N,) caching bits and (N, N) migration bits -> per-agent d_n = [a_n, b_{n,m} (m != n)]."""
    n = len(cache)
    out = {}
    for agent in agents:
        i = int(agent.rsplit("_", 1)[1])
        others = [m for m in range(n) if m != i]
        out[agent] = np.concatenate([[cache[i]], migrate[i, others]]).astype(np.int64)
    return out


def relay_migration(scenario: Scenario, k: int, cache: np.ndarray) -> np.ndarray:
    """(N, N) migrations that let every requesting user's own node relay PB k.

    Each requesting user's node that does not cache k receives it from the caching node with the
    fastest backhaul link to it at step k. Nothing is migrated when no node caches k.
    """
    n = scenario.num_nodes
    migrate = np.zeros((n, n), dtype=bool)
    sources = np.flatnonzero(cache)
    if sources.size == 0:
        return migrate
    targets = np.unique(scenario.user_node[scenario.demand[k]])
    for m in targets:
        if cache[m]:
            continue
        rates = scenario.backhaul_bps[k, sources, m]
        migrate[sources[int(np.argmax(rates))], m] = True
    return migrate


class PlanPolicy(ABC):
    """Follows a caching plan X (N, K) computed from the scenario at reset, with a migration rule.

    Subclasses implement ``plan(scenario) -> X``; ``migration`` is ``"optimised"`` (the greedy
    search of ``baselines.migration``, planned at reset against the env's delivery), ``"relay"``
    (see ``relay_migration``) or ``"none"``.
    """

    name = "plan"
    migration = "optimised"

    def __init__(self, **env_kwargs: Any) -> None:
        self.env_kwargs: dict[str, Any] = dict(env_kwargs)
        self._plan: np.ndarray | None = None
        self._migrations: np.ndarray | None = None
        self._scenario: Scenario | None = None

    @abstractmethod
    def plan(self, scenario: Scenario) -> np.ndarray:
        """(N, K) bool caching plan within every node's storage."""

    def reset(self, env: FGAMCDParallelEnv) -> None:
        if self._scenario is not env.scenario:  # static instances keep their plan
            self._plan = self.plan(env.scenario)
            self._scenario = env.scenario
            self._migrations = None
            if self.migration == "optimised":
                from baselines.migration import plan_migrations

                self._migrations, _ = plan_migrations(env, self._plan)

    def act(self, observations: dict[str, Any], env: FGAMCDParallelEnv) -> dict[str, np.ndarray]:
        assert self._plan is not None, "call reset(env) first"
        k = env.current_pb
        cache = self._plan[:, k]
        if self._migrations is not None:
            migrate = self._migrations[k]
        elif self.migration == "relay":
            migrate = relay_migration(env.scenario, k, cache)
        else:
            migrate = np.zeros((len(cache), len(cache)), dtype=bool)
        return joint_to_actions(cache, migrate, env.agents)
