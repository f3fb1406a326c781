"""Adapters that let MARL libraries take FGAMCD through their own front doors.

- :class:`AgentSlotsVectorEnv` (tianshou): each agent of a PettingZoo ``ParallelEnv`` becomes
  one slot of a tianshou vector environment, so every stored transition is
  ``(o_n(k), d_n(k), r(k), o_n(k+1))`` of a single agent. tianshou's own ``PettingZooEnv``
  drives the AEC form one agent at a time and stores, for agent i's move, the *next agent's*
  observation as ``obs_next`` and a reward vector that ``parallel_to_aec`` has cleared to zero
  for every agent but the last to move (tianshou issues #399, #671 and #1137).
- :class:`NumericInfos` (TorchRL): TorchRL stacks per-agent ``info`` entries into tensors and
  builds their specs from the reset infos, so every info must be numeric with the same keys at
  reset and at every step; FGAMCD's step infos are nested (``"terms"`` is a dict,
  ``"participating"`` a list), so this wrapper reduces them to fixed float fields.

Neither needs its library at import time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gymnasium
import numpy as np
from pettingzoo import ParallelEnv
from pettingzoo.utils import BaseParallelWrapper

__all__ = ["INFO_FIELDS", "AgentSlotsVectorEnv", "NumericInfos"]

# The float fields NumericInfos keeps: the step index, the step's reward (12) and its terms.
INFO_FIELDS = (
    "k",
    "paper_reward",
    "migration_delay_s",
    "broadcast_delay_s",
    "qos_infeasible",
    "no_delivery",
)


class AgentSlotsVectorEnv:
    """A tianshou vector environment whose slots are the agents of PettingZoo parallel envs.

    Slot ``c * N + j`` is agent ``possible_agents[j]`` of copy ``c``. A step must cover every slot
    of a copy (tianshou's ``Collector`` steps all ready slots together; collect test episodes in
    multiples of N). Each slot observes ``{"agent_id", "obs", "mask"}`` (the layout
    ``MultiAgentOffPolicyAlgorithm`` dispatches on) and receives the copy's reward vector in
    ``possible_agents`` order, from which the algorithm takes entry j for agent j. Agents of a
    copy must finish their episode together, as FGAMCD's do. Actions must be ``Discrete``.
    """

    is_async = False  # the Collector refuses asynchronous vector envs

    def __init__(self, env_fns: Sequence[Callable[[], ParallelEnv]]) -> None:
        if not env_fns:
            raise ValueError("env_fns: need at least one environment factory")
        self.envs: list[ParallelEnv] = [fn() for fn in env_fns]
        self.agents: list[str] = list(self.envs[0].possible_agents)
        for i, env in enumerate(self.envs):
            if list(env.possible_agents) != self.agents:
                raise ValueError(f"env copy {i}: possible_agents differ from copy 0's")
        self.agent_idx = {a: j for j, a in enumerate(self.agents)}
        self.num_agents = len(self.agents)
        self.env_num = len(self.envs) * self.num_agents
        for agent in self.agents:
            space = self.envs[0].action_space(agent)
            if not isinstance(space, gymnasium.spaces.Discrete):
                raise ValueError(
                    f"action space of {agent} is {space}; wrap the env in DiscreteActions first"
                )
        self._seeds: list[int | None] = [None] * len(self.envs)
        self.is_closed = False

    def __len__(self) -> int:
        return self.env_num

    # ---- spaces (one entry per slot, as tianshou's vector envs) --------------------------------
    def slot(self, slot: int) -> tuple[ParallelEnv, str]:
        """The env copy and the agent behind a slot."""
        return self.envs[slot // self.num_agents], self.agents[slot % self.num_agents]

    @property
    def action_space(self) -> list[gymnasium.spaces.Space]:
        return [env.action_space(a) for env, a in map(self.slot, range(self.env_num))]

    @property
    def observation_space(self) -> list[gymnasium.spaces.Space]:
        return [env.observation_space(a) for env, a in map(self.slot, range(self.env_num))]

    # ---- id bookkeeping ------------------------------------------------------------------------
    def _copies(self, ids: Any) -> tuple[list[int], list[int]]:
        """Slot ids as a list and the env copies they cover (every copy must be complete)."""
        if ids is None:
            ids = range(self.env_num)
        ids = [int(ids)] if np.isscalar(ids) else [int(i) for i in ids]
        if any(not 0 <= i < self.env_num for i in ids):
            raise ValueError(f"slot ids {ids} outside [0, {self.env_num})")
        copies = sorted({i // self.num_agents for i in ids})
        for c in copies:
            wanted = set(range(c * self.num_agents, (c + 1) * self.num_agents))
            if not wanted <= set(ids):
                raise ValueError(
                    f"slots {sorted(wanted - set(ids))} of env copy {c} are missing: all agents of "
                    f"a copy act together (collect n_step / n_episode in multiples of "
                    f"{self.num_agents})"
                )
        return ids, copies

    def _slot_obs(self, agent: str, obs: Any, space: gymnasium.spaces.Discrete) -> dict:
        if isinstance(obs, dict) and "action_mask" in obs:
            mask = np.asarray(obs["action_mask"]).astype(bool)
            obs = obs["observation"]
        else:
            mask = np.ones(int(space.n), dtype=bool)
        return {"agent_id": agent, "obs": np.asarray(obs), "mask": mask}

    # ---- tianshou vector-env API ---------------------------------------------------------------
    def seed(self, seed: int | None = None) -> list[int | None]:
        """Seed the next reset: copy c gets ``seed + c`` (None keeps each copy's generator)."""
        self._seeds = [None if seed is None else seed + c for c in range(len(self.envs))]
        return [self._seeds[i // self.num_agents] for i in range(self.env_num)]

    def reset(self, env_id: Any = None, **kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
        ids, copies = self._copies(env_id)
        seed = kwargs.pop("seed", None)  # an explicit seed: copy c is reset with seed + c
        per_slot: dict[int, tuple[dict, dict]] = {}
        for c in copies:
            copy_seed = self._seeds[c] if seed is None else seed + c
            self._seeds[c] = None
            obs, _infos = self.envs[c].reset(seed=copy_seed, **kwargs)
            for j, agent in enumerate(self.agents):
                slot = c * self.num_agents + j
                space = self.envs[c].action_space(agent)
                per_slot[slot] = (self._slot_obs(agent, obs[agent], space), {"env_id": slot})
        obs_arr = np.array([per_slot[i][0] for i in ids], dtype=object)
        info_arr = np.array([per_slot[i][1] for i in ids], dtype=object)
        return obs_arr, info_arr

    def step(self, action: np.ndarray, id: Any = None):  # `id`: tianshou's argument name
        ids, copies = self._copies(id)
        action = np.asarray(action)
        if len(action) != len(ids):
            raise ValueError(f"{len(action)} actions for {len(ids)} slots")
        act_of = {slot: action[pos] for pos, slot in enumerate(ids)}
        per_slot: dict[int, tuple] = {}
        for c in copies:
            env = self.envs[c]
            base = c * self.num_agents
            actions = {a: np.int64(act_of[base + j]) for j, a in enumerate(self.agents)}
            obs, rewards, terms, truncs, _infos = env.step(actions)
            rew_vec = np.array([float(rewards.get(a, 0.0)) for a in self.agents])
            done = [bool(terms[a] or truncs[a]) for a in self.agents]
            if any(done) and not all(done):
                raise ValueError(
                    f"env copy {c}: agents finished at different steps ({done}); "
                    "AgentSlotsVectorEnv needs them to finish together"
                )
            for j, agent in enumerate(self.agents):
                slot = base + j
                per_slot[slot] = (
                    self._slot_obs(agent, obs[agent], env.action_space(agent)),
                    rew_vec,
                    bool(terms[agent]),
                    bool(truncs[agent]),
                    {"env_id": slot},
                )
        rows = [per_slot[i] for i in ids]
        return (
            np.array([r[0] for r in rows], dtype=object),
            np.stack([r[1] for r in rows]),
            np.array([r[2] for r in rows]),
            np.array([r[3] for r in rows]),
            np.array([r[4] for r in rows], dtype=object),
        )

    def render(self, **kwargs: Any) -> list[Any]:
        return [env.render() for env in self.envs]

    def close(self) -> None:
        for env in self.envs:
            env.close()
        self.is_closed = True


class NumericInfos(BaseParallelWrapper):
    """Per-agent infos reduced to the float fields ``INFO_FIELDS`` (zeros at reset).

    ``paper_reward`` is the step's reward (12), whichever reward the agents receive.
    """

    def reset(self, seed: int | None = None, options: dict | None = None):
        obs, infos = self.env.reset(seed=seed, options=options)
        return obs, {a: dict.fromkeys(INFO_FIELDS, 0.0) for a in infos}

    def step(self, actions: dict[str, Any]):
        obs, rewards, terms, truncs, infos = self.env.step(actions)
        flat = {}
        for agent, info in infos.items():
            fields = {"k": info["k"], "paper_reward": info["terms"]["reward"], **info["terms"]}
            flat[agent] = {key: float(fields[key]) for key in INFO_FIELDS}
        return obs, rewards, terms, truncs, flat
