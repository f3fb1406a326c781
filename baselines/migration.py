"""Migration planning against the exact simulator, for a fixed caching plan.

PBs interact only through storage, which the caching plan fixes, so migrations can be chosen PB by
PB. For PB k: start from the better of no migration and the relay rule
(``baselines.policy.relay_migration``), then greedily add the participant (migrated from the
caching node with the fastest backhaul link to it) that most lowers the exact step cost
migration delay + worst-case broadcast delay + r1 * Lambda(k), evaluated with the environment's
memoised delivery, until no addition helps.
"""

from __future__ import annotations

import numpy as np

from baselines.policy import relay_migration
from fgamcd_env.core import system
from fgamcd_env.env import FGAMCDParallelEnv


def _step_cost(env: FGAMCDParallelEnv, k: int, cache: np.ndarray, migrate: np.ndarray) -> float:
    return -env.pb_outcome(k, cache, migrate)[0].reward


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
