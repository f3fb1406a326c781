"""``method="sdp_dc"``: the paper's S-procedure SDP with DC rank-one iterations (eqs. 23-33).

Lifted variable W = v v^H (internal units, see ``problem``), per-node power (23c)
``tr W_nn <= 1``, W >= 0 (23e). For user u and SNR threshold gamma, the S-procedure (Lemma 1,
(25)-(30)) turns "SNR_u(e) >= gamma for every e in the error set" into an LMI. We write it after
the congruence ``T = [[I, -a], [0, 1]]`` (an equivalent LMI, T is invertible), which keeps every
parameter multiplying a variable only once, so the problem is DPP:

    [[ sum_n eps_n C~_n + W ,  -sum_n eps_n C~_n a      ],
     [ -(...)^H             ,  sum_n eps_n beta_n - gamma ]]  >= 0,   beta_n = a_n^H C_n a_n - 1

with ``C~_n`` the node-n block C_{n,u}. ``error_model="stacked"`` is the paper's (28) (one
eps per LMI, so the sum is eps (C_u, e^H C_u e <= N_par), an exact S-lemma);
``"per_node"`` gives each node its own eps_n (a sufficient condition for the sets of (4)).

Like the paper there are two LMIs per user: (29) with the QoS threshold gamma_Q,u (a parameter;
0 switches it off) and (30) with the common variable threshold gamma. The paper minimises
1/zeta = S(k)/min_u R_u; since R_u = B log2(1 + s0^2 gamma) is increasing in gamma we maximise
gamma instead (same optimiser, a linear objective that needs no exponential cone), and add the DC
penalty mu (tr W - tr(u1 u1^H W)) of (32)-(33). The first solve (mu = 0) is the SDR, whose value is
an upper bound; then (33) is iterated with u1 the principal eigenvector of the previous W until
W is rank one, and w is recovered from the principal eigenpair (scaled into the power budget).
One cvxpy problem is built per shape and cached; only parameter values change between calls.
"""

from __future__ import annotations

import functools
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

_CACHE: dict[tuple, _SdpModel] = {}


@functools.lru_cache(maxsize=1)
def mosek_licensed() -> bool:
    """True only if MOSEK imports *and* a licence can be checked out (cheap, cached)."""
    try:
        import mosek  # type: ignore[import-not-found]

        with mosek.Env() as env:
            env.checkoutlicense(mosek.feature.pts)
        return True
    except Exception:
        return False


def solver_chain(preferred: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """MOSEK (only with a licence) -> CLARABEL -> SCS, restricted to installed solvers."""
    import cvxpy as cp

    chain = preferred or ("MOSEK", "CLARABEL", "SCS")
    installed = set(cp.installed_solvers())
    out = []
    for s in chain:
        if s == "MOSEK" and not mosek_licensed():
            continue
        if s in installed:
            out.append(s)
    return tuple(out)


@dataclass
class SdpOptions:
    mu: float = 1.0  # DC penalty (Table II: mu = 1)
    max_dc_iters: int = 10
    rank_tol: float = 1e-5  # stop when lambda_1 / tr W >= 1 - rank_tol
    solvers: tuple[str, ...] | None = None
    time_limit_s: float | None = None
    scs_eps: float = 1e-6
    scs_max_iters: int = 50_000
    # True: two LMIs per user, (29) with gamma_Q,u and (30) with gamma, as printed in the paper.
    # False (default): one LMI per user with gamma_u >= gamma, gamma_u >= gamma_Q,u. For the
    # stacked set the S-lemma is exact, so both forms have the same feasible W (half the cones).
    paper_lmis: bool = False


class _SdpModel:
    """The DPP cvxpy problem for one shape (N_par, M, U, error_model, lmi form)."""

    def __init__(self, n: int, m: int, u: int, error_model: str, paper_lmis: bool) -> None:
        import cvxpy as cp

        nm = n * m
        self.shape = (n, m, u)
        self.W = cp.Variable((nm, nm), hermitian=True)
        self.gamma = cp.Variable()
        self.C = [[cp.Parameter((m, m), hermitian=True) for _ in range(n)] for _ in range(u)]
        self.Ca = [[cp.Parameter(m, complex=True) for _ in range(n)] for _ in range(u)]
        self.beta = [[cp.Parameter() for _ in range(n)] for _ in range(u)]
        self.gq = cp.Parameter(u, nonneg=True)  # QoS SNR thresholds (internal), 0 = off
        self.mu = cp.Parameter(nonneg=True)
        self.U1 = cp.Parameter((nm, nm), hermitian=True)
        cons = [self.W >> 0]
        for i in range(n):
            blk = slice(i * m, (i + 1) * m)
            cons.append(cp.real(cp.trace(self.W[blk, blk])) <= 1.0)
        n_eps = n if error_model == "per_node" else 1
        self.eps = []

        def lmi(uu: int, thr: Any) -> Any:
            eps = cp.Variable(n_eps, nonneg=True)
            self.eps.append(eps)
            e = [eps[i if n_eps > 1 else 0] for i in range(n)]
            zero = np.zeros((m, m))
            rows = []
            for i in range(n):
                row = []
                for j in range(n):
                    blk = self.W[i * m : (i + 1) * m, j * m : (j + 1) * m]
                    row.append(blk + e[i] * self.C[uu][i] if i == j else blk + zero)
                row.append(cp.reshape(-e[i] * self.Ca[uu][i], (m, 1), order="F"))
                rows.append(row)
            last = [
                cp.reshape(-e[j] * cp.conj(self.Ca[uu][j]), (1, m), order="F") for j in range(n)
            ]
            corner = sum(e[i] * self.beta[uu][i] for i in range(n)) - thr
            last.append(cp.reshape(corner, (1, 1), order="F"))
            rows.append(last)
            mat = cp.bmat(rows)
            return (mat + mat.H) / 2 >> 0

        if paper_lmis:
            for uu in range(u):
                cons.append(lmi(uu, self.gq[uu]))  # (29)
                cons.append(lmi(uu, self.gamma))  # (30)
        else:
            gu = cp.Variable(u)
            cons += [gu >= self.gamma, gu >= self.gq]
            for uu in range(u):
                cons.append(lmi(uu, gu[uu]))
        # mu (tr W - tr(u1 u1^H W)) with U1 := mu u1 u1^H one parameter (keeps the problem DPP)
        penalty = self.mu * cp.real(cp.trace(self.W)) - cp.real(cp.trace(self.U1 @ self.W))
        self.problem = cp.Problem(cp.Maximize(self.gamma - penalty), cons)

    def set(self, prob: Any, error_model: str, qos: bool, ref: float = 1.0) -> None:
        """Parameter values for ``prob``; channels divided by ``ref`` (so gamma ~ O(1))."""
        internal = prob.internal
        a = internal.a / ref  # (U, N, M); the error set scales with it: C -> C ref^2
        c = internal.c * ref**2  # (N, U, M, M)
        n, m, u = self.shape
        scale = float(np.mean(np.real(np.einsum("numm->nu", c)))) / m  # eps ~ O(1)
        for uu in range(u):
            for i in range(n):
                cn = c[i, uu] / scale
                cn = (cn + cn.conj().T) / 2
                self.C[uu][i].value = cn
                self.Ca[uu][i].value = cn @ a[uu, i]
                self.beta[uu][i].value = float(np.real(a[uu, i].conj() @ cn @ a[uu, i])) - 1 / scale
        self.gq.value = (internal.qos_amp / ref) ** 2 if qos else np.zeros(u)


def _get_model(n: int, m: int, u: int, error_model: str, paper_lmis: bool) -> _SdpModel:
    key = (n, m, u, error_model, paper_lmis)
    if key not in _CACHE:
        _CACHE[key] = _SdpModel(n, m, u, error_model, paper_lmis)
    return _CACHE[key]


def _solve_once(model: _SdpModel, chain: tuple[str, ...], opts: SdpOptions, deadline: float | None):
    """Solve with the first solver of the chain that succeeds; (status, solver, errors)."""
    import cvxpy as cp

    errors: dict[str, str] = {}
    for s in chain:
        kwargs: dict[str, Any] = {}
        left = None if deadline is None else max(deadline - time.perf_counter(), 0.5)
        if s == "SCS":
            kwargs = {"eps_abs": opts.scs_eps, "eps_rel": opts.scs_eps,
                      "max_iters": opts.scs_max_iters}
            if left is not None:
                kwargs["time_limit_secs"] = left
        elif s == "CLARABEL" and left is not None:
            kwargs = {"time_limit": left}
        elif s == "MOSEK" and left is not None:
            kwargs = {"mosek_params": {"MSK_DPAR_OPTIMIZER_MAX_TIME": left}}
        try:
            with warnings.catch_warnings():  # "may be inaccurate": we report the status instead
                warnings.simplefilter("ignore", UserWarning)
                model.problem.solve(solver=s, ignore_dpp=False, **kwargs)
        except Exception as exc:  # any solver error: fall down the chain
            errors[s] = f"{type(exc).__name__}: {exc}"[:200]
            continue
        st = model.problem.status
        if st in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) and model.W.value is not None:
            return st, s, errors
        if st in (cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE):
            return "infeasible", s, errors
        errors[s] = f"status {st}"
    return "solver_failed", "", errors


def solve_sdp_dc(prob: Any, error_model: str, opts: SdpOptions | None = None) -> dict:
    """Internal-units solution: dict with v (N, M) or None, status, solver, sdr_gamma, iters."""
    opts = opts or SdpOptions()
    t0 = time.perf_counter()
    deadline = None if opts.time_limit_s is None else t0 + opts.time_limit_s
    n, m, u = prob.num_nodes, prob.num_antennas, prob.num_users
    chain = solver_chain(opts.solvers)
    out: dict[str, Any] = {"v": None, "status": "solver_failed", "solver": "", "sdr_gamma": None,
                           "iterations": 0, "errors": {}, "qos_in_sdp": True, "rank_ratio": None}
    if not chain:
        out["errors"] = {"chain": "no SDP solver installed"}
        return out
    model = _get_model(n, m, u, error_model, opts.paper_lmis)
    nm = n * m
    model.mu.value = 0.0
    model.U1.value = np.zeros((nm, nm), dtype=complex)
    # amplitude scale of a good beamformer: best min nominal amplitude over MRT-type starts
    from fgamcd_env.beamforming.fast import starting_points

    a = prob.internal.a
    starts = starting_points(a, 0, np.random.default_rng(0))
    amp = np.abs(np.einsum("unm,pnm->pu", a.conj(), starts)).min(axis=1).max()
    ref = float(max(amp, 1e-6))
    # Max-min first (QoS LMIs (29) off): if its rank-one solution meets every Q_u it also solves
    # P2(k) (the QoS constraints only shrink the feasible set); else re-solve with (29) on, and
    # if that is infeasible keep the max-min solution (the env still needs its delay).
    model.set(prob, error_model, qos=False, ref=ref)
    status, solver, errs = _solve_once(model, chain, opts, deadline)
    out["errors"].update(errs)
    out["qos_in_sdp"] = False
    W0 = None if model.W.value is None else model.W.value.copy()
    g0 = None if model.gamma.value is None else float(model.gamma.value)
    if status in ("optimal", "optimal_inaccurate") and np.any(
        internal_qos_gap(prob, W0, n, m, error_model)
    ):
        saved = (W0, g0, status, solver)
        model.set(prob, error_model, qos=True, ref=ref)
        st2, s2, errs = _solve_once(model, chain, opts, deadline)
        out["errors"].update(errs)
        if st2 in ("optimal", "optimal_inaccurate"):
            status, solver, out["qos_in_sdp"] = st2, s2, True
            W0, g0 = model.W.value.copy(), float(model.gamma.value)
        else:  # infeasible (or failed): back to the max-min problem and its solution
            model.set(prob, error_model, qos=False, ref=ref)
            W0, g0, status, solver = saved
    out["solver"] = solver
    if status != "optimal" and status != "optimal_inaccurate":
        out["status"] = status
        return out
    out["sdr_gamma"] = g0 * ref**2
    W = W0
    its = 1
    model.mu.value = opts.mu
    best_v, best_val, best_ratio = None, -np.inf, 0.0
    for _ in range(opts.max_dc_iters):
        lam, vec = np.linalg.eigh((W + W.conj().T) / 2)
        ratio = lam[-1] / max(float(np.sum(np.maximum(lam, 0.0))), 1e-300)
        cand = _recover(vec[:, -1], n, m)
        val = _min_amp(prob, cand, error_model)
        if val > best_val:
            best_v, best_val, best_ratio = cand, val, ratio
        if ratio >= 1 - opts.rank_tol:
            break
        if deadline is not None and time.perf_counter() > deadline:
            out["status_note"] = "time limit in DC iterations"
            break
        u1 = vec[:, -1]
        model.U1.value = opts.mu * np.outer(u1, u1.conj())
        st, s2, errs = _solve_once(model, chain, opts, deadline)
        out["errors"].update(errs)
        its += 1
        if st not in ("optimal", "optimal_inaccurate"):
            out["status_note"] = f"DC iteration stopped: {st}"
            break
        W = model.W.value
        solver = s2 or solver
    v = best_v
    out.update(v=v, status=status, iterations=its, rank_ratio=float(best_ratio), solver=solver)
    return out


def _recover(u1: np.ndarray, n: int, m: int) -> np.ndarray:
    """Beamformer from the principal eigenvector; g is 1-homogeneous in v, so scale it until the
    strongest node uses its full budget (23c)."""
    v = u1.reshape(n, m)
    return v / max(float(np.linalg.norm(v, axis=1).max()), 1e-300)


def _min_amp(prob: Any, v: np.ndarray, error_model: str) -> float:
    from fgamcd_env.beamforming.problem import worst_case_amplitudes

    return float(worst_case_amplitudes(prob, prob.from_internal_v(v), error_model).min())


def internal_qos_gap(prob: Any, W: np.ndarray, n: int, m: int, error_model: str) -> np.ndarray:
    """(U,) True where the principal-eigenvector beamformer of ``W`` misses Q_u."""
    _, vec = np.linalg.eigh((W + W.conj().T) / 2)
    v = _recover(vec[:, -1], n, m)
    from fgamcd_env.beamforming.problem import worst_case_rates

    return worst_case_rates(prob, prob.from_internal_v(v), error_model) < prob.qos_bps
