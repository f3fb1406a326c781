"""``method="fast"``: closed forms, the interior-point solver against brute force and the
solver it replaced, soundness under boundary errors, and the sdp_dc collapse recovery."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import fgamcd_env
from fgamcd_env.beamforming import (
    BeamformingProblem,
    FastOptions,
    monte_carlo_check,
    problem_from_scenario,
    solve,
    worst_case_amplitudes,
)
from fgamcd_env.beamforming import fast as fast_mod


@pytest.fixture(scope="module")
def paper():
    return fgamcd_env.make_scenario("paper", seed=0)


def _mask(n_tot: int, nodes) -> np.ndarray:
    m = np.zeros(n_tot, dtype=bool)
    m[list(nodes)] = True
    return m


def _min_amp(prob: BeamformingProblem, w: np.ndarray, model: str = "stacked") -> float:
    return float(worst_case_amplitudes(prob, w, model).min())


def test_waterfill_matches_a_fine_grid():
    """max_t b.t - sqrt(e.t^2) over [0, 1]^2 by a 401 x 401 grid (plus the corners of the
    box, where the optimum often is), and the KKT structure on random cases in N = 2, 3."""
    rng = np.random.default_rng(0)
    grid = np.linspace(0.0, 1.0, 401)
    t1, t2 = np.meshgrid(grid, grid, indexing="ij")
    for _ in range(30):
        b = rng.uniform(0.0, 1.0, 2)
        e = rng.uniform(0.01, 1.5, 2)
        t = fast_mod.waterfill(b, e)
        val = b @ t - np.sqrt(e @ t**2)
        brute = np.max(b[0] * t1 + b[1] * t2 - np.sqrt(e[0] * t1**2 + e[1] * t2**2))
        assert val >= brute - 1e-12
        assert val <= brute + 2e-3 * max(brute, 1e-3)  # the grid resolution
        assert np.all((t >= 0) & (t <= 1))
    for _ in range(30):  # N = 3: no feasible t of the random box sample does better
        b, e = rng.uniform(0.0, 1.0, 3), rng.uniform(0.01, 1.0, 3)
        t = fast_mod.waterfill(b, e)
        val = b @ t - np.sqrt(e @ t**2)
        ts = rng.random((20000, 3))
        ts = np.concatenate([ts, np.array(list(itertools.product([0.0, 1.0], repeat=3)))])
        assert val >= np.max(ts @ b - np.sqrt((ts**2) @ e)) - 1e-12


@pytest.mark.parametrize("error_model", ["stacked", "per_node"])
def test_single_user_closed_form_matches_brute_force(paper, error_model):
    """One user, two nodes: the optimum is co-phased MRT per node with powers t (a component
    orthogonal to h_n only widens the error disc); a 201 x 201 grid over t matches the closed
    form, and the interior-point solver (anisotropic path, forced) agrees."""
    prob = problem_from_scenario(paper, 30, _mask(6, [0, 3]), [3]).with_qos(0.0)
    res = solve(prob, "fast", error_model)
    h = prob.channels[:, 0]  # (N, M)
    unit = h / np.linalg.norm(h, axis=1, keepdims=True)
    grid = np.linspace(0.0, 1.0, 201)
    best = 0.0
    for a, b in itertools.product(grid, grid):
        w = np.sqrt(prob.p_max_w) * np.array([a, b])[:, None] * unit
        best = max(best, _min_amp(prob, w, error_model))
    got = _min_amp(prob, res.w, error_model)
    assert got >= best * (1 - 1e-12)
    assert got <= best * (1 + 1e-3)
    internal = prob.internal
    v, _ = fast_mod.solve_internal(
        internal.a, internal.d, None, error_model, internal.qos_amp, FastOptions()
    )
    ipm = _min_amp(prob, prob.from_internal_v(fast_mod.project(v[None])[0]), error_model)
    assert ipm == pytest.approx(got, rel=1e-5)


def _phase_aligned_optimum(prob: BeamformingProblem, theta: float) -> float:
    """max tau s.t. Re(e^{-j phi_u} h_u^H w) - r_u(w) >= tau (phi = (0, theta)), per-node power:
    a convex SOCP (cvxpy); every value is <= the optimum of P2, and the maximum over theta is it
    (two users)."""
    import cvxpy as cp

    internal = prob.internal
    a = internal.a.reshape(2, -1)
    n, m = prob.num_nodes, prob.num_antennas
    v = cp.Variable(n * m, complex=True)
    tau = cp.Variable()
    d = internal.iso  # (N, U)
    cons = [cp.norm(v[i * m : (i + 1) * m]) <= 1 for i in range(n)]
    for u, phi in enumerate((0.0, theta)):
        lin = cp.real(np.exp(-1j * phi) * (a[u].conj() @ v))
        scale = np.repeat(np.sqrt(n * d[:, u]), m)
        cons.append(lin - cp.norm(cp.multiply(scale, v)) >= tau)
    cp.Problem(cp.Maximize(tau), cons).solve(solver="CLARABEL")
    return float(tau.value)


def test_two_users_reach_the_phase_grid_optimum():
    """Two users: P2's optimum is the maximum over the users' relative phase of a convex
    problem; a 5-degree grid refined to 0.25 degrees around its best point bounds it from
    below, and fast reaches it (to 1e-4 of the amplitude)."""
    sc = fgamcd_env.make_scenario("small", seed=1, num_antennas=3)
    prob = problem_from_scenario(sc, 4, _mask(3, [0, 1]), [0, 4]).with_qos(0.0)
    thetas = np.linspace(0.0, 2 * np.pi, 72, endpoint=False)
    vals = np.array([_phase_aligned_optimum(prob, th) for th in thetas])
    best_theta = thetas[int(np.argmax(vals))]
    fine = best_theta + np.deg2rad(np.linspace(-5, 5, 41))
    grid_best = max(vals.max(), max(_phase_aligned_optimum(prob, th) for th in fine))
    res = solve(prob, "fast")
    got = float(np.sqrt(np.min(np.exp2(res.rates_bps / prob.bandwidth_hz) - 1.0)))
    assert got / prob.internal.s0 >= grid_best * (1 - 1e-4)


@pytest.mark.parametrize("error_model", ["stacked", "per_node"])
def test_not_worse_than_the_legacy_solver(paper, error_model):
    """Several users, no QoS: the interior-point solver's min worst-case rate is at least the
    projected-gradient solver's (both local methods; 1e-4 slack)."""
    rng = np.random.default_rng(4)
    for _ in range(4):
        nodes = np.sort(rng.choice(6, int(rng.integers(2, 5)), replace=False))
        users = rng.choice(30, int(rng.integers(2, 6)), replace=False)
        prob = problem_from_scenario(paper, int(rng.integers(450)), _mask(6, nodes), users)
        prob = prob.with_qos(0.0)
        new = solve(prob, "fast", error_model)
        old = solve(prob, "fast_legacy", error_model)
        assert new.min_rate_bps >= old.min_rate_bps * (1 - 1e-4)


def test_anisotropic_sets_are_sound_and_competitive():
    """Anisotropic C_{n,u} (no subspace reduction, dense Hessian blocks): the closed-form claim
    holds under boundary and adversarial errors, and the rate is the legacy solver's or better."""
    rng = np.random.default_rng(7)
    n, u, m = 2, 3, 3
    h = (rng.standard_normal((n, u, m)) + 1j * rng.standard_normal((n, u, m))) * 1e-5
    g = rng.standard_normal((n, u, m, m)) + 1j * rng.standard_normal((n, u, m, m))
    c = 2e10 * (np.einsum("numk,nulk->numl", g, g.conj()) / m + np.eye(m))
    prob = BeamformingProblem(h, c, 1.0, 1e-11, 4e10, 1e6, np.zeros(u))
    assert prob.isotropic_shape is None
    for model in ("stacked", "per_node"):
        res = solve(prob, "fast", model)
        old = solve(prob, "fast_legacy", model)
        assert res.min_rate_bps >= old.min_rate_bps * (1 - 1e-4)
        tight = prob.with_qos(0.999 * res.rates_bps)
        rep = monte_carlo_check(tight, res.w, 4000, seed=3, error_set=model)
        assert rep.total_violations == 0
        assert np.all(rep.min_rates_bps >= res.rates_bps * (1 - 1e-9))


@pytest.mark.parametrize("error_model", ["stacked", "per_node"])
def test_qos_solutions_are_sound_under_boundary_errors(paper, error_model):
    """QoS phases B and C: when fast claims QoS, no boundary or adversarial error breaks it."""
    rng = np.random.default_rng(12)
    checked = 0
    for _ in range(6):
        nodes = np.sort(rng.choice(6, 3, replace=False))
        users = rng.choice(np.flatnonzero(np.isin(paper.user_node, nodes)), 4, replace=False)
        prob = problem_from_scenario(paper, int(rng.integers(450)), _mask(6, nodes), users)
        res = solve(prob, "fast", error_model)
        if not res.qos_feasible:
            continue
        rep = monte_carlo_check(
            prob, res, 3000, seed=5, boundary_fraction=1.0, error_set=error_model
        )
        assert rep.total_violations == 0
        assert np.all(rep.min_rates_bps >= res.rates_bps * (1 - 1e-9))
        checked += 1
    assert checked >= 2


def test_warm_start_is_never_lost(paper):
    prob = problem_from_scenario(paper, 40, _mask(6, [0, 2, 4]), [0, 2, 4, 7]).with_qos(0.0)
    good = solve(prob, "fast")
    res = solve(
        prob,
        "fast",
        warm_start=good.w,
        options=FastOptions(num_random_starts=0, keep_starts=1, max_stages=1),
    )
    assert res.min_rate_bps >= good.min_rate_bps * (1 - 1e-12)


def test_isotropic_detection_and_inverse(paper):
    prob = problem_from_scenario(paper, 5, _mask(6, [1, 2]), [1, 2, 8])
    np.testing.assert_allclose(prob.isotropic_shape, np.full((2, 3), paper.config.csi_error_shape))
    np.testing.assert_allclose(prob.error_shape_inv, np.linalg.inv(prob.error_shape), rtol=1e-12)
    c = np.array(prob.error_shape)
    c[0, 0, 0, 1] = c[0, 0, 1, 0] = 1e-3 * c[0, 0, 0, 0]
    other = BeamformingProblem(prob.channels, c, 1.0, 1e-11, 4e10, 1e6, np.zeros(3))
    assert other.isotropic_shape is None
    np.testing.assert_allclose(other.error_shape_inv, np.linalg.inv(c), rtol=1e-10)


def test_options_are_validated():
    with pytest.raises(ValueError, match="factor"):
        FastOptions(factor=1.0)
    with pytest.raises(ValueError, match="start counts"):
        FastOptions(keep_starts=0)


def test_sdp_dc_recovers_from_a_collapsed_dc_step():
    """An instance where the DC step with mu = 1 collapsed to a rank-one W with gamma ~ 0 and
    two of three users at zero worst-case rate, reported as optimal: now the beamformer is
    recovered from the relaxation and serves every user."""
    sc = fgamcd_env.make_scenario("paper", seed=0, num_antennas=4)
    prob = problem_from_scenario(sc, 233, [1, 4, 5], [7, 22, 29]).with_qos(0.0)
    res = solve(prob, "sdp_dc")
    assert res.status in ("optimal", "optimal_inaccurate")
    assert np.all(res.rates_bps > 0)
    assert "randomisation" in res.info.get("dc_recovery", "")
    assert res.min_rate_bps >= 0.9 * solve(prob, "fast").min_rate_bps
    assert res.min_rate_bps <= res.sdr_bound_bps * (1 + 1e-3)
