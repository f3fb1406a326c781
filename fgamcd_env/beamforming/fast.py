"""``method="fast"``: an interior-point solver of the worst-case max-min problem, for training.

The worst-case amplitude of user u has the closed form (SPEC 3)
``g_u(v) = |a_u^H v| - r_u(v)`` with ``r_u = sqrt(N_par sum_n v_n^H D_nu v_n)`` (stacked (28)) or
``r_u = sum_n sqrt(v_n^H D_nu v_n)`` (per-node sets (4)); it is positively homogeneous in v.
We maximise ``min_u g_u(v)`` over the product of unit balls ``||v_n|| <= 1`` (23c):

- **Reduction.** With isotropic sets (``D_nu = d_nu I``, the scenarios' ``C = c I``) a component
  of v_n orthogonal to every a_nu adds to r_u and to nothing else, so v_n = Q_n x_n with Q_n an
  orthonormal basis of span{a_nu} (one batched QR): N_par * min(U, M) complex unknowns.
- **One user.** The problem is convex (a common phase makes a_u^H v real); with isotropic sets
  v_n = t_n a_n / ||a_n|| and t solves a water-filling in closed form (``single_user``).
- **Several users.** Epigraph form ``max tau s.t. g_u(v) >= tau``: second-order cones for the
  stacked radii and the power balls, auxiliary radii for the per-node sets, followed along the
  central path of a barrier interior-point method (``_ipm``, compiled by numba). ``|a_u^H v|``
  is not concave: where the barrier Hessian is indefinite the Newton step uses the Hessian of
  the barrier of the tangent minorant ``Re(e^{-j phi_u} a_u^H v)`` (phase alignment at the
  current phases), which is positive definite and still descends the true barrier function.
  The result is a KKT point of the non-convex problem, its duality-gap bound below ``rel_tol``
  of its value. On 28 random instances at (N_par, M) = (6, 20) with 4-10 users it was within
  0.03 % of the worst-case SNR of a phase-alignment SCA with 11 starts (median 1.0000x), where
  the projected-gradient ``fast_legacy`` was 5-10 % below (``benchmarks/beamforming.py``,
  section ``sca``).
- **Starts.** MRT to the sum of normalised channels, inverse-norm weighted, to each user, and
  from 4 users on ``num_random_starts`` random co-phasings (plus an optional warm start); the
  ``prescreen`` with the best initial objective enter the path, ``keep_starts`` go on after
  barrier stage ``screen_stage`` and ``keep_starts2`` after ``screen_stage2``. Single starts
  reached the best of all starts on about 97 % of the multi-user problems of an env episode,
  so a few suffice; the screening cut the Newton steps by about a third at no loss on the
  benchmark sets.

The kernel has one compiled signature (every array C-contiguous float64 / int64); it is cached
on disk (numba ``cache=True``). Loading it costs about 0.6 s once per process (numba's own
start-up) and compiling it, on the first run after installation, some 30 s; ``warm_up()`` does
either up front.

QoS (23b) in up to three phases: (A) plain max-min; if it meets every Q_u it solves P2(k).
Otherwise a cheap bound (sum_n ||a_nu|| < t_u, t_u the internal amplitude Q_u needs) may
certify infeasibility, else (B) ``max min_u g_u / t_u`` decides feasibility (value >= 1); if
feasible, (C) ``max tau s.t. g_u >= tau, g_u >= t_u`` from the phase-B point. When QoS is
infeasible the phase-A beamformer is returned (the env needs its delay). Whatever comes out, the
caller re-evaluates the returned beamformer with the closed form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class FastOptions:
    """Options of ``method="fast"`` (and ``"nonrobust"``)."""

    num_random_starts: int = 2  # random co-phasings besides the MRT-type starts (U >= 4)
    keep_starts: int = 2  # starts followed beyond ``screen_stage``
    prescreen: int | None = 4  # starts (best initial objective) that enter the barrier path
    screen_stage: int = 0  # barrier stage after which only ``keep_starts`` go on
    keep_starts2: int = 1  # starts followed beyond ``screen_stage2``
    screen_stage2: int = 2
    factor: float = 10.0  # barrier parameter growth per stage
    t0_scale: float = 1.0  # first barrier parameter: t0_scale * theta / (amplitude bound)
    start_scale: float = 0.8  # starts scaled so the strongest node has this norm
    rel_tol: float = 1e-6  # stop when the duality-gap bound is below rel_tol * |value|
    max_newton: int = 40  # Newton steps per barrier stage
    dec_loose: float = 1e-2  # centring tolerance (Newton decrement^2 / 2) of early stages
    dec_tight: float = 1e-10  # ... of the last stage
    max_stages: int = 30
    seed: int = 12345
    # stacked isotropic sets with d_{n,u} = d_n for every user (the scenarios): one auxiliary
    # radius shared by all users instead of one cone per user
    common_radius: bool = True

    def __post_init__(self) -> None:
        if self.num_random_starts < 0 or self.keep_starts < 1 or self.screen_stage < 0:
            raise ValueError(f"FastOptions: bad start counts {self!r}")
        if not self.factor > 1 or not self.rel_tol > 0:
            raise ValueError(f"FastOptions: factor must be > 1 and rel_tol > 0, got {self!r}")


@dataclass(frozen=True)
class _Model:
    """The problem in the kernel's real coordinates (see ``_ipm``)."""

    pre: np.ndarray  # (U, p)
    pim: np.ndarray  # (U, p)
    gd: np.ndarray  # (U, p) diagonal G_u (stacked, isotropic)
    gf: np.ndarray  # (U, p, p) dense G_u (stacked, anisotropic)
    dense: bool
    stacked: bool
    agd: np.ndarray  # (J, p) diagonal G_j of the auxiliary radii (per-node)
    agf: np.ndarray  # (J, p, p)
    w: np.ndarray  # (U, J) weights of the auxiliary radii in r_u
    node_ptr: np.ndarray  # (N + 1,) coordinate ranges of the nodes in x
    basis: np.ndarray | None  # (N, M, r) Q_n, None: v_n = x_n (no reduction)
    ared: np.ndarray  # (U, N, r) channels in the reduced coordinates

    @property
    def p(self) -> int:
        return self.pre.shape[1]

    @property
    def n_aux(self) -> int:
        return 0 if self.stacked else self.w.shape[1]

    def theta(self, n_cons: int) -> float:
        """Barrier parameter: 2 per cone, 1 per linear inequality."""
        n = self.node_ptr.shape[0] - 1
        return 2.0 * (n + self.n_aux) + (2.0 if self.stacked else 1.0) * n_cons


_EMPTY2 = np.zeros((0, 0))
_EMPTY3 = np.zeros((0, 0, 0))


def _real_block(d: np.ndarray) -> np.ndarray:
    """(..., 2M, 2M) real form of Hermitian (..., M, M): [[Re, -Im], [Im, Re]]."""
    top = np.concatenate([d.real, -d.imag], axis=-1)
    bot = np.concatenate([d.imag, d.real], axis=-1)
    return np.concatenate([top, bot], axis=-2)


def build_model(
    a: np.ndarray,
    d: np.ndarray | None,
    iso: np.ndarray | None,
    error_model: str | None,
    common_radius: bool = True,
) -> _Model:
    """Kernel data for channels ``a`` (U, N, M), sets ``d`` (N, U, M, M) or ``iso`` (N, U);
    ``error_model=None``: no error (non-robust)."""
    u, n, m = a.shape
    reduce = iso is not None or error_model is None
    if reduce and u < m:
        q, r = np.linalg.qr(a.transpose(1, 2, 0))  # (N, M, U), (N, U, U): a_nu = Q_n r[:, u]
        basis, ared = q, r.transpose(2, 0, 1)
    else:
        basis, ared = None, a
    k = ared.shape[2]
    # x of node n: [Re x_n (k), Im x_n (k)]; Re(a^H x) = ar.xr + ai.xi, Im = ar.xi - ai.xr
    pre = np.concatenate([ared.real, ared.imag], axis=2).reshape(u, 2 * n * k)
    pim = np.concatenate([-ared.imag, ared.real], axis=2).reshape(u, 2 * n * k)
    p = 2 * n * k
    node_ptr = np.arange(0, p + 1, 2 * k, dtype=np.int64)
    dense = not reduce
    gd, gf, agd, agf = _EMPTY2, _EMPTY3, _EMPTY2, _EMPTY3
    w = np.zeros((u, 0))
    stacked = error_model != "per_node"
    if error_model is None:
        gd = np.zeros((u, p))
    elif error_model == "stacked":
        if dense:
            gf = np.zeros((u, p, p))
            blocks = _real_block(d) * n  # (N, U, 2M, 2M)
            for i in range(n):
                sl = slice(2 * m * i, 2 * m * (i + 1))
                gf[:, sl, sl] = blocks[i]
        elif common_radius and np.all(iso == iso[:, :1]):
            # every user has the same radius sqrt(N sum_n d_n ||x_n||^2): one auxiliary radius
            # rho >= it and linear user constraints |a_u^H v| - tau - rho >= 0
            stacked = False
            agd = np.repeat(n * iso[:, :1].T, 2 * k, axis=1)
            w = np.ones((u, 1))
        else:
            gd = np.repeat(n * iso.T, 2 * k, axis=1)  # (U, p): N d_nu on node n's coordinates
    elif error_model == "per_node":
        if dense:
            agf = np.zeros((n * u, p, p))
            blocks = _real_block(d)  # (N, U, 2M, 2M)
            w = np.zeros((u, n * u))
            for i in range(n):
                sl = slice(2 * m * i, 2 * m * (i + 1))
                for j in range(u):
                    agf[i * u + j, sl, sl] = blocks[i, j]
                    w[j, i * u + j] = 1.0
        else:
            agd = np.repeat(np.eye(n), 2 * k, axis=1)  # rho_n >= ||x_n||
            w = np.sqrt(iso.T).copy()  # (U, N): r_u = sum_n sqrt(d_nu) ||x_n||
    else:
        raise ValueError(f"error_model={error_model!r}")
    return _Model(pre, pim, gd, gf, dense, stacked, agd, agf, w, node_ptr, basis, ared)


def _unit_rows(x: np.ndarray) -> np.ndarray:
    nrm = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(nrm > 0, nrm, 1.0)


def starting_points(
    a: np.ndarray,
    num_random: int,
    rng: np.random.Generator | None,
    warm: np.ndarray | None = None,
) -> np.ndarray:
    """(P, N, M) full-power MRT-type initialisations (see the module docstring): per node the
    unit direction of sum_u c_u a_nu / ||a_nu|| with c = 1, c_u ~ 1 / ||a_u||^2, c = e_u (MRT
    to each user) and ``num_random`` random complex c (users >= 2 only)."""
    u = a.shape[0]
    nrm = np.sqrt(
        np.einsum("unm,unm->un", a.real, a.real) + np.einsum("unm,unm->un", a.imag, a.imag)
    )
    an = a / np.where(nrm > 0, nrm, 1.0)[..., None]
    if u == 1:
        coef = np.ones((1, 1), dtype=complex)
    else:
        wts = 1.0 / np.maximum((nrm * nrm).sum(axis=1), 1e-24)
        parts = [np.ones((1, u)), (wts / wts.sum())[None], np.eye(u)]
        if num_random > 0:
            r = rng.random((2, num_random, u))
            parts.append(np.exp(2j * np.pi * r[0]) * (0.5 + r[1]))
        coef = np.concatenate(parts)
    v = _unit_rows(np.einsum("pu,unm->pnm", coef, an))
    if warm is not None:
        v = np.concatenate([project(np.asarray(warm, dtype=complex)[None]), v])
    return v


def project(v: np.ndarray) -> np.ndarray:
    """Per-node power (23c) in internal units: scale each v_n into the unit ball."""
    norms = np.sqrt(np.sum(v.real**2 + v.imag**2, axis=-1, keepdims=True))
    return v / np.maximum(norms, 1.0)


def _to_x(v: np.ndarray, scale: float) -> np.ndarray:
    """(S, p) real coordinates of reduced beamformers (S, N, k), scaled so that the strongest
    node has norm ``scale`` (< 1: strictly inside the power balls)."""
    s = v.shape[0]
    mx = np.linalg.norm(v, axis=2).max(axis=1)
    v = v * (scale / np.where(mx > 0, mx, 1.0))[:, None, None]
    return np.concatenate([v.real, v.imag], axis=2).reshape(s, -1)


def _reduce_v(model: _Model, v: np.ndarray) -> np.ndarray:
    """(S, N, M) beamformers -> (S, N, k) reduced coordinates Q_n^H v_n."""
    if model.basis is None:
        return v
    return np.einsum("nmk,snm->snk", model.basis.conj(), v)


def amplitudes(model: _Model, v: np.ndarray) -> np.ndarray:
    """(S, U) worst-case amplitudes g_u of reduced beamformers (S, N, k) (closed form)."""
    s = np.einsum("unk,snk->su", model.ared.conj(), v)
    x = np.concatenate([v.real, v.imag], axis=2).reshape(v.shape[0], -1)
    if model.stacked:
        if model.dense:
            r = np.sqrt(np.maximum(np.einsum("sp,upq,sq->su", x, model.gf, x), 0.0))
        else:
            r = np.sqrt(np.maximum((x * x) @ model.gd.T, 0.0))
    else:
        if model.dense:
            q = np.einsum("sp,jpq,sq->sj", x, model.agf, x)
        else:
            q = (x * x) @ model.agd.T
        r = np.sqrt(np.maximum(q, 0.0)) @ model.w.T
    return np.abs(s) - r


def single_user(
    a: np.ndarray, iso: np.ndarray | None, error_model: str | None
) -> np.ndarray | None:
    """(N, M) optimal beamformer of a one-user problem (``a`` (1, N, M)) with isotropic sets
    (``iso`` (N, 1); None: anisotropic, no closed form). v_n = t_n a_n / ||a_n|| (co-phased MRT).
    Stacked: t maximises sum_n t_n b_n - sqrt(sum_n e_n t_n^2) over [0, 1]^N (b_n = ||a_n||,
    e_n = N d_n), a water-filling (``waterfill``); per-node sets: t_n = 1 iff b_n > sqrt(d_n);
    no error: t = 1. If no t gives a positive worst case: full-power MRT (the nominal best)."""
    if error_model is not None and iso is None:
        return None
    a0 = a[0]
    b = np.sqrt(np.einsum("nm,nm->n", a0.real, a0.real) + np.einsum("nm,nm->n", a0.imag, a0.imag))
    unit = a0 / np.where(b > 0, b, 1.0)[:, None]
    if error_model is None:
        t = np.ones(b.shape[0])
    elif error_model == "stacked":
        t = waterfill(b, b.shape[0] * iso[:, 0])
    else:
        t = (b > np.sqrt(iso[:, 0])).astype(float)
    if not t.any():
        t = np.ones(b.shape[0])
    return t[:, None] * unit


def waterfill(b: np.ndarray, e: np.ndarray) -> np.ndarray:
    """argmax over t in [0, 1]^N of b.t - sqrt(e.t^2) (b >= 0, e > 0), all zeros if the maximum
    is 0. KKT: with R = sqrt(e.t^2), t_n = 1 where b_n / e_n >= 1 / R (saturated), else
    t_n = R b_n / e_n; if the k nodes of largest b_n / e_n saturate, R^2 = E_k / (1 - F_k) with
    E_k their sum of e_n and F_k = sum of b_n^2 / e_n over the others (needs F_k < 1)."""
    n = b.shape[0]
    ratio = b / e
    order = np.argsort(-ratio, kind="stable")
    rs, bs, es = ratio[order], b[order], e[order]
    q = bs * bs / es
    e_k = np.cumsum(es)  # k = 1..n saturated
    f_k = q.sum() - np.cumsum(q)
    with np.errstate(divide="ignore", invalid="ignore"):
        rad = np.sqrt(e_k / (1.0 - f_k))
    nxt = np.append(rs[1:], 0.0)  # the largest free ratio
    ok = (f_k < 1.0) & (rs * rad >= 1.0 - 1e-12) & (nxt * rad <= 1.0 + 1e-12)
    if not ok.any():
        return np.zeros(n)
    k = int(np.argmax(ok))
    ts = np.minimum(rad[k] * rs, 1.0)
    ts[: k + 1] = 1.0
    t = np.empty(n)
    t[order] = ts
    return t if b @ t - np.sqrt(e @ (t * t)) > 0 else np.zeros(n)


def _amplitudes_full(
    a: np.ndarray, iso: np.ndarray, error_model: str | None, v: np.ndarray
) -> float:
    """Worst-case amplitude of user 0 for isotropic sets, full coordinates (N, M)."""
    nom = abs(np.vdot(a[0].reshape(-1), v.reshape(-1)))
    if error_model is None:
        return float(nom)
    q = np.einsum("nm,nm->n", v.real, v.real) + np.einsum("nm,nm->n", v.imag, v.imag)
    if error_model == "stacked":
        return float(nom - np.sqrt(v.shape[0] * q @ iso[:, 0]))
    return float(nom - np.sqrt(q * iso[:, 0]).sum())


def _pack(model: _Model, cu: np.ndarray, cc: np.ndarray, ce: np.ndarray) -> tuple:
    """The kernel's data tuple, every array C-contiguous with a fixed dtype (one compiled
    signature)."""
    f = np.ascontiguousarray
    return (
        f(model.pre, dtype=np.float64),
        f(model.pim, dtype=np.float64),
        f(model.gd, dtype=np.float64),
        f(model.gf, dtype=np.float64),
        bool(model.dense),
        bool(model.stacked),
        f(model.agd, dtype=np.float64),
        f(model.agf, dtype=np.float64),
        f(model.w, dtype=np.float64),
        f(model.node_ptr, dtype=np.int64),
        f(cu, dtype=np.int64),
        f(cc, dtype=np.float64),
        f(ce, dtype=np.float64),
    )


def warm_up() -> float:
    """Load (or, on the first run after installation, compile and cache) the compiled kernel by
    solving a tiny two-user problem; returns the seconds it took. Optional: the first solve
    with two or more users does the same."""
    import time

    t0 = time.perf_counter()
    a = np.array([[[1.0, 0.5j]], [[0.5, 1.0]]], dtype=complex)  # (U=2, N=1, M=2)
    solve_internal(a, None, np.full((1, 2), 0.1), "stacked", np.zeros(2))
    return time.perf_counter() - t0


def _kernel() -> Any:
    """The compiled kernel module (imported on first use: numba is loaded only when needed)."""
    try:
        from fgamcd_env.beamforming import _ipm
    except ImportError as err:  # numba missing or broken
        raise ImportError(
            f"method='fast' compiles its kernel with numba ({err}); install numba>=0.59, or use "
            "method='fast_legacy' (pure numpy, slower and less accurate)"
        ) from err
    return _ipm


def _run(
    model: _Model,
    v_starts: np.ndarray,
    cu: np.ndarray,
    cc: np.ndarray,
    ce: np.ndarray,
    opts: FastOptions,
    ref: float,
    scale: float | None = None,
) -> tuple[np.ndarray, float, int]:
    """Best reduced beamformer (N, k), its objective and Newton steps from starts (S, N, k)."""
    ipm = _kernel()
    if opts.prescreen and len(v_starts) > opts.prescreen:
        g = amplitudes(model, v_starts)[:, cu]  # (S, K)
        pos = cc > 0
        val = ((g[:, pos] - ce[pos]) / cc[pos]).min(axis=1)
        v_starts = v_starts[np.argsort(-val, kind="stable")[: opts.prescreen]]
    xs = _to_x(v_starts, opts.start_scale if scale is None else scale)
    zs = np.zeros((xs.shape[0], model.p + model.n_aux + 1))
    zs[:, : model.p] = xs
    theta = model.theta(len(cu))
    keep = min(opts.keep_starts, len(xs))
    data = _pack(model, cu, cc, ce)
    z, val, steps, _ = ipm.path(
        zs,
        0.1 * ref,
        opts.t0_scale * theta / ref,
        float(opts.factor),
        theta,
        float(opts.rel_tol),
        1e-3 * ref,
        (int(opts.screen_stage), int(keep), int(opts.screen_stage2), int(opts.keep_starts2)),
        int(opts.max_stages),
        (int(opts.max_newton), float(opts.dec_loose), float(opts.dec_tight)),
        data,
    )
    n = model.node_ptr.shape[0] - 1
    xr = z[: model.p].reshape(n, 2, -1)
    return xr[:, 0] + 1j * xr[:, 1], float(val), int(steps)


def _full_power(v: np.ndarray) -> np.ndarray:
    """Scale so that the strongest node uses its whole budget (g is 1-homogeneous)."""
    mx = float(np.linalg.norm(v, axis=-1).max())
    return v / mx if mx > 0 else v


def solve_internal(
    a: np.ndarray,
    d: np.ndarray | None,
    iso: np.ndarray | None,
    error_model: str | None,
    qos_amp: np.ndarray,
    opts: FastOptions | None = None,
    warm: np.ndarray | None = None,
) -> tuple[np.ndarray, dict]:
    """Internal-units robust max-min with QoS phases. ``error_model=None``: non-robust."""
    opts = opts or FastOptions()
    u = a.shape[0]
    t = np.asarray(qos_amp, dtype=float)
    info: dict[str, Any] = {"phase": "A", "iterations": 0}
    if u == 1 and warm is None:
        v1 = single_user(a, iso, error_model)
        if v1 is not None:
            if not _amplitudes_full(a, iso, error_model, v1) >= t[0]:
                info["phase"] = "A (QoS infeasible)"  # g / t is maximal at the max-min point
            return v1, info
    model = build_model(a, d, iso, error_model, opts.common_radius)
    ref = float(max(np.min(np.linalg.norm(model.ared, axis=2).sum(axis=1)), 1e-12))
    warm_red = None if warm is None else _reduce_v(model, project(np.asarray(warm)[None]))[0]
    n_random = opts.num_random_starts if u >= 4 else 0
    rng = np.random.default_rng(opts.seed) if n_random else None
    starts = starting_points(model.ared, n_random, rng, warm_red)
    users = np.arange(u, dtype=np.int64)
    v_a, _, steps = _run(model, starts, users, np.ones(u), np.zeros(u), opts, ref)
    info["iterations"] += steps
    v_a = _full_power(v_a)
    g_a = amplitudes(model, v_a[None])[0]
    if warm_red is not None:  # never worse than the warm start
        vw = _full_power(warm_red)
        g_w = amplitudes(model, vw[None])[0]
        if g_w.min() > g_a.min():
            v_a, g_a = vw, g_w
    out = v_a
    if np.all(g_a >= t):
        return _from_reduced(model, out), info
    if u == 1:  # g / t is maximised by the max-min beamformer: QoS is infeasible
        info["phase"] = "A (QoS infeasible)"
        return _from_reduced(model, out), info
    # Quick certificate of infeasibility: g_u <= sum_n ||a_nu|| for every v in the power budget.
    if np.any(np.linalg.norm(model.ared, axis=2).sum(axis=1) < t):
        info["phase"] = "A (QoS infeasible by the single-user bound)"
        return _from_reduced(model, out), info
    # Phase B: feasibility of the QoS constraints, max min g_u / t_u, from the phase-A point and
    # MRT to the t-weighted sum of normalised channels.
    t_safe = np.maximum(t, 1e-12)
    users = np.arange(u, dtype=np.int64)
    an = _unit_rows(model.ared)
    starts_b = np.stack([v_a, _unit_rows(np.einsum("u,unk->nk", t_safe, an)), starts[0]])
    ref_b = float(max(np.min(np.linalg.norm(model.ared, axis=2).sum(axis=1) / t_safe), 1e-12))
    v_b, _, steps = _run(model, starts_b, users, t_safe, np.zeros(u), opts, ref_b)
    info["iterations"] += steps
    info["phase"] = "B"
    v_b = _full_power(v_b)
    g_b = amplitudes(model, v_b[None])[0]
    if not np.all(g_b >= t):
        return _from_reduced(model, out), info
    # Phase C: max tau s.t. g_u >= tau and g_u >= t_u, from the phase-B point (strictly inside
    # the QoS constraints after scaling into the power balls if min g_u / t_u > 1).
    out = v_b
    ratio = float(np.min(g_b / t_safe))
    if ratio > 1.0 + 1e-9:
        q = np.flatnonzero(t > 0)
        cu = np.concatenate([users, q]).astype(np.int64)
        cc = np.concatenate([np.ones(u), np.zeros(q.size)])
        ce = np.concatenate([np.zeros(u), t[q]])
        scale = 0.5 * (1.0 + 1.0 / ratio)
        v_c, _, steps = _run(model, v_b[None], cu, cc, ce, opts, ref, scale)
        info["iterations"] += steps
        v_c = _full_power(v_c)
        g_c = amplitudes(model, v_c[None])[0]
        if np.all(g_c >= t) and g_c.min() > g_b.min():
            out = v_c
    info["phase"] = "C"
    return _from_reduced(model, out), info


def _from_reduced(model: _Model, v: np.ndarray) -> np.ndarray:
    """(N, M) internal beamformer of reduced coordinates (N, k)."""
    return v if model.basis is None else np.einsum("nmk,nk->nm", model.basis, v)
