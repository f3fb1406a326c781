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
node_ptr, cu, cc, ce)`` (``pack`` in ``fast``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

_INF = np.inf
# fast-math without the no-NaN / no-Inf assumptions (the domain checks compare with them)
_FM = {"nsz", "arcp", "contract", "afn", "reassoc"}


@njit(cache=True)
def _user_terms(x, pre, pim, gd, gf, dense, stacked):
    """(re, im, yy) per user: Re/Im of a_u^H v and x^T G_u x (stacked sets only)."""
    u_n = pre.shape[0]
    p = x.shape[0]
    re = np.zeros(u_n)
    im = np.zeros(u_n)
    yy = np.zeros(u_n)
    for u in range(u_n):
        sr = 0.0
        si = 0.0
        for i in range(p):
            sr += pre[u, i] * x[i]
            si += pim[u, i] * x[i]
        re[u] = sr
        im[u] = si
        if stacked:
            q = 0.0
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
    return re, im, yy


@njit(cache=True)
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
def _barrier(z, t, data):
    """-t tau + barrier at z (true moduli |a_u^H v|); +inf outside the domain."""
    pre, pim, gd, gf, dense, stacked, agd, agf, w, node_ptr, cu, cc, ce = data
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
    re, im, yy = _user_terms(x, pre, pim, gd, gf, dense, stacked)
    for k in range(cu.shape[0]):
        u = cu[k]
        s = np.hypot(re[u], im[u]) - cc[k] * tau - ce[k]
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
def _newton_system(z, t, data, h, gam, coef):
    """Gradient g of the barrier function at a feasible z; into the lower triangle of ``h``
    the true barrier Hessian, into (``gam``, ``coef``) its curvature part from the moduli
    |a_u^H v| (``h + sum_k coef_k gam_k gam_k^T`` is the Hessian of the barrier of the
    phase-aligned minorant: positive definite)."""
    pre, pim, gd, gf, dense, stacked, agd, agf, w, node_ptr, cu, cc, ce = data
    p = pre.shape[1]
    n_aux = w.shape[1] if not stacked else 0
    nz = z.shape[0]
    it = nz - 1
    x = z[:p]
    tau = z[it]
    g = np.zeros(nz)
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
    df = np.zeros(nz)
    beta = np.zeros(nz)
    gx = np.zeros(p)
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
        f = rho * rho - q
        inv = 1.0 / f
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
    re, im, yy = _user_terms(x, pre, pim, gd, gf, dense, stacked)
    for k in range(cu.shape[0]):
        u = cu[k]
        mod = np.hypot(re[u], im[u])
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
                for m in range(i + 1):
                    h[i, m] += df[i] * df[m] - b2 * beta[i] * beta[m]
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
                if beta[i] != 0.0:
                    for m in range(i + 1):
                        h[i, m] += beta[i] * beta[m] * inv2
            if mod > 0.0:
                coef[k] = inv / mod
        ck = coef[k]
        if ck != 0.0:  # true Hessian: minus the curvature of the modulus
            for i in range(p):
                for m in range(i + 1):
                    h[i, m] -= ck * gam[k, i] * gam[k, m]
    return g


@njit(cache=True, fastmath=_FM)
def _add_curvature(h, gam, coef, p):
    """h += sum_k coef_k gam_k gam_k^T on the x block (lower triangle)."""
    for k in range(coef.shape[0]):
        ck = coef[k]
        if ck != 0.0:
            for i in range(p):
                for m in range(i + 1):
                    h[i, m] += ck * gam[k, i] * gam[k, m]


@njit(cache=True, fastmath=_FM)
def _chol_solve(h, rhs, low):
    """Solve h d = rhs for symmetric positive definite h, given by its lower triangle (``low``:
    workspace for the factor); an empty array if h is not positive definite."""
    n = h.shape[0]
    for j in range(n):
        s = h[j, j]
        for k in range(j):
            s -= low[j, k] * low[j, k]
        if not s > 0.0:
            return np.zeros(0)
        d = np.sqrt(s)
        low[j, j] = d
        dinv = 1.0 / d
        for i in range(j + 1, n):
            s = h[i, j]
            for k in range(j):
                s -= low[i, k] * low[j, k]
            low[i, j] = s * dinv
    y = np.empty(n)
    for i in range(n):
        s = rhs[i]
        for k in range(i):
            s -= low[i, k] * y[k]
        y[i] = s / low[i, i]
    out = np.empty(n)
    for i in range(n - 1, -1, -1):
        s = y[i]
        for k in range(i + 1, n):
            s -= low[k, i] * out[k]
        out[i] = s / low[i, i]
    return out


@njit(cache=True)
def objective(x, data):
    """min over constraints with cc > 0 of (g_u - ce) / cc, g_u the closed-form worst-case
    amplitude |a_u^H v| - r_u(v) (true radii, not the auxiliary rho)."""
    pre, pim, gd, gf, dense, stacked, agd, agf, w, _node_ptr, cu, cc, ce = data
    re, im, yy = _user_terms(x, pre, pim, gd, gf, dense, stacked)
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
        val = (np.hypot(re[u], im[u]) - r - ce[k]) / cc[k]
        if val < best:
            best = val
    return best


@njit(cache=True, fastmath=_FM)
def _pin_phase(z, h, node_ptr):
    """Add curvature along the common phase rotation x -> e^{j theta} x to h (lower triangle).

    Every term of the problem is invariant under that rotation, so at a centred point the true
    barrier Hessian is singular along ``j x`` (and numerically indefinite); the added term only
    stops the Newton step from moving along it (a pure rotation to first order)."""
    nz = z.shape[0]
    p = node_ptr[node_ptr.shape[0] - 1]
    r = np.zeros(p)
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
        for j in range(i + 1):
            h[i, j] += kap * r[i] * r[j]


@njit(cache=True)
def _center(z, t, data, max_newton, dec_tol):
    """Damped Newton on the barrier function at parameter t (z updated in place): the true
    Hessian where it is positive definite, else the phase-aligned minorant's. Returns the number
    of steps taken."""
    phi = _barrier(z, t, data)
    steps = 0
    nz = z.shape[0]
    p = data[0].shape[1]
    n_con = data[10].shape[0]
    zn = np.empty(nz)
    h = np.empty((nz, nz))
    low = np.zeros((nz, nz))
    gam = np.empty((n_con, p))
    coef = np.empty(n_con)
    for _ in range(max_newton):
        g = _newton_system(z, t, data, h, gam, coef)
        _pin_phase(z, h, data[9])
        d = _chol_solve(h, -g, low)
        if d.shape[0] == 0:
            _add_curvature(h, gam, coef, p)
            d = _chol_solve(h, -g, low)
            if d.shape[0] == 0:
                break
        slope = 0.0
        for i in range(nz):
            slope += g[i] * d[i]
        if -slope < 2.0 * dec_tol:
            break
        alpha = 1.0
        ok = False
        pn = phi
        for _ls in range(60):
            for i in range(nz):
                zn[i] = z[i] + alpha * d[i]
            pn = _barrier(zn, t, data)
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
def _init(z, delta, data):
    """Complete a start whose x part is set: rho_j above the true radii (by ``delta``, or by less
    so as to keep half the slack of every QoS constraint), tau ``delta`` below the objective.
    False if some QoS constraint (cc = 0) is not strictly met."""
    pre, pim, gd, gf, dense, stacked, agd, agf, w, _node_ptr, cu, cc, ce = data
    p = pre.shape[1]
    x = z[:p]
    n_aux = 0 if stacked else w.shape[1]
    for j in range(n_aux):
        z[p + j] = np.sqrt(max(_aux_quad(x, agd, agf, dense, j), 0.0))
    re, im, yy = _user_terms(x, pre, pim, gd, gf, dense, stacked)
    slack = np.empty(cu.shape[0])
    lift = delta
    for k in range(cu.shape[0]):
        u = cu[k]
        s = np.hypot(re[u], im[u]) - ce[k]
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
def path(zs, delta, t0, factor, theta, rel_tol, floor, keep, screen_stage, max_stages, opts, data):
    """Follow the central path from every start (rows of ``zs`` with the x part set, strictly
    inside the power balls) until the gap bound theta / t is below
    ``rel_tol * max(|value|, floor)``; after stage ``screen_stage`` only the ``keep`` best starts
    go on. ``opts = (max_newton, dec_loose, dec_tight)``: Newton steps per stage and the
    Newton-decrement tolerances of the intermediate and last stages. Returns (best z, its
    objective, Newton steps, objective of every start; -inf for a start that does not strictly
    meet the QoS constraints)."""
    max_newton, dec_loose, dec_tight = opts
    n_s = zs.shape[0]
    p = data[0].shape[1]
    alive = np.zeros(n_s, dtype=np.bool_)
    vals = np.full(n_s, -_INF)
    for s in range(n_s):
        if _init(zs[s], delta, data):
            alive[s] = np.isfinite(_barrier(zs[s], t0, data))
    t = t0
    steps = 0
    for stage in range(max_stages):
        best = -_INF
        for s in range(n_s):
            if alive[s]:
                steps += _center(zs[s], t, data, max_newton, dec_loose)
                vals[s] = objective(zs[s, :p], data)
                best = max(best, vals[s])
        if stage == screen_stage and keep < n_s:
            order = np.argsort(-np.where(alive, vals, -_INF))
            for i in range(keep, n_s):
                alive[order[i]] = False
        if theta / t <= rel_tol * max(abs(best), floor) or stage == max_stages - 1:
            for s in range(n_s):  # centre the survivors accurately at the last t
                if alive[s]:
                    steps += _center(zs[s], t, data, max_newton, dec_tight)
                    vals[s] = objective(zs[s, :p], data)
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
