"""System model against hand-computed numbers on tiny unequal sizes (N=2 nodes, M=3, U=3, K=4)."""

import math

import numpy as np
import pytest

from fgamcd_env.core import system
from fgamcd_env.core.worstcase import (
    error_radii,
    mrt_multicast,
    rates_bps,
    worst_case_amplitudes,
    worst_case_rates,
)

# ---- forcing, participation, capacity (SPEC 2, eqs. (1)-(3)) -------------------------------


def test_forcing_rules_three_nodes():
    remaining = np.array([100.0, 40.0, 50.0])
    asked_cache = np.array([1, 1, 0])
    asked_mig = np.array([[0, 1, 1], [1, 0, 1], [1, 1, 0]])
    d = system.apply_forcing(asked_cache, asked_mig, remaining, size_bytes=50.0)
    # node 1 has 40 < 50 bytes left: forced off; node 2 did not ask
    np.testing.assert_array_equal(d.cache, [True, False, False])
    np.testing.assert_array_equal(d.cache_forced_off, [False, True, False])
    # only node 0 may migrate (2); its row survives except the diagonal
    np.testing.assert_array_equal(d.migrate, [[0, 1, 1], [0, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(d.migrate_forced_off, [[0, 0, 0], [1, 0, 1], [1, 1, 0]])
    # exact fit is allowed: C~ = S
    d2 = system.apply_forcing([0, 0, 1], np.zeros((3, 3)), remaining, size_bytes=50.0)
    np.testing.assert_array_equal(d2.cache, [False, False, True])


def test_participation_eq3():
    cache = np.array([True, False, False, False])
    migrate = np.zeros((4, 4), dtype=bool)
    migrate[0, 2] = True
    np.testing.assert_array_equal(system.participation(cache, migrate), [1, 0, 1, 0])
    # a diagonal entry is not a migration
    migrate[3, 3] = True
    np.testing.assert_array_equal(system.participation(cache, migrate), [1, 0, 1, 0])


def test_redundant_migrations_by_hand():
    cache = np.array([True, True, False, False, False])
    migrate = np.zeros((5, 5), dtype=bool)
    migrate[0, 1] = True  # into a caching node: redundant
    migrate[0, 2] = migrate[1, 2] = True  # two senders into node 2: one redundant
    migrate[1, 3] = True  # the only sender into node 3: needed
    migrate[4, 4] = True  # diagonal: not a migration
    assert system.redundant_migrations(cache, migrate) == 2
    assert system.redundant_migrations(cache, np.zeros((5, 5), bool)) == 0


def test_prune_migrations_keeps_participation_and_the_fastest_sender():
    cache = np.array([True, True, True, False, False])
    migrate = np.zeros((5, 5), dtype=bool)
    migrate[0, 1] = True  # into a caching node: dropped
    migrate[0, 3] = migrate[1, 3] = migrate[2, 3] = True  # three senders into node 3
    migrate[2, 4] = True  # the only sender into node 4: kept
    bh = np.full((5, 5), 10.0)
    bh[1, 3], bh[2, 3] = 30.0, 30.0  # nodes 1 and 2 tie on the fastest link into node 3
    out = system.prune_migrations(cache, migrate, bh)
    expected = np.zeros((5, 5), dtype=bool)
    expected[1, 3] = expected[2, 4] = True
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(
        system.participation(cache, out), system.participation(cache, migrate)
    )
    assert system.redundant_migrations(cache, out) == 0
    assert system.migration_delay_s(out, 100.0, bh) < system.migration_delay_s(migrate, 100.0, bh)


def test_remaining_capacity_clamps_at_zero():
    out = system.remaining_capacity(np.array([100.0, 30.0, 5.0]), np.array([1, 0, 1]), 20.0)
    np.testing.assert_array_equal(out, [80.0, 30.0, 0.0])


# ---- delays (7), (8) ------------------------------------------------------------------------


def test_migration_delay_hand_computed():
    size = 1000.0  # bytes = 8000 bits
    bh = np.array([[np.inf, 4000.0, 2000.0], [8000.0, np.inf, 1.0], [1.0, 1.0, np.inf]])
    mig = np.array([[0, 1, 1], [1, 0, 0], [0, 0, 0]], dtype=bool)
    # 8000/4000 + 8000/2000 + 8000/8000 = 2 + 4 + 1
    assert system.migration_delay_s(mig, size, bh) == pytest.approx(7.0)
    assert system.migration_delay_s(np.zeros((3, 3), bool), size, bh) == 0.0


def test_broadcast_delay_and_qos():
    rates = np.array([2e3, 4e3, 1e3])
    req = np.array([True, True, False])
    # max over requesting users of 8*S/R: user 0 -> 8000/2000 = 4 s
    assert system.broadcast_delay_s(1000.0, rates, req) == pytest.approx(4.0)
    assert system.broadcast_delay_s(1000.0, rates, np.zeros(3, bool)) == 0.0
    assert math.isinf(system.broadcast_delay_s(1000.0, np.array([0.0, 1.0, 1.0]), req))
    assert system.qos_satisfied(rates, np.array([2e3, 4e3, 9e9]), req)
    assert not system.qos_satisfied(rates, np.array([2e3 + 1, 4e3, 0.0]), req)


def test_reward_terms_eq12():
    r1, r2 = 10.0, 7.0
    t = system.reward_terms(False, True, 0.5, 0.0, True, r1, r2)
    assert t.reward == 0.0 and not t.requested
    t = system.reward_terms(True, False, 0.0, 0.0, False, r1, r2)
    assert t.reward == -r2 and t.no_delivery and not t.qos_infeasible
    t = system.reward_terms(True, True, 0.25, 1.5, True, r1, r2)
    assert t.reward == pytest.approx(-1.75) and t.delay_s == pytest.approx(1.75)
    t = system.reward_terms(True, True, 0.25, 1.5, False, r1, r2)
    assert t.reward == pytest.approx(-11.75) and t.qos_infeasible and t.penalty == r1
    t = system.reward_terms(True, True, 0.25, float("inf"), False, r1, r2)
    assert t.no_delivery and t.qos_infeasible and t.broadcast_delay_s == 0.0
    assert t.reward == pytest.approx(-17.25)  # -r1 - r2 - migration
    assert set(t.as_dict()) >= {
        "migration_delay_s",
        "broadcast_delay_s",
        "qos_infeasible",
        "no_delivery",
        "reward",
        "delay_s",
    }
    terms = [
        system.reward_terms(True, True, 0.25, 1.5, True, r1, r2),
        system.reward_terms(True, True, 0.0, 2.0, True, r1, r2),
    ]
    assert system.total_delay_s(terms) == pytest.approx(3.75)


# ---- worst-case closed forms (SPEC 3) -------------------------------------------------------
# N = 2 nodes, U = 3 users, M = 3 antennas.


def _tiny():
    h = np.zeros((2, 3, 3), dtype=complex)
    h[0, 0] = [1, 0, 0]
    h[1, 0] = [0, 1j, 0]
    h[0, 1] = [0, 0, 2]
    h[1, 1] = [1, 1, 0]
    h[0, 2] = [3, 0, 0]
    h[1, 2] = [0, 0, 0]
    w = np.array([[2, 0, 0], [0, 1j, 0]], dtype=complex)
    cinv = np.zeros((2, 3, 3, 3), dtype=complex)
    cinv[:] = np.eye(3) / 4.0  # C = 4 I: error norm <= 1/2
    cinv[1, 1] = np.diag([1.0, 1 / 4, 1 / 9])  # C = diag(1, 4, 9) for node 1, user 1
    return h, w, cinv


def test_worst_case_amplitude_hand_computed():
    h, w, cinv = _tiny()
    both = np.array([True, True])
    # nominal h^H w: user0 = 1*2 + conj(1j)*1j = 3; user1 = 0 + 1*1j -> |.| = 1; user2 = 6
    # per-node radii: sqrt(w_n^H C^-1 w_n): node0 = sqrt(4/4) = 1 for all users;
    # node1 = sqrt(1/4) = 0.5 (users 0, 2) and sqrt(1/4) = 0.5 for user 1 (entry 1 of diag)
    np.testing.assert_allclose(error_radii(w, cinv, both, "per_node"), [1.5, 1.5, 1.5])
    np.testing.assert_allclose(worst_case_amplitudes(h, w, cinv, both, "per_node"), [1.5, 0.0, 4.5])
    # stacked (28): sqrt(N_par * sum_n w_n^H C^-1 w_n) = sqrt(2 * 1.25)
    r = math.sqrt(2.5)
    np.testing.assert_allclose(
        worst_case_amplitudes(h, w, cinv, both, "stacked"), [3 - r, 0.0, 6 - r]
    )
    # only node 0 participates: node 1's beam is ignored, N_par = 1
    only0 = np.array([True, False])
    np.testing.assert_allclose(
        worst_case_amplitudes(h, w, cinv, only0, "per_node"), [1.0, 0.0, 5.0]
    )
    np.testing.assert_allclose(worst_case_amplitudes(h, w, cinv, only0, "stacked"), [1.0, 0.0, 5.0])
    rates = worst_case_rates(h, w, cinv, both, noise_w=1.0, bandwidth_hz=2.0)
    np.testing.assert_allclose(rates, 2.0 * np.log2([1 + 2.25, 1.0, 1 + 20.25]))
    with pytest.raises(ValueError, match="error_model"):
        error_radii(w, cinv, both, "box")


def test_per_node_is_tighter_than_stacked():
    rng = np.random.default_rng(0)
    h = rng.standard_normal((3, 4, 5)) + 1j * rng.standard_normal((3, 4, 5))
    w = rng.standard_normal((3, 5)) + 1j * rng.standard_normal((3, 5))
    cinv = np.broadcast_to(np.eye(5) * 0.05, (3, 4, 5, 5))
    part = np.array([True, True, True])
    pn = worst_case_amplitudes(h, w, cinv, part, "per_node")
    st = worst_case_amplitudes(h, w, cinv, part, "stacked")
    assert np.all(pn >= st - 1e-12)


def test_closed_form_is_the_minimum_over_the_error_set():
    """Monte Carlo: no error inside the per-node ellipsoids beats the closed form, and the
    aligned boundary error attains it."""
    rng = np.random.default_rng(1)
    n, u, m = 2, 3, 4
    h = rng.standard_normal((n, u, m)) + 1j * rng.standard_normal((n, u, m))
    w = rng.standard_normal((n, m)) + 1j * rng.standard_normal((n, m))
    a = rng.standard_normal((n, u, m, m)) + 1j * rng.standard_normal((n, u, m, m))
    c = 5 * (np.einsum("numk,nulk->numl", a, a.conj()) + 2 * np.eye(m))  # Hermitian PD
    cinv = np.linalg.inv(c)
    part = np.ones(n, dtype=bool)
    closed = worst_case_amplitudes(h, w, cinv, part, "per_node")
    assert closed.min() > 0  # the attained-minimum check below needs a positive worst case
    lc = np.linalg.cholesky(c)  # C = L L^H; e = L^-H z with ||z|| <= 1 spans the ellipsoid
    for user in range(u):
        nominal = np.einsum("nm,nm->", h[:, user].conj(), w)
        z = rng.standard_normal((20000, n, m)) + 1j * rng.standard_normal((20000, n, m))
        z /= np.linalg.norm(z, axis=2, keepdims=True)
        z *= rng.uniform(0, 1, (20000, n, 1)) ** (1 / (2 * m))
        e = np.stack([np.linalg.solve(lc[k, user].conj().T, z[:, k].T).T for k in range(n)], 1)
        quad = np.einsum("snm,nml,snl->sn", e.conj(), c[:, user], e).real
        assert quad.max() <= 1 + 1e-9
        amps = np.abs(nominal + np.einsum("snm,nm->s", e.conj(), w))
        assert amps.min() >= closed[user] - 1e-9
        # worst error: e_n = -phase * C^-1 w_n / sqrt(w_n^H C^-1 w_n)
        phase = nominal / abs(nominal)
        worst = []
        for k in range(n):
            g = cinv[k, user] @ w[k]
            worst.append(-np.conj(phase) * g / np.sqrt((w[k].conj() @ g).real))
        worst = np.array(worst)
        amp = abs(nominal + np.einsum("nm,nm->", worst.conj(), w))
        assert amp == pytest.approx(closed[user], abs=1e-9)


def test_rates_and_mrt():
    assert rates_bps(np.array([0.0, 1.0]), 1.0, 1.0).tolist() == [0.0, 1.0]
    h, _, _ = _tiny()
    targets = np.array([[True, False, True], [False, False, False]])
    w = mrt_multicast(h, targets, p_max_w=4.0)
    # node 0: unit(h00) + unit(h02) = [2, 0, 0] -> full power 2 * [1, 0, 0]; node 1 silent
    np.testing.assert_allclose(w, [[2, 0, 0], [0, 0, 0]])


def test_isotropic_radii_match_the_matrix_form():
    """error_radii with (N, U) d_{n,u} (C^-1 = d I) is the (N, U, M, M) closed form."""
    rng = np.random.default_rng(2)
    w = rng.standard_normal((3, 4)) + 1j * rng.standard_normal((3, 4))
    d = rng.uniform(0.1, 2.0, (3, 5))
    full = d[..., None, None] * np.eye(4)
    part = np.array([True, False, True])
    for model in ("per_node", "stacked"):
        np.testing.assert_allclose(
            error_radii(w, d, part, model), error_radii(w, full, part, model), rtol=1e-12
        )
