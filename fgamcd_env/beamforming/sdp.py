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
W is rank one, and w is recovered from the principal eigenpair (scaled into the power budget);
the best recovered w of all iterations (by the closed-form worst case) is kept. The DC step can
collapse to a rank-one W with gamma ~ 0 that leaves a user at zero worst-case rate although the
relaxation (gamma > 0) serves every user; then the beamformer is recovered from the relaxation
by Gaussian randomisation (``SdpOptions.randomisations`` draws v ~ CN(0, W_SDR), the best
verified one kept) and, while a user is still at zero, the DC iterations are re-run with
mu / 10 and mu / 100 from that point; if none serves every user the status is ``"dc_failed"``.

Two builds of the same problem (``SdpOptions.build``): ``"param"``, one DPP problem per shape with
the data, mu and U1 as cvxpy Parameters, compiled once and cached (only parameter values change
between calls); its parameter tensor grows like (N M)^4 (63 GB at N M = 360), so ``"auto"`` uses
it only up to ``PARAM_MAX_NM``; above, ``"const"`` builds the constraints with numeric constants
per data set and the objective per DC iteration (the DC term elementwise, Re tr((mu I - U1) W) =
sum(Re G o Re W) + sum(Im G o Im W), G = mu I - U1) and cvxpy recompiles at every solve, in memory
proportional to the problem data. Solvers: MOSEK (with a licence), CLARABEL, SCS; CLARABEL keeps a
dense block per PSD cone in its KKT system and is skipped where that would exceed
``SdpOptions.clarabel_max_gb`` (default 4 GB: from N M of about 45-50 on), leaving SCS.
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
    # When the DC iterations leave a user at zero worst-case rate although the relaxation serves
    # every user: this many Gaussian randomisations of the SDR solution (seeded by ``seed``),
    # then, while a user is still at zero, DC with mu / 10 and mu / 100 from the best of them.
    randomisations: int = 200
    seed: int = 0
    rank_tol: float = 1e-5  # stop when lambda_1 / tr W >= 1 - rank_tol
    solvers: tuple[str, ...] | None = None
    time_limit_s: float | None = None
    scs_eps: float = 1e-6
    scs_max_iters: int = 50_000
    # True: two LMIs per user, (29) with gamma_Q,u and (30) with gamma, as printed in the paper.
    # False (default): one LMI per user with gamma_u >= gamma, gamma_u >= gamma_Q,u. For the
    # stacked set the S-lemma is exact, so both forms have the same feasible W (half the cones).
    paper_lmis: bool = False
    # How the cvxpy problem is built: "param" (one DPP problem per shape with the data as
    # Parameters, compiled once and cached; its parameter tensor needs 63 GB at N M = 360),
    # "const" (every number a constant, recompiled at every solve, memory proportional to the
    # data) or "auto" ("param" iff N_par * M <= PARAM_MAX_NM). Same constraints and objective.
    build: str = "auto"
    # Skip CLARABEL when it would need more than this many GB (``clarabel_kkt_gb``: a dense
    # (d(d+1)/2)^2 block per real d x d PSD cone in its KKT system). None: never skip.
    clarabel_max_gb: float | None = 4.0


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
        n, _, u = self.shape
        C, Ca, beta, gq = _lmi_data(prob, self.shape, qos, ref)
        for uu in range(u):
            for i in range(n):
                self.C[uu][i].value = C[uu, i]
                self.Ca[uu][i].value = Ca[uu, i]
                self.beta[uu][i].value = beta[uu, i]
        self.gq.value = gq

    def set_dc(self, mu: float, u1: np.ndarray | None) -> None:
        """DC term mu (tr W - tr(u1 u1^H W)); ``u1=None``: U1 = 0."""
        nm = self.shape[0] * self.shape[1]
        self.mu.value = mu
        self.U1.value = (
            np.zeros((nm, nm), dtype=complex) if u1 is None else mu * np.outer(u1, u1.conj())
        )


def _lmi_data(prob: Any, shape: tuple[int, int, int], qos: bool, ref: float):
    """(C (U,N,M,M), Ca (U,N,M), beta (U,N), gq (U,)) of the LMIs, channels divided by ``ref``."""
    internal = prob.internal
    a = internal.a / ref  # (U, N, M); the error set scales with it: C -> C ref^2
    c = internal.c * ref**2  # (N, U, M, M)
    n, m, u = shape
    scale = float(np.mean(np.real(np.einsum("numm->nu", c)))) / m  # eps ~ O(1)
    C = np.empty((u, n, m, m), dtype=complex)
    Ca = np.empty((u, n, m), dtype=complex)
    beta = np.empty((u, n))
    for uu in range(u):
        for i in range(n):
            cn = c[i, uu] / scale
            cn = (cn + cn.conj().T) / 2
            C[uu, i] = cn
            Ca[uu, i] = cn @ a[uu, i]
            beta[uu, i] = float(np.real(a[uu, i].conj() @ cn @ a[uu, i])) - 1 / scale
    gq = (internal.qos_amp / ref) ** 2 if qos else np.zeros(u)
    return C, Ca, beta, gq


class _ConstModel:
    """The same problem as ``_SdpModel`` with every number a numeric constant (no Parameter, no
    DPP), so cvxpy's compilation needs memory proportional to the problem data; ``_SdpModel``'s
    parameter tensor grows with (N M)^2 x (number of parameters) and needs 63 GB at N M = 360.

    The constraints are built once per data set (``set``; only the last one is kept), the
    objective gamma - Re tr((mu I - U1) W) once per DC iteration (``set_dc``, elementwise:
    sum(G_re o Re W) + sum(G_im o Im W) with G = mu I - U1); cvxpy recompiles at every solve.
    """

    def __init__(self, n: int, m: int, u: int, error_model: str, paper_lmis: bool) -> None:
        self.shape = (n, m, u)
        self.error_model = error_model
        self.paper_lmis = paper_lmis
        self.problem: Any = None
        self.W: Any = None
        self.gamma: Any = None
        self._cons: list = []
        self._key: tuple | None = None
        self._dc: tuple[float, np.ndarray | None] = (0.0, None)
        self.build_s = 0.0  # seconds spent building cvxpy expressions (compiling is in solve)

    def set(self, prob: Any, error_model: str, qos: bool, ref: float = 1.0) -> None:
        """Constraints for ``prob`` (a no-op if they are already the current ones)."""
        key = (id(prob), error_model, bool(qos), float(ref))
        if key == self._key:
            return
        self.problem = self.W = self.gamma = None  # free the previous one first
        self._cons = []
        t0 = time.perf_counter()
        self._build(*_lmi_data(prob, self.shape, qos, ref), error_model)
        self._key = key
        self.build_s += time.perf_counter() - t0
        self.set_dc(*self._dc)

    def set_dc(self, mu: float, u1: np.ndarray | None) -> None:
        """Objective with the DC term mu (tr W - tr(u1 u1^H W)); ``u1=None``: U1 = 0."""
        import cvxpy as cp

        self._dc = (mu, u1)
        if self.W is None:
            return
        t0 = time.perf_counter()
        nm = self.shape[0] * self.shape[1]
        penalty: Any = 0.0
        if mu != 0.0:
            g = mu * np.eye(nm, dtype=complex)
            if u1 is not None:
                g -= mu * np.outer(u1, u1.conj())
            penalty = cp.sum(cp.multiply(np.real(g), cp.real(self.W)))
            if u1 is not None:
                penalty = penalty + cp.sum(cp.multiply(np.imag(g), cp.imag(self.W)))
        self.problem = cp.Problem(cp.Maximize(self.gamma - penalty), self._cons)
        self.build_s += time.perf_counter() - t0

    def _build(self, C, Ca, beta, gq, error_model: str) -> None:
        import cvxpy as cp
        import scipy.sparse as sp

        n, m, u = self.shape
        nm = n * m
        self.W = W = cp.Variable((nm, nm), hermitian=True)
        self.gamma = cp.Variable()
        cons = [W >> 0]
        for i in range(n):
            blk = slice(i * m, (i + 1) * m)
            cons.append(cp.real(cp.trace(W[blk, blk])) <= 1.0)
        n_eps = n if error_model == "per_node" else 1
        # [[W, 0], [0, 0]]: W padded by a zero row and column
        wpad = cp.bmat([[W, np.zeros((nm, 1))], [np.zeros((1, nm)), np.zeros((1, 1))]])
        corner = sp.csc_matrix(([1.0], ([nm], [nm])), shape=(nm + 1, nm + 1))

        def k_mat(uu: int, nodes: range) -> Any:
            """sum over ``nodes`` of eps_i's constant matrix [[C~_i (block i), -C~_i a_i],
            [-(.)^H, beta_i]] (sparse, hermitian)."""
            rows, cols, vals = [], [], []
            for i in nodes:
                idx = np.arange(i * m, (i + 1) * m)
                rr, cc = np.meshgrid(idx, idx, indexing="ij")
                rows += [rr.ravel(), idx, np.full(m, nm), [nm]]
                cols += [cc.ravel(), np.full(m, nm), idx, [nm]]
                vals += [C[uu, i].ravel(), -Ca[uu, i], -Ca[uu, i].conj(), [beta[uu, i]]]
            return sp.csc_matrix(
                (
                    np.concatenate(vals).astype(complex),
                    (np.concatenate(rows), np.concatenate(cols)),
                ),
                shape=(nm + 1, nm + 1),
            )

        def lmi(uu: int, thr: Any) -> Any:
            eps = cp.Variable(n_eps, nonneg=True)
            groups = [range(i, i + 1) for i in range(n)] if n_eps > 1 else [range(n)]
            mat = wpad - thr * corner
            for j, nodes in enumerate(groups):
                mat = mat + eps[j] * k_mat(uu, nodes)
            return (mat + mat.H) / 2 >> 0

        if self.paper_lmis:
            for uu in range(u):
                cons.append(lmi(uu, float(gq[uu])))  # (29)
                cons.append(lmi(uu, self.gamma))  # (30)
        else:
            gu = cp.Variable(u)
            cons += [gu >= self.gamma, gu >= gq]
            for uu in range(u):
                cons.append(lmi(uu, gu[uu]))
        self._cons = cons


# build="auto": the parameterised (DPP) problem up to this N_par * M, constants above. cvxpy's
# parameter tensor (U1 is (N M)^2 parameters acting on the (N M)^2 entries of W) grows like
# (N M)^4: peak RSS 0.2 GB at N M = 60, 0.3 GB at 80, 0.9 GB at 120, 63 GB at 360 (cvxpy 1.9).
PARAM_MAX_NM = 64


def _get_model(
    n: int, m: int, u: int, error_model: str, paper_lmis: bool, build: str = "auto"
) -> _SdpModel | _ConstModel:
    """The cached DPP model of the shape (``build="param"``) or a fresh constant-data model
    (``"const"``; built by its ``set``); ``"auto"``: "param" iff n * m <= PARAM_MAX_NM."""
    if build == "auto":
        build = "param" if n * m <= PARAM_MAX_NM else "const"
    if build == "const":
        return _ConstModel(n, m, u, error_model, paper_lmis)
    if build != "param":
        raise ValueError(f"build={build!r}: 'auto', 'param' or 'const'")
    key = (n, m, u, error_model, paper_lmis)
    if key not in _CACHE:
        _CACHE[key] = _SdpModel(n, m, u, error_model, paper_lmis)
    return _CACHE[key]


def _solve_once(
    model: _SdpModel | _ConstModel,
    chain: tuple[str, ...],
    opts: SdpOptions,
    deadline: float | None,
    log: list | None = None,
):
    """Solve with the first solver of the chain that succeeds; (status, solver, errors).
    ``log`` gets one dict per attempt: solver, status, wall / cvxpy compile / solver seconds."""
    import cvxpy as cp

    errors: dict[str, str] = {}
    for s in chain:
        if s == "CLARABEL" and opts.clarabel_max_gb is not None:
            need = clarabel_kkt_gb(*model.shape, opts.paper_lmis)
            if need > opts.clarabel_max_gb:
                errors[s] = (
                    f"skipped: its KKT system needs ~{need:.3g} GB > clarabel_max_gb="
                    f"{opts.clarabel_max_gb:g}"
                )
                continue
        kwargs: dict[str, Any] = {}
        left = None if deadline is None else max(deadline - time.perf_counter(), 0.5)
        if s == "SCS":
            kwargs = {
                "eps_abs": opts.scs_eps,
                "eps_rel": opts.scs_eps,
                "max_iters": opts.scs_max_iters,
            }
            if left is not None:
                kwargs["time_limit_secs"] = left
        elif s == "CLARABEL" and left is not None:
            kwargs = {"time_limit": left}
        elif s == "MOSEK" and left is not None:
            kwargs = {"mosek_params": {"MSK_DPAR_OPTIMIZER_MAX_TIME": left}}
        t0 = time.perf_counter()
        try:
            with warnings.catch_warnings():  # "may be inaccurate": we report the status instead
                warnings.simplefilter("ignore", UserWarning)
                model.problem.solve(solver=s, ignore_dpp=False, **kwargs)
        except Exception as exc:  # any solver error: fall down the chain
            errors[s] = f"{type(exc).__name__}: {exc}"[:200]
            if log is not None:
                log.append({"solver": s, "status": "error", "wall_s": time.perf_counter() - t0})
            continue
        st = model.problem.status
        if log is not None:
            stats = model.problem.solver_stats
            log.append(
                {
                    "solver": s,
                    "status": st,
                    "wall_s": time.perf_counter() - t0,
                    "compile_s": getattr(model.problem, "compilation_time", None),
                    "solver_s": getattr(stats, "solve_time", None),
                    "solver_iters": getattr(stats, "num_iters", None),
                }
            )
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
    out: dict[str, Any] = {
        "v": None,
        "status": "solver_failed",
        "solver": "",
        "sdr_gamma": None,
        "iterations": 0,
        "errors": {},
        "qos_in_sdp": True,
        "rank_ratio": None,
        "solve_log": [],
    }
    if not chain:
        out["errors"] = {"chain": "no SDP solver installed"}
        return out
    t_build = time.perf_counter()
    model = _get_model(n, m, u, error_model, opts.paper_lmis, opts.build)
    out["build"] = "param" if isinstance(model, _SdpModel) else "const"
    t_build = time.perf_counter() - t_build
    try:
        _dc_solve(prob, error_model, opts, model, chain, deadline, out)
    finally:
        # cvxpy expression building (the parameterised model: only when it was not cached yet);
        # cvxpy's compilation is in solve_log's compile_s
        out["build_s"] = t_build + float(getattr(model, "build_s", 0.0))
    return out


def _dc_solve(
    prob: Any,
    error_model: str,
    opts: SdpOptions,
    model: _SdpModel | _ConstModel,
    chain: tuple[str, ...],
    deadline: float | None,
    out: dict,
) -> None:
    """SDR (max-min, then with the QoS LMIs if needed) and the DC iterations, into ``out``."""
    n, m = prob.num_nodes, prob.num_antennas
    model.set_dc(0.0, None)
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
    status, solver, errs = _solve_once(model, chain, opts, deadline, out["solve_log"])
    out["errors"].update(errs)
    out["qos_in_sdp"] = False
    W0 = None if model.W.value is None else model.W.value.copy()
    g0 = None if model.gamma.value is None else float(model.gamma.value)
    if status in ("optimal", "optimal_inaccurate") and np.any(
        internal_qos_gap(prob, W0, n, m, error_model)
    ):
        saved = (W0, g0, status, solver)
        model.set(prob, error_model, qos=True, ref=ref)
        st2, s2, errs = _solve_once(model, chain, opts, deadline, out["solve_log"])
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
        return
    out["sdr_gamma"] = g0 * ref**2
    best: dict[str, Any] = {"v": None, "val": -np.inf, "ratio": 0.0, "its": 1, "solver": solver}

    def consider(cand: np.ndarray, ratio: float) -> None:
        val = _min_amp(prob, cand, error_model)
        if val > best["val"]:
            best.update(v=cand, val=val, ratio=ratio)

    def dc_run(W: np.ndarray, mu: float, u1: np.ndarray | None = None) -> None:
        """DC iterations (33) from W (or from the linearisation point u1), into ``best``."""
        for _ in range(opts.max_dc_iters):
            if u1 is None:
                lam, vec = np.linalg.eigh((W + W.conj().T) / 2)
                ratio = lam[-1] / max(float(np.sum(np.maximum(lam, 0.0))), 1e-300)
                u1 = vec[:, -1]
                consider(_recover(u1, n, m), ratio)
                if ratio >= 1 - opts.rank_tol:
                    return
            if deadline is not None and time.perf_counter() > deadline:
                out["status_note"] = "time limit in DC iterations"
                return
            model.set_dc(mu, u1)
            st, s2, errs = _solve_once(model, chain, opts, deadline, out["solve_log"])
            out["errors"].update(errs)
            best["its"] += 1
            if st not in ("optimal", "optimal_inaccurate"):
                out["status_note"] = f"DC iteration stopped: {st}"
                return
            W, u1 = model.W.value, None
            best["solver"] = s2 or best["solver"]

    dc_run(W0, opts.mu)
    if g0 > 0 and _some_user_at_zero(prob, best["v"], error_model):
        # The rank-one point of the DC iterations lost a user that the relaxation serves (the
        # penalty mu drove W to a rank-one matrix with gamma ~ 0): Gaussian randomisation of
        # the SDR solution, then the DC iterations again with smaller penalties from the best
        # verified point while a user is still at zero.
        rng = np.random.default_rng(opts.seed)
        lam0 = np.linalg.eigvalsh((W0 + W0.conj().T) / 2)
        ratio0 = float(lam0[-1] / max(float(np.sum(np.maximum(lam0, 0.0))), 1e-300))
        for cand in _randomise(W0, n, m, opts.randomisations, rng):
            consider(cand, ratio0)
        out["dc_recovery"] = "randomisation"
        for mu in (opts.mu / 10, opts.mu / 100):
            if not _some_user_at_zero(prob, best["v"], error_model):
                break
            u1 = best["v"].reshape(-1) / max(np.linalg.norm(best["v"]), 1e-300)
            dc_run(W0, mu, u1)
            out["dc_recovery"] += f", DC with mu={mu:g}"
        if _some_user_at_zero(prob, best["v"], error_model):
            status = "dc_failed"
            out["status_note"] = (
                "every recovered rank-one beamformer leaves a user at zero worst-case rate "
                "although the relaxation serves all"
            )
    out.update(
        v=best["v"],
        status=status,
        iterations=best["its"],
        rank_ratio=float(best["ratio"]),
        solver=best["solver"],
    )


def _some_user_at_zero(prob: Any, v: np.ndarray | None, error_model: str) -> bool:
    from fgamcd_env.beamforming.problem import worst_case_amplitudes

    if v is None:
        return True
    return bool(np.any(worst_case_amplitudes(prob, prob.from_internal_v(v), error_model) <= 0))


def _randomise(
    W: np.ndarray, n: int, m: int, count: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Gaussian randomisation of the SDR solution: v ~ CN(0, W), scaled into the power budget."""
    lam, vec = np.linalg.eigh((W + W.conj().T) / 2)
    root = vec * np.sqrt(np.maximum(lam, 0.0))
    xi = rng.standard_normal((count, lam.size)) + 1j * rng.standard_normal((count, lam.size))
    return [_recover(root @ x, n, m) for x in xi / np.sqrt(2)]


def clarabel_kkt_gb(n: int, m: int, u: int, paper_lmis: bool = False) -> float:
    """Estimated memory (GB) of CLARABEL on the lifted SDP: each real d x d PSD cone (complex
    k x k -> d = 2k) puts a dense (d(d+1)/2)^2 block into its KKT matrix and LDL factor; about 56
    bytes per entry of those blocks (measured with CLARABEL 0.11 at N M = 16-40: peak RSS minus
    the Python process's)."""
    nm = n * m
    blocks = [2 * nm] + [2 * (nm + 1)] * (u * (2 if paper_lmis else 1))
    return sum((d * (d + 1) / 2) ** 2 for d in blocks) * 56 / 1e9


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
