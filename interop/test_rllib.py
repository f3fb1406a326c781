"""RLlib interop (run in .venv-rllib: `make test-interop-rllib`)."""

from __future__ import annotations

import json
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


def test_ppo_two_iterations_with_a_shared_policy(tmp_path, capsys) -> None:
    out_file = tmp_path / "results" / "rllib.json"
    argv = ["--iterations", "2", "--train-batch-size", "128", "--out", str(out_file)]
    out = rllib_ppo.cli(argv)  # on the learning reward
    rows = out["rows"]
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
    for name in ("random", "greedy"):  # one episode of K = 32 PBs, scored by reward (12)
        episode = out[name]
        assert episode["return"] < 0 and episode["shaped_return"] < 0
        assert 0 <= episode["qos_infeasible"] + episode["no_delivery"] <= 32
    greedy = out["greedy"]
    printed = capsys.readouterr().out.splitlines()
    assert printed[-1] == (
        f"trained greedy policy: return (12) {greedy['return']:.3f}, "
        f"delay {greedy['total_delay_s']:.4f} s, QoS-infeasible {greedy['qos_infeasible']}, "
        f"undelivered {greedy['no_delivery']}"
    )
    record = json.loads(out_file.read_text())
    assert record["library"] == "RLlib" and record["reward"] == "learning"
    assert (record["scenario"], record["instance_seed"], record["seed"]) == ("small", 0, 0)
    assert record["env_steps"] == 256
    assert record["greedy"] == greedy and record["random"] == out["random"]
    assert "examples/rllib_ppo.py --iterations 2 " in record["command"]
    # The greedy policy takes, for every bit, the likelier value under the shared module.
    import torch

    env = fgamcd_env.parallel_env("small", seed=0)
    obs, _ = env.reset(seed=0)
    module = out["module"]
    with torch.no_grad():
        logits = module.forward_inference({"obs": torch.as_tensor(np.stack(list(obs.values())))})
    expected = logits["action_dist_inputs"].reshape(3, 3, 2).argmax(-1).numpy()
    actions = rllib_ppo.greedy_actor(module)(obs)
    np.testing.assert_array_equal(np.stack([actions[a] for a in obs]), expected)
    with pytest.raises(ValueError, match="iterations"):
        rllib_ppo.main(iterations=0)
