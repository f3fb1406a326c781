"""Cache placement algorithms: plans X (N, K) bool, "node n stores PB k", within storage C_n.

The paper's caching baselines come from the caching literature, where a placement is decided
before the requests arrive, from the users' *request probabilities* (each user asks for model j
with the Zipf probability p_j of section V-A); that is what the methods under the paper's names
use. The same algorithms run on the *realised* requests of the episode (one-hot weights) give
the stronger, request-aware forms kept as reference rows (``*_known_requests``) and as
candidates of the centralised reference.

- :func:`expected_hit_placement`: TrimCaching (Qu et al., ICDCS 2024): repeatedly add the
  feasible (node, model) pair with the largest marginal gain in the expected cache hit ratio per
  added byte, where a node stores a PB shared by several models once, until nothing fits or
  nothing gains. A user is served when some node within its reach holds its whole model. With
  ``reach="visible"`` a user reaches its own node and the nodes its node exchanges information
  with (varpi = 1, within 500 m); with ``reach="own"`` each node places for its own users only
  (the without-cooperation baseline, Wu/Zeng/Huang style).
- :func:`popularity_placement`: conventional popularity caching of whole models (the paper's
  coarse-grained baseline, refs. [10], [11]): each node stores the models most popular among
  the users it reaches, each model paid in full (no PB sharing), until nothing more fits.
- :func:`greedy_hit_placement`, :func:`coarse_placement`: the same two algorithms on the
  realised requests (a model nobody requests is never cached, so storage is rarely full).
- :func:`replicate_placement`: every node caches every requested PB that fits (a yardstick).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from fgamcd_env.core.scenario import Scenario, zipf_probabilities

Reach = Literal["visible", "own"]


def user_reach(scenario: Scenario, reach: Reach = "visible") -> np.ndarray:
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


def request_weights(scenario: Scenario, known_requests: bool) -> np.ndarray:
    """(U, J) weight of "user u asks for model j": the Zipf probabilities p_j for every user
    (placement before the requests are revealed), or one-hot on the realised request r_u."""
    u, j = scenario.num_users, scenario.num_models
    if known_requests:
        w = np.zeros((u, j))
        w[np.arange(u), scenario.requests] = 1.0
        return w
    p = zipf_probabilities(j, scenario.config.zipf_exponent)
    return np.broadcast_to(p, (u, j)).copy()


def _hit_greedy(scenario: Scenario, weights: np.ndarray, reach: Reach) -> np.ndarray:
    """TrimCaching's greedy on the hit ratio sum_u sum_j weights[u, j] 1{u served for j}."""
    rep = scenario.repository
    sizes = rep.pb_sizes_bytes.astype(float)
    member = rep.membership.astype(float)  # (J, K)
    can = user_reach(scenario, reach).astype(float)  # (U, N)
    plan = np.zeros((scenario.num_nodes, rep.num_pbs), dtype=bool)
    used = np.zeros(scenario.num_nodes)
    unserved = np.ones_like(weights, dtype=bool)  # (U, J): u not yet served for model j
    capacity = float(scenario.config.storage_bytes)
    while True:
        gain = can.T @ (weights * unserved)  # (N, J) hit-ratio gain (times U)
        added = (~plan * sizes) @ member.T  # (N, J) bytes a node would add
        feasible = (gain > 0) & (used[:, None] + added <= capacity)
        if not feasible.any():
            return plan
        score = np.where(feasible, gain / np.maximum(added, 1.0), -np.inf)
        n, j = np.unravel_index(int(np.argmax(score)), score.shape)  # ties: lowest n, then j
        plan[n, rep.model_pbs[j]] = True
        used[n] = sizes[plan[n]].sum()
        unserved[can[:, n] > 0, j] = False


def _popularity(scenario: Scenario, weights: np.ndarray) -> np.ndarray:
    """Whole models by popularity among the users each node reaches, each model paid in full;
    a model that does not fit is skipped and smaller, less popular ones are still tried."""
    rep = scenario.repository
    model_bytes = rep.model_sizes_bytes.astype(float)
    can = user_reach(scenario, "visible")
    plan = np.zeros((scenario.num_nodes, rep.num_pbs), dtype=bool)
    for n in range(scenario.num_nodes):
        popularity = weights[can[:, n]].sum(axis=0)  # (J,)
        budget = float(scenario.config.storage_bytes)
        # most popular first; ties by the repository's (Zipf) order
        for j in np.lexsort((np.arange(rep.num_models), -popularity)):
            if popularity[j] <= 0:
                break
            if model_bytes[j] <= budget:
                plan[n, rep.model_pbs[j]] = True
                budget -= model_bytes[j]
    return plan


def expected_hit_placement(scenario: Scenario, reach: Reach = "visible") -> np.ndarray:
    """TrimCaching's placement from the request probabilities (see the module docstring)."""
    return _hit_greedy(scenario, request_weights(scenario, known_requests=False), reach)


def popularity_placement(scenario: Scenario) -> np.ndarray:
    """Coarse-grained popularity caching from the request probabilities (module docstring)."""
    return _popularity(scenario, request_weights(scenario, known_requests=False))


def greedy_hit_placement(scenario: Scenario, reach: Reach = "visible") -> np.ndarray:
    """TrimCaching's greedy on the realised requests of the episode (request-aware)."""
    return _hit_greedy(scenario, request_weights(scenario, known_requests=True), reach)


def coarse_placement(scenario: Scenario) -> np.ndarray:
    """Popularity caching of whole models on the realised requests (request-aware)."""
    return _popularity(scenario, request_weights(scenario, known_requests=True))


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
