"""The reward options of the env: (12) by default, the learners' shaped form, the
observed-demand action mask. The shaped form must equal, bit for bit, the formula the learners
were trained on (frozen below as it stood when it lived in ``agents``)."""

from __future__ import annotations

import numpy as np
import pytest

import fgamcd_env
from baselines.methods import RandomPolicy
from fgamcd_env.core.observation import observed_demand
from fgamcd_env.core.reward import LEARNING_REWARD, RewardConfig


def frozen_learning_reward(
    reward: float,
    storage_used: float,
    requested: bool,
    migration_delay_s: float,
    delay_s: float,
    no_delivery: bool,
    *,
    delay_weight: float = 1000.0,
    migration_weight: float = 5.0,
    charge_all_migrations: bool = True,
    reward_scale: float = 0.1,
    reward_clip: float = 5.0,
    undelivered_at_floor: bool = True,
    storage_cost: float = 10.0,
    storage_cost_unrequested_only: bool = False,
) -> float:
    """The learners' reward as ``agents.learner.learning_reward`` computed it (same operations,
    same order), with its TrainConfig defaults."""
    req = np.asarray(requested, dtype=bool)
    w, mw = delay_weight, migration_weight
    mig = np.asarray(migration_delay_s, dtype=np.float64)
    r = np.asarray(reward, dtype=np.float64) - (w - 1.0) * req * np.asarray(delay_s, np.float64)
    r = r - (mw - 1.0) * w * req * mig
    if charge_all_migrations:
        r = r - (~req) * mw * w * mig
    r = np.maximum(r * reward_scale, -reward_clip)
    if undelivered_at_floor:
        r = np.where(np.asarray(no_delivery, dtype=bool), -reward_clip, r)
    cost = storage_cost * np.asarray(storage_used, dtype=np.float64)
    if storage_cost_unrequested_only:
        cost = cost * ~req
    return float(r - cost)


def _rollout(env, policy, steps=None):
    obs, _ = env.reset(seed=0)
    out = []
    while env.agents and (steps is None or len(out) < steps):
        obs, rew, _, _, infos = env.step(policy.act(obs, env))
        out.append((rew, infos))
    return out


VARIANTS = [
    ({}, {}),
    ({"storage_cost_unrequested_only": True}, {"storage_cost_unrequested_only": True}),
    (
        {"charge_all_migrations": False, "migration_weight": 1.0},
        {"charge_all_migrations": False, "migration_weight": 1.0},
    ),
]


@pytest.mark.parametrize(("change", "frozen_kw"), VARIANTS)
@pytest.mark.parametrize(("scenario", "kw"), [("small", {}), ("paper", {"max_cycles": 60})])
def test_learning_reward_equals_the_frozen_learner_formula(scenario, kw, change, frozen_kw):
    cfg = LEARNING_REWARD.replace(**change)
    env = fgamcd_env.parallel_env(scenario, seed=1, reward=cfg, **kw)
    paper = fgamcd_env.parallel_env(scenario, seed=1, **kw)
    policy = RandomPolicy(p_cache=0.6, p_migrate=0.3, seed=3)
    steps = _rollout(env, policy)
    policy = RandomPolicy(p_cache=0.6, p_migrate=0.3, seed=3)
    paper_steps = _rollout(paper, policy)
    sizes = env.scenario.pb_sizes_bytes
    kinds = set()
    for (rew, infos), (prew, pinfos) in zip(steps, paper_steps, strict=True):
        info = infos["edge_0"]
        t = info["terms"]
        assert pinfos["edge_0"]["terms"] == t  # the same episode, only the reward differs
        assert prew["edge_0"] == t["reward"] == info["shaped"]["paper_reward"]
        used = np.array(info["cache"]).sum() * sizes[info["k"]] / env.config.storage_bytes
        expect = frozen_learning_reward(
            t["reward"],
            used,
            t["requested"],
            t["migration_delay_s"],
            t["delay_s"],
            t["no_delivery"],
            **frozen_kw,
        )
        assert all(r == expect for r in rew.values())  # bit for bit
        kinds.add((t["requested"], t["no_delivery"], info["shaped"]["clipped"]))
    assert (True, False, False) in kinds and (False, False, False) in kinds
    last = steps[-1][1]["edge_0"]["episode"]
    assert last["shaped_return"] == pytest.approx(sum(r["edge_0"] for r, _ in steps))


def test_paper_reward_is_the_default_and_adds_no_infos():
    env = fgamcd_env.parallel_env("small", seed=0)
    assert env.reward_config == RewardConfig() and env.reward_config.is_paper
    (rew, infos), *_ = _rollout(env, RandomPolicy(seed=0), steps=1)
    assert "shaped" not in infos["edge_0"]
    assert rew["edge_0"] == infos["edge_0"]["terms"]["reward"]
    assert fgamcd_env.parallel_env("small", seed=0, reward="learning").reward_config == (
        LEARNING_REWARD
    )


def test_shaped_reward_by_hand():
    """One requested PB delivered in 2 ms with 0.5 ms of migration, QoS met, two nodes caching
    10 % of C_n each: -(1000 * 0.002 + 1000 * 5 * 0.0005) * 0.1 - 10 * 0.2 = -0.45 - 2."""
    from fgamcd_env.core.reward import shaped_reward
    from fgamcd_env.core.system import reward_terms

    terms = reward_terms(True, True, 0.0005, 0.002, True, 10.0, 10.0)
    out = shaped_reward(LEARNING_REWARD, terms, 0.2)
    assert out.delay_term == pytest.approx(-0.45)
    assert out.reward == pytest.approx(-2.45)
    assert not out.clipped
    unrequested = reward_terms(False, True, 0.0005, 0.0, True, 10.0, 10.0)
    assert shaped_reward(LEARNING_REWARD, unrequested, 0.0).reward == pytest.approx(-0.25)
    undelivered = reward_terms(True, False, 0.0, 0.0, True, 10.0, 10.0)
    out = shaped_reward(LEARNING_REWARD, undelivered, 0.0)
    assert out.reward == -5.0 and out.clipped


@pytest.mark.parametrize(
    "bad",
    [
        {"delay_weight": 0},
        {"clip": -1.0},
        {"storage_cost": float("nan")},
        {"scale": True},
        {"undelivered_at_floor": True, "clip": None},
    ],
)
def test_reward_config_is_validated(bad):
    with pytest.raises(ValueError, match="RewardConfig"):
        RewardConfig(**bad)
    with pytest.raises(ValueError, match="unknown RewardConfig"):
        RewardConfig().replace(delay_wieght=2.0)
    with pytest.raises(ValueError, match="reward="):
        fgamcd_env.parallel_env("small", seed=0, reward="shaped")


@pytest.mark.parametrize("seed", [0, 3])
def test_observed_demand_mask_matches_the_observations(seed):
    """With ``observed_demand_only`` a node may cache PB k only if its observation o_n shows a
    request for it; the mask says so and the env forces other cache bits off."""
    env = fgamcd_env.parallel_env(
        "paper", seed=seed, observed_demand_only=True, action_masks=True, max_cycles=80
    )
    obs, _ = env.reset(seed=0)
    n = env.config.num_nodes
    seen_off = False
    while env.agents:
        flat = np.stack([obs[a]["observation"] for a in env.possible_agents])
        expect = observed_demand(flat, n) & (
            env.config.storage_bytes - env.storage_used_bytes
            >= env.scenario.pb_sizes_bytes[env.current_pb]
        )
        np.testing.assert_array_equal(env.cache_allowed(), expect)
        for i, a in enumerate(env.possible_agents):
            assert obs[a]["action_mask"][0].tolist() == [1, int(expect[i])]
        seen_off |= bool((~expect).any())
        obs, _, _, _, infos = env.step({a: np.ones(n, dtype=int) for a in env.agents})
        applied = np.array([infos[a]["applied"][0] for a in env.possible_agents], dtype=bool)
        np.testing.assert_array_equal(applied, expect)
    assert seen_off
