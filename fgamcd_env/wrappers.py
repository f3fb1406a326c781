"""Wrappers: ``DiscreteActions`` (joint bits as ``Discrete(2**N)`` for DQN-family learners) and
``CentralisedEnv`` (a Gymnasium single-agent view: joint observation, joint action, team reward)."""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
from pettingzoo.utils import BaseParallelWrapper

from fgamcd_env.env import FGAMCDParallelEnv


def index_to_bits(index: int, n: int) -> np.ndarray:
    """Joint index -> d_n bits, bit j = (index >> j) & 1 (bit 0 is a_n)."""
    return (int(index) >> np.arange(n)) & 1


def bits_to_index(bits: np.ndarray) -> int:
    return int(np.sum(np.asarray(bits, dtype=np.int64) << np.arange(len(bits))))


class DiscreteActions(BaseParallelWrapper):
    """Each agent acts with one of 2**N joint indices instead of N bits.

    With ``action_masks=True`` on the wrapped env the mask is a flat int8 array of length 2**N:
    indices that migrate without caching are masked (the forcing rules would undo them), and only
    the all-zero index is left when the node cannot store PB k.
    """

    def __init__(self, env: FGAMCDParallelEnv) -> None:
        super().__init__(env)
        self._n = env.unwrapped.config.num_nodes
        idx = np.arange(2**self._n)
        self._valid = ((idx & 1) == 1) | (idx == 0)  # cache bit set, or nothing at all

    def action_space(self, agent: str) -> gymnasium.spaces.Discrete:
        return self._action_space

    @property
    def _action_space(self) -> gymnasium.spaces.Discrete:
        if not hasattr(self, "_space"):
            self._space = gymnasium.spaces.Discrete(2**self._n)
        return self._space

    def observation_space(self, agent: str) -> gymnasium.spaces.Space:
        inner = self.env.observation_space(agent)
        if not isinstance(inner, gymnasium.spaces.Dict):
            return inner
        if not hasattr(self, "_obs_space"):
            self._obs_space = gymnasium.spaces.Dict(
                {
                    "observation": inner["observation"],
                    "action_mask": gymnasium.spaces.MultiBinary(2**self._n),
                }
            )
        return self._obs_space

    def _convert(self, obs: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for agent, o in obs.items():
            if isinstance(o, dict):
                can_cache = bool(o["action_mask"][0][1])
                mask = self._valid.copy() if can_cache else (np.arange(2**self._n) == 0)
                o = {"observation": o["observation"], "action_mask": mask.astype(np.int8)}
            out[agent] = o
        return out

    def reset(self, seed: int | None = None, options: dict | None = None):
        obs, infos = self.env.reset(seed=seed, options=options)
        return self._convert(obs), infos

    def step(self, actions: dict[str, Any]):
        bits = {}
        for agent, a in actions.items():
            arr = np.asarray(a)
            if arr.shape != () or not np.issubdtype(arr.dtype, np.integer):
                raise ValueError(f"action of {agent}: expected an integer index, got {a!r}")
            if not 0 <= int(arr) < 2**self._n:
                raise ValueError(f"action of {agent}: index {int(arr)} outside [0, {2**self._n})")
            bits[agent] = index_to_bits(int(arr), self._n)
        obs, rewards, terms, truncs, infos = self.env.step(bits)
        return self._convert(obs), rewards, terms, truncs, infos


class CentralisedEnv(gymnasium.Env):
    """Single-agent Gymnasium view: observation s(k), action = all agents' bits (N*N), team reward.

    Row n of the flat action is d_n; the episode is truncated after K steps. ``info`` is the
    first agent's info without its wall-clock fields.
    """

    metadata = {"render_modes": ["ansi", "rgb_array"]}

    def __init__(self, render_mode: str | None = None, **kwargs: Any) -> None:
        self.par = FGAMCDParallelEnv(render_mode=render_mode, **kwargs)
        self.render_mode = render_mode
        n = self.par.config.num_nodes
        self._n = n
        self.observation_space = self.par.state_space
        self.action_space = gymnasium.spaces.MultiDiscrete([2] * (n * n))

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        _, _infos = self.par.reset(seed=seed, options=options)
        return self.par.state(), {"k": 0}

    def step(self, action: np.ndarray):
        arr = np.asarray(action)
        if arr.shape != (self._n * self._n,):
            raise ValueError(f"action: shape {arr.shape}, expected ({self._n * self._n},)")
        rows = arr.reshape(self._n, self._n)
        actions = {a: rows[i] for i, a in enumerate(self.par.possible_agents)}
        _, rewards, _, truncs, infos = self.par.step(actions)
        agent = self.par.possible_agents[0]
        # wall-clock fields stay in the parallel env's infos: equal seeds must give equal infos
        info = {k: v for k, v in infos[agent].items() if not k.endswith("time_s")}
        # after the last step the state stays at s(K): there is no PB K+1 to observe
        return self.par.state(), float(rewards[agent]), False, bool(truncs[agent]), info

    def render(self):
        return self.par.render()

    def close(self) -> None:
        self.par.close()
