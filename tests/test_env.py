"""The PettingZoo environment: API tests, determinism, hand-checked episode, bad input."""

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from pettingzoo.test import api_test, max_cycles_test, parallel_api_test, render_test

import fgamcd_env
from fgamcd_env import fgamcd_v0
from fgamcd_env.core import system
from fgamcd_env.core.observation import observations
from fgamcd_env.wrappers import CentralisedEnv, DiscreteActions, bits_to_index, index_to_bits

SMALL = {"scenario": "small", "seed": 0, "beamformer": "mrt_tdma"}


def _random_actions(env, rng):
    return {a: rng.integers(0, 2, env.config.num_nodes) for a in env.agents}


def test_parallel_api():
    parallel_api_test(fgamcd_env.parallel_env(**SMALL), num_cycles=40)


def test_parallel_api_with_masks():
    parallel_api_test(fgamcd_env.parallel_env(**SMALL, action_masks=True), num_cycles=40)


def test_aec_api():
    api_test(fgamcd_env.env(**SMALL), num_cycles=40)


def test_max_cycles():
    class Mod:
        @staticmethod
        def parallel_env(**kw):
            return fgamcd_v0.parallel_env(**SMALL, **kw)

        @staticmethod
        def env(**kw):
            return fgamcd_v0.env(**SMALL, **kw)

    max_cycles_test(Mod)


def test_render_modes():
    render_test(lambda render_mode=None: fgamcd_v0.env(**SMALL, render_mode=render_mode))


def test_spaces_paper_sizes():
    env = fgamcd_env.parallel_env("paper", seed=0)
    assert env.observation_space("edge_0").shape == (42,)
    assert env.state_space.shape == (252,)
    assert env.action_space("edge_0") == gymnasium.spaces.MultiDiscrete([2] * 6)
    assert env.observation_space("edge_0") is env.observation_space("edge_0")


def test_observation_matches_eq10_by_hand():
    env = fgamcd_env.parallel_env("small", seed=0, num_nodes=3, num_users=5)
    sc = env.scenario
    obs, _ = env.reset()
    o = obs["edge_1"]
    # block size 2 + ceil(5/3) = 4: [S, demand slot 0, slot 1, C~]
    assert o.shape == (12,)
    users1 = sc.node_users[1]
    assert o[0] == pytest.approx(sc.pb_sizes_bytes[0] / sc.pb_sizes_bytes.max())
    np.testing.assert_array_equal(o[1 : 1 + len(users1)], sc.demand[0, users1])
    assert o[3] == pytest.approx(1.0)  # full storage
    # other node 0 comes first, then node 2, each masked by visibility
    for i, m in enumerate((0, 2), start=1):
        block = o[4 * i : 4 * i + 4]
        if sc.visibility[1, m]:
            assert block[0] == pytest.approx(sc.backhaul_bps[0, 1, m] / 12e9)
            assert block[3] == pytest.approx(1.0)
        else:
            np.testing.assert_array_equal(block, 0)
    np.testing.assert_array_equal(env.state(), np.concatenate([obs[a] for a in env.agents]))


def _rollout(env, seed, steps=None):
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    trace = []
    while env.agents and (steps is None or len(trace) < steps):
        out = env.step(_random_actions(env, rng))
        trace.append(out)
    return trace


def test_full_episode_determinism():
    a = _rollout(fgamcd_env.parallel_env(**SMALL), 3)
    b = _rollout(fgamcd_env.parallel_env(**SMALL), 3)
    assert len(a) == len(b) == fgamcd_env.parallel_env(**SMALL).scenario.num_pbs
    for (o1, r1, _, t1, i1), (o2, r2, _, t2, i2) in zip(a, b, strict=True):
        assert r1 == r2 and t1 == t2
        for agent in o1:
            np.testing.assert_array_equal(o1[agent], o2[agent])
        for agent in i1:
            x = {k: v for k, v in i1[agent].items() if not k.endswith("time_s")}
            y = {k: v for k, v in i2[agent].items() if not k.endswith("time_s")}
            assert x == y


def test_hand_checked_episode_total_delay():
    """The episode's T equals the sum computed independently from the system-model functions."""
    env = fgamcd_env.parallel_env(**SMALL)
    sc = env.scenario
    rng = np.random.default_rng(7)
    env.reset()
    remaining = np.full(sc.num_nodes, sc.config.storage_bytes)
    expected_total, expected_return = 0.0, 0.0
    n = sc.num_nodes
    for k in range(sc.num_pbs):
        actions = _random_actions(env, rng)
        _, rewards, _, _, infos = env.step(actions)
        size = float(sc.pb_sizes_bytes[k])
        cache = np.array([actions[f"edge_{i}"][0] for i in range(n)], bool)
        mig = np.zeros((n, n), bool)
        for i in range(n):
            mig[i, [m for m in range(n) if m != i]] = actions[f"edge_{i}"][1:]
        d = system.apply_forcing(cache, mig, remaining, size)
        lam = system.participation(d.cache, d.migrate)
        assert infos["edge_0"]["participating"] == lam.tolist()
        mig_delay = system.migration_delay_s(d.migrate, size, sc.backhaul_bps[k])
        requested = sc.demand[k].any()
        if requested and lam.any():
            out = env.delivery(k, lam)
            t = system.reward_terms(True, True, mig_delay, out.delay_s, out.qos_feasible, 10, 10)
        else:
            t = system.reward_terms(bool(requested), bool(lam.any()), mig_delay, 0.0, True, 10, 10)
        assert rewards["edge_0"] == pytest.approx(t.reward)
        assert set(rewards.values()) == {rewards["edge_0"]}
        expected_total += t.delay_s
        expected_return += t.reward
        remaining = system.remaining_capacity(remaining, d.cache, size)
    episode = infos["edge_0"]["episode"]
    assert episode["total_delay_s"] == pytest.approx(expected_total)
    assert episode["return"] == pytest.approx(expected_return)
    assert env.total_delay_s == pytest.approx(expected_total)
    assert env.agents == []


def test_forcing_reported_in_infos():
    env = fgamcd_env.parallel_env(**SMALL, storage_bytes=1.0)  # nothing fits
    env.reset()
    ones = {a: np.ones(3, dtype=int) for a in env.agents}
    _, _rewards, _, _, infos = env.step(ones)
    assert infos["edge_0"]["asked"] == [1, 1, 1]
    assert infos["edge_0"]["applied"] == [0, 0, 0]
    assert infos["edge_0"]["terms"]["no_delivery"] == env.scenario.demand[0].any()


def test_prune_migrations_keeps_participation_and_cuts_only_migration_delay():
    plain = fgamcd_env.parallel_env(**SMALL)
    pruned = fgamcd_env.parallel_env(**SMALL, prune_migrations=True)
    rng = np.random.default_rng(3)
    plain.reset(seed=0)
    pruned.reset(seed=0)
    fewer = 0
    while plain.agents:
        act = _random_actions(plain, rng)
        _, r0, _, _, i0 = plain.step(act)
        _, r1, _, _, i1 = pruned.step(act)
        a = plain.possible_agents[0]
        assert i1[a]["participating"] == i0[a]["participating"]
        assert i1[a]["cache"] == i0[a]["cache"]
        t0, t1 = i0[a]["terms"], i1[a]["terms"]
        assert t1["migration_delay_s"] <= t0["migration_delay_s"]
        # same broadcast, so the rewards differ by the migration delay saved, if requested
        saved = (t0["migration_delay_s"] - t1["migration_delay_s"]) * t0["requested"]
        assert r1[a] == pytest.approx(r0[a] + saved, abs=1e-12)
        mig0, mig1 = np.array(i0[a]["migrate"]), np.array(i1[a]["migrate"])
        assert system.redundant_migrations(i1[a]["cache"], mig1) == 0
        fewer += int(mig1.sum() < mig0.sum())
    assert fewer > 0  # random actions do migrate redundantly


def test_memoisation_on_static_instance():
    env = fgamcd_env.parallel_env(**SMALL)
    acts = [{a: np.array([1, 0, 0]) for a in env.possible_agents}] * env.scenario.num_pbs
    sizes = []
    for _ in range(2):
        env.reset()
        for act in acts:
            env.step(act)
        sizes.append(env.memo_size)
    assert sizes[0] > 0 and sizes[1] == sizes[0]  # the second episode solved nothing new
    assert env.memo_hits == sizes[0]  # ... and every one of its solves came from the memo


def test_resample_on_reset_draws_new_instances():
    env = fgamcd_env.parallel_env(**SMALL, resample_on_reset=True)
    env.reset(seed=1)
    first = env.scenario.channels.copy()
    env.reset()
    assert not np.array_equal(first, env.scenario.channels)
    env.reset(seed=1)
    np.testing.assert_array_equal(first, env.scenario.channels)


@pytest.mark.parametrize(
    ("actions", "match"),
    [
        ({"edge_0": np.ones(3), "edge_1": np.ones(3)}, "missing agents \\['edge_2'\\]"),
        ({"edge_0": np.ones(2), "edge_1": np.ones(3), "edge_2": np.ones(3)}, "edge_0: shape"),
        (
            {"edge_0": np.ones(3), "edge_1": np.array([0, 2, 1]), "edge_2": np.ones(3)},
            "edge_1: values must be 0 or 1",
        ),
        (
            {"edge_0": np.ones(3), "edge_1": np.ones(3), "edge_2": np.array([0, np.nan, 1])},
            "edge_2: contains NaN",
        ),
        (
            {
                "edge_0": np.ones(3),
                "edge_1": np.ones(3),
                "edge_2": np.ones(3),
                "edge_9": np.ones(3),
            },
            "unknown agents \\['edge_9'\\]",
        ),
    ],
)
def test_bad_actions(actions, match):
    env = fgamcd_env.parallel_env(**SMALL)
    env.reset()
    with pytest.raises(ValueError, match=match):
        env.step(actions)


def test_step_after_end_raises():
    env = fgamcd_env.parallel_env(**SMALL, max_cycles=2)
    env.reset()
    zeros = {a: np.zeros(3, int) for a in env.agents}
    env.step(zeros)
    env.step(zeros)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(zeros)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="beamformer"):
        fgamcd_env.parallel_env("small", beamformer="magic")
    with pytest.raises(ValueError, match="render_mode"):
        fgamcd_env.parallel_env("small", render_mode="video")
    with pytest.raises(ValueError, match="num_nodez"):
        fgamcd_env.parallel_env("small", num_nodez=3)


def test_discrete_wrapper():
    assert bits_to_index(index_to_bits(5, 3)) == 5
    np.testing.assert_array_equal(index_to_bits(6, 3), [0, 1, 1])
    env = DiscreteActions(fgamcd_env.parallel_env(**SMALL, action_masks=True))
    parallel_api_test(env, num_cycles=20)
    obs, _ = env.reset()
    mask = obs["edge_0"]["action_mask"]
    assert mask.dtype == np.int8 and mask.shape == (8,)
    np.testing.assert_array_equal(mask, [1, 1, 0, 1, 0, 1, 0, 1])
    _, _, _, _, infos = env.step({a: 3 for a in env.agents})  # cache + migrate to first other
    assert infos["edge_2"]["applied"] == [1, 1, 0]


def test_centralised_gymnasium_view():
    env = CentralisedEnv(**SMALL)
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (36,)
    obs, reward, terminated, _truncated, info = env.step(env.action_space.sample())
    assert isinstance(reward, float) and not terminated and "terms" in info


def test_registration():
    pz = pytest.importorskip("pettingzoo")
    if not hasattr(pz, "make"):
        pytest.skip("this PettingZoo has no registry")
    par = pz.make("parallel", "fgamcd/FGAMCD-v0", scenario="small", seed=0, beamformer="mrt_tdma")
    assert par.possible_agents == ["edge_0", "edge_1", "edge_2"]
    aec = pz.make("aec", "fgamcd/FGAMCD-v0", scenario="small", seed=0, beamformer="mrt_tdma")
    aec.reset()
    g = gymnasium.make(
        "fgamcd/FGAMCD-Centralised-v0", scenario="small", seed=0, beamformer="mrt_tdma"
    )
    assert g.observation_space.shape == (36,)


def test_observations_function_is_pure():
    sc = fgamcd_env.make_scenario("small", seed=0)
    rem = np.array([1e8, 5e7, 0.0])
    a = observations(sc, 3, rem)
    b = observations(sc, 3, rem)
    np.testing.assert_array_equal(a, b)
    assert a[2, 3] == 0.0  # node 2 has no storage left


def test_solver_failure_never_crashes_an_episode(monkeypatch):
    import fgamcd_env.delivery as delivery

    def broken(*args, **kwargs):
        raise RuntimeError("solver exploded")

    monkeypatch.setattr(delivery, "solve_pb", broken)
    env = fgamcd_env.parallel_env("small", seed=0, beamformer="fast")
    env.reset()
    k = int(np.flatnonzero(env.scenario.demand.any(axis=1))[0])
    zeros = {a: np.zeros(3, int) for a in env.agents}
    for _ in range(k):
        env.step(zeros)
    _, rewards, _, _, infos = env.step({a: np.array([1, 1, 1]) for a in env.agents})
    info = infos["edge_0"]
    assert info["terms"]["qos_infeasible"] and "solver exploded" in info["solver_status"]
    assert info["beamformer"] == "mrt_tdma"
    assert rewards["edge_0"] <= -env.config.penalty_qos


def test_spaces_are_cached_per_instance_and_envs_are_collected():
    import gc
    import weakref

    env = fgamcd_env.parallel_env("small", seed=0)
    assert env.observation_space("edge_0") is env.observation_space("edge_0")
    assert env.action_space("edge_1") is env.action_space("edge_1")
    ref = weakref.ref(env)
    del env
    gc.collect()
    assert ref() is None  # nothing (e.g. a class-level cache) keeps a dropped env alive


def test_aec_forms_follow_pettingzoo_convention():
    """``raw_env`` is the unwrapped AEC form, ``env`` adds the order-enforcing wrapper."""
    from pettingzoo.utils import OrderEnforcingWrapper
    from pettingzoo.utils.conversions import parallel_to_aec_wrapper

    raw = fgamcd_v0.raw_env(**SMALL)
    wrapped = fgamcd_v0.env(**SMALL)
    assert isinstance(raw, parallel_to_aec_wrapper)
    assert isinstance(wrapped, OrderEnforcingWrapper)
    assert isinstance(wrapped.env, parallel_to_aec_wrapper)
    assert isinstance(raw.unwrapped, fgamcd_env.FGAMCDParallelEnv)


def test_actions_in_any_numeric_form_give_the_same_step():
    """The same decisions as int arrays, bool arrays, floats or lists (any agent order) give the
    same applied decisions and infos."""
    rng = np.random.default_rng(3)
    forms = [
        lambda a: a.astype(int),
        lambda a: a.astype(bool),
        lambda a: a.astype(float),
        lambda a: a.astype(int).tolist(),
    ]
    outs = []
    for form in forms:
        env = fgamcd_env.parallel_env("small", seed=0, beamformer="mrt_tdma", max_cycles=8)
        env.reset(seed=0)
        rng = np.random.default_rng(3)
        steps = []
        while env.agents:
            acts = {a: form(rng.random(3) < 0.5) for a in reversed(env.agents)}
            _, rew, _, _, infos = env.step(acts)
            steps.append(
                (
                    rew["edge_0"],
                    [infos[a]["asked"] for a in sorted(infos)],
                    [infos[a]["applied"] for a in sorted(infos)],
                )
            )
            for a, act in acts.items():
                assert infos[a]["asked"] == np.asarray(act).astype(int).tolist()
        outs.append(steps)
    assert all(o == outs[0] for o in outs)


def test_stacked_error_radius_over_participants_or_all_nodes():
    """(28) read literally stacks all N nodes' errors: radius sqrt(N sum_n w_n^H C^-1 w_n)
    instead of sqrt(N_par ...). Every delivered rate equals that closed form of its beam."""
    from fgamcd_env.beamforming import problem_from_scenario

    env = fgamcd_env.parallel_env("small", seed=2, stacked_nodes="all", beamformer="fast")
    base = fgamcd_env.parallel_env("small", seed=2, beamformer="fast")
    sc, cfg = env.scenario, env.config
    lam = np.array([True, False, True])
    k = next(  # a PB that two nodes deliver to every requester at a positive worst-case rate
        int(k)
        for k in np.flatnonzero(sc.demand.any(axis=1))
        if base.delivery(int(k), lam).parts[0].rates_bps.min() > 0
    )
    out, ref = env.delivery(k, lam), base.delivery(k, lam)
    (part,) = out.parts
    prob = problem_from_scenario(sc, k, lam)
    h, c = prob.channels, prob.error_shape  # (N_par, U, M), the scenario's C = c I
    quad = np.einsum("nm,num->nu", np.abs(part.w) ** 2, 1 / np.einsum("numm->num", c).real)
    radius = np.sqrt(cfg.num_nodes * quad.sum(axis=0))  # N = 3 stacked, not N_par = 2
    amp = np.maximum(np.abs(np.einsum("num,nm->u", h.conj(), part.w)) - radius, 0)
    rates = cfg.bandwidth_hz * np.log2(1 + amp**2 / cfg.noise_w)
    np.testing.assert_allclose(part.rates_bps, rates, rtol=1e-9)
    assert part.rates_bps.min() < ref.parts[0].rates_bps.min()  # the larger set costs rate
    every = np.ones(3, dtype=bool)  # all nodes take part: the two readings coincide
    assert env.delivery(k, every).delay_s == pytest.approx(base.delivery(k, every).delay_s)
    with pytest.raises(ValueError, match="stacked_nodes"):
        fgamcd_env.parallel_env("small", seed=0, stacked_nodes="some")


@pytest.mark.parametrize(
    "kw",
    [
        {"scenario": "small", "seed": 3, "beamformer": "fast"},
        {
            "scenario": "small",
            "seed": 1,
            "beamformer": "fast",
            "observed_demand_only": True,
            "prune_migrations": True,
            "reward": {"clip": 50.0, "storage_cost": 0.5},
        },
    ],
)
def test_step_array_is_the_same_transition_as_step(kw):
    """step_array (every agent's action in one array, no per-agent dicts) against step() on a
    twin env: observations, rewards, applied actions, reward terms and the episode summary."""
    a, b = fgamcd_env.parallel_env(**kw), fgamcd_env.parallel_env(**kw)
    a.reset(seed=5)
    b.reset(seed=5)
    rng = np.random.default_rng(0)
    n = a.config.num_nodes
    infos, done = {}, False
    while not done:
        bits = rng.integers(0, 2, (n, n))
        obs, rewards, _, truncs, infos = a.step({ag: bits[i] for i, ag in enumerate(a.agents)})
        step = b.step_array(bits)
        done = step.done
        assert done == all(truncs.values()) and (b.agents == []) == done
        assert step.reward == rewards["edge_0"]
        assert step.terms.as_dict() == infos["edge_0"]["terms"]
        assert step.applied.tolist() == [infos[ag]["applied"] for ag in a.possible_agents]
        if not done:
            assert step.observations.dtype == np.float32
            want = np.stack([obs[ag] for ag in a.possible_agents])
            np.testing.assert_array_equal(step.observations, want)
    assert b.episode_summary() == infos["edge_0"]["episode"]
    with pytest.raises(RuntimeError, match="episode ended"):
        b.step_array(bits)


@pytest.mark.parametrize(
    "bits", [np.ones((3, 2)), np.full((3, 3), 2), np.full((3, 3), np.nan), np.full((3, 3), "1")]
)
def test_step_array_rejects_bad_actions(bits):
    env = fgamcd_env.parallel_env(**SMALL)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"expected an \(3, 3\) array of 0/1"):
        env.step_array(bits)
