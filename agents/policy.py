"""Learned agents as policies of the shared protocol (``baselines.policy.Policy``)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents.config import TrainConfig
from agents.learner import Dims, Learner, cache_permissions, fixed_placement
from agents.maasn import MAASNDA
from agents.qmix import QMIXDA
from fgamcd_env.env import FGAMCDParallelEnv

LEARNERS = {"maasn-da": MAASNDA, "qmix-da": QMIXDA}


def build_learner(
    cfg: TrainConfig, dims: Dims, rng: np.random.Generator, acting_only: bool = False
) -> Learner:
    """The learner of ``cfg``; ``acting_only``: for acting with loaded weights (no replay
    buffer of the training's size, no predictor)."""
    return LEARNERS[cfg.run.algo](cfg, dims, rng, acting_only)


def unpack_obs(obs: dict[str, Any], agents: list[str]) -> np.ndarray:
    """Dict of per-agent observations (plain or with masks) -> (N, obs) array."""
    rows = [obs[a]["observation"] if isinstance(obs[a], dict) else obs[a] for a in agents]
    return np.stack(rows).astype(np.float32)


class LearnedPolicy:
    """Greedy (or exploring) decisions of a learner, for ``baselines.evaluate``."""

    env_kwargs: dict[str, Any]

    def __init__(self, learner: Learner, name: str | None = None, explore: bool = False) -> None:
        self.learner = learner
        self.name = name or learner.cfg.label
        self.explore = explore
        self.env_kwargs = learner.cfg.env_options
        self._plan: np.ndarray | None = None  # a fixed placement's caching plan (reset)

    def reset(self, env: FGAMCDParallelEnv) -> None:
        dims = Dims.of(env)
        if dims.agents != self.learner.dims.agents or dims.obs != self.learner.dims.obs:
            raise ValueError(
                f"policy {self.name!r} was built for N={self.learner.dims.agents}, "
                f"|o_n|={self.learner.dims.obs}; this env has N={dims.agents}, |o_n|={dims.obs}"
            )
        self.learner.begin_episode()
        self._plan = fixed_placement(self.learner.cfg.env.placement, env.scenario)

    def act(self, observations: dict[str, Any], env: FGAMCDParallelEnv) -> dict[str, np.ndarray]:
        agents = env.possible_agents
        bits = self.learner.act(
            unpack_obs(observations, agents),
            cache_permissions(env, self.learner.cfg.env.mask_observed_demand, self._plan),
            self.explore,
            self.learner.cfg.run.episodes - 1,
        )
        return {a: bits[i] for i, a in enumerate(agents)}  # rows are already [a_n, b_{n,m}]


def make_policy(algo: str, env: FGAMCDParallelEnv, seed: int = 0, **config: Any) -> LearnedPolicy:
    """An untrained ``algo`` policy sized for ``env`` (e.g. to time decisions)."""
    cfg = TrainConfig().replace(algo=algo, seed=seed, **config)
    return LearnedPolicy(build_learner(cfg, Dims.of(env), np.random.default_rng(seed)))


def policy_snapshot(learner: Any) -> dict[str, Any]:
    """Copies of the learner's network weights (no optimisers), for :func:`restore_policy`."""
    return {
        k: copy.deepcopy(m.state_dict())
        for k, m in learner.modules().items()
        if isinstance(m, torch.nn.Module)
    }


def restore_policy(learner: Any, snapshot: dict[str, Any]) -> None:
    """Load the network weights of :func:`policy_snapshot` back into ``learner``."""
    mods = learner.modules()
    for k, sd in snapshot.items():
        mods[k].load_state_dict(sd)


def load_policy(checkpoint: str | Path) -> LearnedPolicy:
    """The greedy policy stored in a training checkpoint (``fgamcd-train`` output)."""
    state = torch.load(Path(checkpoint), map_location="cpu", weights_only=False)
    cfg = TrainConfig.from_json(state["config"])
    dims = Dims(**state["dims"])
    learner = build_learner(cfg, dims, np.random.default_rng(cfg.rng_seed))
    learner.load_state_dict(state["learner"])
    if state.get("best"):  # the run selected its best greedy policy (select_every)
        restore_policy(learner, state["best"]["modules"])
    return LearnedPolicy(learner)
