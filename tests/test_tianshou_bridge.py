"""MAASN-DA / QMIX-DA through tianshou's Collector (``agents.tianshou_bridge``).

Each test collects with tianshou, converts the buffer to learner samples, then replays the stored
actions on a fresh ``FGAMCDParallelEnv`` with the learner's env options and checks, agent by agent
and step by step, the observation, the reward (the learner's reward of that step, as the env pays
it to every agent), the next observation, the applied decision and QMIX-DA's next-step
permissions; then trains the learner on the converted samples.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

pytest.importorskip("tianshou")
pytest.importorskip("torch")

import torch
from tianshou.data import Batch, Collector, ReplayBuffer, VectorReplayBuffer
from tianshou.env import DummyVectorEnv

import fgamcd_env
from agents.learner import cache_permissions
from agents.policy import make_policy
from agents.tianshou_bridge import (
    LearnerPolicy,
    episodes_from_buffer,
    learn_from_buffer,
    make_env,
)

TINY = dict(
    storage_cost=0.5,
    batch_size=16,
    updates_per_episode=1,
    esn_reservoir=16,
    actor_hidden=(8, 4),
    critic_hidden=(8, 8),
    mixer_embed=4,
    hyper_hidden=4,
)
ALGOS = ("maasn-da", "qmix-da")


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny networks: one thread avoids thread overhead on a loaded machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _learned(algo: str, **kw: Any):
    return make_policy(algo, fgamcd_env.parallel_env("small", seed=0), **{**TINY, **kw})


class _VectorBuffer(VectorReplayBuffer):
    """``VectorReplayBuffer`` without its eager numba warm-up (10+ s of CPU on a loaded machine)
    of ``prev`` / ``next``, which collecting and converting never call (numba would compile them
    on first use anyway)."""

    def _compile(self) -> None:
        pass


def _collector(policy: LearnerPolicy, seeds: tuple[int, ...]) -> Collector:
    """One env: a plain ``ReplayBuffer``; more: a ``VectorReplayBuffer``, one sub-buffer each."""
    cfg = policy.learner.cfg
    venv = DummyVectorEnv([lambda s=s: make_env("small", seed=s, config=cfg) for s in seeds])
    buf = ReplayBuffer(64) if len(seeds) == 1 else _VectorBuffer(64 * len(seeds), len(seeds))
    collector = Collector(policy, venv, buf)
    collector.reset()
    return collector


def _check_against_replay(
    raw: Batch,
    ep: dict,
    learner,
    seed: int,
    before_step: Callable[[int, Any], None] | None = None,
) -> None:
    """``raw``: one env's tianshou transitions of one episode; ``ep``: converted. Replays
    ``raw.act`` on a fresh parallel env with the learner's env options, calling
    ``before_step(t, env)`` before each step if given."""
    env = fgamcd_env.parallel_env("small", seed=seed, **learner.cfg.train_env_options)
    agents, n = env.possible_agents, len(env.possible_agents)
    obs, _ = env.reset()
    steps = env.num_steps
    assert len(raw) == len(ep["rew"]) == steps
    cached_any = False
    for t in range(steps):
        k = env.current_pb
        assert raw.info.k[t] == k
        np.testing.assert_array_equal(raw.obs[t], env.state())
        for j, a in enumerate(agents):
            np.testing.assert_array_equal(ep["obs"][t, j], obs[a])
        if before_step is not None:
            before_step(t, env)
        rows = raw.act[t].reshape(n, n)
        nxt, rew, _, truncs, infos = env.step({a: rows[j] for j, a in enumerate(agents)})
        done = all(truncs.values())
        cached_any |= any(infos[agents[0]]["cache"])
        assert infos[agents[0]]["shaped"]["reward"] == rew[agents[0]]  # the learners' reward
        for j, a in enumerate(agents):
            assert raw.rew[t] == rew[a]  # what tianshou stored is the reward agent a got
            assert ep["rew"][t] == np.float32(rew[a])
            np.testing.assert_array_equal(ep["next_obs"][t, j], nxt[a])  # at done: o_n(K-1)
            np.testing.assert_array_equal(ep["act"][t, j], infos[a]["applied"])
        assert bool(ep["done"][t]) == done == bool(raw.truncated[t])
        if "next_ok" in ep:
            # storage rules, and with the observed-demand restriction the demand of PB k + 1
            allowed = cache_permissions(env, learner.cfg.env.mask_observed_demand) & (not done)
            np.testing.assert_array_equal(ep["next_ok"][t], allowed)
        obs = nxt
    assert not env.agents and cached_any


def _params(learner) -> dict[str, torch.Tensor]:
    return {
        f"{name}.{k}": v.detach().clone()
        for name, m in learner.modules().items()
        if isinstance(m, torch.nn.Module)
        for k, v in m.state_dict().items()
    }


# QMIX-DA's next-state masks depend on observed_demand_only (MAASN-DA stores none)
@pytest.mark.parametrize(
    ("algo", "masked"), [("maasn-da", True), ("qmix-da", True), ("qmix-da", False)]
)
def test_collected_episode_matches_replay_and_trains(algo: str, masked: bool) -> None:
    learned = _learned(algo, observed_demand_only=masked)
    learner = learned.learner
    collector = _collector(LearnerPolicy(learned, explore=True, episode=0), seeds=(0,))
    stats = collector.collect(n_episode=1)
    assert stats.n_collected_episodes == 1
    buf = collector.buffer
    raw = buf[buf.sample_indices(0)]

    (ep,) = episodes_from_buffer(buf, learned)
    _check_against_replay(raw, ep, learner, seed=0)

    before = _params(learner)
    (train_stats,) = learn_from_buffer(learned, buf)
    assert train_stats["real_samples"] == len(ep["rew"])
    assert np.isfinite(train_stats["critic_loss"])
    for key, value in ep.items():  # the real samples went in unchanged, before synthetic ones
        np.testing.assert_array_equal(learner.buffer.data[key][: len(value)], value, err_msg=key)
    after = _params(learner)
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_qmix_gru_state_per_env_and_reset_between_episodes() -> None:
    """Two envs (two instances) stepped together: each env's stored GRU state and joint index
    are what the learner computes on that env's episode alone; a new episode starts from zero."""
    learned = _learned("qmix-da")
    learner = learned.learner
    policy = LearnerPolicy(learned, explore=False)
    steps = fgamcd_env.parallel_env("small", seed=0).num_steps
    extra = 3  # the next episode's first steps: incomplete, so not converted
    collector = _collector(policy, seeds=(0, 1))
    collector.collect(n_step=2 * (steps + extra))
    buf = collector.buffer
    eps = episodes_from_buffer(buf, learned)
    assert len(eps) == 2
    assert not np.array_equal(eps[0]["obs"][0], eps[1]["obs"][0])  # two different instances
    for seed, (sub, ep) in enumerate(zip(buf.buffers, eps, strict=True)):
        raw = sub[sub.sample_indices(0)]
        assert len(raw) == steps + extra
        np.testing.assert_array_equal(raw.policy.h[steps], 0.0)  # reset at the new episode
        learner.begin_episode()

        def act_alone(t: int, env: Any, ep: dict = ep, raw: Batch = raw) -> None:
            bits = learner.act(ep["obs"][t], env.cache_allowed(), False, policy.episode)
            np.testing.assert_array_equal(bits.reshape(-1), raw.act[t])
            np.testing.assert_allclose(ep["h"][t], learner.last_h, atol=1e-6)
            np.testing.assert_array_equal(ep["act_idx"][t], learner.last_idx)

        _check_against_replay(raw[:steps], ep, learner, seed, act_alone)


def test_bad_inputs_raise() -> None:
    learned = _learned("maasn-da")
    with pytest.raises(TypeError, match="Learner"):
        LearnerPolicy(object())
    with pytest.raises(ValueError, match="placement"):
        LearnerPolicy(_learned("maasn-da", placement="trimcaching"))
    policy = LearnerPolicy(learned)
    n = learned.learner.dims.agents
    ok = Batch(cache_ok=np.ones((1, n), bool))
    with pytest.raises(ValueError, match="centralised states"):
        policy(Batch(obs=np.zeros((1, 5), np.float32), info=ok))
    obs = np.zeros((1, n * learned.learner.dims.obs), np.float32)
    with pytest.raises(ValueError, match="LearnerView"):
        policy(Batch(obs=obs, info=Batch(k=np.zeros(1))))
    assert policy(Batch(obs=obs, info=ok)).act.shape == (1, n * n)
