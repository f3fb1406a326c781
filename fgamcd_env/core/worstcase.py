"""Closed-form worst-case received amplitude and rate under ellipsoidal CSI error (SPEC 3).

With h = h~ + e and errors e_{n,u} in {e : e^H C_{n,u} e <= 1}, the set of values of
sum_n e_{n,u}^H w_n is a disc centred at 0, so the worst-case amplitude is
``max(|h~_u^H w| - r_u, 0)`` with radius

- ``"per_node"`` (the sets of (4)):            r_u = sum_n sqrt(w_n^H C_{n,u}^{-1} w_n)
- ``"stacked"`` (relaxation (28), e^H C_u e <= N_par):
  r_u = sqrt(N_par * sum_n w_n^H C_{n,u}^{-1} w_n)

Only participating nodes enter (their w_n; the others' w_n must be zero).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

ErrorModel = Literal["per_node", "stacked"]
ERROR_MODELS: tuple[str, ...] = ("per_node", "stacked")


def error_radii(
    w: np.ndarray, error_shape_inv: np.ndarray, participating: np.ndarray, error_model: ErrorModel
) -> np.ndarray:
    """(U,) radius of the disc of error terms sum_n e_{n,u}^H w_n for each user.

    ``w`` (N, M) complex, ``error_shape_inv`` (N, U, M, M), or (N, U) d_{n,u} for isotropic sets
    C_{n,u}^{-1} = d_{n,u} I; ``participating`` (N,) bool.
    """
    if error_shape_inv.ndim == 2:
        power = np.einsum("nm,nm->n", w.real, w.real) + np.einsum("nm,nm->n", w.imag, w.imag)
        quad = power[:, None] * error_shape_inv  # w_n^H (d I) w_n
    else:
        quad = np.einsum("nm,numk,nk->nu", w.conj(), error_shape_inv, w).real  # w_n^H C^-1 w_n
    quad = np.maximum(quad, 0.0) * participating[:, None]
    if error_model == "per_node":
        return np.sqrt(quad).sum(axis=0)
    if error_model == "stacked":
        return np.sqrt(participating.sum() * quad.sum(axis=0))
    raise ValueError(f"error_model={error_model!r}: must be one of {ERROR_MODELS}")


def worst_case_amplitudes(
    channels: np.ndarray,
    w: np.ndarray,
    error_shape_inv: np.ndarray,
    participating: np.ndarray,
    error_model: ErrorModel = "per_node",
) -> np.ndarray:
    """(U,) min over the error set of ``|sum_n lambda_n h_{n,u}^H w_n|``.

    ``channels`` (N, U, M) estimates h~ of one PB; rows of ``w`` of non-participating nodes are
    ignored (treated as zero, lambda_n = 0); ``error_shape_inv`` as in ``error_radii``.
    """
    participating = np.asarray(participating, dtype=bool)
    w = np.where(participating[:, None], w, 0.0)
    nominal = np.abs(np.einsum("num,nm->u", channels.conj(), w))
    return np.maximum(nominal - error_radii(w, error_shape_inv, participating, error_model), 0.0)


def rates_bps(amplitudes: np.ndarray, noise_w: float, bandwidth_hz: float) -> np.ndarray:
    """Shannon rate (6): ``B log2(1 + |amplitude|^2 / sigma^2)``."""
    return bandwidth_hz * np.log2(1.0 + np.square(amplitudes) / noise_w)


def worst_case_rates(
    channels: np.ndarray,
    w: np.ndarray,
    error_shape_inv: np.ndarray,
    participating: np.ndarray,
    noise_w: float,
    bandwidth_hz: float,
    error_model: ErrorModel = "per_node",
) -> np.ndarray:
    """(U,) min over the error set of R_u (the inner min of (7)) [bit/s]."""
    amp = worst_case_amplitudes(channels, w, error_shape_inv, participating, error_model)
    return rates_bps(amp, noise_w, bandwidth_hz)


def mrt_multicast(channels: np.ndarray, targets: np.ndarray, p_max_w: float) -> np.ndarray:
    """(N, M) full-power maximum-ratio beams towards sum_u targets[n, u] h~_{n,u} / ||h~_{n,u}||.

    ``targets`` (N, U) bool says which users each node serves; a node with no target gets a zero
    beam. A simple reference (calibration, TDMA unicasting with one target per slot); the
    optimised robust beamformers live in ``fgamcd_env.beamforming``.
    """
    norms = np.linalg.norm(channels, axis=2, keepdims=True)  # (N, U, 1)
    unit = channels / np.where(norms > 0, norms, 1.0)
    v = np.einsum("nu,num->nm", np.asarray(targets, dtype=float), unit)
    vn = np.linalg.norm(v, axis=1, keepdims=True)
    return np.sqrt(p_max_w) * v / np.where(vn > 0, vn, 1.0)
