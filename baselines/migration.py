"""Migration planning against the exact simulator, for a fixed caching plan.

PBs interact only through storage, which the caching plan fixes, so migrations can be chosen PB by
PB. For PB k: start from the better of no migration and the relay rule
(``baselines.policy.relay_migration``), then greedily add the participant (migrated from the
caching node with the fastest backhaul link to it) that most lowers the exact step cost
migration delay + worst-case broadcast delay + r1 * Lambda(k), evaluated with the environment's
memoised delivery, until no addition helps.

With the env's ``beamformer="best"`` (CoMP or TDMA per PB, whichever is better) the greedy search
runs once scoring with ``"best"`` and once under each of its modes (``"fast"``, ``"mrt_tdma"``),
and per PB the migrations with the lowest ``"best"`` cost are kept. So the plan is never worse,
PB by PB, than the plans the single-mode searches find for the same caching plan (the greedy
path under ``"best"`` alone could stop in a worse local optimum).
"""

from __future__ import annotations

import numpy as np

from baselines.policy import relay_migration
from fgamcd_env.core import system
from fgamcd_env.delivery import BEST_OF
from fgamcd_env.env import FGAMCDParallelEnv


def _step_cost(
    env: FGAMCDParallelEnv, k: int, cache: np.ndarray, migrate: np.ndarray, method: str
) -> float:
    return -env.pb_outcome(k, cache, migrate, method)[0].reward


def search_methods(env: FGAMCDParallelEnv) -> tuple[str, ...]:
    """Delivery modes the greedy search scores with: the env's own, plus the modes of "best"."""
    if env.beamformer == "best":
        return ("best", *BEST_OF)
    return (env.beamformer,)


def greedy_migration(
    env: FGAMCDParallelEnv, k: int, cache: np.ndarray, method: str
) -> tuple[np.ndarray, float]:
    """(N, N) greedy migrations of PB k for the caching bits ``cache``, and their cost under
    ``method`` (see the module docstring)."""
    sc = env.scenario
    n = sc.num_nodes
    starts = [np.zeros((n, n), dtype=bool), relay_migration(sc, k, cache)]
    best, migrate = min(
        ((_step_cost(env, k, cache, m, method), i, m) for i, m in enumerate(starts)),
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
            trials.append((_step_cost(env, k, cache, cand, method), int(m), cand))
        if not trials:
            break
        cost, _, cand = min(trials, key=lambda t: (t[0], t[1]))
        if cost >= best - 1e-12:
            break
        best, migrate = cost, cand
    return migrate, best


def plan_migrations(env: FGAMCDParallelEnv, plan: np.ndarray) -> tuple[np.ndarray, float]:
    """(K, N, N) greedy migrations for a caching plan, and the planned cost of the episode
    (under the env's own delivery mode)."""
    sc = env.scenario
    n = sc.num_nodes
    methods = search_methods(env)
    migrations = np.zeros((sc.num_pbs, n, n), dtype=bool)
    total = 0.0
    for k in np.flatnonzero(sc.demand.any(axis=1)):
        cache = plan[:, k]
        best: tuple[float, np.ndarray] | None = None
        for method in methods:
            migrate, cost = greedy_migration(env, k, cache, method)
            if method != env.beamformer:
                cost = _step_cost(env, k, cache, migrate, env.beamformer)
            if best is None or cost < best[0] - 1e-12:
                best = (cost, migrate)
        assert best is not None
        migrations[k] = best[1]
        total += best[0]
    return migrations, total
