"""How the environment delivers one PB: the beamforming subroutine plus the env-level modes.

``deliver`` returns a ``Delivery`` for PB k given the participating nodes:

- default (CoMP broadcast): one P2(k) over the participating nodes and every requesting user,
  solved by ``fgamcd_env.beamforming.solve_pb`` (hybrid multicast when ``eps_hot`` is set: PBs
  wanted by at most ``eps_hot`` users are unicast);
- ``groups="model"`` (whole-model delivery, the coarse-grained baseline): the requesters of each
  model that contains k get their own broadcast, one after another (delays add up);
- ``cooperation=False`` (the without-cooperation baseline): each participating node serves its
  own requesting users alone. The nodes share the band B without coordination, so they take
  turns (delays add up; simultaneous uncoordinated transmissions would interfere, which the
  system model has no term for). A requesting user whose own node does not take part cannot
  receive the PB, so it is not delivered.

A solver exception never ends an episode: that part falls back to MRT TDMA (closed form) and the
PB counts as QoS-infeasible, as does a part whose solver chain ended without an optimal status.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from fgamcd_env.beamforming import BeamformingResult, problem_from_scenario, solve, solve_pb
from fgamcd_env.core.scenario import Scenario

DELIVERY_METHODS: tuple[str, ...] = ("fast", "sdp_dc", "nonrobust", "mrt_tdma")
DELIVERY_GROUPS: tuple[str, ...] = ("pb", "model")
OK_STATUSES = frozenset({"optimal", "optimal_inaccurate", "no_users"})


@dataclass(frozen=True)
class Delivery:
    """Outcome of delivering one PB: worst-case delay, QoS flag and the beamforming parts."""

    delay_s: float  # worst-case broadcast delay; +inf when some requesting user is not served
    qos_feasible: bool
    method: str
    status: str
    wall_time_s: float
    parts: tuple[BeamformingResult, ...]


def _solve(problem, method: str, error_model: str, eps_hot: int | None) -> BeamformingResult:
    try:
        out = solve_pb(problem, method, error_model, eps_hot=eps_hot)
    except Exception as err:  # a failed solve must never end an episode
        fallback = solve(problem, method="mrt_tdma", error_model=error_model)
        return dataclasses.replace(
            fallback,
            qos_feasible=False,
            status=f"{method} failed ({type(err).__name__}: {err}); fell back to mrt_tdma",
        )
    if out.status not in OK_STATUSES:
        out = dataclasses.replace(out, qos_feasible=False)
    return out


def deliver(
    scenario: Scenario,
    k: int,
    participating: np.ndarray,
    method: str = "fast",
    error_model: str = "stacked",
    eps_hot: int | None = None,
    groups: str = "pb",
    cooperation: bool = True,
) -> Delivery:
    """Deliver PB ``k`` from the ``participating`` nodes to every user that requests it."""
    participating = np.asarray(participating, dtype=bool)
    requesting = scenario.demand[k]
    if not cooperation:
        reachable = participating[scenario.user_node]
        cells = [
            (np.array([n]), requesting & (scenario.user_node == n))
            for n in np.flatnonzero(participating)
        ]
        parts = [
            _solve(problem_from_scenario(scenario, k, nodes, users), method, error_model, eps_hot)
            for nodes, users in cells
            if users.any()
        ]
        delay = float(sum(p.delay_s for p in parts))
        if np.any(requesting & ~reachable):
            delay = float("inf")
        combine = "per_node"
    elif groups == "model":
        models = np.unique(scenario.requests[requesting])
        parts = [
            _solve(
                problem_from_scenario(
                    scenario, k, participating, requesting & (scenario.requests == j)
                ),
                method,
                error_model,
                eps_hot,
            )
            for j in models
        ]
        delay = float(sum(p.delay_s for p in parts))
        combine = "sequential"
    else:
        parts = [
            _solve(
                problem_from_scenario(scenario, k, participating, requesting),
                method,
                error_model,
                eps_hot,
            )
        ]
        delay = parts[0].delay_s
        combine = ""
    statuses = sorted({p.status for p in parts})
    return Delivery(
        delay_s=float(delay),
        qos_feasible=all(p.qos_feasible for p in parts),
        method="+".join(sorted({p.method for p in parts})) or method,
        status=(combine + ":" if combine else "") + ",".join(statuses),
        wall_time_s=float(sum(p.wall_time_s for p in parts)),
        parts=tuple(parts),
    )
