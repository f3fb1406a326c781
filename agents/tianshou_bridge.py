"""Run MAASN-DA / QMIX-DA through tianshou 2.0.1 and train them on what tianshou collected.

Path: the centralised Gymnasium view (``fgamcd/FGAMCD-Centralised-v0``), one tianshou env per
FGAMCD instance. Our learners are centralised-training learners: one decision step is one joint
sample ``(o_1..o_N, d_1..d_N, r, o'_1..o'_N)`` (the mixer sees the global state, QMIX-DA's GRU
state is per agent but stepped jointly), so one tianshou transition of the centralised view is
exactly one sample of ``learner.buffer``. The team reward is a scalar of the step, so nothing
like the AEC path of tianshou's ``PettingZooEnv`` (which zeroes every reward but the last
agent's, issues #399 / #671 / #1137) can misattribute it. The agent-slots vector env of
``examples/tianshou_dqn.py`` would split each step into N slots with ``Discrete(2**N)`` actions
that the policy would have to regroup, and its info drops what the learners record.

* :class:`LearnerView` wraps the centralised view so that ``info`` carries what the learners
  need and the plain view drops: ``cache_ok`` (N,) (the nodes that may cache the current PB, the
  env's ``cache_allowed()``; QMIX-DA's action mask), ``applied`` (N, N) (the decisions after the
  forcing rules, which the learners store, as ``agents.train.run_episode`` does) and ``k``.
  :func:`make_env` builds it with the env options a learner trains with (its reward, the
  observed-demand restriction), so the collected rewards are the learner's.
* :class:`LearnerPolicy` is a tianshou ``Policy`` around a learner: ``Collector(LearnerPolicy(
  learner), DummyVectorEnv([lambda: make_env("small")] * 2), VectorReplayBuffer(...))``. It
  stores QMIX-DA's GRU state and joint indices in the buffer's ``policy`` field and keeps one
  GRU state per env through tianshou's hidden-state mechanism.
* :func:`episodes_from_buffer` turns the complete episodes of a tianshou buffer into samples in
  ``learner.buffer``'s layout; :func:`learn_from_buffer` feeds them to the learner episode by
  episode (``record`` / ``end_episode``: data augmentation and updates of Algorithm 1).

``tests/test_tianshou_bridge.py`` replays the stored actions on a fresh parallel env and checks
every agent's observation, reward, next observation and applied decision.
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
import torch
from tianshou.algorithm.algorithm_base import Policy
from tianshou.data import Batch, ReplayBuffer, ReplayBufferManager

import fgamcd_env  # noqa: F401 - registers fgamcd/FGAMCD-Centralised-v0
from agents.config import TrainConfig
from agents.learner import Learner
from agents.qmix import QMIXDA

ENV_ID = "fgamcd/FGAMCD-Centralised-v0"


class LearnerView(gymnasium.Wrapper):
    """The centralised view with a fixed-key ``info``: ``k``, ``cache_ok``, ``applied`` (fixed
    keys so that tianshou's buffer can store it)."""

    def __init__(self, env: gymnasium.Env) -> None:
        super().__init__(env)
        self.par = env.unwrapped.par  # the FGAMCDParallelEnv behind the CentralisedEnv
        self.num_agents = self.par.config.num_nodes

    def _info(self, k: int, applied: np.ndarray) -> dict[str, Any]:
        return {"k": k, "cache_ok": self.par.cache_allowed(), "applied": applied}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        obs, _ = self.env.reset(seed=seed, options=options)
        return obs, self._info(0, np.zeros((self.num_agents,) * 2, np.int8))

    def step(self, action: np.ndarray):
        obs, rew, term, trunc, info = self.env.step(action)
        n = self.num_agents
        cache = np.asarray(info["cache"], dtype=np.int8)
        migrate = np.asarray(info["migrate"], dtype=np.int8)
        others = ~np.eye(n, dtype=bool)
        # row n = [a_n, b_{n,m} (m != n)], as infos[agent]["applied"] of the parallel env
        applied = np.concatenate([cache[:, None], migrate[others].reshape(n, n - 1)], axis=1)
        return obs, rew, term, trunc, self._info(int(info["k"]), applied)


def make_env(
    scenario: str = "small", seed: int = 0, config: TrainConfig | None = None, **kwargs: Any
) -> LearnerView:
    """``LearnerView`` over ``gymnasium.make(ENV_ID, ...)`` with the env options ``config``
    (default ``TrainConfig()``) trains with: its reward, observed-demand restriction and
    ``env_kwargs``; ``kwargs`` go to the parallel env on top."""
    options = (TrainConfig() if config is None else config).train_env_options
    return LearnerView(
        gymnasium.make(ENV_ID, scenario=scenario, seed=seed, **{**options, **kwargs})
    )


class LearnerPolicy(Policy):
    """A tianshou ``Policy`` that acts with a MAASN-DA or QMIX-DA learner.

    ``explore`` picks the learner's exploring action (Gumbel sample and bit flips, or
    epsilon-greedy) at schedule position ``episode`` (default: the end of training, as
    ``LearnedPolicy``); else the greedy one. Exploration happens inside ``forward``: the
    Collector's ``exploration_noise`` flag changes nothing. Observations are the centralised
    state ``(N * |o_n|,)``; ``info`` must be :class:`LearnerView`'s (for ``cache_ok``).
    """

    def __init__(self, learner: Any, explore: bool = False, episode: int | None = None) -> None:
        learner = getattr(learner, "learner", learner)  # accept a LearnedPolicy too
        if not isinstance(learner, Learner):
            raise TypeError(f"expected a Learner or LearnedPolicy, got {type(learner).__name__}")
        if learner.fixed_cache:
            raise ValueError(
                f"placement={learner.cfg.env.placement!r}: a fixed placement needs the instance "
                "it was planned for, which tianshou's batches do not carry; use agents.train"
            )
        n, obs = learner.dims.agents, learner.dims.obs
        super().__init__(
            action_space=gymnasium.spaces.MultiDiscrete([2] * (n * n)),
            observation_space=gymnasium.spaces.Box(0.0, 1.0, (n * obs,), np.float32),
            action_bound_method=None,
        )
        self.learner = learner
        self.explore = explore
        self.episode = learner.cfg.run.episodes - 1 if episode is None else int(episode)
        self.recurrent = isinstance(learner, QMIXDA)

    @staticmethod
    def _compile() -> None:
        """Skip tianshou's numba warm-up of GAE / n-step returns: this policy uses neither."""

    def forward(self, batch: Batch, state: Any = None, **kwargs: Any) -> Batch:
        """Actions (B, N * N) for B envs; ``state`` is QMIX-DA's GRU state (B, N, H) per env."""
        dims = self.learner.dims
        obs = np.asarray(batch.obs, dtype=np.float32)
        if obs.ndim != 2 or obs.shape[1] != dims.agents * dims.obs:
            raise ValueError(
                f"observations of shape {obs.shape}; this learner needs "
                f"(B, {dims.agents * dims.obs}) centralised states"
            )
        info = batch.get("info", None)
        if info is None or "cache_ok" not in info.get_keys():
            raise ValueError("info has no 'cache_ok': wrap the env in LearnerView (make_env)")
        cache_ok = np.asarray(info.cache_ok, dtype=bool).reshape(len(obs), dims.agents)
        acts = np.zeros((len(obs), dims.agents * dims.agents), dtype=np.int64)
        if not self.recurrent:
            for i, o in enumerate(obs):
                bits = self.learner.act(
                    o.reshape(dims.agents, dims.obs), cache_ok[i], self.explore, self.episode
                )
                acts[i] = bits.reshape(-1)
            return Batch(act=acts)
        hid = self.learner.cfg.network.qmix_hidden
        h_in = (
            np.zeros((len(obs), dims.agents, hid), np.float32)
            if state is None
            else np.asarray(state, dtype=np.float32)
        )
        h_out = np.empty_like(h_in)
        idx = np.zeros((len(obs), dims.agents), dtype=np.int64)
        for i, o in enumerate(obs):
            self.learner.h = torch.as_tensor(h_in[i])[None].clone()  # this env's GRU state
            bits = self.learner.act(
                o.reshape(dims.agents, dims.obs), cache_ok[i], self.explore, self.episode
            )
            acts[i], idx[i] = bits.reshape(-1), self.learner.last_idx
            h_out[i] = self.learner.h[0].numpy()
        # the buffer keeps the state each agent acted with (h) and its joint index
        return Batch(act=acts, state=h_out, policy=Batch(h=h_in, act_idx=idx))


def _sub_buffers(buffer: ReplayBuffer) -> list[ReplayBuffer]:
    return list(buffer.buffers) if isinstance(buffer, ReplayBufferManager) else [buffer]


def episodes_from_buffer(buffer: ReplayBuffer, learner: Any) -> list[dict[str, np.ndarray]]:
    """Each complete episode of ``buffer`` (in time order, env by env) as arrays in the layout of
    ``learner.buffer``: ``obs`` ``(T, N, |o_n|)``, ``act`` (T, N, N) applied decisions, ``rew`` (T,)
    the env's reward (the learner's, when collected through :func:`make_env`), ``next_obs``,
    ``done``, ``synthetic`` and QMIX-DA's ``h``, ``act_idx``, ``next_ok`` (the next step's cache
    permissions; none at the end). Incomplete episodes (still running, or partly overwritten)
    are skipped. ``learner.buffer.add(**ep)`` stores one."""
    learner = getattr(learner, "learner", learner)
    dims = learner.dims
    recurrent = isinstance(learner, QMIXDA)
    out: list[dict[str, np.ndarray]] = []
    for sub in _sub_buffers(buffer):
        if len(sub) == 0:
            continue
        data = sub[sub.sample_indices(0)]  # oldest first
        if "applied" not in data.info.get_keys():
            raise ValueError("the buffer's info has no 'applied': collect through LearnerView")
        if recurrent and "act_idx" not in data.get("policy", Batch()).get_keys():
            raise ValueError("the buffer has no QMIX-DA policy fields: collect with LearnerPolicy")
        done = np.asarray(data.done, dtype=bool)
        ends = np.flatnonzero(done)
        starts = np.concatenate([[0], ends[:-1] + 1]) if len(ends) else []
        for s, e in zip(starts, ends, strict=True):
            if int(data.info.k[s]) != 0:  # its beginning was overwritten
                continue
            sl = slice(s, e + 1)
            t = e + 1 - s
            ep = {
                "obs": np.asarray(data.obs[sl], np.float32).reshape(t, dims.agents, dims.obs),
                "act": np.asarray(data.info.applied[sl], np.float32),
                "rew": np.asarray(data.rew[sl], np.float32),
                "next_obs": np.asarray(data.obs_next[sl], np.float32).reshape(
                    t, dims.agents, dims.obs
                ),
                "done": done[sl].astype(np.float32),
                "synthetic": np.zeros(t, dtype=bool),
            }
            if recurrent:
                ep["h"] = np.asarray(data.policy.h[sl], np.float32)
                ep["act_idx"] = np.asarray(data.policy.act_idx[sl], np.int64)
                nxt_ok = np.asarray(data.info.cache_ok[sl], dtype=bool)
                ep["next_ok"] = nxt_ok & ~done[sl, None]
            out.append(ep)
    return out


def learn_from_buffer(
    learner: Any,
    buffer: ReplayBuffer,
    first_episode: int = 0,
) -> list[dict[str, float]]:
    """Train ``learner`` on the complete episodes of a tianshou buffer, one ``end_episode`` per
    episode (schedule positions ``first_episode, first_episode + 1, ...``): data augmentation
    and ``updates_per_episode`` gradient steps, as in our own loop. Returns their statistics."""
    learner = getattr(learner, "learner", learner)
    recurrent = isinstance(learner, QMIXDA)
    stats = []
    for e, ep in enumerate(episodes_from_buffer(buffer, learner)):
        learner.begin_episode()
        for t in range(len(ep["rew"])):
            extra = {}
            if recurrent:  # QMIXDA.record stores the state and index of its last act()
                learner.last_h, learner.last_idx = ep["h"][t], ep["act_idx"][t]
                extra["next_cache_ok"] = ep["next_ok"][t]
            learner.record(
                ep["obs"][t],
                ep["act"][t],
                float(ep["rew"][t]),
                ep["next_obs"][t],
                bool(ep["done"][t]),
                **extra,
            )
        stats.append(learner.end_episode(first_episode + e))
    return stats
