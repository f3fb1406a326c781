"""RLlib interop (run in .venv-rllib: `make test-interop-rllib`)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import fgamcd_env

pytest.importorskip("ray.rllib")

from examples import rllib_ppo


def test_parallel_pettingzoo_env_passes_env_outputs_through() -> None:
    wrapped = rllib_ppo.env_creator({"max_cycles": 4})
    direct = fgamcd_env.parallel_env("small", seed=0, beamformer="fast", max_cycles=4)
    assert set(wrapped.observation_space.keys()) == set(direct.possible_agents)
    obs_w, _ = wrapped.reset(seed=0)
    obs_d, _ = direct.reset(seed=0)
    rng = np.random.default_rng(0)
    for k in range(4):
        for a in direct.possible_agents:
            np.testing.assert_array_equal(obs_w[a], obs_d[a])
        actions = {a: rng.integers(0, 2, 3) for a in direct.possible_agents}
        obs_w, rew_w, term_w, trunc_w, _ = wrapped.step(actions)
        obs_d, rew_d, _, _, _ = direct.step(actions)
        assert rew_w == rew_d
        assert trunc_w["__all__"] == (k == 3) and not term_w["__all__"]


def test_ppo_two_iterations_with_a_shared_policy() -> None:
    rows = rllib_ppo.main(iterations=2, train_batch_size=128)
    assert [r["iteration"] for r in rows] == [1, 2]
    assert rows[0]["env_steps"] >= 128 and rows[1]["env_steps"] >= 2 * 128
    assert rows[1]["episodes"] >= 4  # K = 32 steps per episode on `small`
    for row in rows:
        assert row["learned_modules"] == ["shared"]  # one module trained for all three agents
        per_agent = row["agent_return_mean"]
        assert sorted(per_agent) == ["edge_0", "edge_1", "edge_2"]
        # the team reward reaches every agent: equal agent returns summing to the episode return
        assert max(per_agent.values()) - min(per_agent.values()) < 1e-9
        assert math.isclose(sum(per_agent.values()), row["episode_return_mean"], rel_tol=1e-9)
        assert row["episode_return_mean"] < 0
    with pytest.raises(ValueError, match="iterations"):
        rllib_ppo.main(iterations=0)
