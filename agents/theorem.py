"""Theorem 1 of the paper: the closed-form bound on the Q-value error, and the (tau0, xi) search.

The bound (34), with the one-step error (35) and the sample count (47) of Appendix A::

    E|Q^{pi_E} - Q*| <= 4 gamma^(E+1) B_r / (1-gamma)^2                          (algorithmic)
                      + theta [ 2 gamma / (1-gamma)^2 sqrt(nu_max)
                                + xi (1 + gamma phi_out phi_in) ]                   (statistical)
    nu_max <= 4 max(B_r/(1-gamma) - varsigma L, 0)^2                              (estimation bias)
              + D1 V^2 ln(U) / K' + D2 V^2 varsigma                          (estimation variance)
    D1 = 8 sqrt(2 K') + 256 / V,   D2 = 4 sqrt(2 K') + 52,   V = B_r / (1-gamma)
    K' = K (1 + tau0 - tau0 / xi * A),
    A  = psi_out psi_in sqrt(B_s^2 + B_d^2) (1 - psi_re^K) / (1 - psi_re) + sqrt(B_r^2 + B_s^2)

Symbols: E training episodes (fitted-Q iterations, Assumption 4), K PBs per episode (= real samples
per episode), B_s, B_d, B_r bounds on ``||s||``, ``||d||``, ``|r|`` (Assumption 1), psi_*
spectral-norm bounds of the ESN weights (Assumption 2), phi_in, phi_out norm bounds of the DRQN that
stands in for the critic (Assumption 3), varsigma the scale of the exterior varsigma-number of that
DRQN, U and L its upper and lower bounds (the paper's sentence swaps "upper" and "lower"; U = 201
sits in the logarithm, L = 46.2 in the bias), theta the concentration coefficient of the sampling
distribution. A bounds E||ESN output|| + E||real (r, s')||, so 1 - A/xi is the Markov lower bound on
the probability that a prediction passes the filter (17), and tau0 K that probability is the
expected number of kept synthetic samples (43).

How the OCR'd formulas were read (``reading`` of :class:`BoundConstants`):

- ``"printed"`` (default): as above. ``D1 = 8 sqrt(2K') + 256/V`` and ``D2 = 4 sqrt(2K') + 52``:
  the arXiv text shows two radical signs before "2K'" in both places; the square is on the whole
  ``max(., 0)`` (it follows the closing bracket); ``ln(U)/K'`` (``ln(U/K')`` would be negative
  for K' > U = 201); ``sqrt(nu_max)`` as in (38) and (41) (the cited analysis of deep Q-learning
  bounds the squared one-step error); (47) is used as printed, i.e. the Markov bound
  ``1 - A/xi`` is *not* clipped at 0, so for xi < A synthetic data *lower* K' below K.
- ``"clipped"``: the same with the probability bound clipped, ``max(1 - A/xi, 0)`` (what the
  Markov step of (43) actually licenses), so K' >= K always.
- ``"linear_d"``: the radical read as covering the constant only, ``D1 = 8 sqrt(2) K' + 256/V``,
  ``D2 = 4 sqrt(2) K' + 52``.
- In every reading theta multiplies both statistical terms, as in (34) and (41); in (39) the
  ESN term E|Q_bar* - Q*| sits outside theta. With theta = 1 (default; the paper gives no
  value) the two coincide; as implemented, theta > 0 never moves the argmin (the algorithmic
  term does not depend on (tau0, xi)).

What the printed formula implies (the reason the search does not land on (0.8, 1.12) by itself).
(tau0, xi) enter only through K'(tau0, xi) and the linear term xi (1 + gamma phi_out phi_in).
The variance part of nu_max is a/sqrt(K') + b/K' + c sqrt(K') + const: its D2 term grows with K',
so nu_max has an interior minimiser K'* (127.33 with the paper's constants, K = 450). Every
(tau0, xi) with K'(tau0, xi) = K'* lies in a flat valley, xi = tau0 A / (1 + tau0 - K'*/K); along
it only the tiny linear term (5.75 xi against a bound of about 67 636) varies, and it prefers
small xi, so the bound has no minimiser: its infimum is approached as (tau0, xi) -> (0, 0) along
the valley (at tau0 = 0 exactly, K' = K and the bound jumps up). The paper's (0.8, 1.12) sits on
the valley (K' = 128.15, 0.6 % above K'*; its bound, 67 640.6, is 7 parts in 10^5 above the best
point of the default grid, 67 635.6 at (0.1, 0.26), and 1 part in 10^4 above the infimum 67 634.1),
so it is consistent with the formula, but which valley point a grid search returns is decided by
the grid: over tau0 in {0.1, ..., 1.0} and xi on a 0.01 grid restricted to xi >= 1.1 it is exactly
(0.8, 1.12) (with xi >= 1.0 it is (0.7, 1.05)); over the default square 0:0.01:1 x 0.01:0.01:2.5 it
is (0.1, 0.26), where a grid point happens to fall almost exactly on the valley at small xi (at
smaller tau0 the valley is too steep, xi ~ 3 tau0, for a 0.01 xi-grid to hit). Note also that at the
paper's point K' = 0.28 K < K: with A = 2.12 > xi, the bound "wants" fewer samples than K, not the
larger K' the paper's text credits data augmentation with.

The other readings fit the paper less well: ``clipped`` makes synthetic data never hurt and the
bound then favours tau0 = 0 or any xi <= A (flat in tau0), with the smallest xi of the grid;
``linear_d`` has K'* = 10.95, far from K'(0.8, 1.12) = 128.1 (argmin (0.35, 0.56) on the default
grid, and the paper's point is 33 % worse than it). Only the printed reading puts the paper's
point on its optimal valley, which is why it is the default.

>>> c = BoundConstants()
>>> round(c.markov_mass, 6), round(float(effective_samples(0.8, 1.12, c)), 3)
(2.12132, 128.147)
>>> round(float(q_error_bound(0.0, 1.0, c)), 3)
72177.301
>>> round(optimal_samples(c), 3)
127.335
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

READINGS: tuple[str, ...] = ("printed", "clipped", "linear_d")
PAPER_POINT: tuple[float, float] = (0.8, 1.12)  # (tau0, xi) picked in section V-C / Table II


@dataclass(frozen=True)
class BoundConstants:
    """Constants of Theorem 1 with the values of section V-C (Fig. 6) and Table II.

    All quantities are dimensionless (states, actions and rewards are normalised, Assumption 1).
    """

    discount: float = 0.95  # gamma (Table II)
    episodes: int = 600  # E, training episodes = fitted-Q iterations (Table II)
    steps: int = 450  # K, PBs per episode = real samples per episode (Table II)
    state_bound: float = 1.0  # B_s >= ||s(k)||
    action_bound: float = 1.0  # B_d >= ||d(k)||
    reward_bound: float = 1.0  # B_r >= |r(k)|
    psi_in: float = 0.5  # bound on ||eta_in|| of the ESN
    psi_re: float = 0.5  # bound on ||eta_re|| of the ESN, < 1 (echo state property)
    psi_out: float = 0.5  # bound on ||eta_out|| of the ESN
    varsigma: float = 0.1  # scale of the exterior varsigma-number of the DRQN critic
    phi_in: float = 0.5  # bound on ||omega_in|| of the DRQN critic
    phi_out: float = 10.0  # bound on ||omega_out|| of the DRQN critic
    u_drqn: float = 201.0  # U_varsigma^DRQN, bound of the exterior number (enters ln U)
    l_drqn: float = 46.2  # L_varsigma^DRQN, bound of the exterior number (enters the bias)
    concentration: float = 1.0  # theta_{Xi,Omega}; not given in the paper (argmin is invariant)
    reading: Literal["printed", "clipped", "linear_d"] = "printed"  # see the module docstring

    def __post_init__(self) -> None:
        def fail(name: str, why: str) -> None:
            raise ValueError(f"BoundConstants.{name}={getattr(self, name)!r}: {why}")

        for name in ("episodes", "steps"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                fail(name, "must be a positive integer")
        for name in (
            "discount",
            "state_bound",
            "action_bound",
            "reward_bound",
            "psi_in",
            "psi_re",
            "psi_out",
            "varsigma",
            "phi_in",
            "phi_out",
            "u_drqn",
            "l_drqn",
            "concentration",
        ):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                fail(name, "must be a finite number")
        if not 0.0 <= self.discount < 1.0:
            fail("discount", "must be in [0, 1)")
        if not 0.0 <= self.psi_re < 1.0:
            fail("psi_re", "must be in [0, 1) (echo state property, Assumption 2)")
        for name in (
            "state_bound",
            "action_bound",
            "reward_bound",
            "psi_in",
            "psi_out",
            "phi_in",
            "phi_out",
            "l_drqn",
        ):
            if getattr(self, name) < 0:
                fail(name, "must be >= 0")
        for name in ("varsigma", "concentration", "reward_bound"):
            if getattr(self, name) <= 0:
                fail(name, "must be > 0")
        if self.u_drqn <= 1.0:
            fail("u_drqn", "must be > 1 (its logarithm is a sample-complexity term)")
        if self.reading not in READINGS:
            fail("reading", f"must be one of {READINGS}")

    def replace(self, **changes: Any) -> BoundConstants:
        """A copy with some fields changed; unknown names raise ``ValueError``."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise ValueError(f"unknown BoundConstants field(s) {unknown}; valid: {sorted(names)}")
        return dataclasses.replace(self, **changes)

    @property
    def v_max(self) -> float:
        """V = B_r / (1 - gamma), the bound on any Q-value."""
        return self.reward_bound / (1.0 - self.discount)

    @property
    def esn_output_bound(self) -> float:
        """(46): ||(r_bar, s_bar')|| <= psi_out psi_in sqrt(B_s^2+B_d^2) (1-psi_re^K)/(1-psi_re)."""
        geometric = (1.0 - self.psi_re**self.steps) / (1.0 - self.psi_re)
        return (
            self.psi_out
            * self.psi_in
            * math.hypot(self.state_bound, self.action_bound)
            * (geometric)
        )

    @property
    def real_output_bound(self) -> float:
        """||(r, s')|| <= sqrt(B_r^2 + B_s^2) (Assumption 1)."""
        return math.hypot(self.reward_bound, self.state_bound)

    @property
    def markov_mass(self) -> float:
        """A of (47): the bound on E||prediction - real|| used in the Markov step of (43)."""
        return self.esn_output_bound + self.real_output_bound

    @property
    def xi_slope(self) -> float:
        """1 + gamma phi_out phi_in: the ESN error propagated through the critic, (40)."""
        return 1.0 + self.discount * self.phi_out * self.phi_in

    @property
    def algorithmic_error(self) -> float:
        """4 gamma^(E+1) B_r / (1-gamma)^2 of (34); does not depend on (tau0, xi)."""
        g = self.discount
        return 4.0 * g ** (self.episodes + 1) * self.reward_bound / (1.0 - g) ** 2

    @property
    def estimation_bias(self) -> float:
        """4 max(V - varsigma L, 0)^2 of (35); does not depend on (tau0, xi)."""
        return 4.0 * max(self.v_max - self.varsigma * self.l_drqn, 0.0) ** 2


def _check_tau0_xi(tau0: ArrayLike, xi: ArrayLike) -> tuple[NDArray[np.float64], ...]:
    t = np.asarray(tau0, dtype=float)
    x = np.asarray(xi, dtype=float)
    if not np.all(np.isfinite(t)) or np.any((t < 0.0) | (t > 1.0)):
        raise ValueError("tau0 must lie in [0, 1] (share of K that may be synthetic, (18))")
    if not np.all(np.isfinite(x)) or np.any(x <= 0.0):
        raise ValueError("xi must be a finite number > 0 (acceptance threshold of (17))")
    return t, x


def effective_samples(
    tau0: ArrayLike, xi: ArrayLike, c: BoundConstants | None = None
) -> NDArray[np.float64]:
    """K' of (47): real plus expected accepted synthetic samples per episode (broadcasts).

    Can be <= 0 under the printed reading (xi well below A); the bound is then undefined.
    """
    c = c or BoundConstants()
    t, x = _check_tau0_xi(tau0, xi)
    accept = 1.0 - c.markov_mass / x  # Markov lower bound on Pr{||pred - real|| <= xi}
    if c.reading == "clipped":
        accept = np.maximum(accept, 0.0)
    return c.steps * (1.0 + t * accept)


def one_step_error(k_prime: ArrayLike, c: BoundConstants | None = None) -> NDArray[np.float64]:
    """nu_max of (35) as a function of K' (broadcasts); +inf where K' <= 0."""
    c = c or BoundConstants()
    kp = np.asarray(k_prime, dtype=float)
    ok = kp > 0
    kp_safe = np.where(ok, kp, 1.0)
    v = c.v_max
    root = np.sqrt(2.0 * kp_safe) if c.reading != "linear_d" else math.sqrt(2.0) * kp_safe
    d1 = 8.0 * root + 256.0 / v
    d2 = 4.0 * root + 52.0
    variance = d1 * v**2 * math.log(c.u_drqn) / kp_safe + d2 * v**2 * c.varsigma
    return np.where(ok, c.estimation_bias + variance, np.inf)


def error_terms(
    tau0: ArrayLike, xi: ArrayLike, c: BoundConstants | None = None
) -> dict[str, NDArray[np.float64]]:
    """Every term of (34) on the broadcast grid of (tau0, xi): K', nu_max, the two errors, bound."""
    c = c or BoundConstants()
    t, x = _check_tau0_xi(tau0, xi)
    kp = effective_samples(t, x, c)
    nu = one_step_error(kp, c)
    g = c.discount
    statistical = c.concentration * (2.0 * g / (1.0 - g) ** 2 * np.sqrt(nu) + x * c.xi_slope)
    algorithmic = np.full(statistical.shape, c.algorithmic_error)
    return {
        "k_prime": np.broadcast_to(kp, statistical.shape).copy(),
        "nu_max": np.broadcast_to(nu, statistical.shape).copy(),
        "algorithmic": algorithmic,
        "statistical": statistical,
        "bound": algorithmic + statistical,
    }


def q_error_bound(
    tau0: ArrayLike, xi: ArrayLike, c: BoundConstants | None = None
) -> NDArray[np.float64]:
    """Right-hand side of (34) at (tau0, xi) (broadcasts); +inf where K' <= 0."""
    return error_terms(tau0, xi, c)["bound"]


def optimal_samples(c: BoundConstants | None = None) -> float:
    """K'* > 0 minimising nu_max(K') of (35) over the continuum (closed form / cubic root).

    ``printed``/``clipped``: with x = sqrt(K'), d nu/dx = 0 is the cubic
    4 sqrt(2) varsigma x^3 - 8 sqrt(2) ln(U) x - 512 ln(U) / V = 0 (one positive root).
    ``linear_d``: nu = const + 256 V ln(U) / K' + 4 sqrt(2) V^2 varsigma K', so
    K'* = sqrt(64 ln(U) / (sqrt(2) V varsigma)).
    """
    c = c or BoundConstants()
    lu, v, s2 = math.log(c.u_drqn), c.v_max, math.sqrt(2.0)
    if c.reading == "linear_d":
        return math.sqrt(64.0 * lu / (s2 * v * c.varsigma))
    roots = np.roots([4.0 * s2 * c.varsigma, 0.0, -8.0 * s2 * lu, -512.0 * lu / v])
    x = max(r.real for r in roots if abs(r.imag) < 1e-9 and r.real > 0)
    return float(x * x)


def valley_xi(tau0: ArrayLike, c: BoundConstants | None = None) -> NDArray[np.float64]:
    """xi on the valley ``K'(tau0, xi) = K'*`` for each tau0; NaN where no xi > 0 reaches ``K'*``.

    Only the ``printed`` and ``linear_d`` readings have a valley when K'* < K (the ``clipped``
    reading keeps K' >= K, so it has one only when K'* > K).
    """
    c = c or BoundConstants()
    t = np.asarray(tau0, dtype=float)
    target = optimal_samples(c) / c.steps  # K'*/K
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = 1.0 + t - target  # tau0 A / xi must equal this
        xi = t * c.markov_mass / denom
    ok = (t > 0) & (denom > 0)
    if c.reading == "clipped":
        ok &= xi >= c.markov_mass
    return np.where(ok, xi, np.nan)


def infimum(c: BoundConstants | None = None) -> float:
    """inf of the bound over tau0 in (0, 1], xi > 0 when the valley reaches xi -> 0.

    Under the ``printed`` and ``linear_d`` readings with K'* < K it is approached as
    (tau0, xi) -> (0, 0) along the valley and is not attained: algorithmic error +
    ``theta 2 gamma / (1-gamma)^2 sqrt(nu_max(K'*))``.
    """
    c = c or BoundConstants()
    if c.reading == "clipped" or optimal_samples(c) >= c.steps:
        raise ValueError("the valley does not reach xi -> 0 for these constants/reading")
    g = c.discount
    nu = float(one_step_error(optimal_samples(c), c))
    return c.algorithmic_error + c.concentration * 2.0 * g / (1.0 - g) ** 2 * math.sqrt(nu)


def grid(start: float, stop: float, step: float) -> NDArray[np.float64]:
    """Inclusive grid start, start+step, ..., stop, rounded to 10 decimals (no float drift)."""
    if not (step > 0 and stop >= start):
        raise ValueError(f"need step > 0 and stop >= start, got {start}, {stop}, {step}")
    n = math.floor((stop - start) / step + 1e-9) + 1
    return np.round(start + step * np.arange(n), 10)


@dataclass(frozen=True)
class BoundSearch:
    """Result of the 2-D search: the grids, the surface (len(tau0), len(xi)) and its argmin."""

    tau0: NDArray[np.float64]
    xi: NDArray[np.float64]
    surface: NDArray[np.float64]  # bound (34); +inf where K' <= 0
    k_prime: NDArray[np.float64]  # K' (47) on the same grid
    best_tau0: float
    best_xi: float
    best_bound: float
    best_k_prime: float
    constants: BoundConstants

    def at(self, tau0: float, xi: float) -> float:
        """Bound at one (tau0, xi), evaluated exactly (need not be a grid point)."""
        return float(q_error_bound(tau0, xi, self.constants))


def search(
    tau0: ArrayLike | None = None,
    xi: ArrayLike | None = None,
    c: BoundConstants | None = None,
) -> BoundSearch:
    """Exhaustive search of (34) over the grid tau0 x xi (default 0:0.01:1 x 0.01:0.01:2.5).

    Ties are broken by the first grid point in (tau0, xi) order. Raises if no grid point has
    K' > 0.
    """
    c = c or BoundConstants()
    t = grid(0.0, 1.0, 0.01) if tau0 is None else np.asarray(tau0, dtype=float).ravel()
    x = grid(0.01, 2.5, 0.01) if xi is None else np.asarray(xi, dtype=float).ravel()
    if t.size == 0 or x.size == 0:
        raise ValueError("empty tau0 or xi grid")
    terms = error_terms(t[:, None], x[None, :], c)
    surface = terms["bound"]
    if not np.isfinite(surface).any():
        raise ValueError("K' <= 0 on the whole grid: the bound is undefined there")
    i, j = np.unravel_index(int(np.argmin(surface)), surface.shape)
    return BoundSearch(
        tau0=t,
        xi=x,
        surface=surface,
        k_prime=terms["k_prime"],
        best_tau0=float(t[i]),
        best_xi=float(x[j]),
        best_bound=float(surface[i, j]),
        best_k_prime=float(terms["k_prime"][i, j]),
        constants=c,
    )
