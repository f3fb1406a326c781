"""The exact optimum of P1: equal to brute force on tiny instances, replayed to its objective, and
never beaten by a baseline delivering the same way."""

import itertools

import numpy as np
import pytest

from baselines.centralised import CentralisedReference
from baselines.evaluate import evaluate
from baselines.methods import BASELINES
from baselines.optimum import MAX_EXACT_NODES, Optimum, solve_optimum
from baselines.policy import joint_to_actions
from fgamcd_env.core import system
from fgamcd_env.env import FGAMCDParallelEnv

# Two ResNet-18 models, the second sharing the first's bottom two blocks: when every user wants
# the second, PBs 0-1 are requested and 2-9 are not.
TWO_MODELS = {
    "models_per_base": (2,),
    "stage1_models": (1,),
    "reuse_ratios": None,
    "frozen_blocks": (2,),
}
# PB sizes 38144, 295936, 295936, 920576 B: at 1 MB a node holds PB 3 (+ PB 0) or PBs 0-2.
TINY = {
    "coupled": {"seed": 1, "num_nodes": 3, "num_users": 6, "storage_bytes": 1e6},
    "unrequested": {
        "seed": 18,
        "num_nodes": 3,
        "num_users": 3,
        "storage_bytes": 0.4e6,
        "repository": TWO_MODELS,
    },
}


def tiny_env(name: str, max_cycles: int = 4, **kwargs) -> FGAMCDParallelEnv:
    return FGAMCDParallelEnv(scenario="small", max_cycles=max_cycles, **{**TINY[name], **kwargs})


def brute_force(env: FGAMCDParallelEnv) -> float:
    """Highest return over every asked caching plan (sequential forcing as in ``step``) and, per
    step, every asked migration matrix (migrations change no later state, so each step takes its
    best one)."""
    sc, n, steps = env.scenario, env.config.num_nodes, env.num_steps
    sizes = sc.pb_sizes_bytes
    off = ~np.eye(n, dtype=bool)
    bits = [np.array(b, dtype=bool) for b in itertools.product([0, 1], repeat=n)]
    migrations = []
    for b in itertools.product([0, 1], repeat=n * (n - 1)):
        m = np.zeros((n, n), dtype=bool)
        m[off] = b
        migrations.append(m)
    best_step = {}
    for k in range(steps):
        for cache in bits:
            rewards = []
            for asked in migrations:
                legal = system.apply_forcing(cache, asked, np.full(n, np.inf), sizes[k]).migrate
                applied = env.applied_migration(k, cache, legal)
                rewards.append(env.pb_outcome(k, cache, applied)[0].reward)
            best_step[k, cache.tobytes()] = max(rewards)
    best = -np.inf
    for plan in itertools.product(bits, repeat=steps):
        remaining = np.full(n, float(env.config.storage_bytes))
        total = 0.0
        for k, asked in enumerate(plan):
            cache = system.apply_forcing(asked, np.zeros((n, n), bool), remaining, sizes[k]).cache
            remaining = system.remaining_capacity(remaining, cache, sizes[k])
            total += best_step[k, cache.tobytes()]
        best = max(best, total)
    return best


def replay(env: FGAMCDParallelEnv, policy) -> float:
    obs, _ = env.reset(seed=0)
    policy.reset(env)
    total = 0.0
    while env.agents:
        obs, rewards, *_ = env.step(policy.act(obs, env))
        total += next(iter(rewards.values()))
    return total


def test_tiny_instances_exercise_storage_and_unrequested_pbs():
    env = tiny_env("unrequested")
    assert env.scenario.demand[:4].any(axis=1).tolist() == [True, True, False, False]
    env = tiny_env("coupled")
    sc = env.scenario
    assert sc.demand[:4].any(axis=1).all()
    assert len(set(sc.pb_sizes_bytes[:4])) == 3
    # Storage binds: the best pattern of each PB on its own does not fit in every node.
    res = solve_optimum(env)
    alone = solve_optimum(tiny_env("coupled", storage_bytes=1e9))
    assert (alone.cache * sc.pb_sizes_bytes).sum(axis=1).max() > 1e6
    assert res.objective < alone.objective


@pytest.mark.parametrize(
    "name,options",
    [
        ("coupled", {}),
        ("coupled", {"beamformer": "mrt_tdma"}),
        ("coupled", {"beamformer": "best"}),
        ("coupled", {"cooperation": False}),
        ("coupled", {"full_comp": True}),
        ("coupled", {"full_comp": True, "prune_migrations": True}),
        ("coupled", {"delivery_groups": "model", "prune_migrations": True}),
        ("coupled", {"eps_hot": 1}),
        ("unrequested", {}),
        ("unrequested", {"beamformer": "mrt_tdma", "storage_bytes": 0.1e6}),
    ],
)
def test_optimum_equals_brute_force_and_replays(name, options):
    env = tiny_env(name, **options)
    policy = Optimum()
    returned = replay(env, policy)
    res = policy.result
    assert res.status == "optimal" and res.exact and res.mip_gap == pytest.approx(0, abs=1e-9)
    assert res.objective == pytest.approx(brute_force(env), rel=1e-12, abs=1e-12)
    assert returned == pytest.approx(res.objective, rel=1e-12, abs=1e-12)
    assert not res.cache[:, ~env.scenario.demand.any(axis=1)].any()
    assert not res.migrations[~env.scenario.demand.any(axis=1)].any()
    assert np.all((res.cache * env.scenario.pb_sizes_bytes).sum(axis=1) <= env.config.storage_bytes)


def test_two_node_optimum_equals_every_action_sequence_through_step():
    """N = 2, three steps: all 16^3 joint action sequences run through ``env.step``."""
    env = FGAMCDParallelEnv(
        scenario="small", seed=0, num_nodes=2, num_users=4, max_cycles=3, storage_bytes=0.4e6
    )
    joint = [
        (np.array(c, dtype=bool), np.array([[0, m0], [m1, 0]], dtype=bool))
        for c in itertools.product([0, 1], repeat=2)
        for m0, m1 in itertools.product([0, 1], repeat=2)
    ]
    best = -np.inf
    for seq in itertools.product(joint, repeat=3):
        env.reset(seed=0)
        total = 0.0
        for cache, migrate in seq:
            _, rewards, *_ = env.step(joint_to_actions(cache, migrate, env.agents))
            total += rewards["edge_0"]
        best = max(best, total)
    policy = Optimum()
    assert replay(env, policy) == pytest.approx(policy.planned_return, rel=1e-12)
    assert policy.planned_return == pytest.approx(best, rel=1e-12, abs=1e-12)


def test_evaluate_replays_the_planned_return_on_small():
    policy = Optimum()
    row = evaluate(policy, "small", seeds=[2], beamformer="mrt_tdma")[0]
    assert row["return"] == pytest.approx(policy.planned_return, rel=1e-12)
    assert row["requested_pbs"] == policy.result.requested_pbs
    assert policy.result.deliveries == policy.result.requested_pbs * 7


def same_options_policies():
    for name in BASELINES:
        if name != "optimum":
            yield name, BASELINES[name]
    yield "centralised", CentralisedReference


@pytest.mark.parametrize("seed,beamformer", [(0, "fast"), (1, "mrt_tdma"), (2, "mrt_tdma")])
def test_no_baseline_beats_the_optimum_of_its_own_delivery(seed, beamformer):
    """Each baseline against the optimum computed under the very env options it runs with (its
    beamformer, cooperation, full CoMP, delivery groups, hot threshold), on one shared env."""
    envs: dict[tuple, FGAMCDParallelEnv] = {}
    for name, cls in same_options_policies():
        policy = cls()
        kwargs = {"beamformer": beamformer, **policy.env_kwargs}
        key = tuple(sorted(kwargs.items()))
        if key not in envs:
            envs[key] = FGAMCDParallelEnv(scenario="small", seed=seed, **kwargs)
        env = envs[key]
        optimum = Optimum()
        assert replay(env, optimum) == pytest.approx(optimum.planned_return, rel=1e-12)
        got = replay(env, policy)
        assert got <= optimum.planned_return + 1e-9, (name, got, optimum.planned_return)


def test_restricted_sets_and_bad_input():
    env = tiny_env("coupled")
    full = solve_optimum(env)
    pairs = solve_optimum(env, max_set_size=2)
    assert not pairs.exact and pairs.objective <= full.objective + 1e-12
    assert pairs.participants.sum(axis=1).max() <= 2
    assert solve_optimum(env, max_set_size=3).exact
    with pytest.raises(ValueError, match="max_set_size"):
        solve_optimum(env, max_set_size=0)
    with pytest.raises(ValueError, match="method='tdma'"):
        solve_optimum(env, method="tdma")
    big = FGAMCDParallelEnv(
        scenario="small",
        seed=0,
        beamformer="mrt_tdma",
        num_nodes=MAX_EXACT_NODES + 1,
        num_users=9,
        node_min_separation_m=100.0,
        max_cycles=8,
    )
    with pytest.raises(ValueError, match="max_set_size"):
        solve_optimum(big)
    policy = Optimum(max_set_size=2)
    assert replay(big, policy) == pytest.approx(policy.planned_return, rel=1e-12)
    assert not policy.result.exact and policy.result.participants.sum(axis=1).max() <= 2
    assert policy.result.deliveries == policy.result.requested_pbs * (9 + 36)


def test_gap_benchmark_on_a_small_instance():
    from benchmarks.optimum_gap import markdown, parse_instances, run_instance

    assert parse_instances(["small:0-2", "paper:1,3"]) == [
        ("small", 0),
        ("small", 1),
        ("small", 2),
        ("paper", 1),
        ("paper", 3),
    ]
    with pytest.raises(ValueError, match="PRESET:SEEDS"):
        parse_instances(["small"])
    optima, rows = run_instance("small", 3, ("tdma", "no_cooperation"), num_users=4)
    labels = [(r["beamformer"], r["options"]) for r in optima]
    assert labels == [
        ("fast", "default"),
        ("mrt_tdma", "default"),
        ("best", "default"),
        ("fast", "cooperation=False"),
    ]
    best = optima[2]["return"]
    assert best >= max(optima[0]["return"], optima[1]["return"]) - 1e-9
    for r in rows:
        assert r["gap_to_own_optimum"] >= -1e-9
        assert r["gap_to_optimum"] == pytest.approx(optima[0]["return"] - r["return"])
    text = markdown(optima, rows)
    assert text.count("| small s3 |") == len(optima) + len(rows)


def test_optimum_respects_the_observed_demand_mask():
    """With ``observed_demand_only`` the plan caches a PB only at nodes that observe a request
    for it, replays without a forced bit, and is no better than without the mask."""
    kw = {"num_users": 4, "storage_bytes": 60e6, "max_cycles": 12, "beamformer": "mrt_tdma"}
    masked = FGAMCDParallelEnv(scenario="small", seed=1, observed_demand_only=True, **kw)
    free = FGAMCDParallelEnv(scenario="small", seed=1, **kw)
    res = solve_optimum(masked)
    for k in range(masked.num_steps):
        assert not np.any(res.cache[:, k] & ~masked.observed_nodes(k))
    assert res.objective <= solve_optimum(free).objective + 1e-9
    policy = Optimum(observed_demand_only=True)
    row = evaluate(policy, "small", seeds=[1], observed_demand_only=True, **kw)[0]
    assert row["return"] == pytest.approx(policy.planned_return, abs=1e-9)
