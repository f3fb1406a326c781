"""Compiled core of ``method="fast"``: a barrier interior-point method with phase alignment.

Real coordinates ``z = [x (p), rho (J), tau]``: ``x`` stacks, node by node, the real and then
the imaginary parts of the (reduced) beamformer coordinates, ``rho`` are auxiliary radii (per-node
error sets only) and ``tau`` is the objective. Data of user u: ``pre[u] . x = Re(a_u^H v)``,
``pim[u] . x = Im(a_u^H v)``. Constraints (every one strictly feasible along the path):

- power, per node n: ``||x_n|| <= 1`` (``node_ptr`` delimits the coordinates of node n);
- stacked error sets (``per_node=False``), constraint k of user u = ``cu[k]``:
  ``|a_u^H v| - cc[k] tau - ce[k] >= ||y||`` with ``||y||^2 = x^T G_u x``, the worst-case
  radius r_u of ``fgamcd_env.core.worstcase`` (``G_u`` diagonal ``gd[u]`` or dense ``gf[u]``);
- per-node sets: ``rho_j >= sqrt(x^T G_j x)`` and
  ``|a_u^H v| - cc[k] tau - ce[k] - sum_j w[u, j] rho_j >= 0``.

Each start follows the central path ``min -t tau + barrier(z)`` from ``t0`` up by ``factor`` per
stage (damped Newton with backtracking) until the duality-gap bound ``theta / t`` is small.
``|a_u^H v|`` is not concave, so the barrier Hessian can be indefinite; then the step uses the
Hessian of the barrier of the tangent minorant ``Re(e^{-j phi_u} a_u^H v)`` (``phi_u`` the
current phase; phase alignment), which is positive definite and, as the minorant touches at the
current point and lies below elsewhere, gives a descent step of the true barrier function.

The problem data travel as one tuple ``data = (pre, pim, gd, gf, dense, stacked, agd, agf, w,
node_ptr, cu, cc, ce)`` (``_pack`` in ``fast``), the scratch arrays as one tuple ``ws``
(``_workspace``), allocated once per call of ``path``. The stacked isotropic sets of the
scenarios give a diagonal ``G_u``; the Hessian is dense (small: 2 N_par min(U, M) + 1 unknowns)
and factorised by a plain Cholesky decomposition.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_INF = np.inf
# No fast-math: with it the kernel's last bits depended on whether numba compiled it in this
# process or loaded it from its cache (total delays differed by ~1e-12 relative between a first
# and a second run on `paper`), and same seed must mean same numbers. Cold env speed was the
# same within noise (`python -m benchmarks.env_speed --scenario paper`: 1,654-1,833 steps/s with
# fast-math, 1,682-1,736 without, alternated in one session).
_FM = False


@njit(cache=True)
def _workspace(nz, p, n_users, n_cons):
    return (
        np.zeros(nz),  # 0 g
        np.zeros(nz),  # 1 df
        np.zeros(nz),  # 2 beta
        np.zeros(p),  # 3 gx
        np.zeros(n_users),  # 4 re
        np.zeros(n_users),  # 5 im
        np.zeros(n_users),  # 6 yy
        np.zeros(p),  # 7 r (phase direction)
        np.zeros(nz),  # 8 y
        np.zeros(nz),  # 9 d (Newton step)
        np.zeros(nz),  # 10 zn
        np.zeros((nz, nz)),  # 11 h
        np.zeros((nz, nz)),  # 12 low
        np.zeros((n_cons, p)),  # 13 gam
        np.zeros(n_cons),  # 14 coef
    )


@njit(cache=True, fastmath=_FM)
def _user_terms(x, data, re, im, yy):
    """Re/Im of a_u^H v and x^T G_u x (stacked sets only) per user, into (re, im, yy)."""
    pre, pim, gd, gf, dense, stacked = data[0], data[1], data[2], data[3], data[4], data[5]
    u_n, p = pre.shape
    for u in range(u_n):
        sr = 0.0
        si = 0.0
        for i in range(p):
            sr += pre[u, i] * x[i]
            si += pim[u, i] * x[i]
        re[u] = sr
        im[u] = si
        q = 0.0
        if stacked:
            if dense:
                for i in range(p):
                    acc = 0.0
                    for j in range(p):
                        acc += gf[u, i, j] * x[j]
                    q += x[i] * acc
            else:
                for i in range(p):
                    q += gd[u, i] * x[i] * x[i]
        yy[u] = q


@njit(cache=True, fastmath=_FM)
def _aux_quad(x, gd, gf, dense, j):
    p = x.shape[0]
    q = 0.0
    if dense:
        for i in range(p):
            acc = 0.0
            for k in range(p):
                acc += gf[j, i, k] * x[k]
            q += x[i] * acc
    else:
        for i in range(p):
            q += gd[j, i] * x[i] * x[i]
    return q


@njit(cache=True)
def _barrier(z, t, data, ws):
    """-t tau + barrier at z (true moduli |a_u^H v|); +inf outside the domain."""
    pre, _, _, _, dense, stacked, agd, agf, w, node_ptr, cu, cc, ce = data
    re, im, yy = ws[4], ws[5], ws[6]
    p = pre.shape[1]
    n_aux = w.shape[1] if not stacked else 0
    x = z[:p]
    tau = z[z.shape[0] - 1]
    val = -t * tau
    for n in range(node_ptr.shape[0] - 1):
        q = 0.0
        for i in range(node_ptr[n], node_ptr[n + 1]):
            q += x[i] * x[i]
        f = 1.0 - q
        if f <= 0.0:
            return _INF
        val -= np.log(f)
    for j in range(n_aux):
        rho = z[p + j]
        f = rho * rho - _aux_quad(x, agd, agf, dense, j)
        if rho <= 0.0 or f <= 0.0:
            return _INF
        val -= np.log(f)
    _user_terms(x, data, re, im, yy)
    for k in range(cu.shape[0]):
        u = cu[k]
        s = np.sqrt(re[u] * re[u] + im[u] * im[u]) - cc[k] * tau - ce[k]
        if stacked:
            f = s * s - yy[u]
            if s <= 0.0 or f <= 0.0:
                return _INF
            val -= np.log(f)
        else:
            for j in range(n_aux):
                s -= w[u, j] * z[p + j]
            if s <= 0.0:
                return _INF
            val -= np.log(s)
    return val


@njit(cache=True, fastmath=_FM)
def _newton_system(z, t, data, ws):
    """Gradient (ws g) of the barrier function at a feasible z; into the lower triangle of
    ws h the true barrier Hessian, into (ws gam, ws coef) its curvature part from the moduli
    |a_u^H v| (``h + sum_k coef_k gam_k gam_k^T`` is the Hessian of the barrier of the
    phase-aligned minorant: positive definite)."""
    pre, pim, gd, gf, dense, stacked, agd, agf, w, node_ptr, cu, cc, ce = data
    g, df, beta, gx, re, im, yy = ws[0], ws[1], ws[2], ws[3], ws[4], ws[5], ws[6]
    h, gam, coef = ws[11], ws[13], ws[14]
    p = pre.shape[1]
    n_aux = w.shape[1] if not stacked else 0
    nz = z.shape[0]
    it = nz - 1
    x = z[:p]
    tau = z[it]
    g[:] = 0.0
    h[:, :] = 0.0
    g[it] = -t
    for n in range(node_ptr.shape[0] - 1):
        a, b = node_ptr[n], node_ptr[n + 1]
        q = 0.0
        for i in range(a, b):
            q += x[i] * x[i]
        f = 1.0 - q
        i1 = 2.0 / f
        i2 = 4.0 / (f * f)
        for i in range(a, b):
            g[i] += i1 * x[i]
            h[i, i] += i1
            for j in range(a, i + 1):
                h[i, j] += i2 * x[i] * x[j]
    for j in range(n_aux):
        rho = z[p + j]
        for i in range(p):
            if dense:
                acc = 0.0
                for k in range(p):
                    acc += agf[j, i, k] * x[k]
                gx[i] = acc
            else:
                gx[i] = agd[j, i] * x[i]
        q = 0.0
        for i in range(p):
            q += x[i] * gx[i]
        inv = 1.0 / (rho * rho - q)
        df[:] = 0.0
        for i in range(p):
            df[i] = -2.0 * gx[i] * inv
        df[p + j] = 2.0 * rho * inv
        for i in range(nz):
            g[i] -= df[i]
        for i in range(nz):
            if df[i] != 0.0:
                for k in range(i + 1):
                    h[i, k] += df[i] * df[k]
        for i in range(p):  # - (hess f) / f with hess f = -2 G on x, 2 on rho_j
            if dense:
                for k in range(i + 1):
                    h[i, k] += 2.0 * agf[j, i, k] * inv
            else:
                h[i, i] += 2.0 * agd[j, i] * inv
        h[p + j, p + j] -= 2.0 * inv
    _user_terms(x, data, re, im, yy)
    for k in range(cu.shape[0]):
        u = cu[k]
        mod = np.sqrt(re[u] * re[u] + im[u] * im[u])
        cs, sn = 1.0, 0.0
        if mod > 0.0:
            cs, sn = re[u] / mod, im[u] / mod
        beta[:] = 0.0
        for i in range(p):
            beta[i] = cs * pre[u, i] + sn * pim[u, i]
            gam[k, i] = -sn * pre[u, i] + cs * pim[u, i]
        beta[it] = -cc[k]
        s = mod - cc[k] * tau - ce[k]
        coef[k] = 0.0
        if stacked:
            for i in range(p):
                if dense:
                    acc = 0.0
                    for m in range(p):
                        acc += gf[u, i, m] * x[m]
                    gx[i] = acc
                else:
                    gx[i] = gd[u, i] * x[i]
            inv = 1.0 / (s * s - yy[u])
            # df = grad f / f, f = s^2 - x^T G x; hessian of -log f = df df^T - hess f / f
            for i in range(nz):
                df[i] = 2.0 * s * beta[i] * inv
            for i in range(p):
                df[i] -= 2.0 * gx[i] * inv
            for i in range(nz):
                g[i] -= df[i]
            b2 = 2.0 * inv
            for i in range(nz):
                dfi = df[i]
                bi = b2 * beta[i]
                for m in range(i + 1):
                    h[i, m] += dfi * df[m] - bi * beta[m]
            for i in range(p):
                if dense:
                    for m in range(i + 1):
                        h[i, m] += 2.0 * gf[u, i, m] * inv
                else:
                    h[i, i] += 2.0 * gd[u, i] * inv
            if mod > 0.0:
                coef[k] = 2.0 * s * inv / mod
        else:
            for j in range(n_aux):
                beta[p + j] = -w[u, j]
                s -= w[u, j] * z[p + j]
            inv = 1.0 / s
            for i in range(nz):
                g[i] -= beta[i] * inv
            inv2 = inv * inv
            for i in range(nz):
                bi = beta[i] * inv2
                if bi != 0.0:
                    for m in range(i + 1):
                        h[i, m] += bi * beta[m]
            if mod > 0.0:
                coef[k] = inv / mod
        ck = coef[k]
        if ck != 0.0:  # true Hessian: minus the curvature of the modulus
            for i in range(p):
                gi = ck * gam[k, i]
                for m in range(i + 1):
                    h[i, m] -= gi * gam[k, m]


@njit(cache=True, fastmath=_FM)
def _add_curvature(h, gam, coef, p):
    """h += sum_k coef_k gam_k gam_k^T on the x block (lower triangle)."""
    for k in range(coef.shape[0]):
        ck = coef[k]
        if ck != 0.0:
            for i in range(p):
                gi = ck * gam[k, i]
                for m in range(i + 1):
                    h[i, m] += gi * gam[k, m]


@njit(cache=True, fastmath=_FM)
def _chol_solve(h, rhs, low, y, out):
    """Solve h out = rhs for symmetric positive definite h, given by its lower triangle (``low``,
    ``y``: workspace); False if h is not positive definite."""
    n = h.shape[0]
    for j in range(n):
        s = h[j, j]
        for k in range(j):
            s -= low[j, k] * low[j, k]
        if not s > 0.0:
            return False
        d = np.sqrt(s)
        low[j, j] = d
        dinv = 1.0 / d
        for i in range(j + 1, n):
            s = h[i, j]
            for k in range(j):
                s -= low[i, k] * low[j, k]
            low[i, j] = s * dinv
    for i in range(n):
        s = rhs[i]
        for k in range(i):
            s -= low[i, k] * y[k]
        y[i] = s / low[i, i]
    for i in range(n - 1, -1, -1):
        s = y[i]
        for k in range(i + 1, n):
            s -= low[k, i] * out[k]
        out[i] = s / low[i, i]
    return True


@njit(cache=True)
def objective(x, data, ws):
    """min over constraints with cc > 0 of (g_u - ce) / cc, g_u the closed-form worst-case
    amplitude |a_u^H v| - r_u(v) (true radii, not the auxiliary rho)."""
    _, _, _, _, dense, stacked, agd, agf, w, _, cu, cc, ce = data
    re, im, yy = ws[4], ws[5], ws[6]
    _user_terms(x, data, re, im, yy)
    best = _INF
    for k in range(cu.shape[0]):
        if cc[k] <= 0.0:
            continue
        u = cu[k]
        r = 0.0
        if stacked:
            r = np.sqrt(max(yy[u], 0.0))
        else:
            for j in range(w.shape[1]):
                if w[u, j] != 0.0:
                    r += w[u, j] * np.sqrt(max(_aux_quad(x, agd, agf, dense, j), 0.0))
        val = (np.sqrt(re[u] * re[u] + im[u] * im[u]) - r - ce[k]) / cc[k]
        if val < best:
            best = val
    return best


@njit(cache=True, fastmath=_FM)
def _pin_phase(z, h, node_ptr, r):
    """Add curvature along the common phase rotation x -> e^{j theta} x to h (lower triangle).

    Every term of the problem is invariant under that rotation, so at a centred point the true
    barrier Hessian is singular along ``j x`` (and numerically indefinite); the added term only
    stops the Newton step from moving along it (a pure rotation to first order)."""
    nz = z.shape[0]
    p = node_ptr[node_ptr.shape[0] - 1]
    for n in range(node_ptr.shape[0] - 1):
        a, b = node_ptr[n], node_ptr[n + 1]
        k = (b - a) // 2
        for i in range(k):
            r[a + i] = -z[a + k + i]
            r[a + k + i] = z[a + i]
    rr = 0.0
    for i in range(p):
        rr += r[i] * r[i]
    if rr <= 0.0:
        return
    tr = 0.0
    for i in range(nz):
        tr += abs(h[i, i])
    kap = tr / nz / rr
    for i in range(p):
        ri = kap * r[i]
        for j in range(i + 1):
            h[i, j] += ri * r[j]


@njit(cache=True)
def _center(z, t, data, ws, max_newton, dec_tol):
    """Damped Newton on the barrier function at parameter t (z updated in place): the true
    Hessian where it is positive definite, else the phase-aligned minorant's. Returns the number
    of steps taken."""
    g, y, d, zn, h, low, gam, coef = ws[0], ws[8], ws[9], ws[10], ws[11], ws[12], ws[13], ws[14]
    phi = _barrier(z, t, data, ws)
    steps = 0
    nz = z.shape[0]
    p = data[0].shape[1]
    for _ in range(max_newton):
        _newton_system(z, t, data, ws)
        _pin_phase(z, h, data[9], ws[7])
        for i in range(nz):
            g[i] = -g[i]
        if not _chol_solve(h, g, low, y, d):
            _add_curvature(h, gam, coef, p)
            if not _chol_solve(h, g, low, y, d):
                break
        slope = 0.0
        for i in range(nz):
            slope -= g[i] * d[i]
        if -slope < 2.0 * dec_tol:
            break
        alpha = 1.0
        ok = False
        pn = phi
        for _ls in range(60):
            for i in range(nz):
                zn[i] = z[i] + alpha * d[i]
            pn = _barrier(zn, t, data, ws)
            if pn <= phi + 0.25 * alpha * slope:
                ok = True
                break
            alpha *= 0.5
        if not ok:
            break
        z[:] = zn
        phi = pn
        steps += 1
    return steps


@njit(cache=True)
def _init(z, delta, data, ws):
    """Complete a start whose x part is set: rho_j above the true radii (by ``delta``, or by less
    so as to keep half the slack of every QoS constraint), tau ``delta`` below the objective.
    False if some QoS constraint (cc = 0) is not strictly met."""
    pre, _, _, _, dense, stacked, agd, agf, w, _, cu, cc, ce = data
    re, im, yy, slack = ws[4], ws[5], ws[6], ws[14]
    p = pre.shape[1]
    x = z[:p]
    n_aux = 0 if stacked else w.shape[1]
    for j in range(n_aux):
        z[p + j] = np.sqrt(max(_aux_quad(x, agd, agf, dense, j), 0.0))
    _user_terms(x, data, re, im, yy)
    lift = delta
    for k in range(cu.shape[0]):
        u = cu[k]
        s = np.sqrt(re[u] * re[u] + im[u] * im[u]) - ce[k]
        wsum = 0.0
        if stacked:
            s -= np.sqrt(max(yy[u], 0.0))
        else:
            for j in range(n_aux):
                s -= w[u, j] * z[p + j]
                wsum += w[u, j]
        slack[k] = s
        if cc[k] <= 0.0:
            if not s > 0.0:
                return False
            if wsum > 0.0:
                lift = min(lift, 0.5 * s / wsum)
    tau = _INF
    for k in range(cu.shape[0]):
        if cc[k] > 0.0:
            s = slack[k]
            if not stacked:
                for j in range(n_aux):
                    s -= w[cu[k], j] * lift
            tau = min(tau, s / cc[k])
    for j in range(n_aux):
        z[p + j] += lift
    z[z.shape[0] - 1] = tau - delta
    return True


@njit(cache=True)
def path(zs, delta, t0, factor, theta, rel_tol, floor, screen, max_stages, opts, data):
    """Follow the central path from every start (rows of ``zs`` with the x part set, strictly
    inside the power balls) until the gap bound theta / t is below
    ``rel_tol * max(|value|, floor)``. ``screen = (screen_stage, keep, screen_stage2, keep2)``:
    after stage ``screen_stage`` only the ``keep`` best starts go on, after ``screen_stage2``
    the ``keep2`` best. ``opts = (max_newton, dec_loose, dec_tight)``: Newton steps per stage
    and the Newton-decrement tolerances of the intermediate and last stages. Returns (best z,
    its objective, Newton steps, objective of every start; -inf for a start that does not
    strictly meet the QoS constraints)."""
    max_newton, dec_loose, dec_tight = opts
    screen_stage, keep, screen_stage2, keep2 = screen
    n_s, nz = zs.shape
    p = data[0].shape[1]
    n_cons = data[10].shape[0]
    ws = _workspace(nz, p, data[0].shape[0], max(n_cons, nz))
    alive = np.zeros(n_s, dtype=np.bool_)
    vals = np.full(n_s, -_INF)
    for s in range(n_s):
        if _init(zs[s], delta, data, ws):
            alive[s] = np.isfinite(_barrier(zs[s], t0, data, ws))
    t = t0
    steps = 0
    for stage in range(max_stages):
        best = -_INF
        for s in range(n_s):
            if alive[s]:
                steps += _center(zs[s], t, data, ws, max_newton, dec_loose)
                vals[s] = objective(zs[s, :p], data, ws)
                best = max(best, vals[s])
        if (stage == screen_stage and keep < n_s) or (stage == screen_stage2 and keep2 < n_s):
            k_alive = keep if stage == screen_stage else keep2
            order = np.argsort(-np.where(alive, vals, -_INF))
            for i in range(k_alive, n_s):
                alive[order[i]] = False
        if theta / t <= rel_tol * max(abs(best), floor) or stage == max_stages - 1:
            for s in range(n_s):  # centre the survivors accurately at the last t
                if alive[s]:
                    steps += _center(zs[s], t, data, ws, max_newton, dec_tight)
                    vals[s] = objective(zs[s, :p], data, ws)
            break
        t *= factor
    bi = -1
    best = -_INF
    for s in range(n_s):
        if alive[s] and vals[s] > best:
            best = vals[s]
            bi = s
    if bi < 0:
        return zs[0].copy(), -_INF, steps, vals
    return zs[bi].copy(), best, steps, vals
