"""``beamformer="best"`` (per PB, the better of CoMP and TDMA), the centralised reference and the
full-CoMP QoS reference."""

import numpy as np
import pytest

import fgamcd_env
from baselines.centralised import CentralisedReference
from baselines.evaluate import evaluate
from baselines.methods import BASELINES
from fgamcd_env.core import system
from fgamcd_env.delivery import (
    BEST_OF,
    Delivery,
    better_delivery,
    deliver,
    full_comp_qos_failures,
)
from fgamcd_env.env import FGAMCDParallelEnv


def _fake(delay: float, feasible: bool, method: str) -> Delivery:
    return Delivery(delay, feasible, method, "optimal", 0.5, ())


def test_better_delivery_by_hand():
    # r1 = r2 = 10: a QoS-feasible delivery beats a faster infeasible one ...
    slow_ok, fast_bad = _fake(0.3, True, "mrt_tdma"), _fake(0.01, False, "fast")
    out = better_delivery([fast_bad, slow_ok], 10.0, 10.0)
    assert out.method == "mrt_tdma" and out.delay_s == 0.3
    assert out.status == "best(mrt_tdma):optimal" and out.wall_time_s == 1.0
    # ... unless the QoS penalty is smaller than the delay gap (it is the reward that decides)
    assert better_delivery([fast_bad, slow_ok], 0.1, 10.0).method == "fast"
    # both feasible: the lower delay; equal: the first candidate (CoMP)
    pair = [_fake(0.2, True, "fast"), _fake(0.1, True, "mrt_tdma")]
    assert better_delivery(pair, 10, 10).method == "mrt_tdma"
    pair = [_fake(0.1, True, "fast"), _fake(0.1, True, "mrt_tdma")]
    assert better_delivery(pair, 10, 10).method == "fast"
    # an undelivered part (infinite delay) loses to any finite delivery
    pair = [_fake(np.inf, False, "fast"), _fake(9.0, False, "mrt_tdma")]
    assert better_delivery(pair, 10, 10).delay_s == 9.0
    with pytest.raises(ValueError, match="at least one"):
        better_delivery([], 10, 10)


@pytest.mark.parametrize("seed", [0, 1])
def test_best_reward_is_the_max_of_the_two_modes(seed):
    kw = {"scenario": "small", "seed": seed}
    envs = {m: FGAMCDParallelEnv(beamformer=m, **kw) for m in (*BEST_OF, "best")}
    sc = envs["best"].scenario
    n = sc.num_nodes
    rng = np.random.default_rng(seed)
    chosen = set()
    for k in np.flatnonzero(sc.demand.any(axis=1))[:12]:
        cache = rng.random(n) < 0.5
        cache[rng.integers(n)] = True
        migrate = (rng.random((n, n)) < 0.3) & cache[:, None] & ~np.eye(n, dtype=bool)
        rewards = {m: e.pb_outcome(int(k), cache, migrate)[0].reward for m, e in envs.items()}
        assert rewards["best"] == pytest.approx(max(rewards["fast"], rewards["mrt_tdma"]), abs=0)
        _, out, lam = envs["best"].pb_outcome(int(k), cache, migrate)
        chosen.add(out.method)
        # the standalone function agrees with the env's memoised composition
        alone = deliver(sc, int(k), lam, method="best")
        assert (alone.method, alone.delay_s, alone.qos_feasible) == (
            out.method,
            out.delay_s,
            out.qos_feasible,
        )
    assert chosen <= set(BEST_OF)


def test_best_is_memoised_and_counted_once():
    env = fgamcd_env.parallel_env("small", seed=0, beamformer="best")
    acts = {a: np.array([1, 0, 0]) for a in env.possible_agents}
    sizes, delivered = [], []
    for _ in range(2):
        env.reset()
        delivered.append(0)
        while env.agents:
            _, _, _, _, infos = env.step(acts)
            info = infos["edge_0"]
            if info["beamformer"] is not None:
                delivered[-1] += 1
                assert info["beamformer"] in BEST_OF
                assert info["solver_status"].startswith(f"best({info['beamformer']})")
        sizes.append(env.memo_size)
    # one fast and one TDMA problem per delivered PB; the second episode solves nothing new
    assert delivered[0] > 0
    assert sizes == [2 * delivered[0], 2 * delivered[0]]


def test_unknown_method_is_rejected():
    sc = fgamcd_env.make_scenario("small", seed=0)
    with pytest.raises(ValueError, match="method='bestest'"):
        deliver(sc, 0, np.ones(3, bool), method="bestest")
    env = FGAMCDParallelEnv(scenario="small", seed=0)
    with pytest.raises(ValueError, match="method='tdma'"):
        env.delivery(0, np.ones(3, bool), "tdma")
    with pytest.raises(ValueError, match="beamformer='bestest'"):
        FGAMCDParallelEnv(scenario="small", seed=0, beamformer="bestest")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_centralised_reference_no_worse_than_tdma_and_trimcaching(seed):
    cen = CentralisedReference()
    assert cen.env_kwargs["beamformer"] == "best"
    row = evaluate(cen, "small", seeds=[seed], num_users=4)[0]
    assert -row["return"] == pytest.approx(min(cen.candidates.values()))  # planned == simulated
    for name in ("tdma", "trimcaching"):
        other = evaluate(BASELINES[name](), "small", seeds=[seed], num_users=4)[0]
        assert row["return"] >= other["return"] - 1e-9, name


def test_reward_terms_of_best_match_system_reward():
    env = FGAMCDParallelEnv(scenario="small", seed=2, beamformer="best")
    k = int(np.flatnonzero(env.scenario.demand.any(axis=1))[0])
    cache = np.array([True, False, False])
    terms, out, _ = env.pb_outcome(k, cache, np.zeros((3, 3), bool))
    ref = system.reward_terms(True, True, 0.0, out.delay_s, out.qos_feasible, 10.0, 10.0)
    assert terms.reward == pytest.approx(ref.reward)


def test_full_comp_qos_failures_match_the_env_and_the_extremes():
    env = FGAMCDParallelEnv(scenario="small", seed=0)
    sc = env.scenario
    n = sc.num_nodes
    requested = sc.demand.any(axis=1)
    failed = full_comp_qos_failures(sc)
    assert failed.shape == (sc.num_pbs,) and not failed[~requested].any()
    assert 0 < failed.sum() < requested.sum()  # seed 0: 9 of 23, both kinds are checked
    everyone, none = np.ones(n, dtype=bool), np.zeros((n, n), dtype=bool)
    for k in np.flatnonzero(requested):
        terms, _, lam = env.pb_outcome(int(k), everyone, none)
        assert lam.all() and terms.qos_infeasible == failed[k]
    # Q_u of 1 kbit/s is met everywhere, 1 Pbit/s nowhere (the same draw otherwise)
    for q, expect in ((1e3, np.zeros_like(requested)), (1e15, requested)):
        sc_q = fgamcd_env.make_scenario("small", seed=0, qos_min_bps=q, qos_max_bps=q)
        np.testing.assert_array_equal(sc_q.demand, sc.demand)
        np.testing.assert_array_equal(full_comp_qos_failures(sc_q), expect)
