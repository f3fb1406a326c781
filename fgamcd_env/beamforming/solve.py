"""One entry point for every delivery method of a PB: ``solve(problem, method, error_model)``.

Methods (SPEC 4, 7):

- ``"sdp_dc"``: the paper's S-procedure SDP + DC rank-one iterations (``sdp``);
- ``"fast"``: our robust interior-point solver of the same worst-case problem (``fast``);
- ``"fast_legacy"``: the projected-gradient solver ``"fast"`` replaced (``legacy``), kept for
  comparisons;
- ``"nonrobust"``: the same max-min with the estimate taken as exact (Fig. 15's comparison);
- ``"mrt_tdma"``: TDMA unicasting, one slot per user, co-phased full-power MRT from every
  participating node; PB delay = sum_u S(k) / R_u;
- ``"unicast"``: the unicast leg of hybrid multicasting (Fig. 17): each user in its own slot,
  served by the single participating node that gives it the best worst-case MRT rate.

``solve_pb`` adds the hybrid rule (CoMP broadcast only if more than ``eps_hot`` users request the
PB, else ``"unicast"``); ``problem_from_scenario(..., full_comp=True)`` gives full CoMP.
Every result's ``rates_bps`` is recomputed with the closed form, so what a result claims for a
robust method is true; a solver failure never raises (the result carries ``status``).
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import numpy as np

from fgamcd_env.beamforming import fast as _fast
from fgamcd_env.beamforming import legacy as _legacy
from fgamcd_env.beamforming import sdp as _sdp
from fgamcd_env.beamforming.problem import (
    ERROR_MODELS,
    BeamformingProblem,
    BeamformingResult,
    broadcast_delay,
    nominal_rates,
    tdma_delay,
    worst_case_rates,
)
from fgamcd_env.core import worstcase as _wc

METHODS: tuple[str, ...] = ("fast", "sdp_dc", "nonrobust", "mrt_tdma", "unicast", "fast_legacy")


def solve(
    problem: BeamformingProblem,
    method: str = "fast",
    error_model: str = "stacked",
    *,
    warm_start: np.ndarray | None = None,
    options: Any = None,
) -> BeamformingResult:
    """Solve P2(k) (or deliver by TDMA) and return a verified ``BeamformingResult``.

    ``error_model``: ``"stacked"`` (the paper's (28), default) or ``"per_node"`` (the sets of (4),
    tighter). ``warm_start`` (N_par, M) beamformer in W^0.5 (``fast``/``nonrobust`` only).
    ``options``: ``FastOptions`` for fast/nonrobust, ``LegacyOptions`` for fast_legacy,
    ``SdpOptions`` for sdp_dc.
    """
    if method not in METHODS:
        raise ValueError(f"method={method!r}: must be one of {METHODS}")
    if error_model not in ERROR_MODELS:
        raise ValueError(f"error_model={error_model!r}: must be one of {ERROR_MODELS}")
    t0 = time.perf_counter()
    if problem.num_users == 0 or problem.num_nodes == 0:
        return _trivial(problem, method, error_model, t0)
    if method in ("mrt_tdma", "unicast"):
        return _tdma(problem, method, error_model, t0)
    internal = problem.internal
    info: dict[str, Any] = {}
    sdr_bound = None
    # (the delay of every result is computed from the true worst-case rates ``rates_bps``)
    if method in ("fast", "nonrobust", "fast_legacy"):
        warm = None if warm_start is None else problem.to_internal_w(warm_start)
        solver_fn = _legacy.solve_internal if method == "fast_legacy" else _fast.solve_internal
        v, finfo = solver_fn(
            internal.a,
            internal.d if internal.iso is None else None,
            internal.iso,
            None if method == "nonrobust" else error_model,
            internal.qos_amp,
            options,
            warm,
        )
        info.update(finfo)
        solver = "numpy" if method == "fast_legacy" else "ipm"
        status, iters = "optimal", int(finfo["iterations"])
    else:
        out = _sdp.solve_sdp_dc(problem, error_model, options)
        info.update({k: out[k] for k in ("errors", "qos_in_sdp", "rank_ratio")})
        for key in ("status_note", "dc_recovery"):
            if key in out:
                info[key] = out[key]
        solver, status, iters = out["solver"], out["status"], int(out["iterations"])
        if out["sdr_gamma"] is not None:
            snr = internal.s0**2 * max(out["sdr_gamma"], 0.0)
            sdr_bound = float(problem.bandwidth_hz * np.log2(1.0 + snr))
        v = out["v"]
        if v is None:  # every solver failed: keep the env going with an MRT-type beamformer
            v = _fast.starting_points(internal.a, 0, np.random.default_rng(0))[0]
    w = problem.from_internal_v(_fast.project(v[None])[0])
    rates = worst_case_rates(problem, w, error_model)
    nominal = nominal_rates(problem, w)
    claimed = nominal if method == "nonrobust" else rates
    return BeamformingResult(
        w=w,
        rates_bps=rates,
        claimed_rates_bps=claimed,
        nominal_rates_bps=nominal,
        delay_s=broadcast_delay(problem, rates),
        qos_feasible=bool(np.all(claimed >= problem.qos_bps)),
        method=method,
        error_model=error_model,
        solver=solver,
        status=status,
        iterations=iters,
        wall_time_s=time.perf_counter() - t0,
        mode="comp",
        sdr_bound_bps=sdr_bound,
        info=info,
    )


def _trivial(problem: BeamformingProblem, method: str, error_model: str, t0: float):
    u = problem.num_users
    no_nodes = problem.num_nodes == 0 and u > 0
    rates = np.zeros(u)
    return BeamformingResult(
        w=np.zeros((problem.num_nodes, problem.num_antennas), dtype=complex),
        rates_bps=rates,
        claimed_rates_bps=rates,
        nominal_rates_bps=rates,
        delay_s=float("inf") if no_nodes else 0.0,
        qos_feasible=not no_nodes,
        method=method,
        error_model=error_model,
        solver="",
        status="no_nodes" if no_nodes else "no_users",
        iterations=0,
        wall_time_s=time.perf_counter() - t0,
        mode="tdma" if method in ("mrt_tdma", "unicast") else "comp",
    )


def mrt_beam(problem: BeamformingProblem, user: int, nodes: np.ndarray | None = None) -> np.ndarray:
    """(N_par, M) co-phased full-power MRT towards one user from ``nodes`` (default all)."""
    targets = np.zeros((problem.num_nodes, problem.num_users), dtype=bool)
    targets[slice(None) if nodes is None else np.asarray(nodes), user] = True
    return _wc.mrt_multicast(problem.channels, targets, problem.p_max_w)


def _tdma(problem: BeamformingProblem, method: str, error_model: str, t0: float):
    """One slot per user; ``w`` is (U_r, N_par, M): the beam of each user's slot."""
    u = problem.num_users
    ws = np.zeros((u, problem.num_nodes, problem.num_antennas), dtype=complex)
    rates = np.zeros(u)
    nominal = np.zeros(u)
    chosen = np.zeros(u, dtype=int) - 1
    for i in range(u):
        sub = _single_user(problem, i)
        if method == "mrt_tdma":
            cands = [mrt_beam(problem, i)]
        else:  # unicast from the single best participating node
            cands = [mrt_beam(problem, i, np.array([n])) for n in range(problem.num_nodes)]
        best = -1.0
        for j, w in enumerate(cands):
            r = float(worst_case_rates(sub, w, error_model)[0])
            if r > best:
                best, ws[i], chosen[i] = r, w, j
        rates[i] = best
        nominal[i] = nominal_rates(sub, ws[i])[0]
    info = {"unicast_node": chosen} if method == "unicast" else {}
    return BeamformingResult(
        w=ws,
        rates_bps=rates,
        claimed_rates_bps=rates,
        nominal_rates_bps=nominal,
        delay_s=tdma_delay(problem, rates),
        qos_feasible=bool(np.all(rates >= problem.qos_bps)),
        method=method,
        error_model=error_model,
        solver="closed_form",
        status="optimal",
        iterations=0,
        wall_time_s=time.perf_counter() - t0,
        mode="tdma",
        info=info,
    )


def _single_user(problem: BeamformingProblem, i: int) -> BeamformingProblem:
    return replace(
        problem,
        channels=problem.channels[:, i : i + 1],
        error_shape=problem.error_shape[:, i : i + 1],
        qos_bps=problem.qos_bps[i : i + 1],
        user_ids=None if problem.user_ids is None else np.asarray(problem.user_ids)[i : i + 1],
        meta=dict(problem.meta),
    )


def solve_pb(
    problem: BeamformingProblem,
    method: str = "fast",
    error_model: str = "stacked",
    *,
    eps_hot: int | None = None,
    warm_start: np.ndarray | None = None,
    options: Any = None,
) -> BeamformingResult:
    """Hybrid multicasting (Fig. 17): CoMP with ``method`` if more than ``eps_hot`` users request
    the PB, else ``"unicast"``. ``eps_hot=None``: always ``method``."""
    if (
        eps_hot is not None
        and problem.num_users <= eps_hot
        and method in ("fast", "sdp_dc", "nonrobust", "fast_legacy")
    ):
        return solve(problem, "unicast", error_model)
    return solve(problem, method, error_model, warm_start=warm_start, options=options)
