"""TorchRL interop (run in .venv-torchrl: `make test-interop-torchrl`)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import fgamcd_env
from fgamcd_env.adapters import NumericInfos
from fgamcd_env.wrappers import DiscreteActions

pytest.importorskip("torchrl")

from torchrl.envs.utils import check_env_specs

from examples import torchrl_ppo as ex

G = ex.GROUP


def test_env_specs() -> None:
    env = ex.make_env("small", 0)
    check_env_specs(env, seed=0)
    assert env.observation_spec[ex.OBS].shape == (3, 12)
    assert env.observation_spec["state"].shape == (36,)
    assert env.full_action_spec[G, "action"].shape == (3,)
    assert int(env.full_action_spec[G, "action"].space.n) == 8


def test_training_collector_steps_match_direct_stepping() -> None:
    """What PPO trains on (two batches, the policy updated in between) is what the env gives."""
    steps = 12  # with max_cycles=5: two episode ends and the collector's resets
    out = ex.main(
        frames=steps, frames_per_batch=6, minibatch_size=6, seed=0, max_cycles=5, keep_data=True
    )
    data = out["data"]
    assert data.shape == (steps,)
    act = data[G, "action"]
    mask = data[G, "action_mask"]
    assert mask.gather(-1, act.unsqueeze(-1)).all()  # sampled actions respect the masks
    env = DiscreteActions(
        fgamcd_env.parallel_env(
            "small",
            seed=0,
            beamformer="fast",
            action_masks=True,
            max_cycles=5,
            reward="learning",
            observed_demand_only=True,
        )
    )
    obs, _ = env.reset(seed=0)
    agents = env.possible_agents
    for t in range(steps):
        for j, a in enumerate(agents):
            np.testing.assert_array_equal(data[ex.OBS][t, j].numpy(), obs[a]["observation"])
            np.testing.assert_array_equal(mask[t, j].numpy(), obs[a]["action_mask"] == 1)
        np.testing.assert_array_equal(data["state"][t].numpy(), env.unwrapped.state())
        obs, rew, _, truncs, infos = env.step({a: int(act[t, j]) for j, a in enumerate(agents)})
        for j, a in enumerate(agents):
            assert data["next", G, "reward"][t, j, 0].item() == np.float32(rew[a])
            np.testing.assert_array_equal(
                data[("next", *ex.OBS)][t, j].numpy(), obs[a]["observation"]
            )
            terms = infos[a]["terms"]
            assert data["next", G, "info", "qos_infeasible"][t, j].item() == terms["qos_infeasible"]
            assert data["next", G, "info", "k"][t, j].item() == infos[a]["k"]
            assert data["next", G, "info", "paper_reward"][t, j].item() == np.float32(
                terms["reward"]
            )
        assert bool(data["next", "done"][t]) == all(truncs.values())
        if not env.agents:
            obs, _ = env.reset(seed=0)
    assert int(data["next", "done"].sum()) == 2
    assert len(out["rows"]) == 2 and out["rows"][1]["frames"] == steps


def test_ppo_updates_the_policy_and_scores_it_by_the_paper_reward() -> None:
    torch = pytest.importorskip("torch")
    out = ex.main(frames=64, frames_per_batch=32, minibatch_size=16, epochs=2, seed=1)
    torch.manual_seed(1)  # main seeds torch the same way right before building its networks
    fresh = ex.make_policy(ex.make_env("small", 0, reward="learning", observed_demand_only=True))
    before, after = fresh.state_dict(), out["policy"].state_dict()
    assert before.keys() == after.keys()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    # The deterministic episode equals stepping the env (instance 0: `seed` seeds the training
    # only) with the policy's likeliest allowed index.
    env = DiscreteActions(
        fgamcd_env.parallel_env(
            "small",
            seed=0,
            beamformer="fast",
            action_masks=True,
            reward="learning",
            observed_demand_only=True,
        )
    )
    obs, _ = env.reset(seed=0)
    net = out["policy"].module[0]  # the logits module
    while env.agents:
        o = torch.as_tensor(np.stack([obs[a]["observation"] for a in env.agents]))
        mask = torch.as_tensor(np.stack([obs[a]["action_mask"] for a in env.agents]) == 1)
        with torch.no_grad():
            logits = net.module(o)
        act = torch.where(mask, logits, -torch.inf).argmax(-1)
        obs, _, _, _, infos = env.step({a: act[j].item() for j, a in enumerate(env.agents)})
    expected = infos["edge_0"]["episode"]
    greedy = out["greedy"]
    assert greedy["qos_infeasible"] == expected["qos_infeasible"]
    assert greedy["no_delivery"] == expected["no_delivery"]
    assert greedy["return"] == pytest.approx(expected["return"], rel=1e-5)
    assert greedy["shaped_return"] == pytest.approx(expected["shaped_return"], rel=1e-5)
    assert greedy["total_delay_s"] == pytest.approx(expected["total_delay_s"], rel=1e-5)
    assert out["random"]["return"] < 0


def test_cli_prints_and_writes_the_greedy_episode(tmp_path, capsys) -> None:
    out_file = tmp_path / "results" / "torchrl.json"
    out = ex.cli(["--frames", "64", "--frames-per-batch", "32", "--out", str(out_file)])
    greedy = out["greedy"]
    printed = capsys.readouterr().out.splitlines()
    assert printed[-1] == (
        f"trained greedy policy: return (12) {greedy['return']:.3f}, "
        f"delay {greedy['total_delay_s']:.4f} s, QoS-infeasible {greedy['qos_infeasible']}, "
        f"undelivered {greedy['no_delivery']}"
    )
    record = json.loads(out_file.read_text())
    assert record["library"] == "TorchRL" and record["reward"] == "learning"
    assert (record["scenario"], record["instance_seed"], record["seed"]) == ("small", 0, 0)
    assert record["env_steps"] == 64
    assert record["greedy"] == greedy and record["random"] == out["random"]
    assert record["command"].endswith(
        f"examples/torchrl_ppo.py --frames 64 --frames-per-batch 32 --out {out_file}"
    )


def test_numeric_infos_keep_reset_and_step_keys_equal() -> None:
    env = NumericInfos(fgamcd_env.parallel_env("small", seed=0, beamformer="fast"))
    _, infos = env.reset(seed=0)
    keys = {a: set(i) for a, i in infos.items()}
    _, _, _, _, infos = env.step({a: np.array([1, 0, 0]) for a in env.agents})
    assert {a: set(i) for a, i in infos.items()} == keys
    assert all(isinstance(v, float) for i in infos.values() for v in i.values())
    assert infos["edge_0"]["paper_reward"] < 0  # PB 0 is requested
    with pytest.raises(ValueError, match="frames"):
        ex.main(frames=0)
