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

``method="best"`` (beyond the paper, an oracle for planners such as the centralised reference):
deliver PB k both by robust CoMP (``"fast"``) and by TDMA unicasting (``"mrt_tdma"``), each with
the other options above, and keep the one with the better reward (12): QoS-feasible first, then
the lower delay (``better_delivery``; ties go to CoMP).

A solver exception never ends an episode: that part falls back to MRT TDMA (closed form) and the
PB counts as QoS-infeasible, as does a part whose solver chain ended without an optimal status.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from fgamcd_env.beamforming import BeamformingResult, problem_from_scenario, solve, solve_pb
from fgamcd_env.core import system
from fgamcd_env.core.scenario import Scenario

DELIVERY_METHODS: tuple[str, ...] = (
    "fast",
    "sdp_dc",
    "nonrobust",
    "mrt_tdma",
    "best",
    "fast_legacy",
)
BEST_OF: tuple[str, ...] = ("fast", "mrt_tdma")  # the modes ``method="best"`` chooses from
DELIVERY_GROUPS: tuple[str, ...] = ("pb", "model")
# How many nodes the stacked error set (28) stacks: the participating ones, or all N.
STACKED_NODES: tuple[str, ...] = ("participating", "all")
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


def _solve(
    problem, method: str, error_model: str, eps_hot: int | None, stack: int | None = None
) -> BeamformingResult:
    if stack is not None and error_model == "stacked":
        problem = problem.stacked_over(stack)
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


def delivery_reward(delivery: Delivery, penalty_qos: float, penalty_no_delivery: float) -> float:
    """The delivery's share of reward (12): -T(k) - r1 Lambda(k) (no migration term)."""
    return system.reward_terms(
        True,
        True,
        0.0,
        delivery.delay_s,
        delivery.qos_feasible,
        penalty_qos,
        penalty_no_delivery,
    ).reward


def better_delivery(
    candidates: list[Delivery], penalty_qos: float, penalty_no_delivery: float
) -> Delivery:
    """The candidate with the highest reward (12) (the first one on ties), as ``method="best"``.

    The returned delivery's ``status`` says which mode won, its ``wall_time_s`` counts every
    candidate's solve (the oracle paid for all of them).
    """
    if not candidates:
        raise ValueError("better_delivery needs at least one candidate")
    scores = [delivery_reward(d, penalty_qos, penalty_no_delivery) for d in candidates]
    win = candidates[int(np.argmax(scores))]  # argmax keeps the first of equal scores
    return dataclasses.replace(
        win,
        status=f"best({win.method}):{win.status}",
        wall_time_s=float(sum(d.wall_time_s for d in candidates)),
    )


def deliver(
    scenario: Scenario,
    k: int,
    participating: np.ndarray,
    method: str = "fast",
    error_model: str = "stacked",
    eps_hot: int | None = None,
    groups: str = "pb",
    cooperation: bool = True,
    stacked_nodes: str = "participating",
) -> Delivery:
    """Deliver PB ``k`` from the ``participating`` nodes to every user that requests it.

    ``stacked_nodes`` (with ``error_model="stacked"``): the relaxation (28) stacks the errors
    of the ``"participating"`` nodes (default) or of ``"all"`` N nodes, a literal reading of
    (28) whose larger radius lowers every worst-case rate (see ``BeamformingProblem.stacked_over``).
    """
    if method not in DELIVERY_METHODS:
        raise ValueError(f"method={method!r}: must be one of {DELIVERY_METHODS}")
    if stacked_nodes not in STACKED_NODES:
        raise ValueError(f"stacked_nodes={stacked_nodes!r}: must be one of {STACKED_NODES}")
    stack = scenario.num_nodes if stacked_nodes == "all" else None
    if method == "best":
        cfg = scenario.config
        outs = [
            deliver(
                scenario,
                k,
                participating,
                m,
                error_model,
                eps_hot,
                groups,
                cooperation,
                stacked_nodes,
            )
            for m in BEST_OF
        ]
        return better_delivery(outs, cfg.penalty_qos, cfg.penalty_no_delivery)
    participating = np.asarray(participating, dtype=bool)
    requesting = scenario.demand[k]
    if not cooperation:
        reachable = participating[scenario.user_node]
        cells = [
            (np.array([n]), requesting & (scenario.user_node == n))
            for n in np.flatnonzero(participating)
        ]
        parts = [
            _solve(
                problem_from_scenario(scenario, k, nodes, users),
                method,
                error_model,
                eps_hot,
                stack,
            )
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
                stack,
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
                stack,
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


def full_comp_qos_failures(
    scenario: Scenario, method: str = "fast", error_model: str = "stacked"
) -> np.ndarray:
    """(K,) bool: requested PBs whose QoS (9b) fails even when every node broadcasts them.

    A reference for reading an episode's QoS-infeasible count under CoMP broadcast: it separates
    what the draw (far users with a high Q_u) makes infeasible from what a caching policy adds.
    It is not a bound: ``fast`` is a local method, so a smaller node set can now and then meet a
    QoS that the full set misses, and a delivery that splits the requesting users can meet a
    Q_u that one common broadcast cannot: TDMA unicasting (``mrt_tdma``, ``best``) gives each
    user its own slot and rate, whole-model delivery (``groups="model"``) one broadcast per
    model.
    """
    everyone = np.ones(scenario.num_nodes, dtype=bool)
    out = np.zeros(scenario.num_pbs, dtype=bool)
    for k in np.flatnonzero(scenario.demand.any(axis=1)):
        out[k] = not deliver(scenario, int(k), everyone, method, error_model).qos_feasible
    return out
