"""What MAASN-DA and QMIX-DA share: the episode record, data augmentation experience replay
(Algorithm 1, lines 10-19) and the update schedule (lines 20-24)."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from agents.augment import make_predictor, select_synthetic, synthetic_budget
from agents.config import TrainConfig
from agents.replay import ReplayBuffer
from fgamcd_env.core.observation import observed_demand as core_observed_demand
from fgamcd_env.env import FGAMCDParallelEnv


@dataclass(frozen=True)
class Dims:
    """Sizes of one environment: agents N, observation o_n, one (2 + ceil(U/N)) block, steps K."""

    agents: int
    obs: int
    block: int
    steps: int

    @classmethod
    def of(cls, env: FGAMCDParallelEnv) -> Dims:
        n = env.config.num_nodes
        obs = int(env.observation_space(env.possible_agents[0]).shape[0])
        return cls(agents=n, obs=obs, block=obs // n, steps=env.num_steps)

    @property
    def state(self) -> int:
        return self.agents * self.obs


def can_cache(env: FGAMCDParallelEnv) -> np.ndarray:
    """(N,) whether each node still has room for the current PB (else a_n is forced to 0)."""
    k = env.current_pb
    if k >= env.scenario.num_pbs:
        return np.zeros(env.config.num_nodes, dtype=bool)
    free = env.config.storage_bytes - env.storage_used_bytes
    return free >= env.scenario.pb_sizes_bytes[k]


def observed_demand(obs: np.ndarray, dims: Dims) -> np.ndarray:
    """(..., N) whether o_n shows a user requesting the current PB (see
    :func:`fgamcd_env.core.observation.observed_demand`)."""
    return core_observed_demand(obs, dims.agents)


def learning_reward(
    cfg: TrainConfig,
    reward: np.ndarray | float,
    storage_used: np.ndarray | float,
    requested: np.ndarray | bool,
    migration_delay_s: np.ndarray | float,
    delay_s: np.ndarray | float = 0.0,
    no_delivery: np.ndarray | bool = False,
) -> np.ndarray:
    """The reward the learners train on, from the env's reward (12) of a step.

    ``reward`` with the delay T(k) (``delay_s``, part of ``reward`` for a requested PB) weighted
    by ``delay_weight`` instead of 1 and its migration part by ``delay_weight * migration_weight``,
    minus the migration delay of PBs nobody requests (weighted alike) when
    ``charge_all_migrations``; all times ``reward_scale`` and clipped below at
    ``-reward_clip``, where a requested PB nobody delivers (``no_delivery``) lands when
    ``undelivered_at_floor``; minus ``storage_cost * sum_n a_n S(k) / C_n`` (``storage_used``),
    for unrequested PBs only when ``storage_cost_unrequested_only``. Works element-wise on arrays.
    """
    req = np.asarray(requested, dtype=bool)
    w, mw = cfg.delay_weight, cfg.migration_weight
    mig = np.asarray(migration_delay_s, dtype=np.float64)
    r = np.asarray(reward, dtype=np.float64) - (w - 1.0) * req * np.asarray(delay_s, np.float64)
    r = r - (mw - 1.0) * w * req * mig
    if cfg.charge_all_migrations:
        r = r - (~req) * mw * w * mig
    r = np.maximum(r * cfg.reward_scale, -cfg.reward_clip)
    if cfg.undelivered_at_floor:
        r = np.where(np.asarray(no_delivery, dtype=bool), -cfg.reward_clip, r)
    cost = cfg.storage_cost * np.asarray(storage_used, dtype=np.float64)
    if cfg.storage_cost_unrequested_only:
        cost = cost * ~req
    return r - cost


def value_range(cfg: TrainConfig, agents: int) -> tuple[float, float]:
    """Bounds of every discounted return of :func:`learning_reward`: each reward lies in
    ``[-(reward_clip + agents * storage_cost), 0]`` (at most every node caches a PB no larger
    than its storage), so a return lies in that interval divided by ``1 - discount``."""
    return -(cfg.reward_clip + agents * cfg.storage_cost) / (1.0 - cfg.discount), 0.0


def clip_target(cfg: TrainConfig, agents: int, target: torch.Tensor) -> torch.Tensor:
    """``target`` clipped to :func:`value_range` when ``cfg.clip_target``."""
    if not cfg.clip_target:
        return target
    lo, hi = value_range(cfg, agents)
    return target.clamp(lo, hi)


class Learner(ABC):
    """Base of the two learners. Subclasses build networks and implement act/update/state."""

    #: extra per-sample replay fields of the subclass: name -> (shape, dtype)
    extra_fields: dict[str, tuple[tuple[int, ...], Any]] = {}

    def __init__(self, cfg: TrainConfig, dims: Dims, rng: np.random.Generator) -> None:
        self.cfg, self.dims, self.rng = cfg, dims, rng
        n = dims.agents
        fields = {
            "obs": ((n, dims.obs), np.float32),
            "act": ((n, n), np.float32),
            "rew": ((), np.float32),
            "next_obs": ((n, dims.obs), np.float32),
            "done": ((), np.float32),
            "synthetic": ((), bool),
            **self.extra_fields,
        }
        self.buffer = ReplayBuffer(cfg.buffer_size, fields)
        v_dim, y_dim = dims.state + n * n, 1 + dims.state
        self.predictor = make_predictor(cfg.augmentation, v_dim, y_dim, cfg, rng)
        self.torch_gen = torch.Generator().manual_seed(int(rng.integers(2**31 - 1)))
        self._episode: list[dict[str, np.ndarray]] = []

    # ---- acting ---------------------------------------------------------------------------
    def begin_episode(self) -> None:
        self._episode = []

    @abstractmethod
    def act(self, obs: np.ndarray, cache_ok: np.ndarray, explore: bool, episode: int) -> np.ndarray:
        """(N, obs) observations -> (N, N) 0/1 actions, row n = [a_n, b_{n,m} (m != n)]."""

    def cache_mask(self, obs: np.ndarray, cache_ok: np.ndarray) -> np.ndarray:
        """(N,) nodes allowed to cache: ``cache_ok`` and, with ``cache_observed_demand_only``,
        :func:`observed_demand`."""
        if not self.cfg.cache_observed_demand_only:
            return np.asarray(cache_ok, dtype=bool)
        return np.asarray(cache_ok, dtype=bool) & observed_demand(obs, self.dims)

    def record(
        self,
        obs: np.ndarray,
        act: np.ndarray,
        rew: float,
        next_obs: np.ndarray,
        done: bool,
        **extra: np.ndarray,
    ) -> None:
        """Store one real transition of the running episode (pushed at ``end_episode``)."""
        self._episode.append(
            {
                "obs": obs,
                "act": act.astype(np.float32),
                "rew": np.float32(rew),
                "next_obs": next_obs,
                "done": np.float32(done),
                "synthetic": False,
                **extra,
            }
        )

    # ---- learning -------------------------------------------------------------------------
    def end_episode(self, episode: int) -> dict[str, float]:
        """Push the episode's real samples, add accepted synthetic ones, run the updates.

        Returns the episode's statistics, with the seconds of augmentation (``time_aug_s``,
        replay insertion included) and of the gradient steps (``time_update_s``).
        The predictor is tuned on the episode after the updates, which do not use it (the
        ESN fits its readout in the background, so the fit overlaps the next episode)."""
        clock = time.perf_counter
        t0 = clock()
        ep = {k: np.stack([t[k] for t in self._episode]) for k in self._episode[0]}
        self.buffer.add(**ep)
        stats = {
            "real_samples": float(len(self._episode)),
            "synthetic_samples": 0.0,
            "prediction_error": float("nan"),
        }
        tune_on = None
        if self.predictor is not None:
            aug, tune_on = self._augment(ep, episode)
            stats.update(aug)
        t1 = clock()
        losses: list[dict[str, float]] = []
        if len(self.buffer) >= self.cfg.batch_size:
            for _ in range(self.cfg.updates_per_episode):
                batch = self.buffer.sample(self.cfg.batch_size, self.rng)
                losses.append(self.update(batch, episode))
        for key in losses[0] if losses else {}:
            stats[key] = float(np.mean([x[key] for x in losses]))
        self._episode = []
        t2 = clock()
        if tune_on is not None:
            self.predictor.tune(*tune_on)
        stats["time_aug_s"] = (t1 - t0) + (clock() - t2)
        stats["time_update_s"] = t2 - t1
        return stats

    def _augment(
        self, ep: dict[str, np.ndarray], episode: int
    ) -> tuple[dict[str, float], tuple[np.ndarray, np.ndarray]]:
        """Lines 11-15 of Algorithm 1: predict the episode's samples with the predictor as it
        was before the episode and keep the accepted ones; returns the statistics and the
        (v, y) sequence to tune the predictor on."""
        t = len(ep["rew"])
        v = np.concatenate([ep["obs"].reshape(t, -1), ep["act"].reshape(t, -1)], axis=1)
        y = np.concatenate([ep["rew"][:, None], ep["next_obs"].reshape(t, -1)], axis=1)
        pred = self.predictor.predict(v)
        budget = synthetic_budget(
            episode, self.dims.steps, self.cfg.tau0, self.cfg.budget_decay, self.cfg.budget_period
        )
        keep = select_synthetic(pred, y, self.cfg.xi, budget, self.rng)
        if keep.size:
            syn = {k: a[keep].copy() for k, a in ep.items()}
            syn["rew"] = pred[keep, 0].astype(np.float32)
            # predicted next observations, kept inside the observation space [0, 1]
            nxt = np.clip(pred[keep, 1:], 0.0, 1.0).astype(np.float32)
            syn["next_obs"] = nxt.reshape(len(keep), self.dims.agents, self.dims.obs)
            syn["synthetic"] = np.ones(len(keep), dtype=bool)
            self.buffer.add(**syn)
        err = np.linalg.norm(pred - y, axis=1)
        stats = {
            "synthetic_samples": float(keep.size),
            "synthetic_budget": float(budget),
            "prediction_error": float(np.median(err)),
        }
        return stats, (v, y)

    @abstractmethod
    def update(self, batch: dict[str, np.ndarray], episode: int) -> dict[str, float]:
        """One gradient step on a minibatch; returns the losses."""

    # ---- schedules ------------------------------------------------------------------------
    def progress(self, episode: int) -> float:
        return min(1.0, episode / max(1, self.cfg.episodes - 1))

    def epsilon(self, episode: int) -> float:
        """Exploration rate: linear from epsilon_start to epsilon_end over half the episodes."""
        c = self.cfg
        p = min(1.0, episode / max(1.0, 0.5 * (c.episodes - 1)))
        return c.epsilon_start + p * (c.epsilon_end - c.epsilon_start)

    # ---- state ----------------------------------------------------------------------------
    @abstractmethod
    def modules(self) -> dict[str, Any]:
        """Named torch modules and optimisers whose state is checkpointed."""

    def state_dict(self) -> dict[str, Any]:
        return {
            "modules": {k: m.state_dict() for k, m in self.modules().items()},
            "buffer": self.buffer.state_dict(),
            "predictor": None if self.predictor is None else self.predictor.state_dict(),
            "torch_gen": self.torch_gen.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k, m in self.modules().items():
            m.load_state_dict(state["modules"][k])
        self.buffer.load_state_dict(state["buffer"])
        if self.predictor is not None:
            self.predictor.load_state_dict(state["predictor"])
        self.torch_gen.set_state(state["torch_gen"])
