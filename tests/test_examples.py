"""The interop examples that run in the main venv: tianshou DQN and SuperSuit / Gymnasium vectors.

The tianshou tests replay the actions stored in the replay buffer on a fresh environment and check
that each agent's transition holds that agent's observation, reward and next observation, the
property tianshou's own AEC ``PettingZooEnv`` path lacks (shown by the last tianshou test).
RLlib and TorchRL need their own venvs: see ``interop/`` and ``make test-interop``.
"""

from __future__ import annotations

import json
import pickle

import gymnasium
import numpy as np
import pytest
from pettingzoo.utils import BaseParallelWrapper

import fgamcd_env
from fgamcd_env.adapters import AgentSlotsVectorEnv
from fgamcd_env.wrappers import CentralisedEnv, DiscreteActions

STEPS = 12  # with max_cycles=5: two episode ends and resets inside every rollout
SHORT = {"max_cycles": 5}


class _AgentSpecificRewards(BaseParallelWrapper):
    """Gives agent j the reward ``(j + 2) * r + j`` so that mixing agents' rewards up shows."""

    def step(self, actions):
        obs, rew, terms, truncs, infos = self.env.step(actions)
        order = self.env.unwrapped.possible_agents
        return (
            obs,
            {a: (order.index(a) + 2) * r + order.index(a) for a, r in rew.items()},
            terms,
            truncs,
            infos,
        )


def _masked_env(agent_specific: bool):
    env = DiscreteActions(
        fgamcd_env.parallel_env("small", seed=0, beamformer="fast", action_masks=True, **SHORT)
    )
    return _AgentSpecificRewards(env) if agent_specific else env


# ---- tianshou ---------------------------------------------------------------------------------
def test_tianshou_independent_dqn(tmp_path, capsys) -> None:
    """Transitions (team and agent-specific rewards) and a tiny training run, in one test so that
    tianshou's numba JIT (about 25 s of CPU per process) runs in one pytest-xdist worker only."""
    pytest.importorskip("torch")
    pytest.importorskip("tianshou")
    for agent_specific in (False, True):
        _check_transitions_match_direct_stepping(agent_specific)
    _check_cli_tiny_budget_updates_every_agent(tmp_path / "results" / "tianshou.json", capsys)


def _check_transitions_match_direct_stepping(agent_specific: bool) -> None:
    import torch
    from tianshou.data import Collector, VectorReplayBuffer

    from examples import tianshou_dqn as ex

    ex.quiet_vector_return_warning()
    copies = 2
    venv = AgentSlotsVectorEnv([lambda: _masked_env(agent_specific)] * copies)
    agents, n = venv.agents, len(venv.agents)
    torch.manual_seed(0)
    np.random.seed(0)  # noqa: NPY002 - tianshou's exploration noise uses the global RNG
    algorithm = ex.build_algorithm(venv, hidden_sizes=(16,), gamma=0.0)
    ex.set_eps(algorithm, agents, training=0.5)
    collector = Collector(algorithm, venv, VectorReplayBuffer(64 * len(venv), len(venv)), True)
    collector.reset()
    collector.collect(n_step=STEPS * len(venv))
    buf = collector.buffer

    for c in range(copies):
        slots = [buf.buffers[c * n + j][np.arange(STEPS)] for j in range(n)]  # time order
        env = _masked_env(agent_specific)
        obs, _ = env.reset()
        for t in range(STEPS):
            for j, agent in enumerate(agents):
                assert slots[j].obs.agent_id[t] == agent
                np.testing.assert_array_equal(slots[j].obs.obs[t], obs[agent]["observation"])
                np.testing.assert_array_equal(slots[j].obs.mask[t], obs[agent]["action_mask"] == 1)
            obs, rew, terms, truncs, _ = env.step(
                {a: int(slots[j].act[t]) for j, a in enumerate(agents)}
            )
            for j, agent in enumerate(agents):
                assert slots[j].rew[t][j] == rew[agent]  # the entry the learner of agent j uses
                np.testing.assert_array_equal(slots[j].rew[t], [rew[a] for a in agents])
                np.testing.assert_array_equal(slots[j].obs_next.obs[t], obs[agent]["observation"])
                np.testing.assert_array_equal(
                    slots[j].obs_next.mask[t], obs[agent]["action_mask"] == 1
                )
                assert bool(slots[j].terminated[t]) == terms[agent]
                assert bool(slots[j].truncated[t]) == truncs[agent]
            if not env.agents:
                obs, _ = env.reset()
        assert sum(bool(x) for x in slots[0].truncated) == STEPS // SHORT["max_cycles"]

    # What each learner trains on: with gamma = 0 its TD target is exactly its own reward.
    indices = buf.sample_indices(0)
    batch = buf[indices]
    per_agent = algorithm._preprocess_batch(batch, buf, indices)
    for j, agent in enumerate(agents):
        mine = batch.obs.agent_id == agent
        assert mine.sum() == copies * STEPS
        np.testing.assert_allclose(
            per_agent[agent].returns.flatten(), batch.rew[mine, j], rtol=1e-6
        )


def test_tianshou_aec_wrapper_misattributes_transitions() -> None:
    """Why the example does not use tianshou's ``PettingZooEnv``: agent 0's move is recorded with
    a zero reward vector and agent 1's observation as its next observation."""
    pytest.importorskip("tianshou")
    from pettingzoo.utils import parallel_to_aec
    from tianshou.env import PettingZooEnv

    aec = PettingZooEnv(parallel_to_aec(_masked_env(agent_specific=False)))
    first, _ = aec.reset()
    assert first["agent_id"] == "edge_0"
    cache_and_migrate = 3  # bits [1, 1, 0]: cache PB 0 and migrate it to the next node
    nxt, rew, *_ = aec.step(cache_and_migrate)
    assert nxt["agent_id"] == "edge_1" and list(rew) == [0, 0, 0]
    par = _masked_env(agent_specific=False)
    par.reset()
    _, par_rew, *_ = par.step(dict.fromkeys(par.agents, cache_and_migrate))
    assert par_rew["edge_0"] < -1  # the reward the AEC path did not attribute to edge_0's move


def _check_cli_tiny_budget_updates_every_agent(out_file, capsys) -> None:
    import torch

    from examples import tianshou_dqn as ex

    argv = ["--epochs", "1", "--epoch-steps", "96", "--num-envs", "1", "--seed", "3"]
    out = ex.cli([*argv, "--no-progress", "--reward", "learning", "--out", str(out_file)])
    assert out["agent_transitions"] >= 96 and out["training_steps"] > 0
    assert out["env_steps"] == out["agent_transitions"] // 3
    assert np.isfinite(out["best_test_return"])
    for name in ("random", "greedy"):  # one episode of K = 32 PBs, scored by reward (12)
        episode = out[name]
        assert set(episode) >= {"return", "shaped_return", "total_delay_s", "qos_infeasible"}
        assert episode["return"] < 0 and episode["shaped_return"] < 0
        assert 0 <= episode["qos_infeasible"] + episode["no_delivery"] <= 32
    printed = capsys.readouterr().out.splitlines()
    greedy = out["greedy"]
    assert printed[-1] == (
        f"trained greedy policy: return (12) {greedy['return']:.3f}, "
        f"delay {greedy['total_delay_s']:.4f} s, QoS-infeasible {greedy['qos_infeasible']}, "
        f"undelivered {greedy['no_delivery']}"
    )
    record = json.loads(out_file.read_text())
    assert record["library"] == "tianshou" and record["reward"] == "learning"
    assert (record["scenario"], record["instance_seed"], record["seed"]) == ("small", 0, 3)
    assert record["env_steps"] == out["env_steps"]
    assert record["greedy"] == greedy and record["random"] == out["random"]
    assert record["command"].startswith("python examples/tianshou_dqn.py --epochs 1 ")
    torch.manual_seed(3)  # main seeds torch the same way right before building its networks
    fresh = ex.build_algorithm(ex.make_venv(1, "small", 3))
    trained = out["algorithm"]
    for agent in ("edge_0", "edge_1", "edge_2"):
        before = fresh.get_algorithm(agent).policy.model.state_dict()
        after = trained.get_algorithm(agent).policy.model.state_dict()
        assert before.keys() == after.keys()
        assert any(not torch.equal(before[k], after[k]) for k in before), agent


def test_agent_slots_reject_bad_use() -> None:
    pytest.importorskip("tianshou")
    from examples import tianshou_dqn as ex

    venv = ex.make_venv(2, "small", 0)
    venv.reset()
    with pytest.raises(ValueError, match="slots \\[2\\] of env copy 0 are missing"):
        venv.step(np.zeros(2, dtype=int), [0, 1])
    with pytest.raises(ValueError, match="outside"):
        venv.reset([6])
    with pytest.raises(ValueError, match="2 actions for 3 slots"):
        venv.step(np.zeros(2, dtype=int), [0, 1, 2])
    with pytest.raises(ValueError, match="DiscreteActions"):
        AgentSlotsVectorEnv([lambda: fgamcd_env.parallel_env("small", seed=0)])
    with pytest.raises(ValueError, match="positive"):
        ex.main(epochs=0)


# ---- SuperSuit / Gymnasium vector envs ---------------------------------------------------------
def test_env_pickles_mid_episode() -> None:
    env = fgamcd_env.parallel_env("small", seed=0, beamformer="fast")
    env.reset()
    rng = np.random.default_rng(0)
    for _ in range(3):
        env.step({a: rng.integers(0, 2, 3) for a in env.agents})
    twin = pickle.loads(pickle.dumps(env))
    for _ in range(4):
        actions = {a: rng.integers(0, 2, 3) for a in env.agents}
        o1, r1, *_ = env.step(actions)
        o2, r2, *_ = twin.step(actions)
        assert r1 == r2
        for a in o1:
            np.testing.assert_array_equal(o1[a], o2[a])


def test_supersuit_processes_match_sequential_stepping() -> None:
    pytest.importorskip("supersuit")
    from supersuit.vector.multiproc_vec import ProcConcatVec

    from examples import vector_envs as ex

    copies, n = 2, 3
    venv = ex.supersuit_vec_env(num_copies=copies, num_cpus=2, **SHORT)
    try:
        assert isinstance(venv, ProcConcatVec) and venv.num_envs == copies * n
        assert sum(p.is_alive() for p in venv.procs) == 2  # two worker processes
        roll = ex.random_rollout(venv, STEPS, seed=0)
    finally:
        venv.close()
    agents = [f"edge_{j}" for j in range(n)]
    for c in range(copies):
        env = fgamcd_env.parallel_env("small", seed=0, beamformer="fast", **SHORT)
        env.reset()
        for t in range(STEPS):
            acts = roll["actions"][t]
            _, rew, _, truncs, _ = env.step({a: acts[c * n + j] for j, a in enumerate(agents)})
            for j, a in enumerate(agents):
                assert roll["rewards"][t, c * n + j] == np.float32(rew[a])
                assert roll["dones"][t, c * n + j] == truncs[a]
            if not env.agents:
                env.reset()  # SuperSuit resets finished copies itself


def test_gymnasium_async_matches_sequential_stepping() -> None:
    from examples import vector_envs as ex

    venv = ex.gymnasium_async_env(num_envs=2, **SHORT)
    try:
        assert isinstance(venv, gymnasium.vector.AsyncVectorEnv)
        roll = ex.random_rollout(venv, STEPS, seed=0)
    finally:
        venv.close()
    for i in range(2):
        env = CentralisedEnv(scenario="small", seed=i, beamformer="fast", **SHORT)
        env.reset()
        done = False
        for t in range(STEPS):
            if done:  # Gymnasium's default next-step autoreset: this step only resets
                env.reset()
                assert roll["rewards"][t, i] == 0 and not roll["dones"][t, i]
                done = False
                continue
            _, rew, term, trunc, _ = env.step(roll["actions"][t, i])
            done = term or trunc
            assert roll["rewards"][t, i] == rew and roll["dones"][t, i] == done


def test_vector_main_runs() -> None:
    pytest.importorskip("supersuit")
    from examples import vector_envs as ex

    out = ex.main(steps=6, num_copies=2, num_cpus=2)
    assert out["supersuit"]["slots"] == 6 and out["gymnasium_async"]["slots"] == 2
    assert all(row["slot_steps_per_s"] > 0 for row in out.values())
    with pytest.raises(ValueError, match="num_copies"):
        ex.supersuit_vec_env(num_copies=0)
