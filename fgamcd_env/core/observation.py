"""Observations (10) and global state of the Dec-POMDP, as pure functions of numpy arrays.

o_n^own(k)   = [S(k), {1{k in K_{r_u}} : u in U_n}, C~_n(k)]
o_{n,m}^oth  = varpi_{n,m} [R^bac_{n,m}(k), {1{k in K_{r_u}} : u in U_m}, C~_m(k)]
o_n          = [o_n^own, o_{n,m}^oth for m != n in increasing m]

Features are normalised to O(1): S(k) by the largest PB, R^bac by the configured maximum, C~ by
C_n. User slots are padded with zeros to ceil(U/N) per node. The global state is the
concatenation of all o_n.
"""

from __future__ import annotations

import functools

import numpy as np

from fgamcd_env.core.scenario import Scenario


def block_size(scenario: Scenario) -> int:
    """Length of o_n^own and of each o_{n,m}^oth: 2 + ceil(U/N)."""
    return 2 + scenario.config.users_per_node


def observation_size(scenario: Scenario) -> int:
    """Length of o_n: N blocks (own + N-1 others); 42 for the paper preset."""
    return scenario.num_nodes * block_size(scenario)


def slot_table(scenario: Scenario) -> np.ndarray:
    """(N, ceil(U/N)) user index of each node's slot, -1 for padding."""
    table = -np.ones((scenario.num_nodes, scenario.config.users_per_node), dtype=np.int64)
    for n, users in enumerate(scenario.node_users):
        table[n, : len(users)] = users
    return table


@functools.cache
def other_nodes(num_nodes: int) -> np.ndarray:
    """(N, N-1) the other nodes m != n of each node n, in increasing order (cached, read-only)."""
    idx = np.arange(num_nodes)
    out = np.array([np.delete(idx, n) for n in idx], dtype=np.int64).reshape(num_nodes, -1)
    out.setflags(write=False)
    return out


def observed_demand(obs: np.ndarray, num_nodes: int) -> np.ndarray:
    """(..., N) from (..., N, ``|o_n|``) observations: o_n shows a user requesting the current PB, a
    demand bit of its own block or of a visible node's block (a hidden node's block is zero)."""
    obs = np.asarray(obs)
    blocks = obs.reshape(*obs.shape[:-1], num_nodes, obs.shape[-1] // num_nodes)
    return (blocks[..., 1:-1] > 0).any(axis=(-2, -1))


def observations(
    scenario: Scenario, k: int, remaining_bytes: np.ndarray, slots: np.ndarray | None = None
) -> np.ndarray:
    """(N, observation_size) float32 observations o_n(k) of every agent."""
    cfg = scenario.config
    n_nodes = scenario.num_nodes
    slots = slot_table(scenario) if slots is None else slots
    others = other_nodes(n_nodes)
    node_demand = np.where(slots >= 0, scenario.demand[k][np.maximum(slots, 0)], False)
    capacity = np.asarray(remaining_bytes, dtype=float) / cfg.storage_bytes
    # per node m: [placeholder, demand of U_m, C~_m]; the placeholder is S(k) or R^bac_{n,m}(k)
    blocks = np.concatenate([np.zeros((n_nodes, 1)), node_demand, capacity[:, None]], axis=1)
    own = blocks.copy()
    own[:, 0] = scenario.pb_sizes_bytes[k] / scenario.pb_sizes_bytes.max()
    oth = blocks[others].copy()  # (N, N-1, b)
    rows = np.arange(n_nodes)[:, None]
    oth[:, :, 0] = scenario.backhaul_bps[k][rows, others] / cfg.backhaul_max_bps
    oth *= scenario.visibility[rows, others][:, :, None]
    return np.concatenate([own, oth.reshape(n_nodes, -1)], axis=1).astype(np.float32)
