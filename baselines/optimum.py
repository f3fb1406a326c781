"""The exact optimum of P1 for a given delivery (beyond the paper): a HiGHS mixed-integer program.

P1 chooses, for every PB k, the caching bits x[n, k] (storage (1)), the migrations z[m, n, k]
(only from a caching node, (2)) and thereby the participating set S(k) of (3). Its objective here
is the one the env rewards: the episode's return, the sum of reward (12) over the steps, i.e. the
delay T of (8) plus the penalties r1 (QoS (9b) not met) and r2 (requested PB not delivered) that
(12) puts in place of P1's hard constraints. Every set's broadcast outcome comes from the env's
own delivery (``FGAMCDParallelEnv.delivery``, memoised; its ``beamformer`` or any ``method``) and
every decision is scored by ``pb_outcome``, so the plan replays in the env to the planned return.
With r1 >= r2 (the paper's r1 = r2 = 10) a PB whose QoS cannot be met is better left undelivered
(r2) than delivered late (r1 + its delay), so the optimum has no QoS-infeasible PB then.

Formulation. PBs interact only through storage: migrations and broadcasts of PB k affect step k
alone, and the env's sequential forcing (cache only while C~_n(k) >= S(k)) admits exactly the
plans with sum_k x[n, k] S(k) <= C_n on every node (a plan within those knapsacks never meets a
forced-off bit; a forced-off bit is never cached). So, per requested PB k and caching pattern X
(the set of nodes with x[n, k] = 1), the best step cost can be computed first:

    c_k(X) = min over S ⊇ X of  D_k(S) + sum_{n in S \\ X} min_{m in X} S(k) / R^bac_{m,n}(k),
    c_k(∅) = r2,

with D_k(S) = T_bc + r1 Lambda (or r1 + r2 when some requesting user gets a zero rate) from the
env's delivery. Restricting the migrations to one per participant outside X, from the caching
node with the fastest link, loses nothing: a migration into a caching node, or a second one into
the same node, changes no participation (3) and only adds delay (7), which (12) charges to a
requested PB in every case. Then one pattern per PB is chosen by a multiple-choice multi-knapsack
MILP (one binary w[k, X] per pattern, sum_X w[k, X] = 1, sum_{k, X ∋ n} S(k) w[k, X] <= C_n)
solved by HiGHS (``scipy.optimize.milp``). This is the x/z/y program with z and y eliminated in
closed form, hence equivalent and with a tighter relaxation. A pattern X is dropped when some
proper subset X' ⊊ X has c_k(X') <= c_k(X) (it uses less storage on every node for no more cost)
and when S(k) > C_n (it can never be cached). Unrequested PBs get reward 0 whatever is done, so
the plan never caches or migrates them (no storage, no backhaul time).

Other env options are the same system with a different step rule, handled exactly:
``cooperation=False`` (no migration, S = X; a set missing a requesting user's own node leaves that
user unserved, r1 + r2 >= r2, so it is never better than caching nothing and is not solved),
``full_comp`` (the env migrates to every node: S = all nodes, and the explicit migrations that
the env's rule keeps are the fastest ones), ``prune_migrations`` (leaves these plans unchanged),
``eps_hot`` and ``delivery_groups`` (inside the delivery).

Size. There are 2^N - 1 participant sets per requested PB (63 at N = 6, 255 at N = 8), each one
delivery: exact enumeration is offered up to ``MAX_EXACT_NODES`` = 8 nodes. Beyond that,
``max_set_size`` restricts both the caching patterns and the participant sets to at most that many
nodes: the result is the optimum over that restricted plan space, a feasible plan (a lower bound
on the true optimal return), flagged ``exact=False``.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import csr_array

from baselines.policy import joint_to_actions
from fgamcd_env.core import system
from fgamcd_env.delivery import DELIVERY_METHODS, delivery_reward
from fgamcd_env.env import FGAMCDParallelEnv

MAX_EXACT_NODES = 8


@dataclass(frozen=True)
class OptimumResult:
    """A solved instance: the plan, its planned return and how it was obtained."""

    objective: float  # planned return (12) of the episode: -(delay + penalties) over requested PBs
    cache: np.ndarray  # (N, K) bool x[n, k]
    migrations: np.ndarray  # (K, N, N) bool z[m, n, k] to ask for (row m sends to column n)
    participants: np.ndarray  # (K, N) bool, the planned S(k)
    pb_rewards: np.ndarray  # (K,) planned reward (12) of each step
    status: str  # "optimal" or "time_limit" (a feasible plan, ``mip_gap`` from the bound)
    exact: bool  # every participant set was considered (no ``max_set_size`` restriction)
    mip_gap: float  # HiGHS relative gap between the plan and its bound (0 when optimal)
    bound: float  # upper bound on the return over the searched plan space
    method: str  # delivery the plan was scored with
    milp_time_s: float
    precompute_time_s: float  # per-PB pattern costs, including the deliveries solved
    deliveries: int  # distinct (PB, participant set) deliveries evaluated
    new_solves: int  # of which were not in the env's memo yet
    variables: int  # MILP binaries after pruning dominated patterns
    requested_pbs: int  # requested PBs within the episode


def _check(env: FGAMCDParallelEnv, method: str | None, max_set_size: int | None) -> str:
    method = env.beamformer if method is None else method
    if method not in DELIVERY_METHODS:
        raise ValueError(f"method={method!r}: must be one of {DELIVERY_METHODS}")
    n = env.config.num_nodes
    if max_set_size is not None and (int(max_set_size) != max_set_size or max_set_size < 1):
        raise ValueError(f"max_set_size={max_set_size!r}: must be None or an integer >= 1")
    if max_set_size is None and n > MAX_EXACT_NODES:
        raise ValueError(
            f"the exact optimum enumerates 2^N - 1 = {2**n - 1} participant sets per PB; "
            f"N = {n} > {MAX_EXACT_NODES}: pass max_set_size (e.g. 3) for the optimum over "
            "caching patterns and participant sets of at most that many nodes (not exact)"
        )
    return method


def _sets(n: int, max_set_size: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Non-empty node sets as bit masks (increasing) and their (len, N) membership matrix."""
    if max_set_size is None or max_set_size >= n:
        masks = np.arange(1, 2**n, dtype=np.int64)
    else:
        masks = np.array(
            sorted(
                sum(1 << i for i in nodes)
                for size in range(1, max_set_size + 1)
                for nodes in itertools.combinations(range(n), size)
            ),
            dtype=np.int64,
        )
    return masks, ((masks[:, None] >> np.arange(n)) & 1).astype(bool)


def _fastest_migrations(backhaul: np.ndarray, cache: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """(N, N) one migration into each target node from the caching node with the fastest link
    (the lowest index on ties)."""
    n = len(cache)
    migrate = np.zeros((n, n), dtype=bool)
    sources = np.flatnonzero(cache)
    for t in np.flatnonzero(targets & ~cache):
        migrate[sources[int(np.argmax(backhaul[sources, t]))], t] = True
    return migrate


def _pattern_costs(
    env: FGAMCDParallelEnv,
    k: int,
    method: str,
    masks: np.ndarray,
    member: np.ndarray,
    seen: set[tuple[int, int]],
) -> dict[int, tuple[float, np.ndarray]]:
    """Caching pattern (bit mask, 0 = nowhere) -> (lowest step cost -reward, migrations to ask),
    for requested PB k; patterns that cannot beat caching nowhere may be left out."""
    sc, cfg = env.scenario, env.config
    n = sc.num_nodes
    backhaul = sc.backhaul_bps[k]
    none = np.zeros((n, n), dtype=bool)

    def cost(cache: np.ndarray, asked: np.ndarray) -> float:
        applied = env.applied_migration(k, cache, asked)
        lam = system.participation(cache, applied)
        if lam.any():
            seen.add((k, int(np.sum(lam << np.arange(n)))))
        return -env.pb_outcome(k, cache, applied, method)[0].reward

    out = {0: (cost(np.zeros(n, dtype=bool), none), none)}
    if sc.pb_sizes_bytes[k] > cfg.storage_bytes:
        return out
    patterns = list(zip(masks, member, strict=True))
    if env.observed_demand_only:  # only nodes that observe a request for k may cache it
        allowed = env.observed_nodes(k)
        patterns = [(m, c) for m, c in patterns if not np.any(c & ~allowed)]
    if not env.cooperation:
        needed = np.zeros(n, dtype=bool)
        needed[sc.user_node[sc.demand[k]]] = True
        for mask, cache in patterns:
            if np.all(cache | ~needed):
                out[int(mask)] = (cost(cache, none), none)
        return out
    if env.full_comp:
        for mask, cache in patterns:
            fastest = _fastest_migrations(backhaul, cache, np.ones(n, dtype=bool))
            out[int(mask)] = min(
                ((cost(cache, asked), asked) for asked in (none, fastest)), key=lambda t: t[0]
            )
        return out
    # Broadcast costs of every participant set, then the best superset of each caching pattern.
    r1, r2 = cfg.penalty_qos, cfg.penalty_no_delivery
    bc = np.empty(len(masks))
    for i, (mask, lam) in enumerate(zip(masks, member, strict=True)):
        bc[i] = -delivery_reward(env.delivery(k, lam, method), r1, r2)
        seen.add((k, int(mask)))
    hop = 8.0 * float(sc.pb_sizes_bytes[k]) / backhaul  # (N, N) migration delays, 0 on the diagonal
    for mask, cache in patterns:
        into = np.where(cache, 0.0, hop[cache].min(axis=0))  # cheapest migration into each node
        sup = (masks & mask) == mask
        totals = bc[sup] + member[sup] @ into
        best = np.flatnonzero(sup)[int(np.argmin(totals))]
        asked = _fastest_migrations(backhaul, cache, member[best])
        exact = cost(cache, asked)
        if not np.isclose(exact, totals.min(), rtol=1e-9, atol=1e-12):
            raise RuntimeError(
                f"PB {k}, pattern {mask:b}: planned cost {totals.min()!r} != env's {exact!r}"
            )
        out[int(mask)] = (exact, asked)
    return out


def _undominated(costs: dict[int, tuple[float, np.ndarray]], n: int) -> list[int]:
    """Patterns no proper subset matches: c(X) < min over X' ⊊ X of c(X') (among the patterns
    in ``costs``, which always holds the empty one)."""
    best_below: dict[int, float] = {}
    keep = []
    for mask in sorted(costs, key=lambda m: (bin(m).count("1"), m)):
        below = min(
            (
                min(costs[sub][0], best_below[sub])
                for sub in (mask & ~(1 << i) for i in range(n) if mask >> i & 1)
                if sub in costs
            ),
            default=np.inf,
        )
        if mask:
            below = min(below, costs[0][0])
        best_below[mask] = below
        if costs[mask][0] < below:
            keep.append(mask)
    return keep


def solve_optimum(
    env: FGAMCDParallelEnv,
    method: str | None = None,
    time_limit_s: float = 600.0,
    max_set_size: int | None = None,
    progress: bool = False,
) -> OptimumResult:
    """The plan with the highest return (12) on ``env``'s instance (see the module docstring).

    ``method`` is the delivery to plan with (default: the env's ``beamformer``); the env's other
    options (cooperation, full CoMP, groups, hot threshold, pruning, ``max_cycles``) are those of
    the episode the plan is for; with ``observed_demand_only`` only the nodes that observe a
    request for a PB may cache it. Deliveries go through the env's memo, so a replay in the same
    env solves nothing again. HiGHS stops at ``time_limit_s`` with its best plan and the gap.
    """
    method = _check(env, method, max_set_size)
    sc, cfg = env.scenario, env.config
    n, num_pbs, steps = sc.num_nodes, sc.num_pbs, env.num_steps
    sizes = sc.pb_sizes_bytes.astype(float)
    masks, member = _sets(n, max_set_size)
    requested = [int(k) for k in np.flatnonzero(sc.demand[:steps].any(axis=1))]
    memo_before = env.memo_size
    seen: set[tuple[int, int]] = set()
    t0 = time.perf_counter()
    iterator: Any = requested
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(requested, desc=f"optimum deliveries ({method})", unit="PB")
    choices: list[tuple[int, int, float, np.ndarray]] = []  # (k, pattern, cost, asked)
    for k in iterator:
        costs = _pattern_costs(env, k, method, masks, member, seen)
        for mask in _undominated(costs, n):
            choices.append((k, mask, *costs[mask]))
    precompute = time.perf_counter() - t0

    t0 = time.perf_counter()
    row_of = {k: i for i, k in enumerate(requested)}
    cols = np.arange(len(choices))
    pb_rows = np.array([row_of[k] for k, *_ in choices], dtype=np.int64)
    one_per_pb = csr_array(
        (np.ones(len(choices)), (pb_rows, cols)), shape=(len(requested), len(choices))
    )
    cap_r, cap_c, cap_v = [], [], []
    for j, (k, mask, _, _) in enumerate(choices):
        for node in range(n):
            if mask >> node & 1:
                cap_r.append(node)
                cap_c.append(j)
                cap_v.append(sizes[k])
    storage = csr_array((cap_v, (cap_r, cap_c)), shape=(n, len(choices)))
    cost = np.array([c for _, _, c, _ in choices])
    constraints = [LinearConstraint(one_per_pb, 1.0, 1.0)]
    if cap_v:
        constraints.append(LinearConstraint(storage, -np.inf, float(cfg.storage_bytes)))
    res = milp(
        cost,
        integrality=np.ones(len(choices)),
        bounds=Bounds(0.0, 1.0),
        constraints=constraints,
        options={"time_limit": float(time_limit_s), "mip_rel_gap": 0.0, "disp": False},
    )
    milp_time = time.perf_counter() - t0
    if res.x is None or res.status not in (0, 1):
        raise RuntimeError(f"HiGHS found no plan (status {res.status}: {res.message})")

    chosen = np.flatnonzero(res.x > 0.5)
    cache = np.zeros((n, num_pbs), dtype=bool)
    migrations = np.zeros((num_pbs, n, n), dtype=bool)
    participants = np.zeros((num_pbs, n), dtype=bool)
    pb_rewards = np.zeros(num_pbs)
    if sorted(choices[j][0] for j in chosen) != requested:
        raise RuntimeError("HiGHS returned a plan without exactly one pattern per PB")
    for j in chosen:
        k, mask, c, asked = choices[j]
        cache[:, k] = (mask >> np.arange(n)) & 1 == 1
        migrations[k] = asked
        participants[k] = system.participation(
            cache[:, k], env.applied_migration(k, cache[:, k], asked)
        )
        pb_rewards[k] = -c
    used = (cache * sizes).sum(axis=1)
    if np.any(used > cfg.storage_bytes):
        raise RuntimeError(
            f"HiGHS plan exceeds storage C_n = {cfg.storage_bytes} B by "
            f"{(used - cfg.storage_bytes).max()} B (its feasibility tolerance)"
        )
    objective = float(pb_rewards.sum())
    dual = getattr(res, "mip_dual_bound", None)  # a lower bound on the minimised cost
    bound = objective if dual is None or not np.isfinite(dual) else -float(dual)
    return OptimumResult(
        objective=objective,
        cache=cache,
        migrations=migrations,
        participants=participants,
        pb_rewards=pb_rewards,
        status="optimal" if res.status == 0 else "time_limit",
        exact=max_set_size is None or max_set_size >= n,
        mip_gap=float(getattr(res, "mip_gap", 0.0) or 0.0),
        bound=max(bound, objective),
        method=method,
        milp_time_s=milp_time,
        precompute_time_s=precompute,
        deliveries=len(seen),
        new_solves=env.memo_size - memo_before,
        variables=len(choices),
        requested_pbs=len(requested),
    )


class Optimum:
    """Plans the exact optimum at reset (``solve_optimum`` with the env's beamformer), replays it.

    ``result`` holds the last plan; ``planned_return`` its objective, which the episode's return
    equals (to float rounding) when the plan is replayed in the same env.
    """

    name = "optimum"

    def __init__(
        self,
        time_limit_s: float = 600.0,
        max_set_size: int | None = None,
        progress: bool = False,
        **env_kwargs: Any,
    ) -> None:
        self.time_limit_s = time_limit_s
        self.max_set_size = max_set_size
        self.progress = progress
        self.env_kwargs: dict[str, Any] = dict(env_kwargs)
        self.result: OptimumResult | None = None
        self._scenario: Any = None
        self._key: tuple | None = None

    @property
    def planned_return(self) -> float:
        assert self.result is not None, "call reset(env) first"
        return self.result.objective

    def reset(self, env: FGAMCDParallelEnv) -> None:
        key = (
            env.beamformer,
            env.error_model,
            env.stacked_nodes,
            env.eps_hot,
            env.full_comp,
            env.delivery_groups,
            env.cooperation,
            env.prune_migrations,
            env.observed_demand_only,
            env.num_steps,
        )
        if self._scenario is not env.scenario or self._key != key:  # static instances: plan once
            self.result = solve_optimum(
                env,
                time_limit_s=self.time_limit_s,
                max_set_size=self.max_set_size,
                progress=self.progress,
            )
            self._scenario, self._key = env.scenario, key

    def act(self, observations: dict[str, Any], env: FGAMCDParallelEnv) -> dict[str, np.ndarray]:
        assert self.result is not None, "call reset(env) first"
        k = env.current_pb
        return joint_to_actions(self.result.cache[:, k], self.result.migrations[k], env.agents)


class OptimumTDMA(Optimum):
    """The optimum with TDMA unicasting (``beamformer="mrt_tdma"``): the bound of ``tdma``."""

    name = "optimum_tdma"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**{"beamformer": "mrt_tdma", **kwargs})


class OptimumBest(Optimum):
    """The optimum with per-PB CoMP or TDMA (``beamformer="best"``): the bound of
    ``centralised``."""

    name = "optimum_best"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**{"beamformer": "best", **kwargs})


class OptimumModelGroups(Optimum):
    """The optimum with one broadcast per requested model (``delivery_groups="model"``): the
    bound of the coarse-grained methods."""

    name = "optimum_model_groups"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**{"delivery_groups": "model", **kwargs})


class OptimumNoCooperation(Optimum):
    """The optimum without cooperation (``cooperation=False``): the bound of the
    without-cooperation methods."""

    name = "optimum_no_cooperation"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**{"cooperation": False, **kwargs})


#: Each method's own system: the optimum that bounds it (the others use ``Optimum``).
OPTIMUM_OF: dict[str, str] = {
    "tdma": "optimum_tdma",
    "tdma_maasn": "optimum_tdma",
    "centralised": "optimum_best",
    "coarse": "optimum_model_groups",
    "coarse_known_requests": "optimum_model_groups",
    "no_cooperation": "optimum_no_cooperation",
    "no_cooperation_known_requests": "optimum_no_cooperation",
}
