"""Problem and result types of the robust CoMP beamforming subroutine P2(k) (SPEC 4).

A ``BeamformingProblem`` holds the estimated channels of the requesting users of one PB over
the participating nodes, their error ellipsoids, P_max, sigma^2, B, S(k) and the QoS rates.
Solvers never see raw numbers (channels ~1e-5, noise 1e-11 W): they work on the *internal*
quantities of ``BeamformingProblem.internal``:

- beamformers ``v = w / sqrt(P_max)`` so the per-node power constraint (23c) is ``||v_n|| <= 1``;
- channels ``a_u = sqrt(P_max) h~_u / (sigma * s0)``, with
  ``s0 = sqrt(P_max) max_u ||h~_u|| / sigma``
  so ``||a_u|| <= 1`` and the internal amplitude ``|a_u^H v|`` is O(1);
- true SNR = ``s0^2 * |a_u^H v|^2``, error sets mapped the same way (``C_int = C / kappa^2`` with
  ``a = kappa h``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Literal

import numpy as np

from fgamcd_env.core import worstcase as _wc

ErrorModel = Literal["per_node", "stacked"]
ERROR_MODELS: tuple[str, ...] = ("per_node", "stacked")


@dataclass(frozen=True)
class Internal:
    """Scaled quantities seen by the solvers (see the module docstring)."""

    a: np.ndarray  # (U, N, M) complex internal channels
    iso: np.ndarray | None  # (N, U) d_{n,u} when every C_{n,u}^{-1} = d_{n,u} I, else None
    s0: float  # true SNR = s0^2 * internal amplitude^2
    qos_amp: np.ndarray  # (U,) internal amplitude needed for Q_u
    kappa: float  # a = kappa h
    problem: BeamformingProblem

    @cached_property
    def c(self) -> np.ndarray:
        """(N, U, M, M) internal error shape matrices C_int = C / kappa^2."""
        return self.problem.error_shape / self.kappa**2

    @cached_property
    def d(self) -> np.ndarray:
        """(N, U, M, M) internal C_int^{-1} = kappa^2 C^{-1}."""
        return self.problem.error_shape_inv * self.kappa**2


@dataclass(frozen=True, eq=False)
class BeamformingProblem:
    """P2(k) for one PB: requesting users ``U_r`` over participating nodes ``N_par``.

    ``channels`` (N_par, U_r, M) complex estimates h~_{n,u}(k) (core layout, h^H w = sum conj(h) w);
    ``error_shape`` (N_par, U_r, M, M) Hermitian positive definite C_{n,u} of e^H C e <= 1 (4).
    ``node_ids``/``user_ids`` map rows back to the scenario (only for bookkeeping).
    """

    channels: np.ndarray
    error_shape: np.ndarray
    p_max_w: float
    noise_w: float
    bandwidth_hz: float
    pb_size_bytes: float
    qos_bps: np.ndarray
    node_ids: np.ndarray | None = None
    user_ids: np.ndarray | None = None
    num_nodes_total: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        h = np.asarray(self.channels, dtype=complex)
        if h.ndim != 3:
            raise ValueError(f"channels must be (N_par, U_r, M), got shape {h.shape}")
        n, u, m = h.shape
        c = np.asarray(self.error_shape, dtype=complex)
        if c.shape != (n, u, m, m):
            raise ValueError(f"error_shape must be {(n, u, m, m)}, got {c.shape}")
        q = np.broadcast_to(np.asarray(self.qos_bps, dtype=float), (u,)).copy()
        for name in ("p_max_w", "noise_w", "bandwidth_hz", "pb_size_bytes"):
            if not float(getattr(self, name)) > 0:
                raise ValueError(f"{name}={getattr(self, name)!r}: must be > 0")
        object.__setattr__(self, "channels", h)
        object.__setattr__(self, "error_shape", c)
        object.__setattr__(self, "qos_bps", q)

    # ---- sizes -----------------------------------------------------------------------------
    @property
    def num_nodes(self) -> int:
        """N_par, participating nodes in this problem."""
        return self.channels.shape[0]

    @property
    def num_users(self) -> int:
        """U_r, requesting users."""
        return self.channels.shape[1]

    @property
    def num_antennas(self) -> int:
        return self.channels.shape[2]

    @property
    def stacked_channels(self) -> np.ndarray:
        """(U_r, N_par*M) stacked estimates h~_u of (24)."""
        return self.channels.transpose(1, 0, 2).reshape(self.num_users, -1)

    @cached_property
    def isotropic_shape(self) -> np.ndarray | None:
        """(N_par, U_r) c_{n,u} if every C_{n,u} = c_{n,u} I (to 1e-12 relative), else None."""
        c = self.error_shape
        n, u, m = c.shape[:3]
        flat = c.reshape(n, u, m * m)
        diag = flat[..., :: m + 1]  # (N, U, M)
        if diag.size == 0:
            return np.zeros((n, u))
        ref = diag.real[..., :1]
        if not np.all(ref > 0):
            return None
        if np.count_nonzero(flat) == np.count_nonzero(diag):  # exactly diagonal (scenarios)
            off_ok = True
        else:
            off = np.abs(c).sum(axis=(-2, -1)) - np.abs(diag).sum(axis=-1)
            off_ok = bool(np.all(off <= 1e-12 * m * ref[..., 0]))
        if (
            off_ok
            and np.all(np.abs(diag.imag) <= 1e-12 * ref)
            and np.all(np.abs(diag.real - ref) <= 1e-12 * ref)
        ):
            return ref[..., 0].copy()
        return None

    @cached_property
    def error_shape_inv(self) -> np.ndarray:
        """(N_par, U_r, M, M) C_{n,u}^{-1} (no inversion needed for isotropic sets)."""
        iso = self.isotropic_shape
        if iso is None:
            return np.linalg.inv(self.error_shape)
        eye = np.eye(self.num_antennas)
        return (1.0 / iso)[..., None, None] * eye

    @property
    def pb_bits(self) -> float:
        return 8.0 * float(self.pb_size_bytes)

    def with_qos(self, qos_bps: np.ndarray | float) -> BeamformingProblem:
        """The same problem with other QoS targets Q_u (e.g. just below an achieved rate)."""
        return replace(self, qos_bps=qos_bps)

    def stacked_over(self, count: int) -> BeamformingProblem:
        """The problem whose stacked relaxation (28) stacks ``count`` nodes' errors instead of
        the N_par participating ones: its error shapes are C_{n,u} N_par / count, so that
        sqrt(N_par sum_n w_n^H C'^{-1}_{n,u} w_n) = sqrt(count sum_n w_n^H C^{-1}_{n,u} w_n).
        Only meaningful with ``error_model="stacked"`` (the per-node sets (4) change with it)."""
        if int(count) != count or count < self.num_nodes:
            raise ValueError(f"count={count!r}: must be an integer >= N_par = {self.num_nodes}")
        if count == self.num_nodes:
            return self
        return replace(self, error_shape=self.error_shape * (self.num_nodes / count))

    # ---- internal (scaled) quantities ------------------------------------------------------
    @cached_property
    def internal(self) -> Internal:
        h = self.channels
        sigma = np.sqrt(self.noise_w)
        norms = np.sqrt(
            np.einsum("num,num->u", h.real, h.real) + np.einsum("num,num->u", h.imag, h.imag)
        )
        hmax = float(norms.max()) if norms.size and norms.max() > 0 else 1.0
        kappa = 1.0 / hmax  # a = kappa h
        s0 = np.sqrt(self.p_max_w) * hmax / sigma
        a = (kappa * h).transpose(1, 0, 2).copy()  # (U, N, M)
        shape = self.isotropic_shape
        iso = None if shape is None else kappa**2 / shape
        with np.errstate(over="ignore"):  # absurd Q_u -> inf threshold -> reported infeasible
            snr_q = np.expm1(self.qos_bps / self.bandwidth_hz * np.log(2.0))
        return Internal(
            a=a,
            iso=iso,
            s0=float(s0),
            qos_amp=np.sqrt(snr_q) / s0,
            kappa=kappa,
            problem=self,
        )

    def to_internal_w(self, w: np.ndarray) -> np.ndarray:
        return np.asarray(w) / np.sqrt(self.p_max_w)

    def from_internal_v(self, v: np.ndarray) -> np.ndarray:
        return np.asarray(v) * np.sqrt(self.p_max_w)

    def embed(self, w: np.ndarray) -> np.ndarray:
        """(N_total, M) beamformers with zeros for non-participating nodes (needs ``node_ids``)."""
        if self.node_ids is None or self.num_nodes_total is None:
            raise ValueError("embed needs node_ids and num_nodes_total")
        out = np.zeros((self.num_nodes_total, self.num_antennas), dtype=complex)
        out[np.asarray(self.node_ids)] = w
        return out


def problem_from_scenario(
    scenario: Any,
    k: int,
    participating: np.ndarray,
    requesting: np.ndarray | None = None,
    *,
    full_comp: bool = False,
) -> BeamformingProblem:
    """P2(k) of ``scenario`` for PB ``k``.

    ``participating`` (N,) bool lambda(k) (or node indices); ``requesting`` (U,) bool or user
    indices, default: the users whose model contains PB k (``scenario.demand[k]``).
    ``full_comp=True``: every node takes part (the "full CoMP" setting of Table III).
    """
    n_tot, u_tot = scenario.num_nodes, scenario.num_users
    nodes = np.arange(n_tot) if full_comp else _as_indices(participating, n_tot)
    users = _as_indices(scenario.demand[k] if requesting is None else requesting, u_tot)
    cfg = scenario.config
    return BeamformingProblem(
        channels=scenario.channels[k][np.ix_(nodes, users)],
        error_shape=scenario.error_shape[np.ix_(nodes, users)],
        p_max_w=cfg.p_max_w,
        noise_w=cfg.noise_w,
        bandwidth_hz=cfg.bandwidth_hz,
        pb_size_bytes=float(scenario.pb_sizes_bytes[k]),
        qos_bps=scenario.qos_bps[users],
        node_ids=nodes,
        user_ids=users,
        num_nodes_total=n_tot,
        meta={"k": int(k)},
    )


def _as_indices(sel: Any, size: int) -> np.ndarray:
    arr = np.asarray(sel)
    if arr.dtype == bool:
        if arr.shape != (size,):
            raise ValueError(f"boolean mask must have shape ({size},), got {arr.shape}")
        return np.flatnonzero(arr)
    return np.asarray(arr, dtype=int).reshape(-1)


def worst_case_amplitudes(
    problem: BeamformingProblem, w: np.ndarray, error_model: ErrorModel = "stacked"
) -> np.ndarray:
    """(U_r,) closed-form worst-case ``|h_u^H w|`` (core ``worst_case_amplitudes``)."""
    ones = np.ones(problem.num_nodes, dtype=bool)
    iso = problem.isotropic_shape
    inv = problem.error_shape_inv if iso is None else 1.0 / iso  # (N, U) d for C^-1 = d I
    return _wc.worst_case_amplitudes(problem.channels, np.asarray(w), inv, ones, error_model)


def worst_case_rates(
    problem: BeamformingProblem, w: np.ndarray, error_model: ErrorModel = "stacked"
) -> np.ndarray:
    """(U_r,) closed-form worst-case rates [bit/s] of beamformer ``w`` (N_par, M) [W^0.5 units]."""
    amp = worst_case_amplitudes(problem, w, error_model)
    return _wc.rates_bps(amp, problem.noise_w, problem.bandwidth_hz)


def nominal_rates(problem: BeamformingProblem, w: np.ndarray) -> np.ndarray:
    """(U_r,) rates on the estimated channel (error taken as zero)."""
    amp = np.abs(np.einsum("num,nm->u", problem.channels.conj(), np.asarray(w)))
    return _wc.rates_bps(amp, problem.noise_w, problem.bandwidth_hz)


@dataclass(frozen=True)
class BeamformingResult:
    """Outcome of one solve. Rates in bit/s, delays in s, ``w`` (N_par, M) in W^0.5.

    ``rates_bps`` are the closed-form worst-case rates of ``w`` under ``error_model`` (always
    true, whatever the method believed); ``claimed_rates_bps`` are the rates the method's own model
    promises (worst-case for robust methods, nominal for ``nonrobust``). ``qos_feasible`` is
    ``claimed_rates_bps >= Q_u`` for every user. ``delay_s`` is the worst-case delivery delay of
    the PB (max_u S/R_u for broadcasting; sum_u S/R_u for TDMA), +inf if some rate is 0.
    """

    w: np.ndarray
    rates_bps: np.ndarray
    claimed_rates_bps: np.ndarray
    nominal_rates_bps: np.ndarray
    delay_s: float
    qos_feasible: bool
    method: str
    error_model: str
    solver: str
    status: str
    iterations: int
    wall_time_s: float
    mode: str = "comp"  # "comp" broadcast, "tdma" unicast slots
    sdr_bound_bps: float | None = None  # min-rate upper bound of the SDR (sdp_dc only)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def min_rate_bps(self) -> float:
        return float(self.rates_bps.min()) if self.rates_bps.size else float("inf")

    @property
    def worst_case_rates_bps(self) -> np.ndarray:
        return self.rates_bps


def broadcast_delay(problem: BeamformingProblem, rates: np.ndarray) -> float:
    r = np.asarray(rates, dtype=float)
    if r.size == 0:
        return 0.0
    rmin = float(r.min())
    return problem.pb_bits / rmin if rmin > 0 else float("inf")


def tdma_delay(problem: BeamformingProblem, rates: np.ndarray) -> float:
    r = np.asarray(rates, dtype=float)
    if r.size == 0:
        return 0.0
    if np.any(r <= 0):
        return float("inf")
    return float(np.sum(problem.pb_bits / r))
