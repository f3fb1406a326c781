"""Monte Carlo check of a beamformer: draw CSI errors inside and on the boundary of the ellipsoids.

``error_set="per_node"`` draws each e_{n,u} in its own set {e^H C_{n,u} e <= 1} of (4) (the
physical model); ``"stacked"`` draws the stacked error in {e^H C_u e <= N_par} of (28). A share
``boundary_fraction`` of draws lies on the boundary, the rest uniformly inside; the first draw is
the adversarial error that attains the closed-form worst case of that set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fgamcd_env.beamforming.problem import BeamformingProblem, BeamformingResult


@dataclass(frozen=True)
class MonteCarloReport:
    num_draws: int
    min_rates_bps: np.ndarray  # (U,) smallest rate seen per user
    violations: np.ndarray  # (U,) draws with R_u < Q_u
    error_set: str

    @property
    def total_violations(self) -> int:
        return int(self.violations.sum())


def _sqrt_inv(c: np.ndarray) -> np.ndarray:
    lam, vec = np.linalg.eigh(c)
    return (vec / np.sqrt(lam)[..., None, :]) @ np.swapaxes(vec.conj(), -1, -2)


def _ball(rng: np.random.Generator, shape: tuple, dim_c: int, boundary: np.ndarray) -> np.ndarray:
    """Uniform complex vectors in (or on) the unit ball of C^dim_c; shape + (dim_c,)."""
    z = rng.standard_normal((*shape, dim_c)) + 1j * rng.standard_normal((*shape, dim_c))
    z /= np.linalg.norm(z, axis=-1, keepdims=True)
    rad = rng.random(shape) ** (1.0 / (2 * dim_c))
    rad = np.where(boundary.reshape(boundary.shape + (1,) * (len(shape) - 1)), 1.0, rad)
    return z * rad[..., None]


def monte_carlo_check(
    problem: BeamformingProblem,
    w: np.ndarray | BeamformingResult,
    num_draws: int = 10_000,
    *,
    seed: int = 0,
    boundary_fraction: float = 0.5,
    error_set: str = "per_node",
    chunk: int = 1000,
) -> MonteCarloReport:
    """Rates of ``w`` over random true channels h = h~ + e; ``w`` (N_par, M), or (U, N_par, M)
    for TDMA (user u's slot beam), or a result."""
    if isinstance(w, BeamformingResult):
        w = w.w
    w = np.asarray(w, dtype=complex)
    n, u, m = problem.channels.shape
    wu = w if w.ndim == 3 else np.broadcast_to(w, (u, n, m))  # (U, N, M)
    rng = np.random.default_rng(seed)
    s_half = _sqrt_inv(problem.error_shape)  # (N, U, M, M): e = C^{-1/2} z
    h = problem.channels
    cinv = problem.error_shape_inv
    min_r = np.full(u, np.inf)
    viol = np.zeros(u, dtype=int)
    done = 0
    while done < num_draws:
        d = min(chunk, num_draws - done)
        bnd = rng.random(d) < boundary_fraction
        if error_set == "per_node":
            z = _ball(rng, (d, n, u), m, bnd)  # (D, N, U, M)
        elif error_set == "stacked":
            z = _ball(rng, (d, u), n * m, bnd).reshape(d, u, n, m).transpose(0, 2, 1, 3)
            z = z * np.sqrt(n)
        else:
            raise ValueError(f"error_set={error_set!r}: 'per_node' or 'stacked'")
        e = np.einsum("numk,dnuk->dnum", s_half, z)
        if done == 0:
            e[0] = _adversarial(h, wu, cinv, error_set)
        amp = np.abs(np.einsum("dnum,unm->du", (h[None] + e).conj(), wu))
        rates = problem.bandwidth_hz * np.log2(1.0 + amp**2 / problem.noise_w)
        min_r = np.minimum(min_r, rates.min(axis=0))
        viol += (rates < problem.qos_bps[None]).sum(axis=0)
        done += d
    return MonteCarloReport(num_draws, min_r, viol, error_set)


def _adversarial(h: np.ndarray, wu: np.ndarray, cinv: np.ndarray, error_set: str) -> np.ndarray:
    """(N, U, M) error attaining the closed-form worst case for every user."""
    n = h.shape[0]
    s = np.einsum("num,unm->u", h.conj(), wu)
    ph = s / np.where(np.abs(s) > 0, np.abs(s), 1.0)
    cw = np.einsum("numk,unk->num", cinv, wu)  # C^{-1} w_n for each user
    q = np.maximum(np.einsum("unm,num->nu", wu.conj(), cw).real, 1e-300)
    if error_set == "per_node":
        scale = 1.0 / np.sqrt(q)
    else:
        scale = np.broadcast_to(np.sqrt(n / q.sum(axis=0)), q.shape)
    # e_n = alpha C^{-1} w_n scale gives e_n^H w_n = conj(alpha) q_n scale: alpha = -conj(ph)
    return -ph.conj()[None, :, None] * cw * scale[..., None]
