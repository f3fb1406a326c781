"""``method="fast_legacy"``: the projected-gradient solver that ``"fast"`` replaced.

Kept so that benchmarks can compare the two in one run (``benchmarks/beamforming.py``); new code
should use ``"fast"`` (``fgamcd_env.beamforming.fast``), which is faster and reaches better local
optima of the same problem.

The worst-case amplitude of user u has the closed form (SPEC 3)
``g_u(v) = |a_u^H v| - r_u(v)`` with ``r_u = sqrt(N_par sum_n v_n^H D_nu v_n)`` (stacked (28)) or
``r_u = sum_n sqrt(v_n^H D_nu v_n)`` (per-node sets (4)); it is positively homogeneous in v.
We maximise ``min_u g_u(v) / c_u`` over the product of unit balls ``||v_n|| <= 1`` (23c) by
projected gradient ascent on a log-sum-exp soft-min with an increasing sharpness (continuation),
per-start adaptive steps (a step is kept only if it raises the smoothed objective) and a batch of
starting points (MRT to the sum of normalised channels, to each user, to inverse-norm weighted
sums, random co-phasings, and an optional warm start), all iterated together as one array.

QoS (23b) is handled in up to three phases: (A) plain max-min; if it meets every Q_u it is the
optimum of P2(k). Otherwise a cheap bound (sum_n ||a_nu|| < t_u) may certify infeasibility, else
(B) the max-min of ``g_u / t_u`` (t_u the amplitude Q_u needs) decides feasibility (value >= 1);
if feasible, (C) bisects on the minimum amplitude A: A is attainable iff
``max_v min_u g_u / max(A, t_u) >= 1`` (each test warm-started, stopped as soon as it succeeds).
When QoS is infeasible the phase-A max-min beamformer is returned (the env needs its delay).
Whatever comes out, the caller re-evaluates the returned beamformer with the closed form.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_TINY = 1e-300


@dataclass
class LegacyOptions:
    """Options of ``method="fast_legacy"``."""

    betas: tuple[float, ...] = (30.0, 150.0, 800.0, 5000.0)  # soft-min sharpness / |value|
    iters_per_stage: int = 60
    num_random_starts: int = 4
    step0: float = 0.3
    tol: float = 1e-7
    seed: int = 12345
    keep_starts: int = 3  # starts kept after the first stage
    bisection_steps: int = 10  # phase C
    bisection_tol: float = 1e-3


class _Objective:
    """Vectorised g_u(V) and the gradient of the soft-min of g_u / c_u for a batch V (P, N, M)."""

    def __init__(
        self,
        a: np.ndarray,
        d: np.ndarray | None,
        iso: np.ndarray | None,
        error_model: str | None,
    ) -> None:
        u, n, m = a.shape
        self.shape = (n, m)
        self.A = a.reshape(u, n * m)
        self.Ac = self.A.conj().T.copy()
        self.model = error_model
        self.iso = iso
        self.sqrt_iso = None if iso is None else np.sqrt(iso)
        self.d = d
        self.n = n

    def amplitudes(self, V: np.ndarray) -> tuple[np.ndarray, dict]:
        p = V.shape[0]
        n, m = self.shape
        s = V.reshape(p, n * m) @ self.Ac  # (P, U) a_u^H v
        cache: dict = {"s": s}
        g = np.abs(s)
        if self.model is None:
            return g, cache
        if self.iso is not None:
            nq = np.einsum("pnm,pnm->pn", V.real, V.real) + np.einsum("pnm,pnm->pn", V.imag, V.imag)
            if self.model == "stacked":
                r = np.sqrt(self.n * (nq @ self.iso))
            else:
                norms = np.sqrt(nq)
                cache["norms"] = norms
                r = norms @ self.sqrt_iso
        else:
            dv = np.einsum("numk,pnk->pnum", self.d, V)
            q = np.maximum(np.einsum("pnm,pnum->pnu", V.conj(), dv).real, 0.0)
            cache["dv"] = dv
            if self.model == "stacked":
                r = np.sqrt(self.n * q.sum(axis=1))
            else:
                sq = np.sqrt(q)
                cache["sq"] = sq
                r = sq.sum(axis=1)
        cache["r"] = r
        return g - r, cache

    def smoothed(
        self, V: np.ndarray, cinv: np.ndarray, beta: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Soft-min value (P,), its ascent direction (P, N, M) and the exact ratios (P, U)."""
        p = V.shape[0]
        n, m = self.shape
        g, cache = self.amplitudes(V)
        h = g * cinv
        hmin = h.min(axis=1, keepdims=True)
        e = np.exp(-beta * (h - hmin))
        z = e.sum(axis=1, keepdims=True)
        val = hmin[:, 0] - np.log(z[:, 0]) / beta
        om = e / z * cinv  # (P, U) weights of dg_u
        s = cache["s"]
        phase = s / np.maximum(np.abs(s), _TINY)
        grad = ((om * phase) @ self.A).reshape(p, n, m)
        if self.model is not None:
            r = np.maximum(cache["r"], _TINY)
            if self.iso is not None:
                if self.model == "stacked":
                    coef = self.n * ((om / r) @ self.iso.T)  # (P, N)
                else:
                    coef = (om @ self.sqrt_iso.T) / np.maximum(cache["norms"], _TINY)
                grad -= coef[:, :, None] * V
            else:
                dv = cache["dv"]
                if self.model == "stacked":
                    grad -= self.n * np.einsum("pu,pnum->pnm", om / r, dv)
                else:
                    w = om[:, None, :] / np.maximum(cache["sq"], _TINY)  # (P, N, U)
                    grad -= np.einsum("pnu,pnum->pnm", w, dv)
        return val, grad, h


def project(V: np.ndarray) -> np.ndarray:
    """Per-node power (23c) in internal units: scale each v_n into the unit ball."""
    norms = np.sqrt(np.sum(V.real**2 + V.imag**2, axis=-1, keepdims=True))
    return V / np.maximum(norms, 1.0)


def _unit_rows(x: np.ndarray) -> np.ndarray:
    nrm = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(nrm > 0, nrm, 1.0)


def starting_points(
    a: np.ndarray, num_random: int, rng: np.random.Generator, warm: np.ndarray | None = None
) -> np.ndarray:
    """(P, N, M) full-power MRT-type initialisations (see the module docstring)."""
    u = a.shape[0]
    an = _unit_rows(a)  # (U, N, M) per node-user unit directions
    starts = [_unit_rows(an.sum(axis=0))]
    unorm = np.linalg.norm(a.reshape(u, -1), axis=1)
    wts = 1.0 / np.maximum(unorm, 1e-12) ** 2
    if u > 1:
        starts.append(_unit_rows(np.einsum("u,unm->nm", wts / wts.sum(), an)))
        starts.extend(an[i] for i in range(u))  # MRT to each user (co-phased across nodes)
    for _ in range(num_random if u > 1 else 0):
        ph = np.exp(2j * np.pi * rng.random(u)) * (0.5 + rng.random(u))
        starts.append(_unit_rows(np.einsum("u,unm->nm", ph, an)))
    if warm is not None:
        starts.insert(0, project(np.asarray(warm, dtype=complex)[None])[0])
    return np.stack(starts)


def maxmin(
    obj: _Objective,
    V0: np.ndarray,
    c: np.ndarray,
    opts: LegacyOptions,
    betas: tuple[float, ...] | None = None,
    target: float | None = None,
) -> tuple[np.ndarray, float, int]:
    """Best V (N, M) for max min_u g_u / c_u from the batch ``V0``; its exact value; iterations."""
    cinv = 1.0 / np.asarray(c, dtype=float)
    V = project(V0.copy())
    p = V.shape[0]
    eta = np.full(p, opts.step0)
    its = 0
    for stage, bscale in enumerate(opts.betas if betas is None else betas):
        _, _, h = obj.smoothed(V, cinv, 1.0)
        ref = np.maximum(np.abs(h.min(axis=1)).max(), 1e-9)
        beta = bscale / ref
        F, G, h = obj.smoothed(V, cinv, beta)
        stall = np.zeros(p, dtype=int)
        for _ in range(opts.iters_per_stage):
            its += 1
            Vn = project(V + eta[:, None, None] * G)
            Fn, Gn, hn = obj.smoothed(Vn, cinv, beta)
            acc = Fn > F
            gain = np.where(acc, Fn - F, 0.0)
            V = np.where(acc[:, None, None], Vn, V)
            G = np.where(acc[:, None, None], Gn, G)
            h = np.where(acc[:, None], hn, h)
            F = np.where(acc, Fn, F)
            eta = np.where(acc, eta * 1.25, eta * 0.5)
            stall = np.where(gain <= opts.tol * np.abs(F) + 1e-15, stall + 1, 0)
            if np.all(stall >= 4):
                break
            if target is not None and h.min(axis=1).max() >= target:
                break
        if target is not None and h.min(axis=1).max() >= target:
            break
        if stage == 0 and p > opts.keep_starts:
            keep = np.argsort(-h.min(axis=1))[: opts.keep_starts]
            V, eta = V[keep], eta[keep]
            p = V.shape[0]
    g, _ = obj.amplitudes(V)
    vals = (g * cinv).min(axis=1)
    best = int(np.argmax(vals))
    return V[best], float(vals[best]), its


def solve_internal(
    a: np.ndarray,
    d: np.ndarray | None,
    iso: np.ndarray | None,
    error_model: str | None,
    qos_amp: np.ndarray,
    opts: LegacyOptions | None = None,
    warm: np.ndarray | None = None,
) -> tuple[np.ndarray, dict]:
    """Internal-units robust max-min with QoS phases. ``error_model=None``: non-robust."""
    opts = opts or LegacyOptions()
    rng = np.random.default_rng(opts.seed)
    obj = _Objective(a, d, iso, error_model)
    u = a.shape[0]
    starts = starting_points(a, opts.num_random_starts, rng, warm)
    ones = np.ones(u)
    v_a, _, its = maxmin(obj, starts, ones, opts)
    info = {"phase": "A", "iterations": its}
    t = np.asarray(qos_amp, dtype=float)
    g_a, _ = obj.amplitudes(v_a[None])
    if np.all(g_a[0] >= t):
        return v_a, info
    # Quick certificate of infeasibility: g_u <= sum_n ||a_nu|| (full-power co-phased MRT, no
    # error) for every v in the power budget.
    if np.any(np.linalg.norm(a, axis=2).sum(axis=1) < t):
        info["phase"] = "A (QoS infeasible by the single-user bound)"
        return v_a, info
    # Phase B: feasibility of the QoS constraints, max min g_u / t_u.
    t_safe = np.maximum(t, 1e-12)
    starts_b = np.concatenate([v_a[None], starts])
    v_b, val_b, its_b = maxmin(obj, starts_b, t_safe, opts)
    info["iterations"] += its_b
    info["phase"] = "B"
    if val_b < 1.0:
        return v_a, info
    # Phase C: the largest A with psi(A) = max_v min_u g_u / max(A, t_u) >= 1, by bisection
    # between the feasible point of phase B (lo) and the max-min value of phase A (hi); a
    # feasibility test stops as soon as it finds a v with every g_u >= max(A, t_u).
    g_b, _ = obj.amplitudes(v_b[None])
    v_lo, lo = v_b, float(g_b[0].min())
    hi = float(g_a[0].min())
    for _ in range(opts.bisection_steps):
        if hi <= lo * (1 + opts.bisection_tol):
            break
        amid = 0.5 * (lo + hi)
        c = np.maximum(amid, t_safe)
        v, val, its_c = maxmin(
            obj, np.concatenate([v_lo[None], starts_b]), c, opts, betas=opts.betas[1:], target=1.0
        )
        info["iterations"] += its_c
        g, _ = obj.amplitudes(v[None])
        if val >= 1.0 and np.all(g[0] >= t):
            v_lo, lo = v, max(float(g[0].min()), amid)
        else:
            hi = amid
    info["phase"] = "C"
    return v_lo, info
