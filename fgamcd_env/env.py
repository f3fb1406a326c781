"""FGAMCD as a PettingZoo ``ParallelEnv``: the Dec-POMDP of the paper's section III-B.

=================  ===================================================================
Agents             ``edge_0 .. edge_{N-1}``, one per edge node (N = 6 for ``paper``)
Step               one parameter block k = 0 .. K-1, in order (K = 450 for ``paper``)
Action             ``MultiDiscrete([2] * N)``: d_n(k) = [a_n, b_{n,m} for m != n (increasing m)]
Observation        ``Box(0, 1, (N * (2 + ceil(U/N)),), float32)``, o_n(k) of (10) (42 for
                   ``paper``), or with ``action_masks=True`` ``{"observation", "action_mask"}``,
                   the mask a tuple of N int8 arrays of shape (2,) (as ``MultiDiscrete.sample``)
State              ``Box(0, 1, (N * N * (2 + ceil(U/N)),), float32)``, s(k) = [o_n(k) for all n]
Reward             (12) by default, identical for every agent; ``reward="learning"`` (or a
                   ``RewardConfig``) the learners' shaped form. ``infos[agent]["terms"]``
                   holds the (12) terms, ``infos[agent]["shaped"]`` the shaped ones
Episode end        truncation after K steps (or ``max_cycles``); no termination
=================  ===================================================================

Arguments of ``parallel_env`` (and of the AEC forms ``env``, ``raw_env``); any other keyword is a
``ScenarioConfig`` override (an unknown one is an error):

========================  ==========================================================================
``scenario``              preset name (``"paper"``, ``"llm"``, ``"small"``) or a ``ScenarioConfig``
``seed``                  instance seed (same seed, same instance)
``beamformer``            ``"fast"`` (robust CoMP, default), ``"sdp_dc"`` (the paper's SDP + DC),
                          ``"nonrobust"``, ``"mrt_tdma"`` (TDMA unicasting with MRT), ``"best"``
                          (beyond the paper: per PB the better of ``"fast"`` and ``"mrt_tdma"`` by
                          reward (12); used by the centralised reference) or ``"fast_legacy"``
                          (the projected-gradient solver ``"fast"`` replaced, for comparisons)
``error_model``           ``"stacked"`` (relaxation (28), default) or ``"per_node"`` (the sets (4))
``stacked_nodes``         ``"participating"`` (default): (28) stacks the errors of the
                          participating nodes; ``"all"``: of all N nodes (a literal reading)
``eps_hot``               hybrid multicast: PBs with at most ``eps_hot`` requesters are unicast
``full_comp``             every node that can receive the PB takes part (the caching node migrates
                          it to all others)
``delivery_groups``       ``"pb"`` (one broadcast per PB) or ``"model"`` (one per requested model:
                          whole-model delivery)
``cooperation``           False: no migration, each node serves only its own users, alone
``prune_migrations``      beyond the paper: no PB is migrated into a node that caches it, each other
                          node receives it once over its fastest link (only redundant delay goes)
``reward``                ``"paper"`` (12), ``"learning"`` (``core.reward.LEARNING_REWARD``), a dict
                          of ``RewardConfig`` fields or a ``RewardConfig``
``observed_demand_only``  node n may cache PB k only if a user it observes (its own or a visible
                          node's, the demand bits of o_n) requests it: in the action mask, and
                          enforced like the storage rule
``resample_on_reset``     draw a fresh instance at every reset
``action_masks``          dict observations with the caching mask (storage, observed demand)
``max_cycles``            stop after this many steps (PBs)
``render_mode``           ``"ansi"``, ``"rgb_array"`` or ``"human"``
========================  ==========================================================================

The instance is static by default (the paper's setting): beamforming results are memoised by
(k, participating nodes, delivery method), so repeated training episodes never re-solve the same
problem (``"best"`` reuses the memoised ``"fast"`` and ``"mrt_tdma"`` deliveries).

Version history: v0 — first release.

>>> import fgamcd_env
>>> env = fgamcd_env.parallel_env("small", seed=0)
>>> obs, infos = env.reset(seed=0)
>>> env.agents
['edge_0', 'edge_1', 'edge_2']
>>> obs["edge_0"].shape, env.state().shape
((12,), (36,))
>>> obs["edge_0"][:4].round(4)  # S(0) / max S, both own users want PB 0, storage full
array([0.002, 1.   , 1.   , 1.   ], dtype=float32)
>>> actions = {a: np.array([1, 1, 0]) for a in env.agents}  # cache, migrate to the next node
>>> obs, rewards, terms, truncs, infos = env.step(actions)
>>> infos["edge_0"]["participating"], infos["edge_1"]["applied"]
([True, True, True], [1, 1, 0])
>>> round(rewards["edge_0"], 6), infos["edge_0"]["terms"]["qos_infeasible"]
(-10.000138, True)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, NamedTuple

import gymnasium
import numpy as np
from pettingzoo import AECEnv, ParallelEnv
from pettingzoo.utils import OrderEnforcingWrapper
from pettingzoo.utils.conversions import parallel_to_aec_wrapper

from fgamcd_env.core import observation as obs_mod
from fgamcd_env.core import system
from fgamcd_env.core.config import ScenarioConfig
from fgamcd_env.core.presets import get_config
from fgamcd_env.core.reward import RewardConfig, ShapedReward, shaped_reward
from fgamcd_env.core.scenario import Scenario, make_instance
from fgamcd_env.delivery import (
    BEST_OF,
    DELIVERY_GROUPS,
    DELIVERY_METHODS,
    STACKED_NODES,
    Delivery,
    better_delivery,
    deliver,
)

AGENT_PREFIX = "edge_"


class ArrayStep(NamedTuple):
    """What :meth:`FGAMCDParallelEnv.step_array` returns."""

    observations: np.ndarray  # (N, obs) float32
    reward: float  # as step() pays it: (12), or the shaped reward
    done: bool
    applied: np.ndarray  # (N, N) int 0/1, row n = [a_n, b_{n,m} (m != n)] after the forcing rules
    terms: system.RewardTerms


@dataclass(frozen=True)
class _Transition:
    k: int
    bits: np.ndarray
    asked_cache: np.ndarray
    cache: np.ndarray
    migrate: np.ndarray
    applied: np.ndarray
    participating: np.ndarray
    delivery: Delivery | None
    terms: system.RewardTerms
    shaped: ShapedReward | None
    reward: float
    done: bool


def _rows_to_bits(rows: np.ndarray, agents: np.ndarray, n: int) -> np.ndarray:
    """(N, N) requested bits from action rows ``[a_n, b_{n,m} (m != n)]`` of the agents
    ``agents`` (indices): a_n on the diagonal, b_{n,m} off it; absent agents' rows are 0."""
    bits = np.zeros((n, n), dtype=bool)
    bits[agents, agents] = rows[:, 0] != 0
    bits[agents[:, None], obs_mod.other_nodes(n)[agents]] = rows[:, 1:] != 0
    return bits


class FGAMCDParallelEnv(ParallelEnv):
    """Parallel FGAMCD environment (see the module docstring for the spec card)."""

    metadata = {
        "name": "fgamcd_v0",
        "render_modes": ["ansi", "rgb_array", "human"],
        "is_parallelizable": True,
        "render_fps": 4,
    }

    def __init__(
        self,
        scenario: str | ScenarioConfig = "paper",
        seed: int | None = None,
        beamformer: str = "fast",
        error_model: str = "stacked",
        stacked_nodes: str = "participating",
        eps_hot: int | None = None,
        full_comp: bool = False,
        delivery_groups: str = "pb",
        cooperation: bool = True,
        prune_migrations: bool = False,
        resample_on_reset: bool = False,
        action_masks: bool = False,
        observed_demand_only: bool = False,
        reward: RewardConfig | str | dict[str, Any] | None = None,
        max_cycles: int | None = None,
        render_mode: str | None = None,
        **overrides: Any,
    ) -> None:
        if beamformer not in DELIVERY_METHODS:
            raise ValueError(f"beamformer={beamformer!r}: must be one of {DELIVERY_METHODS}")
        if delivery_groups not in DELIVERY_GROUPS:
            raise ValueError(
                f"delivery_groups={delivery_groups!r}: must be one of {DELIVERY_GROUPS}"
            )
        if full_comp and not cooperation:
            raise ValueError("full_comp=True needs cooperation=True")
        if error_model not in ("stacked", "per_node"):
            raise ValueError(f"error_model={error_model!r}: must be 'stacked' or 'per_node'")
        if stacked_nodes not in STACKED_NODES:
            raise ValueError(f"stacked_nodes={stacked_nodes!r}: must be one of {STACKED_NODES}")
        if eps_hot is not None and (int(eps_hot) != eps_hot or eps_hot < 0):
            raise ValueError(f"eps_hot={eps_hot!r}: must be None or an integer >= 0")
        if max_cycles is not None and (int(max_cycles) != max_cycles or max_cycles < 1):
            raise ValueError(f"max_cycles={max_cycles!r}: must be None or a positive integer")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode={render_mode!r}: must be one of {self.metadata['render_modes']}"
            )
        self.config = get_config(scenario, **overrides)
        self.beamformer = beamformer
        self.error_model = error_model
        self.stacked_nodes = stacked_nodes
        self.eps_hot = eps_hot
        self.full_comp = bool(full_comp)
        self.delivery_groups = delivery_groups
        self.cooperation = bool(cooperation)
        self.prune_migrations = bool(prune_migrations)
        self.resample_on_reset = bool(resample_on_reset)
        self.action_masks = bool(action_masks)
        self.observed_demand_only = bool(observed_demand_only)
        self.reward_config = RewardConfig.from_value(reward)
        self._shaped: list[float] = []
        self.max_cycles = max_cycles
        self.render_mode = render_mode
        self.scenario: Scenario = make_instance(self.config, seed)
        self._rng = np.random.default_rng(seed)
        n = self.config.num_nodes
        self.possible_agents = [f"{AGENT_PREFIX}{i}" for i in range(n)]
        self.agent_name_mapping = {a: i for i, a in enumerate(self.possible_agents)}
        self.agents: list[str] = []
        self._obs_size = n * (2 + self.config.users_per_node)
        self.state_space = gymnasium.spaces.Box(0.0, 1.0, (n * self._obs_size,), np.float32)
        self._memo: dict[tuple[int, bytes, str], Delivery] = {}
        self.memo_hits = 0
        self._k = 0
        self._remaining = np.full(n, float(self.config.storage_bytes))
        self._obs = np.zeros((n, self._obs_size), np.float32)
        self._history: list[system.RewardTerms] = []
        self._migrations: list[np.ndarray] = []
        self._cached = np.zeros((n, self.scenario.num_pbs), dtype=bool)
        self._last: dict[str, Any] = {}
        self._setup_instance()

    # ---- spaces ------------------------------------------------------------------------------
    # One space object per agent, kept on the instance (a functools.cache on the method would
    # keep every env ever created alive through the class-level cache).
    def observation_space(self, agent: str) -> gymnasium.spaces.Space:
        spaces = self.__dict__.setdefault("_obs_spaces", {})
        if agent not in spaces:
            box = gymnasium.spaces.Box(0.0, 1.0, (self._obs_size,), np.float32)
            if self.action_masks:
                mask = gymnasium.spaces.Tuple(
                    [gymnasium.spaces.MultiBinary(2) for _ in range(self.config.num_nodes)]
                )
                box = gymnasium.spaces.Dict({"observation": box, "action_mask": mask})
            spaces[agent] = box
        return spaces[agent]

    def action_space(self, agent: str) -> gymnasium.spaces.Space:
        spaces = self.__dict__.setdefault("_act_spaces", {})
        if agent not in spaces:
            spaces[agent] = gymnasium.spaces.MultiDiscrete([2] * self.config.num_nodes)
        return spaces[agent]

    # ---- episode -----------------------------------------------------------------------------
    @property
    def num_steps(self) -> int:
        """Episode length: K, or ``max_cycles`` when smaller."""
        k = self.scenario.num_pbs
        return k if self.max_cycles is None else min(k, int(self.max_cycles))

    def _setup_instance(self) -> None:
        sc = self.scenario
        self._slots = obs_mod.slot_table(sc)
        self._requested = sc.demand.any(axis=1)
        # (K, N): some user that node n observes (its own, or a visible node's) requests PB k
        self._observed = (sc.demand.astype(np.int64) @ sc.visibility[:, sc.user_node].T) > 0
        self._memo.clear()

    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        if self.resample_on_reset:
            self.scenario = make_instance(self.config, self._rng)
            self._setup_instance()
        self.agents = self.possible_agents[:]
        self._k = 0
        self._remaining = np.full(self.config.num_nodes, float(self.config.storage_bytes))
        self._cached = np.zeros((self.config.num_nodes, self.scenario.num_pbs), dtype=bool)
        self._history = []
        self._shaped = []
        self._migrations = []
        self._last = {}
        self._obs = obs_mod.observations(self.scenario, 0, self._remaining, self._slots)
        infos = {a: {"k": 0} for a in self.agents}
        return self._observe(), infos

    def state(self) -> np.ndarray:
        return self._obs.reshape(-1).copy()

    def observed_nodes(self, k: int) -> np.ndarray:
        """(N,) whether some user that node n observes (its own, or a visible node's) requests
        PB k: the nodes ``observed_demand_only`` lets cache it."""
        return self._observed[k].copy()

    def cache_allowed(self) -> np.ndarray:
        """(N,) whether each node may cache the current PB: it fits in C~_n(k) and, with
        ``observed_demand_only``, a user the node observes requests it."""
        k = self._k
        n = self.config.num_nodes
        if k >= self.scenario.num_pbs:
            return np.zeros(n, dtype=bool)
        ok = self._remaining >= self.scenario.pb_sizes_bytes[k]
        return ok & self._observed[k] if self.observed_demand_only else ok

    def _mask(self, i: int, allowed: np.ndarray) -> tuple[np.ndarray, ...]:
        row = np.array([1, 1] if allowed[i] else [1, 0], dtype=np.int8)
        return tuple(row.copy() for _ in range(self.config.num_nodes))

    def _observe(self) -> dict[str, Any]:
        if not self.action_masks:
            return {
                a: self._obs[i].copy()
                for i, a in enumerate(self.possible_agents)
                if a in self.agents
            }
        allowed = self.cache_allowed()
        return {
            a: {"observation": self._obs[i].copy(), "action_mask": self._mask(i, allowed)}
            for i, a in enumerate(self.possible_agents)
            if a in self.agents
        }

    def _parse_actions(self, actions: dict[str, Any]) -> np.ndarray:
        """(N, N) requested bits: a_n on the diagonal, b_{n,m} off it (row n is agent n)."""
        if not self.agents:
            raise RuntimeError("step() called after the episode ended; call reset() first")
        if not isinstance(actions, dict):
            raise ValueError(
                f"actions must be a dict agent -> action, got {type(actions).__name__}"
            )
        n = self.config.num_nodes
        missing = [a for a in self.agents if a not in actions]
        extra = [a for a in actions if a not in self.agents]
        if missing or extra:
            raise ValueError(f"actions: missing agents {missing}, unknown agents {extra}")
        # fast path: every action a 0/1 array of shape (n,) (else the loop below says what is wrong)
        try:
            arr = np.array(list(actions.values()))
        except ValueError:  # ragged
            arr = None
        if (
            arr is not None
            and arr.shape == (len(actions), n)
            and arr.dtype.kind in "biuf"
            and np.all((arr == 0) | (arr == 1))
        ):
            idx = np.fromiter((self.agent_name_mapping[a] for a in actions), int, len(actions))
            return _rows_to_bits(arr, idx, n)
        bits = np.zeros((n, n), dtype=bool)
        for agent, act in actions.items():
            arr = np.asarray(act)
            if arr.shape != (n,):
                raise ValueError(f"action of {agent}: shape {arr.shape}, expected ({n},)")
            if not np.issubdtype(arr.dtype, np.number) and arr.dtype != bool:
                raise ValueError(f"action of {agent}: dtype {arr.dtype} is not numeric")
            if np.any(np.isnan(arr.astype(float))):
                raise ValueError(f"action of {agent}: contains NaN")
            if not np.all((arr == 0) | (arr == 1)):
                raise ValueError(f"action of {agent}: values must be 0 or 1, got {arr.tolist()}")
            i = self.agent_name_mapping[agent]
            row = arr.astype(bool)
            bits[i, i] = row[0]
            bits[i, [m for m in range(n) if m != i]] = row[1:]
        return bits

    def delivery(self, k: int, participating: np.ndarray, method: str | None = None) -> Delivery:
        """Beamforming outcome of PB k for a participation vector (memoised on static instances).

        ``method`` overrides the env's ``beamformer`` for this call (planners compare modes).
        """
        method = self.beamformer if method is None else method
        if method not in DELIVERY_METHODS:
            raise ValueError(f"method={method!r}: must be one of {DELIVERY_METHODS}")
        lam = np.asarray(participating, dtype=bool)
        key = (k, lam.tobytes(), method)
        hit = self._memo.get(key)
        if hit is not None:
            self.memo_hits += 1
            return hit
        if method == "best":
            cfg = self.config
            out = better_delivery(
                [self.delivery(k, lam, m) for m in BEST_OF],
                cfg.penalty_qos,
                cfg.penalty_no_delivery,
            )
        else:
            out = deliver(
                self.scenario,
                k,
                lam,
                method=method,
                error_model=self.error_model,
                eps_hot=self.eps_hot,
                groups=self.delivery_groups,
                cooperation=self.cooperation,
                stacked_nodes=self.stacked_nodes,
            )
        self._memo[key] = out
        return out

    @property
    def current_pb(self) -> int:
        """Index k of the PB the next ``step`` decides on."""
        return self._k

    @property
    def memo_size(self) -> int:
        """Number of distinct beamforming problems solved for the current instance."""
        return sum(key[2] != "best" for key in self._memo)

    def applied_migration(self, k: int, cache: np.ndarray, migrate: np.ndarray) -> np.ndarray:
        """(N, N) b(k) the env applies for PB k, given the caching bits and the migrations that
        passed the forcing rules: none without cooperation; with ``full_comp`` the first caching
        node also sends to every node that does not cache; with ``prune_migrations`` the
        redundant ones are dropped (``system.prune_migrations``). Planners use it with
        ``pb_outcome`` to score exactly what ``step`` would apply."""
        cache = np.asarray(cache, dtype=bool)
        migrate = np.asarray(migrate, dtype=bool)
        if not self.cooperation:
            migrate = np.zeros_like(migrate)
        elif self.full_comp and cache.any():
            src = int(np.flatnonzero(cache)[0])
            migrate = migrate.copy()
            migrate[src, ~cache] = True
        if self.prune_migrations:
            migrate = system.prune_migrations(cache, migrate, self.scenario.backhaul_bps[k])
        return migrate

    def pb_outcome(
        self, k: int, cache: np.ndarray, migrate: np.ndarray, method: str | None = None
    ) -> tuple[system.RewardTerms, Delivery | None, np.ndarray]:
        """Reward terms, delivery and participation of PB k for applied decisions (no state change).

        Planners use it to score decisions against the exact simulator; ``method`` overrides the
        env's ``beamformer`` (e.g. to plan under one mode and score under ``"best"``).
        """
        sc, cfg = self.scenario, self.config
        size = float(sc.pb_sizes_bytes[k])
        lam = system.participation(cache, migrate)
        requested = bool(self._requested[k])
        mig_delay = system.migration_delay_s(migrate, size, sc.backhaul_bps[k])
        if requested and lam.any():
            out = self.delivery(k, lam, method)
            terms = system.reward_terms(
                True,
                True,
                mig_delay,
                out.delay_s,
                out.qos_feasible,
                cfg.penalty_qos,
                cfg.penalty_no_delivery,
            )
            return terms, out, lam
        terms = system.reward_terms(
            requested,
            bool(lam.any()),
            mig_delay,
            0.0,
            True,
            cfg.penalty_qos,
            cfg.penalty_no_delivery,
        )
        return terms, None, lam

    def step(self, actions: dict[str, Any]):
        t0 = time.perf_counter()
        r = self._transition(self._parse_actions(actions))
        obs = self._observe()
        n, terms, shaped, out = self.config.num_nodes, r.terms, r.shaped, r.delivery
        common = {
            "k": r.k,
            "terms": terms.as_dict(),
            **({} if shaped is None else {"shaped": shaped.as_dict()}),
            "participating": r.participating.tolist(),
            "cache": r.cache.tolist(),
            "migrate": r.migrate.astype(int).tolist(),
            "beamformer": None if out is None else out.method,
            "solver_status": None if out is None else out.status,
            "beamforming_time_s": 0.0 if out is None else out.wall_time_s,
            "step_time_s": time.perf_counter() - t0,
        }
        others = obs_mod.other_nodes(n)
        rows = np.arange(n)[:, None]
        asked = np.concatenate([r.asked_cache[:, None], r.bits[rows, others]], axis=1)
        asked, applied = asked.astype(int).tolist(), r.applied.tolist()
        infos = {}
        for a in self.agents:
            i = self.agent_name_mapping[a]
            infos[a] = {**common, "asked": asked[i], "applied": applied[i]}
        if r.done:
            summary = self.episode_summary()
            for a in self.agents:
                infos[a]["episode"] = dict(summary)
        rewards = dict.fromkeys(self.agents, r.reward)
        terminations = dict.fromkeys(self.agents, False)
        truncations = dict.fromkeys(self.agents, r.done)
        if r.done:
            self.agents = []
        if self.render_mode == "human":
            print(self._ansi())
        return obs, rewards, terminations, truncations, infos

    def step_array(self, actions: np.ndarray) -> ArrayStep:
        """:meth:`step` with every agent's action in one (N, N) 0/1 array (row n: agent n's
        ``[a_n, b_{n,m} (m != n)]``) and no per-agent dicts: the same transition, for learners
        that hold the agents' actions and observations as arrays. Returns the next
        observations (N, obs) (a copy; at the last step the last ones), the step's reward
        (as :meth:`step` pays it), whether the episode ended, the applied actions (N, N) in
        the same layout and the reward terms of (12)."""
        if not self.agents:
            raise RuntimeError("step() called after the episode ended; call reset() first")
        n = self.config.num_nodes
        arr = np.asarray(actions)
        if (
            arr.shape != (n, n)
            or arr.dtype.kind not in "biuf"
            or not np.all((arr == 0) | (arr == 1))
        ):
            raise ValueError(
                f"actions: expected an ({n}, {n}) array of 0/1, got shape {arr.shape}, "
                f"dtype {arr.dtype}"
            )
        r = self._transition(_rows_to_bits(arr, np.arange(n), n))
        if r.done:
            self.agents = []
        if self.render_mode == "human":
            print(self._ansi())
        return ArrayStep(self._obs.copy(), r.reward, r.done, r.applied, r.terms)

    def _transition(self, bits: np.ndarray) -> _Transition:
        """Apply the requested (N, N) bits (a_n on the diagonal) to PB k: forcing rules,
        delivery, reward terms, the episode's records and the next observations."""
        sc, k, n = self.scenario, self._k, self.config.num_nodes
        size = float(sc.pb_sizes_bytes[k])
        asked_cache = np.diag(bits).copy()
        asked_migrate = bits & system.off_diagonal(n)
        cache_ok = asked_cache & self._observed[k] if self.observed_demand_only else asked_cache
        decision = system.apply_forcing(cache_ok, asked_migrate, self._remaining, size)
        migrate = self.applied_migration(k, decision.cache, decision.migrate)
        terms, out, lam = self.pb_outcome(k, decision.cache, migrate)
        shaped = None
        if not self.reward_config.is_paper:
            cached = (
                np.int64(decision.cache.sum()) * sc.pb_sizes_bytes[k] / self.config.storage_bytes
            )
            shaped = shaped_reward(self.reward_config, terms, cached)
            self._shaped.append(shaped.reward)
        self._history.append(terms)
        self._migrations.append(migrate)
        self._cached[:, k] = decision.cache
        self._remaining = system.remaining_capacity(self._remaining, decision.cache, size)
        self._k += 1
        done = self._k >= self.num_steps
        if not done:
            self._obs = obs_mod.observations(sc, self._k, self._remaining, self._slots)
        self._last = {
            "k": k,
            "terms": terms,
            "lam": lam,
            "migrate": migrate,
            "cache": decision.cache,
        }
        rows = np.arange(n)[:, None]
        applied = np.concatenate(
            [decision.cache[:, None], migrate[rows, obs_mod.other_nodes(n)]], axis=1
        ).astype(int)
        return _Transition(
            k=k,
            bits=bits,
            asked_cache=asked_cache,
            cache=decision.cache,
            migrate=migrate,
            applied=applied,
            participating=lam,
            delivery=out,
            terms=terms,
            shaped=shaped,
            reward=float(terms.reward) if shaped is None else shaped.reward,
            done=done,
        )

    def episode_summary(self) -> dict[str, Any]:
        """The ``episode`` info of the last step: T of (8), QoS-infeasible and undelivered PBs,
        the return of (12) (and of the shaped reward, if any) over the steps taken so far."""
        summary: dict[str, Any] = {
            "total_delay_s": self.total_delay_s,
            "qos_infeasible": sum(t.qos_infeasible for t in self._history),
            "no_delivery": sum(t.no_delivery for t in self._history),
            "return": sum(t.reward for t in self._history),
        }
        if not self.reward_config.is_paper:
            summary["shaped_return"] = float(sum(self._shaped))
        return summary

    # ---- results -------------------------------------------------------------------------------
    @property
    def total_delay_s(self) -> float:
        """T of (8) over the steps taken so far in this episode."""
        return system.total_delay_s(self._history)

    @property
    def cache_state(self) -> np.ndarray:
        """(N, K) bool: the PBs each node has stored so far this episode."""
        return self._cached.copy()

    @property
    def storage_used_bytes(self) -> np.ndarray:
        """(N,) bytes stored so far this episode."""
        return self.config.storage_bytes - self._remaining

    @property
    def history(self) -> list[system.RewardTerms]:
        """Reward terms of every step of the current episode."""
        return list(self._history)

    @property
    def migrations(self) -> list[np.ndarray]:
        """Applied b(k) (N, N) of every step of the current episode (a(k): ``cache_state``)."""
        return list(self._migrations)

    # ---- rendering -----------------------------------------------------------------------------
    def _ansi(self) -> str:
        if not self._last:
            return f"k=0/{self.num_steps} (reset)"
        t: system.RewardTerms = self._last["terms"]
        holders = "".join(
            "C" if c else ("m" if p else ".")
            for c, p in zip(self._last["cache"], self._last["lam"], strict=True)
        )
        return (
            f"k={self._last['k']:4d} nodes[{holders}] req={int(t.requested)} "
            f"mig={t.migration_delay_s * 1e3:8.3f} ms bc={t.broadcast_delay_s * 1e3:8.3f} ms "
            f"qos_fail={int(t.qos_infeasible)} undelivered={int(t.no_delivery)} "
            f"r={t.reward:9.4f}"
        )

    def render(self):
        if self.render_mode is None:
            gymnasium.logger.warn("render() called without a render_mode")
            return None
        if self.render_mode == "ansi":
            return self._ansi()
        if self.render_mode == "human":
            print(self._ansi())
            return None
        from fgamcd_env.render import render_rgb

        return render_rgb(self.scenario, self._last)

    def close(self) -> None:
        from fgamcd_env.render import close_figures

        close_figures()


def parallel_env(
    scenario: str | ScenarioConfig = "paper",
    seed: int | None = None,
    beamformer: str = "fast",
    **kwargs: Any,
) -> FGAMCDParallelEnv:
    """``pettingzoo.ParallelEnv`` of FGAMCD (see the module docstring)."""
    return FGAMCDParallelEnv(scenario=scenario, seed=seed, beamformer=beamformer, **kwargs)


def raw_env(**kwargs: Any) -> AECEnv:
    """The AEC form without wrappers (PettingZoo's convention): the parallel env converted by
    ``parallel_to_aec_wrapper``; ``kwargs`` as for :func:`parallel_env`."""
    return parallel_to_aec_wrapper(parallel_env(**kwargs))


def env(**kwargs: Any) -> AECEnv:
    """The AEC form with PettingZoo's ``OrderEnforcingWrapper`` (``kwargs`` as for
    :func:`parallel_env`).

    PettingZoo's ``AssertOutOfBoundsWrapper`` only accepts ``Discrete`` actions; ours are
    ``MultiDiscrete`` and are range-checked by the environment itself.
    """
    return OrderEnforcingWrapper(raw_env(**kwargs))
