"""Cache placement algorithms: plans X (N, K) bool, "node n stores PB k", within storage C_n.

- ``greedy_hit_placement``: TrimCaching (Qu et al., ICDCS 2024). Repeatedly add the feasible
  (node, model) pair with the largest marginal gain in served users per added byte, where a node
  stores a PB shared by several models once. A user is served when some node within its reach
  holds its whole model. With ``reach="visible"`` (TrimCaching) a user reaches its own node and
  the nodes its node exchanges information with (varpi = 1, within 500 m); with ``reach="own"``
  each node caches for its own users only (the without-cooperation baseline).
- ``coarse_placement``: whole models, popularity-greedy per node, no PB sharing (a PB shared by
  two cached models is paid twice).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from fgamcd_env.core.scenario import Scenario


def user_reach(scenario: Scenario, reach: Literal["visible", "own"] = "visible") -> np.ndarray:
    """(U, N) bool: node n can serve user u directly."""
    own = scenario.user_node
    if reach == "own":
        out = np.zeros((scenario.num_users, scenario.num_nodes), dtype=bool)
        out[np.arange(scenario.num_users), own] = True
        return out
    if reach == "visible":
        return scenario.visibility[own].copy()
    raise ValueError(f"reach={reach!r}: must be 'visible' or 'own'")


def served_users(scenario: Scenario, plan: np.ndarray, reach: str = "visible") -> np.ndarray:
    """(U,) bool: some node within reach holds every PB of the user's model."""
    member = scenario.repository.membership[scenario.requests]  # (U, K)
    holds = ~np.any(member[:, None, :] & ~plan[None, :, :], axis=2)  # (U, N): node has it all
    return np.any(holds & user_reach(scenario, reach), axis=1)


def greedy_hit_placement(
    scenario: Scenario, reach: Literal["visible", "own"] = "visible"
) -> np.ndarray:
    """TrimCaching's greedy parameter-sharing placement (see the module docstring)."""
    rep = scenario.repository
    sizes = rep.pb_sizes_bytes.astype(float)
    member = rep.membership  # (J, K)
    can = user_reach(scenario, reach)  # (U, N)
    n_nodes, n_models = scenario.num_nodes, rep.num_models
    onehot = np.zeros((scenario.num_users, n_models), dtype=float)
    onehot[np.arange(scenario.num_users), scenario.requests] = 1.0
    plan = np.zeros((n_nodes, rep.num_pbs), dtype=bool)
    used = np.zeros(n_nodes)
    served = np.zeros(scenario.num_users, dtype=bool)
    capacity = scenario.config.storage_bytes
    while True:
        gain = (can & ~served[:, None]).T.astype(float) @ onehot  # (N, J) users newly served
        added = (~plan).astype(float) * sizes @ member.T.astype(float)  # (N, J) new bytes
        feasible = (gain > 0) & (used[:, None] + added <= capacity)
        if not feasible.any():
            return plan
        score = np.where(feasible, gain / np.maximum(added, 1.0), -np.inf)
        n, j = np.unravel_index(int(np.argmax(score)), score.shape)
        plan[n, member[j]] = True
        used[n] = sizes[plan[n]].sum()
        served |= (scenario.requests == j) & can[:, n]


def coarse_placement(scenario: Scenario) -> np.ndarray:
    """Whole models by popularity among the users each node reaches, each model paid in full."""
    rep = scenario.repository
    model_bytes = rep.model_sizes_bytes.astype(float)
    can = user_reach(scenario, "visible")
    plan = np.zeros((scenario.num_nodes, rep.num_pbs), dtype=bool)
    for n in range(scenario.num_nodes):
        counts = np.bincount(scenario.requests[can[:, n]], minlength=rep.num_models)
        budget = scenario.config.storage_bytes
        # most requested first; ties by the repository's (Zipf) order
        for j in np.lexsort((np.arange(rep.num_models), -counts)):
            if counts[j] == 0:
                break
            if model_bytes[j] <= budget:
                plan[n, rep.model_pbs[j]] = True
                budget -= model_bytes[j]
    return plan


def replicate_placement(scenario: Scenario) -> np.ndarray:
    """Every node caches every requested PB, most requesters first (ties: smaller, then lower k),
    skipping a PB that no longer fits; PBs nobody requests are never cached."""
    sizes = scenario.pb_sizes_bytes.astype(float)
    wanted = scenario.demand.sum(axis=1)  # (K,) requesting users per PB
    order = [k for k in np.lexsort((np.arange(len(sizes)), sizes, -wanted)) if wanted[k] > 0]
    row = np.zeros(len(sizes), dtype=bool)
    budget = scenario.config.storage_bytes
    for k in order:
        if sizes[k] <= budget:
            row[k] = True
            budget -= sizes[k]
    return np.tile(row, (scenario.num_nodes, 1))
