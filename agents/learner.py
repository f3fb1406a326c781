"""What MAASN-DA and QMIX-DA share: the episode record, data augmentation experience replay
(Algorithm 1, lines 10-19) and the update schedule (lines 20-24)."""

from __future__ import annotations

import math
import time
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from agents.augment import make_predictor, select_synthetic, synthetic_budget
from agents.config import TrainConfig
from agents.replay import ReplayBuffer
from fgamcd_env.core.scenario import Scenario
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


def fixed_placement(name: str | None, scenario: Scenario) -> np.ndarray | None:
    """(N, K) caching plan of the placement ``name`` on an instance (None: the learner caches).

    ``"trimcaching"``: TrimCaching's placement from the request probabilities
    (:func:`baselines.placement.expected_hit_placement`, users reaching the visible nodes).
    """
    if name is None:
        return None
    if name == "trimcaching":
        from baselines.placement import expected_hit_placement

        return expected_hit_placement(scenario, "visible")
    raise ValueError(f"placement={name!r}: must be None or 'trimcaching'")


def cache_permissions(
    env: FGAMCDParallelEnv, observed_demand_only: bool, plan: np.ndarray | None = None
) -> np.ndarray:
    """(N,) nodes that may cache the current PB: the env's ``cache_allowed()`` (the PB fits in
    C~_n(k)); with ``observed_demand_only`` only nodes that observe a request for it, also in
    an env built without that option; with a placement ``plan`` (N, K) only the nodes it
    places the PB at (which then must cache it). All False after the last PB."""
    ok = env.cache_allowed()
    k = env.current_pb
    if k >= env.scenario.num_pbs:
        return ok
    if observed_demand_only and not env.observed_demand_only:
        ok = ok & env.observed_nodes(k)
    if plan is not None:
        ok = ok & plan[:, k]
    return ok


def executed_actions(bits: torch.Tensor, cache: torch.Tensor) -> torch.Tensor:
    """(..., N, N) actions with the caching bits (column 0) set to ``cache`` (..., N) and the
    migration bits of nodes that do not cache set to 0, as the env applies them (2)."""
    on = cache.to(bits.dtype)[..., None]
    return torch.cat([on, bits[..., 1:] * on], dim=-1)


def value_range(cfg: TrainConfig, agents: int) -> tuple[float, float]:
    """Bounds of every discounted return of the learners' reward (``cfg``'s reward config):
    each reward lies in ``[-(clip + agents * storage_cost), 0]`` (at most every node caches a
    PB no larger than its storage), so a return lies in that interval divided by
    ``1 - discount``; without a clip there is no lower bound."""
    reward = cfg.env.reward
    if reward.clip is None:
        return -math.inf, 0.0
    return -(reward.clip + agents * reward.storage_cost) / (1.0 - cfg.paper.discount), 0.0


def clip_target(cfg: TrainConfig, agents: int, target: torch.Tensor) -> torch.Tensor:
    """``target`` clipped to :func:`value_range` when ``cfg.optim.clip_target``."""
    if not cfg.optim.clip_target:
        return target
    lo, hi = value_range(cfg, agents)
    return target.clamp(lo, hi)


def call_with(
    module: torch.nn.Module, params: dict[str, torch.Tensor] | None, prefix: str, *args: Any
) -> Any:
    """``module(*args)``, or with the weights of ``params`` whose names start with ``prefix``
    (the prefix stripped) in place of its own (``torch.func.functional_call``)."""
    if params is None:
        return module(*args)
    own = {k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)}
    return torch.func.functional_call(module, own, args)


def init_adam_state(opt: torch.optim.Adam) -> None:
    """Create the state ``opt`` creates at its first step (step 0, zero moments), so that
    :func:`clip_adam_step_` can update it in place from the first step on."""
    for group in opt.param_groups:
        for p in group["params"]:
            state = opt.state[p]
            if not state:
                state["step"] = torch.zeros((), dtype=torch.float32)
                state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)


def clip_adam_step_(
    opt: torch.optim.Adam, params: list[torch.Tensor], grads: list[torch.Tensor], cfg: TrainConfig
) -> None:
    """``clip_grad_norm_(params, cfg.optim.grad_clip)`` then ``opt.step()`` with ``grads`` as
    the gradients, written out in tensor operations (the arithmetic of torch's Adam without
    weight decay, on ``opt``'s state, which :func:`init_adam_state` created), so that
    ``torch.compile`` traces it into the step's graph: ``torch.optim``'s own ``step`` breaks
    the graph."""
    group = opt.param_groups[0]
    if group["weight_decay"] or group["amsgrad"] or group["maximize"] or len(opt.param_groups) > 1:
        raise ValueError("clip_adam_step_: one plain Adam parameter group only")
    lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
    total = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    coef = torch.clamp(cfg.optim.grad_clip / (total + 1e-6), max=1.0)
    with torch.no_grad():
        for p, g in zip(params, grads, strict=True):
            state = opt.state[p]
            state["step"].add_(1)
            step = state["step"].to(torch.float64)
            g = g * coef
            state["exp_avg"].lerp_(g, 1 - beta1)
            state["exp_avg_sq"].mul_(beta2).addcmul_(g, g, value=1 - beta2)
            step_size = (lr / (1 - beta1**step)).to(p.dtype)
            bc2_sqrt = (1 - beta2**step).sqrt().to(p.dtype)
            denom = (state["exp_avg_sq"].sqrt() / bc2_sqrt).add_(eps)
            p.sub_(state["exp_avg"] / denom * step_size)


class MaybeCompiled:
    """``fn`` compiled by ``torch.compile`` (inductor, static shapes) when ``enabled``, else
    ``fn`` itself. Compiling happens at the first call; if it fails there (e.g. no C++
    compiler on the machine) while ``fn`` itself runs, the training goes on eagerly with a
    warning that says why."""

    def __init__(self, fn: Callable[..., Any], enabled: bool) -> None:
        self.eager = fn
        self.fn = torch.compile(fn, dynamic=False) if enabled else fn
        self._checked = not enabled

    def __call__(self, *args: Any) -> Any:
        if self._checked:
            return self.fn(*args)
        try:
            out = self.fn(*args)
        except Exception as exc:
            out = self.eager(*args)  # raises if the error is not the compiler's
            reason = (str(exc).splitlines() or [""])[0]
            warnings.warn(
                f"torch.compile failed ({type(exc).__name__}: {reason}); "
                "training without compiling (compile=False)",
                RuntimeWarning,
                stacklevel=2,
            )
            self.fn = self.eager
        self._checked = True
        return out


class Learner(ABC):
    """Base of the two learners. Subclasses build networks and implement act/update/state."""

    #: extra per-sample replay fields of the subclass: name -> (shape, dtype)
    extra_fields: dict[str, tuple[tuple[int, ...], Any]] = {}
    #: the modules the greedy policy acts with (what a reference policy ships)
    acting_modules: tuple[str, ...] = ()

    def __init__(
        self, cfg: TrainConfig, dims: Dims, rng: np.random.Generator, acting_only: bool = False
    ) -> None:
        """``acting_only``: for a policy that only acts (loaded weights): a one-sample replay
        buffer and no predictor, so nothing of the training's size is allocated."""
        self.cfg, self.dims, self.rng = cfg, dims, rng
        # a fixed placement does the caching: cache_ok of act() are then the bits to apply
        self.fixed_cache = cfg.env.placement is not None
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
        self.buffer = ReplayBuffer(1 if acting_only else cfg.optim.buffer_size, fields)
        v_dim, y_dim = dims.state + n * n, 1 + dims.state
        self.predictor = (
            None
            if acting_only
            else make_predictor(cfg.ablation.augmentation, v_dim, y_dim, cfg, rng)
        )
        self.torch_gen = torch.Generator().manual_seed(int(rng.integers(2**31 - 1)))
        self._episode: list[dict[str, np.ndarray]] = []

    # ---- acting ---------------------------------------------------------------------------
    def begin_episode(self) -> None:
        self._episode = []

    @abstractmethod
    def act(self, obs: np.ndarray, cache_ok: np.ndarray, explore: bool, episode: int) -> np.ndarray:
        """(N, obs) observations -> (N, N) 0/1 actions, row n = [a_n, b_{n,m} (m != n)];
        ``cache_ok`` (N,) are the nodes that may cache (:func:`cache_permissions`), and under
        a fixed placement (``fixed_cache``) the nodes that cache."""

    def record(
        self,
        obs: np.ndarray,
        act: np.ndarray,
        rew: float,
        next_obs: np.ndarray,
        done: bool,
        next_cache_ok: np.ndarray | None = None,
        **extra: np.ndarray,
    ) -> None:
        """Store one real transition of the running episode (pushed at ``end_episode``);
        ``next_cache_ok``, the next step's cache permissions (None: no node may cache), is kept
        by learners with a ``next_ok`` field."""
        if "next_ok" in self.extra_fields:
            n = self.dims.agents
            ok = np.zeros(n, bool) if next_cache_ok is None else next_cache_ok
            extra["next_ok"] = np.array(ok, dtype=bool)
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
        if len(self.buffer) >= self.cfg.optim.batch_size:
            for _ in range(self.cfg.optim.updates_per_episode):
                batch = self.buffer.sample(self.cfg.optim.batch_size, self.rng)
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
    ) -> tuple[dict[str, float], tuple[np.ndarray, np.ndarray] | None]:
        """Lines 11-15 of Algorithm 1: predict the episode's samples with the predictor as it
        was before the episode and keep the accepted ones; returns the statistics and the
        (v, y) sequence to tune the predictor on, None once the budget (18) is 0: from then on
        the predictor is neither consulted nor tuned (``prediction_error`` is NaN)."""
        t = len(ep["rew"])
        budget = synthetic_budget(
            episode,
            self.dims.steps,
            self.cfg.paper.tau0,
            self.cfg.paper.budget_decay,
            self.cfg.paper.budget_period,
        )
        if budget == 0:
            # tau_e never grows again (budget_decay <= 1), so no later prediction can become a
            # sample: predicting and tuning would not change what is learned. Drawing the
            # permutation select_synthetic would draw keeps the rng's stream, and the run, exact.
            self.rng.permutation(t)
            return {
                "synthetic_samples": 0.0,
                "synthetic_budget": 0.0,
                "prediction_error": math.nan,
            }, None
        v = np.concatenate([ep["obs"].reshape(t, -1), ep["act"].reshape(t, -1)], axis=1)
        y = np.concatenate([ep["rew"][:, None], ep["next_obs"].reshape(t, -1)], axis=1)
        pred = self.predictor.predict(v)
        keep = select_synthetic(pred, y, self.cfg.paper.xi, budget, self.rng)
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
        return min(1.0, episode / max(1, self.cfg.run.episodes - 1))

    def epsilon(self, episode: int) -> float:
        """Exploration rate: linear from epsilon_start to epsilon_end over half the episodes."""
        c = self.cfg
        p = min(1.0, episode / max(1.0, 0.5 * (c.run.episodes - 1)))
        return c.explore.epsilon_start + p * (c.explore.epsilon_end - c.explore.epsilon_start)

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
