"""TorchRL interop (run in .venv-torchrl: `make test-interop-torchrl`)."""

from __future__ import annotations

import numpy as np
import pytest

import fgamcd_env
from fgamcd_env.adapters import NumericInfos
from fgamcd_env.wrappers import DiscreteActions

pytest.importorskip("torchrl")

from torchrl.envs.utils import check_env_specs

from examples import torchrl_collector as ex

G = ex.GROUP


def test_env_specs() -> None:
    env = ex.make_env("small", 0)
    check_env_specs(env, seed=0)
    assert env.observation_spec[ex.OBS].shape == (3, 12)
    assert env.observation_spec["state"].shape == (36,)
    assert env.full_action_spec[G, "action"].shape == (3,)
    assert int(env.full_action_spec[G, "action"].space.n) == 8


def test_collector_steps_match_direct_stepping() -> None:
    steps = 12  # with max_cycles=5: two episode ends and the collector's resets
    data = ex.main(frames=steps, frames_per_batch=6, seed=0, max_cycles=5)
    assert data.shape == (steps,)
    act = data[G, "action"]
    mask = data[G, "action_mask"]
    assert mask.gather(-1, act.unsqueeze(-1)).all()  # sampled actions respect the masks
    env = DiscreteActions(
        fgamcd_env.parallel_env("small", seed=0, beamformer="fast", action_masks=True, max_cycles=5)
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
        assert bool(data["next", "done"][t]) == all(truncs.values())
        if not env.agents:
            obs, _ = env.reset(seed=0)
    assert int(data["next", "done"].sum()) == 2


def test_numeric_infos_keep_reset_and_step_keys_equal() -> None:
    env = NumericInfos(fgamcd_env.parallel_env("small", seed=0, beamformer="fast"))
    _, infos = env.reset(seed=0)
    keys = {a: set(i) for a, i in infos.items()}
    _, _, _, _, infos = env.step({a: np.array([1, 0, 0]) for a in env.agents})
    assert {a: set(i) for a, i in infos.items()} == keys
    assert all(isinstance(v, float) for i in infos.values() for v in i.values())
    with pytest.raises(ValueError, match="frames"):
        ex.main(frames=0)
