"""Baselines: storage respected on every node, no migration of uncached PBs, sane metrics."""

import dataclasses

import numpy as np
import pytest

import fgamcd_env
from baselines.evaluate import episode_metrics, evaluate
from baselines.methods import BASELINES, CoarseGrained, NoCooperation, RandomPolicy, TrimCaching
from baselines.placement import (
    coarse_placement,
    expected_hit_placement,
    greedy_hit_placement,
    popularity_placement,
    replicate_placement,
    request_weights,
    served_users,
    user_reach,
)
from baselines.policy import Policy, joint_to_actions, relay_migration
from fgamcd_env.core.scenario import zipf_probabilities
from fgamcd_env.env import FGAMCDParallelEnv

PLAN_POLICIES = [name for name in BASELINES if name != "random"]


@pytest.mark.parametrize("name", PLAN_POLICIES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_plan_policies_need_no_forcing(name, seed):
    """What a plan policy asks is what the env applies: storage holds, only cached PBs move."""
    policy = BASELINES[name]()
    assert isinstance(policy, Policy)
    kwargs = {"beamformer": "mrt_tdma", **policy.env_kwargs}
    env = FGAMCDParallelEnv(scenario="small", seed=seed, storage_bytes=60e6, num_users=7, **kwargs)
    obs, _ = env.reset()
    policy.reset(env)
    while env.agents:
        actions = policy.act(obs, env)
        for agent, act in actions.items():
            if act[0] == 0:
                assert not act[1:].any(), f"{name} migrates an uncached PB from {agent}"
        obs, _, _, _, infos = env.step(actions)
        for agent in infos:
            asked, applied = infos[agent]["asked"], infos[agent]["applied"]
            assert asked[0] == applied[0]  # storage never forces a planned PB out
            if name != "full_comp":  # full CoMP: the env adds the migrations itself
                assert asked == applied
    assert np.all(env.storage_used_bytes <= 60e6)


def test_random_policy_respects_storage_through_forcing():
    env = FGAMCDParallelEnv(scenario="small", seed=0, beamformer="mrt_tdma", storage_bytes=30e6)
    policy = RandomPolicy(p_cache=0.9, p_migrate=0.5, seed=1)
    obs, _ = env.reset()
    while env.agents:
        obs, *_ = env.step(policy.act(obs, env))
    assert np.all(env.storage_used_bytes <= 30e6)
    assert env.storage_used_bytes.max() > 0


@pytest.mark.parametrize("seed", [0, 3])
def test_placements_fit_and_serve(seed):
    sc = fgamcd_env.make_scenario("paper", seed=seed, storage_bytes=0.3e9)
    sizes = sc.pb_sizes_bytes
    for reach in ("visible", "own"):
        plan = greedy_hit_placement(sc, reach)
        assert np.all(plan @ sizes <= 0.3e9)
        served = served_users(sc, plan, reach)
        assert served.any()
        # greedy stops only when no unserved user's model fits anywhere it could be served
        for u in np.flatnonzero(~served):
            model = sc.repository.model_pbs[sc.requests[u]]
            for n in np.flatnonzero(
                sc.visibility[sc.user_node[u]]
                if reach == "visible"
                else np.arange(sc.num_nodes) == sc.user_node[u]
            ):
                missing = sizes[model][~plan[n, model]].sum()
                assert plan[n] @ sizes + missing > 0.3e9
    coarse = coarse_placement(sc)
    # paid per model, so the real bytes are at most the budget
    assert np.all(coarse @ sizes <= 0.3e9)


def test_greedy_shares_pbs_and_beats_coarse_on_hit_ratio():
    sc = fgamcd_env.make_scenario("paper", seed=0, storage_bytes=0.15e9)
    trim = served_users(sc, greedy_hit_placement(sc, "visible")).mean()
    coarse = served_users(sc, coarse_placement(sc)).mean()
    assert trim >= coarse


def test_relay_migration_and_joint_actions():
    sc = fgamcd_env.make_scenario("small", seed=0)
    k = int(np.flatnonzero(sc.demand.any(axis=1))[0])
    cache = np.zeros(3, dtype=bool)
    assert not relay_migration(sc, k, cache).any()
    cache[0] = True
    mig = relay_migration(sc, k, cache)
    targets = set(np.unique(sc.user_node[sc.demand[k]])) - {0}
    assert set(np.flatnonzero(mig[0])) == targets and not mig[1:].any()
    acts = joint_to_actions(cache, mig, ["edge_0", "edge_1", "edge_2"])
    np.testing.assert_array_equal(acts["edge_0"], [1, *mig[0, 1:].astype(int)])
    np.testing.assert_array_equal(acts["edge_2"], [0, 0, 0])


def test_evaluate_rows():
    rows = evaluate(TrimCaching(), "small", seeds=[0, 1], beamformer="mrt_tdma", episodes=2)
    assert len(rows) == 4
    r = rows[0]
    assert r["policy"] == "trimcaching" and r["steps"] == 32
    assert r["total_delay_s"] == pytest.approx(r["migration_delay_s"] + r["broadcast_delay_s"])
    assert 0.0 <= r["hit_ratio"] <= 1.0
    assert rows[0]["total_delay_s"] == rows[1]["total_delay_s"]  # static instance, same plan
    assert 0 <= r["redundant_migrations"] <= r["migrations"]


def test_episode_metrics_count_redundant_migrations():
    env = FGAMCDParallelEnv("small", seed=0, beamformer="mrt_tdma")
    env.reset(seed=0)
    env.step({a: np.ones(3, dtype=int) for a in env.agents})  # all cache, all migrate
    env.step({a: np.array([int(i == 0), 0, int(i == 0)]) for i, a in enumerate(env.agents)})
    m = episode_metrics(env)
    # step 1: 6 migrations, all into caching nodes; step 2: edge_0 caches and sends to edge_2
    assert (m["migrations"], m["redundant_migrations"]) == (7, 6)


def test_env_modes_change_delivery():
    nc = evaluate(NoCooperation(), "small", seeds=[0], beamformer="mrt_tdma")[0]
    assert nc["migration_delay_s"] == 0.0
    coarse = evaluate(CoarseGrained(), "small", seeds=[0], beamformer="mrt_tdma")[0]
    assert coarse["steps"] == 32


@pytest.mark.parametrize("seed", [0, 1])
def test_centralised_reference_is_exact_and_no_worse_than_trimcaching(seed):
    from baselines.centralised import CentralisedReference

    kw = {"storage_bytes": 40e6, "num_users": 8}
    cen = CentralisedReference()
    row = evaluate(cen, "small", seeds=[seed], beamformer="mrt_tdma", **kw)[0]
    # the plan's own cost estimate is what the simulator then measures
    assert -row["return"] == pytest.approx(min(cen.candidates.values()))
    trim = evaluate(TrimCaching(), "small", seeds=[seed], beamformer="mrt_tdma", **kw)[0]
    assert row["return"] >= trim["return"] - 1e-9


def test_replicate_placement_by_hand():
    sc = fgamcd_env.make_scenario("small", seed=1, storage_bytes=1e9)
    sizes, wanted = sc.pb_sizes_bytes.astype(float), sc.demand.sum(axis=1)
    requested = wanted > 0
    assert 0 < sizes[requested].sum() < sc.config.storage_bytes  # room for all of them
    plan = replicate_placement(sc)
    assert plan.shape == (sc.num_nodes, sc.num_pbs)
    assert (plan == requested).all()  # every node, every requested PB, nothing else
    assert not requested.all()
    # storage for the two most requested PBs only (ties: smaller first): exactly those two
    order = np.lexsort((np.arange(sc.num_pbs), sizes, -wanted))
    cap = sizes[order[:2]].sum()
    tight = fgamcd_env.make_scenario("small", seed=1, storage_bytes=cap)
    plan = replicate_placement(tight)
    expect = np.zeros(sc.num_pbs, bool)
    expect[order[:2]] = True
    assert (plan == expect).all()


@pytest.mark.parametrize("seed", [1, 3])  # 1 and 2 visible node pairs of 3
def test_replicate_observed_caches_what_its_users_and_visible_nodes_ask(seed):
    """Expected bits from the scenario: PB k goes to node n iff a user of n or of a node n sees
    requests it and it still fits (PB order); nothing migrates."""
    storage = 45e6
    env = FGAMCDParallelEnv(scenario="small", seed=seed, storage_bytes=storage, num_users=7)
    sc = env.scenario
    assert sc.visibility.sum() > sc.num_nodes
    sees = sc.visibility[:, sc.user_node]  # (N, U): node n observes user u's demand
    used = np.zeros(sc.num_nodes)
    policy = BASELINES["replicate_observed"]()
    obs, _ = env.reset()
    policy.reset(env)
    room_binds = False
    while env.agents:
        k = env.current_pb
        want = (sees & sc.demand[k][None, :]).any(axis=1)
        fits = used + sc.pb_sizes_bytes[k] <= storage
        room_binds |= bool((want & ~fits).any())
        expect = want & fits
        used += expect * sc.pb_sizes_bytes[k]
        obs, _, _, _, infos = env.step(policy.act(obs, env))
        got = [infos[a]["applied"] for a in env.possible_agents]
        assert [int(g[0]) for g in got] == expect.astype(int).tolist(), k
        assert not any(np.any(g[1:]) for g in got)
    assert room_binds and (env.storage_used_bytes > 0).all()


# ---- placements from request probabilities (the paper's baselines) ---------------------------
def _reference_hit_greedy(sc, weights, reach):
    """A loop-by-loop TrimCaching greedy, written independently of baselines.placement."""
    rep, cap = sc.repository, sc.config.storage_bytes
    sizes = rep.pb_sizes_bytes.astype(float)
    can = user_reach(sc, reach)
    plan = np.zeros((sc.num_nodes, rep.num_pbs), dtype=bool)
    served = np.zeros((sc.num_users, sc.num_models), dtype=bool)
    while True:
        best, pick = -1.0, None
        for n in range(sc.num_nodes):
            used = sizes[plan[n]].sum()
            for j in range(sc.num_models):
                gain = sum(
                    weights[u, j] for u in range(sc.num_users) if can[u, n] and not served[u, j]
                )
                pbs = rep.model_pbs[j]
                added = sizes[pbs][~plan[n, pbs]].sum()
                if gain > 0 and used + added <= cap and gain / max(added, 1.0) > best:
                    best, pick = gain / max(added, 1.0), (n, j)
        if pick is None:
            return plan
        n, j = pick
        plan[n, rep.model_pbs[j]] = True
        served[can[:, n], j] = True


@pytest.mark.parametrize(
    ("seed", "storage", "reach"), [(0, 60e6, "visible"), (1, 90e6, "own"), (4, 130e6, "visible")]
)
def test_expected_hit_placement_matches_a_loop_reference(seed, storage, reach):
    sc = fgamcd_env.make_scenario(
        "paper",
        seed=seed,
        num_nodes=4,
        num_users=9,
        storage_bytes=storage,
        repository={"models_per_base": (3, 4, 2), "stage1_models": (1, 2, 1)},
    )
    weights = request_weights(sc, known_requests=False)
    np.testing.assert_allclose(weights[0], zipf_probabilities(sc.num_models, 0.5))
    plan = expected_hit_placement(sc, reach)
    assert (plan == _reference_hit_greedy(sc, weights, reach)).all()
    assert np.all(plan @ sc.pb_sizes_bytes <= storage)
    assert plan.any()


def test_probability_placements_do_not_see_the_requests():
    """Placed before the requests are revealed: other realised requests, the same plans."""
    sc = fgamcd_env.make_scenario("paper", seed=2, storage_bytes=0.8e9)
    other = dataclasses.replace(sc, requests=(sc.requests + 7) % sc.num_models)
    for place in (expected_hit_placement, popularity_placement):
        assert (place(sc) == place(other)).all()
        assert (place(sc) == place(sc)).all()  # deterministic
    assert (expected_hit_placement(sc, "own") == expected_hit_placement(other, "own")).all()
    assert not (greedy_hit_placement(sc) == greedy_hit_placement(other)).all()


def test_popularity_placement_by_hand():
    """Whole models in Zipf order, each paid in full, skipping what no longer fits."""
    sc = fgamcd_env.make_scenario("paper", seed=0, storage_bytes=0.2e9)
    rep = sc.repository
    mb = rep.model_sizes_bytes.astype(float)
    expect = np.zeros(rep.num_pbs, dtype=bool)
    budget = 0.2e9
    for j in range(rep.num_models):  # p_j falls with j
        if mb[j] <= budget:
            expect[rep.model_pbs[j]] = True
            budget -= mb[j]
    plan = popularity_placement(sc)
    assert (plan == expect).all()  # every node: every user has the same probabilities
    assert budget < mb.min()  # storage is full: not even the smallest model fits any more
    assert np.all(plan @ sc.pb_sizes_bytes <= 0.2e9)


@pytest.mark.parametrize("name", ["trimcaching", "no_cooperation", "coarse"])
def test_paper_baselines_place_from_probabilities(name):
    """The paper-named methods use the probability forms; *_known_requests the realised ones."""
    sc = fgamcd_env.make_scenario("paper", seed=1, storage_bytes=0.8e9)
    faithful, aware = BASELINES[name](), BASELINES[f"{name}_known_requests"]()
    other = dataclasses.replace(sc, requests=(sc.requests + 3) % sc.num_models)
    assert (faithful.plan(sc) == faithful.plan(other)).all()
    assert not (aware.plan(sc) == aware.plan(other)).all()


def test_storage_regime_tells_where_storage_binds():
    from benchmarks.storage_regime import PLACEMENTS, binds, table

    roomy = fgamcd_env.make_scenario("small", seed=0, storage_bytes=1e12)
    tight = fgamcd_env.make_scenario("small", seed=0, storage_bytes=50e6)
    for place in PLACEMENTS.values():
        assert not binds(place, roomy)
        assert binds(place, tight)
    text = table("small", [0.05, 1000.0], [4], 1)
    assert "| 4 | 0.22 | 0.12 | 0.05 | 1/1 | 1/1 | 1/1 | 1/1 |" in text
    assert "| 4 | 0.22 | 0.12 | 1000 | 0/1 | 0/1 | 0/1 | 0/1 |" in text
