"""Training configuration of MAASN-DA, QMIX-DA and their ablations (one frozen dataclass).

Defaults follow Table II and Fig. 19 of the paper (discount 0.95, 600 episodes, E-bar = 10,
tau_0 = 0.8, xi = 1.12, Lambda = 0.8, r1 = r2 = 10 in the env) where the paper gives a value;
the rest (learning rates, batch size, updates per episode, exploration schedules) are ours and
documented field by field. Ablations of Fig. 7 are switches, not copies:

==========================  ===============================================================
paper's variant             switches
==========================  ===============================================================
MAASN-DA                    defaults
QMIX-DA                     ``algo="qmix-da"``
w/o action-semantics actor  ``actor="mlp"`` (2 x 256 fully connected)
w/o value decomposition     ``critic="independent"``
w/o data augmentation       ``augmentation="none"``
RNN-based DA                ``augmentation="rnn"`` (the ESN's shape, every weight trained)
cGAN-based DA               ``augmentation="cgan"``
non-optimal (tau_0, xi)     ``tau0=0.9, xi=1.2``
==========================  ===============================================================
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fgamcd_env.core.reward import RewardConfig

ALGOS = ("maasn-da", "qmix-da")
ACTORS = ("action_semantics", "mlp")
CRITICS = ("value_decomposition", "independent")
AUGMENTATIONS = ("esn", "none", "rnn", "cgan")
EXPLORATIONS = ("bit", "node")

# Fields that say where and how loudly to run, not what is learned: left out of the hash.
_RUN_FIELDS = ("out", "progress", "resume", "checkpoint_every", "tensorboard")
# Fields added after trained policies were cached -> the value that behaves as before they
# existed. At that value a field is left out of the hash, so those policies keep their digest
# (and a run killed midway still resumes); any other value, the default included, is hashed.
_LEGACY_VALUES: dict[str, Any] = {
    "select_every": 0,
    "cache_observed_demand_only": False,
    "migration_weight": 1.0,
    "exploration": "bit",
    "learner_seed": None,
}


@dataclass(frozen=True)
class TrainConfig:
    """Everything one training run depends on. Unknown keys in :meth:`replace` are errors."""

    algo: str = "maasn-da"
    scenario: str = "paper"  # preset name (fgamcd_env.core.presets)
    overrides: dict[str, Any] = field(default_factory=dict)  # ScenarioConfig overrides
    env_kwargs: dict[str, Any] = field(default_factory=dict)  # e.g. {"eps_hot": 3}
    beamformer: str = "fast"
    episodes: int = 600  # E (Table II)
    seed: int = 0  # instance seed, and learner seed unless learner_seed is given
    # Seed of the learner's generator (network initialisation, exploration, replay sampling,
    # augmentation); None = ``seed``. Another value trains again on the same instance, which
    # measures the run-to-run spread of a learner.
    learner_seed: int | None = None
    eval_seeds: tuple[int, ...] | None = None  # instances to evaluate on; None = (seed,)
    out: Path | None = None  # run directory: log.csv, checkpoints, result.json
    progress: bool = True
    resume: bool = False
    checkpoint_every: int = 50  # episodes between checkpoints (and one at the end)
    tensorboard: bool = False  # also write TensorBoard scalars (needs the tensorboard package)

    # --- ablation switches (Fig. 7) ---
    actor: str = "action_semantics"
    critic: str = "value_decomposition"
    augmentation: str = "esn"

    # --- Table II ---
    discount: float = 0.95  # gamma
    tau0: float = 0.8  # synthetic samples per episode at most tau0 * K (18)
    xi: float = 1.12  # acceptance threshold of (17) on ||prediction - real||
    budget_decay: float = 0.8  # Lambda of (18)
    budget_period: int = 10  # E-bar of (18), episodes between decays

    # --- Fig. 19 sizes (paper: N = 6, U = 30) ---
    actor_hidden: tuple[int, int] = (128, 64)  # action-semantics sub-modules; e_n is the last
    mlp_actor_hidden: tuple[int, int] = (256, 256)  # the "w/o action semantics" actor
    critic_hidden: tuple[int, int] = (256, 256)  # local critics Q(o_n, d_n)
    mixer_embed: int = 32  # QMIX mixing width
    hyper_hidden: int = 64  # hidden width of the hypernetworks' second layer
    esn_reservoir: int = 1024  # ESN reservoir size (Fig. 19c)
    esn_spectral_radius: float = 0.45  # ||eta_re||_2 < 0.5 (Assumption 2; psi_re = 0.5)
    esn_input_scale: float = 0.45  # ||eta_in||_2 < 0.5 (psi_in = 0.5)
    esn_ridge: float = 1e-2  # ridge penalty of the readout fit
    qmix_hidden: int = 64  # DRQN width (fc -> GRU -> fc)

    # --- ours: optimisation and exploration (the paper does not give them) ---
    # actor slower than critic, as in DDPG; the reverse (1e-3 / 1e-4) let the actor chase an
    # untrained critic (paper, 150 episodes: return -264 with these against -1,550)
    lr_actor: float = 1e-4
    lr_critic: float = 1e-3  # also QMIX-DA's learning rate
    batch_size: int = 128
    buffer_size: int = 100_000  # transitions, real and synthetic
    updates_per_episode: int = 40  # gradient steps after each episode (Algorithm 1 l. 20-24)
    target_tau: float = 0.005  # soft target update rate
    reward_scale: float = 0.1  # rewards divided by r1 = 10 so |r| is O(1) (B_r = 1)
    # Ours (0 = the paper's reward): the learner's reward also pays
    # storage_cost * sum_n a_n(k) S(k) / C_n. With gamma = 0.95 and K = 450 the cost of filling
    # the storage early lies beyond the discount horizon (caching an unrequested PB is free in
    # (12)), so both learners cached everything until storage ran out and then could not deliver
    # later PBs (paper, 600 episodes, storage_cost 0: MAASN-DA's training episodes had 130
    # undelivered PBs, QMIX-DA's greedy policy 108; see the README for 10).
    storage_cost: float = 10.0
    # Ours (False: every cached PB pays storage_cost): only PBs nobody requests pay it. On
    # `paper` the requested PBs fit in every node (0.96-1.09 GB of C_n = 1.25 GB), yet MAASN-DA's
    # greedy policy had 3.70 nodes per requested PB (coarse caching 4.69) and migrated instead
    # (seed 2; 4.40 with this on). Over seeds 0-3 (600 episodes) its mean greedy delay went
    # from 1.448 to 1.475 s (seeds 2 and 3 better, 0 and 1 worse). With the current defaults,
    # seeds 0-3: MAASN-DA 1.180 / 1.254 / 1.176 / 1.106 s, QMIX-DA 1.178 / 1.252 / 1.180 /
    # 1.427 s, one more QoS-infeasible PB than the default on seed 0 (README): off by default.
    storage_cost_unrequested_only: bool = False
    # Ours (False = the paper's action space): node n may cache PB k only if a user it observes
    # (its own, or a visible node's: the demand bits of o_n) requests it. A PB nobody requests
    # never lowers (8) or raises (12), but caching one takes storage a later PB may need. Paper,
    # 600 episodes, MAASN-DA with delay_weight 1000, reward_clip 5, seeds 0-3: without it the
    # storage filled on seeds 0 and 3 (21 + 1 and 25 + 9 QoS-infeasible + undelivered PBs);
    # with it storage use was 0.38-0.69 of C_n, 0 undelivered, mean greedy delay 1.239 s.
    cache_observed_demand_only: bool = True
    # (12) pays 0 for a PB nobody requests, yet the objective (8) counts its migration delay, so
    # a learner on (12) migrates unrequested PBs for free (our runs: 20-25 s of delay, almost all
    # migration). True (ours): the learner also pays that migration delay; False: (12) as printed.
    charge_all_migrations: bool = True
    # Ours (1 = the paper's reward): weight of the delay T(k) against the penalties r1, r2 in
    # the learner's reward. In (12) a PB's delay (milliseconds) is 1e-3 of one penalty (10), far
    # below the critic's noise, so a learner on (12) optimises penalty counts and never delay.
    # 1000: 10 ms of delay weighs one penalty, and a migrated byte costs about ten times a
    # cached one (storage_cost). Paper, 600 episodes, MAASN-DA's greedy policy, seeds 0-3: weight
    # 100 gave 2.12 / 1.75 s (seeds 0 / 1), 300 gave 1.339 / 1.442 / 1.602 / 1.408 s (mean
    # 1.448), 1000 with reward_clip 5 and cache_observed_demand_only 1.233 / 1.289 / 1.211 /
    # 1.222 s (mean 1.239; migration 0.03-0.08 s against 0.13-0.32 s at 300).
    delay_weight: float = 1000.0
    # Ours (1 = migration and broadcast delay weigh the same, as in (7)): the learner's reward
    # counts the migration delay of (7) this many times. At weight 1 a migration of 0.2 ms costs
    # 0.02 of reward, below what the critic resolves, and most migrations were redundant.
    # Paper, 600 episodes, last greedy policy, seeds 0-3: MAASN-DA 1.233 / 1.289 / 1.211 /
    # 1.222 s at 1 (mean 1.239), 1.185 / 1.254 / 1.206 / 1.144 s at 5 (mean 1.197, migration
    # 0.0002-0.004 s); QMIX-DA mean 1.259 -> 1.191 s.
    migration_weight: float = 5.0
    # Ours: the learner's reward is clipped below at -reward_clip (after scaling; 5 = five
    # penalties, so a 30 ms QoS-infeasible PB, 3 + 1, is not clipped at delay_weight 1000). A PB
    # broadcast at a near-zero worst-case rate has a delay of minutes, and with delay_weight 100
    # one such step gave a reward of -1,500 and made the critic diverge.
    reward_clip: float = 5.0
    # Ours (False = the paper's reward): a requested PB that nobody delivers gets the learner's
    # lowest reward, -reward_clip, instead of r2. In (12) with r1 = r2 a QoS-infeasible delivery
    # costs r1 + T(k) > r2, and delay_weight widens that gap, so dropping a hard PB is the
    # learner's best move: 600 paper episodes ended with 65 undelivered PBs (greedy); with
    # no-delivery at the floor (r2 = 30), 300 episodes ended with 1.
    undelivered_at_floor: bool = True
    # Ours: TD targets are clipped to the range every discounted return of the learner's reward
    # lies in, [-(reward_clip + N storage_cost) / (1 - gamma), 0]. MAASN-DA's critic bootstraps
    # on the target actor's greedy actions and overestimated without bound: after 600 paper
    # episodes Q_tot averaged +494 on replayed samples whose rewards all lie in [-3, 0].
    clip_target: bool = True
    # Ours (False = the paper's model): the learners' env runs with prune_migrations, i.e. the
    # nodes exchange their caching bits before migrating, so no PB is migrated into a node that
    # caches it and each other node receives it once (fgamcd_env.core.system.prune_migrations).
    # A decentralised actor cannot see the other nodes' a_m(k): after 600 paper episodes 63 % of
    # MAASN-DA's and 75 % of QMIX-DA's migrations changed no participation. Pruning is safe at
    # execution (the same participation, less delay) but we do not train with it: two MAASN-DA
    # runs with it had 149 (seed 0, episode 209) and 59 (seed 1, episode 199) undelivered PBs
    # in a training episode, against 8 and 7 at the same episodes without, and were stopped.
    prune_migrations: bool = False
    # Gumbel-Softmax temperature s_temp of (13): linear from start to end over training.
    temperature_start: float = 1.0
    temperature_end: float = 0.1
    # tanh bounds the migration logit to [-1, 1], which would keep P(b = 1) in [0.27, 0.73]
    # under Gumbel sampling forever; the logit is tanh(<e_n, e_{n,m}>) * this scale.
    semantic_logit_scale: float = 5.0
    # Exploration, linear from start to end over the first half of training. QMIX-DA:
    # epsilon-greedy over joint indices. MAASN-DA: each bit of the Gumbel sample is replaced by
    # a fair coin with this probability (ours: once the actor's logits grow, the Gumbel sample
    # alone is nearly deterministic and exploration stops).
    epsilon_start: float = 1.0
    epsilon_end: float = 0.05
    # MAASN-DA's epsilon: "bit" replaces each of a node's N bits by a coin with probability
    # epsilon; "node" replaces a node's row with probability epsilon by a uniform draw from the
    # 2**(N-1) + 1 joint actions (2) allows, as QMIX-DA's epsilon-greedy does (QMIX-DA explores
    # this way whatever the value). "bit" turns a cached PB off 1 time in 2 per flip, "node"
    # 1 in 2**(N-1) + 1. Paper, 600 episodes, epsilon 0.05 (benchmarks.exploration_tax):
    # MAASN-DA's final policies lose 67-120 of return per episode to "bit" exploration,
    # QMIX-DA's at most 8.5; turning cache bits off is what costs, on both policies. Trained
    # with "node", seeds 0-3 ended at 1.174 / 1.495 / 1.249 / 1.818 s greedy delay against
    # 1.185 / 1.254 / 1.206 / 1.144 s with "bit" (node 3 of seed 1 never cached): "bit" stays.
    exploration: str = "bit"
    grad_clip: float = 10.0
    # Ours, as in MADDPG's Gumbel-Softmax actors: the actor loss adds logit_l2 * mean(logit^2).
    # Without it the caching logits ran to +-20 within a few dozen episodes, where the Gumbel
    # sample's gradient is zero, and the policy froze into "always" / "never" cache per node.
    logit_l2: float = 1e-3
    cgan_noise: int = 16  # latent size of the cGAN generator
    aug_epochs: int = 2  # gradient epochs per episode of the RNN / cGAN augmenters
    # torch intra-op threads (the gradient steps; numpy's BLAS always gets one); hashed, as the
    # float sums of a step may depend on it. 2 on an otherwise idle 2-core machine: a MAASN-DA
    # gradient step 17.7 -> 11.5 ms; with one other busy process on the cores, 22 -> 34-77 ms
    # (OpenMP threads wait for each other at every operation; passive waiting: 23 ms idle).
    torch_threads: int = 1
    # Ours (0 = the paper: the policy after the last episode). Every select_every episodes (and
    # after the last) the greedy policy plays one episode on the training instance, outside the
    # replay buffer; the run returns the policy whose greedy episode had the highest return (12)
    # (the latest on ties), as tianshou's save_best_fn. The instance is static, so this is the
    # deployed system's own score. log.csv gets greedy_return and greedy_delay_s columns.
    # paper, 600 episodes, select_every 20, seeds 0-3: mean greedy delay 1.448 -> 1.434 s.
    select_every: int = 0

    def __post_init__(self) -> None:
        def fail(name: str, why: str) -> None:
            raise ValueError(f"TrainConfig.{name}={getattr(self, name)!r}: {why}")

        for name, allowed in (
            ("algo", ALGOS),
            ("actor", ACTORS),
            ("critic", CRITICS),
            ("augmentation", AUGMENTATIONS),
            ("exploration", EXPLORATIONS),
        ):
            if getattr(self, name) not in allowed:
                fail(name, f"must be one of {allowed}")
        if self.algo == "qmix-da" and (
            self.actor != "action_semantics"
            or self.critic != "value_decomposition"
            or self.exploration != "bit"
        ):
            fail("algo", "actor/critic/exploration switches apply to maasn-da only")
        for name in (
            "episodes",
            "checkpoint_every",
            "batch_size",
            "buffer_size",
            "budget_period",
            "esn_reservoir",
            "qmix_hidden",
            "mixer_embed",
            "hyper_hidden",
            "cgan_noise",
            "torch_threads",
        ):
            v = getattr(self, name)
            if isinstance(v, bool) or int(v) != v or v < 1:
                fail(name, "must be a positive integer")
        for name in ("updates_per_episode", "select_every"):
            v = getattr(self, name)
            if isinstance(v, bool) or int(v) != v or v < 0:
                fail(name, "must be an integer >= 0")
        if int(self.aug_epochs) != self.aug_epochs or self.aug_epochs < 0:
            fail("aug_epochs", "must be an integer >= 0")
        for name in ("actor_hidden", "mlp_actor_hidden", "critic_hidden"):
            v = getattr(self, name)
            if len(v) != 2 or any(int(h) != h or h < 1 for h in v):
                fail(name, "must be two positive integers")
        if not 0.0 <= self.discount < 1.0:
            fail("discount", "must be in [0, 1)")
        if not 0.0 <= self.tau0 <= 1.0:
            fail("tau0", "must be in [0, 1]")
        if not 0.0 < self.budget_decay <= 1.0:
            fail("budget_decay", "must be in (0, 1]")
        if not 0.0 < self.target_tau <= 1.0:
            fail("target_tau", "must be in (0, 1]")
        if not 0.0 <= self.epsilon_end <= self.epsilon_start <= 1.0:
            fail("epsilon_start", "need 0 <= epsilon_end <= epsilon_start <= 1")
        if not 0.0 < self.temperature_end <= self.temperature_start:
            fail("temperature_start", "need 0 < temperature_end <= temperature_start")
        for name in (
            "xi",
            "lr_actor",
            "lr_critic",
            "reward_scale",
            "esn_ridge",
            "delay_weight",
            "reward_clip",
            "migration_weight",
            "semantic_logit_scale",
            "grad_clip",
        ):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                fail(name, "must be a finite number > 0")
        for name in ("esn_spectral_radius", "esn_input_scale"):
            if not 0.0 < getattr(self, name) < 0.5:
                fail(name, "must be in (0, 0.5) for the echo state property (Assumption 2)")
        for name in ("storage_cost", "logit_l2"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                fail(name, "must be a finite number >= 0")
        for name in (
            "charge_all_migrations",
            "undelivered_at_floor",
            "clip_target",
            "prune_migrations",
            "storage_cost_unrequested_only",
            "cache_observed_demand_only",
        ):
            if not isinstance(getattr(self, name), bool):
                fail(name, "must be True or False")
        if not isinstance(self.overrides, dict) or not isinstance(self.env_kwargs, dict):
            fail("overrides", "overrides and env_kwargs must be dicts")
        if self.learner_seed is not None and (
            isinstance(self.learner_seed, bool)
            or int(self.learner_seed) != self.learner_seed
            or self.learner_seed < 0
        ):
            fail("learner_seed", "must be None or an integer >= 0")
        if self.eval_seeds is not None:
            object.__setattr__(self, "eval_seeds", tuple(int(s) for s in self.eval_seeds))
        if self.out is not None:
            object.__setattr__(self, "out", Path(self.out))
        for name in ("actor_hidden", "mlp_actor_hidden", "critic_hidden"):
            object.__setattr__(self, name, tuple(int(h) for h in getattr(self, name)))
        # 300 and 300.0 are one config: without this their JSON, hence digest(), differ
        for f in dataclasses.fields(self):
            if f.type == "float":
                object.__setattr__(self, f.name, float(getattr(self, f.name)))

    @property
    def rng_seed(self) -> int:
        """Seed of the learner's generator: ``learner_seed``, else ``seed``."""
        return self.seed if self.learner_seed is None else int(self.learner_seed)

    def replace(self, **changes: Any) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise ValueError(f"unknown TrainConfig field(s) {unknown}; valid: {sorted(names)}")
        return dataclasses.replace(self, **changes)

    @property
    def reward_config(self) -> RewardConfig:
        """The reward the learners train on, as the env computes it."""
        return RewardConfig(
            delay_weight=self.delay_weight,
            migration_weight=self.migration_weight,
            charge_all_migrations=self.charge_all_migrations,
            scale=self.reward_scale,
            clip=self.reward_clip,
            undelivered_at_floor=self.undelivered_at_floor,
            storage_cost=self.storage_cost,
            storage_cost_unrequested_only=self.storage_cost_unrequested_only,
        )

    @property
    def env_options(self) -> dict[str, Any]:
        """Keyword arguments of the env a policy acts in: ``prune_migrations``,
        ``observed_demand_only``, then ``env_kwargs``."""
        return {
            "prune_migrations": self.prune_migrations,
            "observed_demand_only": self.cache_observed_demand_only,
            **self.env_kwargs,
        }

    @property
    def train_env_options(self) -> dict[str, Any]:
        """Keyword arguments of the env the learner trains in: :attr:`env_options` and the
        learners' ``reward``."""
        return {"reward": self.reward_config, **self.env_options}

    @property
    def label(self) -> str:
        """Short name of the variant, e.g. ``maasn-da``, ``maasn-da[actor=mlp]``."""
        if self.algo == "qmix-da":
            base = "qmix-da"
            diffs = [] if self.augmentation == "esn" else [f"augmentation={self.augmentation}"]
        else:
            base = "maasn-da"
            diffs = [
                f"{n}={getattr(self, n)}"
                for n, d in (("actor", ACTORS[0]), ("critic", CRITICS[0]), ("augmentation", "esn"))
                if getattr(self, n) != d
            ]
        if (self.tau0, self.xi) != (0.8, 1.12):
            diffs.append(f"tau0={self.tau0},xi={self.xi}")
        return base + (f"[{';'.join(diffs)}]" if diffs else "")

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["out"] = None if self.out is None else str(self.out)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> TrainConfig:
        d = dict(d)
        for name in ("actor_hidden", "mlp_actor_hidden", "critic_hidden"):
            if name in d:
                d[name] = tuple(d[name])
        if d.get("eval_seeds") is not None:
            d["eval_seeds"] = tuple(d["eval_seeds"])
        for name, value in _LEGACY_VALUES.items():  # written before the field existed
            d.setdefault(name, value)
        return cls().replace(**d)

    def digest(self) -> str:
        """Hash of what the run learns from (run-control fields excluded), for result caching."""
        d = {
            k: v
            for k, v in self.to_json().items()
            if k not in _RUN_FIELDS and not (k in _LEGACY_VALUES and v == _LEGACY_VALUES[k])
        }
        blob = json.dumps(d, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]
