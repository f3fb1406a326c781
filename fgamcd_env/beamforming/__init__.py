"""Robust CoMP beamforming for broadcasting one PB (P2(k), paper eqs. 23-33; SPEC 4).

>>> import fgamcd_env
>>> from fgamcd_env.beamforming import problem_from_scenario, solve
>>> sc = fgamcd_env.make_scenario("small", seed=0)
>>> prob = problem_from_scenario(sc, 0, [True, True, False], [0, 1])
>>> res = solve(prob, method="fast", error_model="stacked")
>>> res.w.shape, res.rates_bps.shape
((2, 4), (2,))

Methods: ``"fast"`` (robust interior-point solver, for training), ``"sdp_dc"`` (the paper's
SDP + DC), ``"nonrobust"``, ``"mrt_tdma"``, ``"unicast"``, ``"fast_legacy"`` (the projected-gradient
solver ``"fast"`` replaced); ``solve_pb`` adds the hybrid rule (eps_hot).
Error models: ``"stacked"`` (the paper's (28), default) and ``"per_node"`` (the sets of (4)).
"""

from __future__ import annotations

from fgamcd_env.beamforming.fast import FastOptions
from fgamcd_env.beamforming.legacy import LegacyOptions
from fgamcd_env.beamforming.montecarlo import MonteCarloReport, monte_carlo_check
from fgamcd_env.beamforming.problem import (
    ERROR_MODELS,
    BeamformingProblem,
    BeamformingResult,
    nominal_rates,
    problem_from_scenario,
    worst_case_amplitudes,
    worst_case_rates,
)
from fgamcd_env.beamforming.sdp import SdpOptions, mosek_licensed, solver_chain
from fgamcd_env.beamforming.solve import METHODS, mrt_beam, solve, solve_pb

__all__ = [
    "ERROR_MODELS",
    "METHODS",
    "BeamformingProblem",
    "BeamformingResult",
    "FastOptions",
    "LegacyOptions",
    "MonteCarloReport",
    "SdpOptions",
    "monte_carlo_check",
    "mosek_licensed",
    "mrt_beam",
    "nominal_rates",
    "problem_from_scenario",
    "solve",
    "solve_pb",
    "solver_chain",
    "worst_case_amplitudes",
    "worst_case_rates",
]
