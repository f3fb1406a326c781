"""Training configuration of MAASN-DA, QMIX-DA and their ablations: frozen groups of fields.

Defaults follow Table II and Fig. 19 of the paper (discount 0.95, 600 episodes, E-bar = 10,
tau_0 = 0.8, xi = 1.12, Lambda = 0.8, r1 = r2 = 10 in the env) where the paper gives a value;
the rest (learning rates, batch size, updates per episode, exploration schedules, the shaped
reward) are ours. The reasons for each term of the learners' reward are in
:mod:`fgamcd_env.core.reward`.

==============  ============================================================================
group           fields
==============  ============================================================================
``run``         what is trained, on which instance, with which seeds
``output``      where and how loudly to run (not part of the digest)
``ablation``    Fig. 7's switches
``paper``       Table II's learning values
``network``     network sizes
``optim``       optimisation
``explore``     exploration schedules
``env``         the env the learners train and act in: reward, action restrictions, placement
==============  ============================================================================

:meth:`TrainConfig.replace` and ``fgamcd-train --hp`` take a field by its own name, which is
unique across the groups (a reward term by its :class:`~fgamcd_env.core.reward.RewardConfig`
name, e.g. ``storage_cost``), or dotted (``optim.batch_size``, ``env.reward.clip``).
Ablations of Fig. 7 are switches, not copies:

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

A saved config (``config.json``, checkpoints) carries ``schema``, the layout version
(:data:`SCHEMA_VERSION`), which is also hashed by :meth:`TrainConfig.digest`. Schema 1 (one
flat dataclass, before the groups) is read and converted: each field keeps the value it had,
and a field schema 1 lacked gets the value that run trained with (:data:`SCHEMA1_MISSING`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fgamcd_env.core.reward import LEARNING_REWARD, RewardConfig

ALGOS = ("maasn-da", "qmix-da")
ACTORS = ("action_semantics", "mlp")
CRITICS = ("value_decomposition", "independent")
AUGMENTATIONS = ("esn", "none", "rnn", "cgan")
EXPLORATIONS = ("bit", "node")
PLACEMENTS = ("trimcaching",)

#: Version of the saved layout; part of every digest.
SCHEMA_VERSION = 2
#: Schema-1 fields that the oldest configs lack -> the value those runs trained with.
SCHEMA1_MISSING: dict[str, Any] = {
    "select_every": 0,
    "cache_observed_demand_only": False,
    "migration_weight": 1.0,
    "exploration": "bit",
    "learner_seed": None,
}
#: Schema-1 names that changed -> their schema-2 field names.
SCHEMA1_RENAMED = {
    "reward_scale": "scale",
    "reward_clip": "clip",
    "cache_observed_demand_only": "observed_demand_only",
}


def _fail(name: str, value: Any, why: str) -> None:
    raise ValueError(f"TrainConfig.{name}={value!r}: {why}")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_int(v: Any) -> bool:
    return _is_number(v) and int(v) == v


def _check(obj: Any, names: tuple[str, ...], ok: Any, why: str) -> None:
    for name in names:
        v = getattr(obj, name)
        if not ok(v):
            _fail(name, v, why)


def _positive_ints(obj: Any, *names: str) -> None:
    _check(obj, names, lambda v: _is_int(v) and v >= 1, "must be a positive integer")


def _counts(obj: Any, *names: str) -> None:
    _check(obj, names, lambda v: _is_int(v) and v >= 0, "must be an integer >= 0")


def _positive(obj: Any, *names: str) -> None:
    _check(obj, names, lambda v: _is_number(v) and v > 0, "must be a finite number > 0")


def _non_negative(obj: Any, *names: str) -> None:
    _check(obj, names, lambda v: _is_number(v) and v >= 0, "must be a finite number >= 0")


def _bools(obj: Any, *names: str) -> None:
    _check(obj, names, lambda v: isinstance(v, bool), "must be True or False")


def _choice(obj: Any, name: str, allowed: tuple[Any, ...]) -> None:
    if getattr(obj, name) not in allowed:
        _fail(name, getattr(obj, name), f"must be one of {allowed}")


def _normalise(obj: Any) -> None:
    """Floats as floats and integers as ints (300 and 300.0 are one config: their JSON, hence
    digest, would differ), integer pairs as tuples."""
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        if f.type == "float" and _is_number(v):
            object.__setattr__(obj, f.name, float(v))
        elif f.type in ("int", "int | None") and _is_int(v):
            object.__setattr__(obj, f.name, int(v))
        elif f.type == "tuple[int, int]":
            if not isinstance(v, (tuple, list)) or len(v) != 2 or not all(_is_int(h) for h in v):
                _fail(f.name, v, "must be two positive integers")
            if min(v) < 1:
                _fail(f.name, v, "must be two positive integers")
            object.__setattr__(obj, f.name, tuple(int(h) for h in v))


@dataclass(frozen=True)
class RunConfig:
    """What is trained, on which instance, with which seeds."""

    algo: str = "maasn-da"  # "maasn-da" or "qmix-da"
    scenario: str = "paper"  # preset name (fgamcd_env.core.presets)
    overrides: dict[str, Any] = field(default_factory=dict)  # ScenarioConfig overrides
    env_kwargs: dict[str, Any] = field(default_factory=dict)  # other env options, e.g. eps_hot
    beamformer: str = "fast"  # delivery method of the env
    episodes: int = 600  # E (Table II)
    seed: int = 0  # instance seed, and the learner's unless learner_seed is given
    learner_seed: int | None = None  # seed of the learner's generator (None: seed)
    eval_seeds: tuple[int, ...] | None = None  # instances to evaluate on (None: (seed,))
    select_every: int = 0  # greedy episode every this many, the best policy kept (0: the last)
    torch_threads: int = 1  # torch threads of the gradient steps (float sums may depend on it)
    compile: bool = False  # gradient steps compiled by torch.compile (float sums differ)

    def __post_init__(self) -> None:
        _choice(self, "algo", ALGOS)
        _positive_ints(self, "episodes", "torch_threads")
        _counts(self, "seed", "select_every")
        _bools(self, "compile")
        for name in ("overrides", "env_kwargs"):
            if not isinstance(getattr(self, name), dict):
                _fail(name, getattr(self, name), "must be a dict")
        if self.learner_seed is not None and not (
            _is_int(self.learner_seed) and self.learner_seed >= 0
        ):
            _fail("learner_seed", self.learner_seed, "must be None or an integer >= 0")
        if self.eval_seeds is not None:
            object.__setattr__(self, "eval_seeds", tuple(int(s) for s in self.eval_seeds))
        _normalise(self)


@dataclass(frozen=True)
class OutputConfig:
    """Where and how loudly to run; not part of the digest."""

    out: Path | None = None  # run directory: config.json, log.csv, checkpoint.pt, result.json
    progress: bool = True  # progress bar
    resume: bool = False  # continue from out/checkpoint.pt exactly
    checkpoint_every: int = 50  # episodes between checkpoints (and one at the end)
    tensorboard: bool = False  # also write TensorBoard scalars (needs the tensorboard package)

    def __post_init__(self) -> None:
        _positive_ints(self, "checkpoint_every")
        _bools(self, "progress", "resume", "tensorboard")
        _normalise(self)
        if self.out is not None:
            object.__setattr__(self, "out", Path(self.out))


@dataclass(frozen=True)
class AblationConfig:
    """Fig. 7's switches (actor and critic: MAASN-DA only)."""

    actor: str = "action_semantics"  # or "mlp", the "w/o action semantics" actor
    critic: str = "value_decomposition"  # or "independent": each local critic trained alone
    augmentation: str = "esn"  # or "none", "rnn", "cgan"

    def __post_init__(self) -> None:
        _choice(self, "actor", ACTORS)
        _choice(self, "critic", CRITICS)
        _choice(self, "augmentation", AUGMENTATIONS)


@dataclass(frozen=True)
class PaperConfig:
    """Table II's learning values."""

    discount: float = 0.95  # gamma
    tau0: float = 0.8  # synthetic samples per episode at most tau0 * K (18)
    xi: float = 1.12  # acceptance threshold of (17) on ||prediction - real||
    budget_decay: float = 0.8  # Lambda of (18)
    budget_period: int = 10  # E-bar of (18), episodes between decays

    def __post_init__(self) -> None:
        _positive_ints(self, "budget_period")
        _positive(self, "xi")
        _normalise(self)
        if not (_is_number(self.discount) and 0.0 <= self.discount < 1.0):
            _fail("discount", self.discount, "must be in [0, 1)")
        if not (_is_number(self.tau0) and 0.0 <= self.tau0 <= 1.0):
            _fail("tau0", self.tau0, "must be in [0, 1]")
        if not (_is_number(self.budget_decay) and 0.0 < self.budget_decay <= 1.0):
            _fail("budget_decay", self.budget_decay, "must be in (0, 1]")


@dataclass(frozen=True)
class NetworkConfig:
    """Network sizes (Fig. 19: N = 6, U = 30)."""

    actor_hidden: tuple[int, int] = (128, 64)  # action-semantics sub-modules; e_n is the last
    mlp_actor_hidden: tuple[int, int] = (256, 256)  # the "w/o action semantics" actor
    critic_hidden: tuple[int, int] = (256, 256)  # local critics Q(o_n, d_n)
    mixer_embed: int = 32  # QMIX mixing width
    hyper_hidden: int = 64  # hidden width of the hypernetworks' second layer
    qmix_hidden: int = 64  # QMIX-DA's DRQN width (fc -> GRU -> fc)
    semantic_logit_scale: float = 5.0  # migration logit tanh(<e_n, e_{n,m}>) times this
    esn_reservoir: int = 1024  # ESN reservoir size (Fig. 19c)
    esn_spectral_radius: float = 0.45  # ||eta_re||_2 < 0.5 (Assumption 2; psi_re = 0.5)
    esn_input_scale: float = 0.45  # ||eta_in||_2 < 0.5 (psi_in = 0.5)
    esn_ridge: float = 1e-2  # ridge penalty of the readout fit
    cgan_noise: int = 16  # latent size of the cGAN generator

    def __post_init__(self) -> None:
        _positive_ints(
            self, "mixer_embed", "hyper_hidden", "qmix_hidden", "esn_reservoir", "cgan_noise"
        )
        _positive(self, "semantic_logit_scale", "esn_ridge")
        _normalise(self)
        for name in ("esn_spectral_radius", "esn_input_scale"):
            v = getattr(self, name)
            if not (_is_number(v) and 0.0 < v < 0.5):
                _fail(name, v, "must be in (0, 0.5) for the echo state property (Assumption 2)")


@dataclass(frozen=True)
class OptimConfig:
    """Optimisation (ours: the paper does not give these values)."""

    lr_actor: float = 1e-4  # below the critic's, as in DDPG: the actor follows a trained critic
    lr_critic: float = 1e-3  # also QMIX-DA's learning rate
    batch_size: int = 128
    buffer_size: int = 100_000  # transitions, real and synthetic
    updates_per_episode: int = 40  # gradient steps after each episode (Algorithm 1, l. 20-24)
    target_tau: float = 0.005  # soft target update rate
    grad_clip: float = 10.0  # gradient norm clip
    logit_l2: float = 1e-3  # actor loss + logit_l2 * mean(logit^2): Gumbel logits stay trainable
    clip_target: bool = True  # TD targets clipped to agents.learner.value_range
    aug_epochs: int = 2  # gradient epochs per episode of the RNN / cGAN augmenters

    def __post_init__(self) -> None:
        _positive_ints(self, "batch_size", "buffer_size")
        _counts(self, "updates_per_episode", "aug_epochs")
        _positive(self, "lr_actor", "lr_critic", "grad_clip")
        _non_negative(self, "logit_l2")
        _bools(self, "clip_target")
        _normalise(self)
        if not (_is_number(self.target_tau) and 0.0 < self.target_tau <= 1.0):
            _fail("target_tau", self.target_tau, "must be in (0, 1]")


@dataclass(frozen=True)
class ExploreConfig:
    """Exploration, linear from start to end (epsilon over the first half of training)."""

    exploration: str = "bit"  # MAASN-DA's epsilon: "bit" coin-flips bits, "node" redraws rows
    epsilon_start: float = 1.0
    epsilon_end: float = 0.05
    temperature_start: float = 1.0  # Gumbel-Softmax temperature s_temp of (13)
    temperature_end: float = 0.1

    def __post_init__(self) -> None:
        _choice(self, "exploration", EXPLORATIONS)
        _normalise(self)
        eps = (self.epsilon_start, self.epsilon_end)
        if not (all(_is_number(v) for v in eps) and 0.0 <= eps[1] <= eps[0] <= 1.0):
            _fail("epsilon_start", eps[0], "need 0 <= epsilon_end <= epsilon_start <= 1")
        temp = (self.temperature_start, self.temperature_end)
        if not (all(_is_number(v) for v in temp) and 0.0 < temp[1] <= temp[0]):
            _fail("temperature_start", temp[0], "need 0 < temperature_end <= temperature_start")


@dataclass(frozen=True)
class EnvConfig:
    """The env the learners train and act in (options of ``fgamcd_env.parallel_env``)."""

    reward: RewardConfig = LEARNING_REWARD  # what the learners train on (terms: core.reward)
    observed_demand_only: bool = True  # cache only PBs that a user the node observes requests
    prune_migrations: bool = False  # the env drops redundant migrations (system.prune_migrations)
    placement: str | None = None  # caching fixed by this placement; the learner only migrates

    def __post_init__(self) -> None:
        if not isinstance(self.reward, RewardConfig):
            _fail("reward", self.reward, "must be a RewardConfig")
        _bools(self, "observed_demand_only", "prune_migrations")
        if self.placement is not None:
            _choice(self, "placement", PLACEMENTS)

    @property
    def mask_observed_demand(self) -> bool:
        """Whether caching is restricted to observed demand: ``observed_demand_only``, unless a
        placement does the caching."""
        return self.observed_demand_only and self.placement is None


#: The groups of :class:`TrainConfig`, in their order.
GROUPS: dict[str, type] = {
    "run": RunConfig,
    "output": OutputConfig,
    "ablation": AblationConfig,
    "paper": PaperConfig,
    "network": NetworkConfig,
    "optim": OptimConfig,
    "explore": ExploreConfig,
    "env": EnvConfig,
}


def _leaf_paths() -> dict[str, tuple[str, ...]]:
    """Flat name -> path of every field (a reward term: under ``env.reward``)."""
    out: dict[str, tuple[str, ...]] = {}
    for group, cls in GROUPS.items():
        for f in dataclasses.fields(cls):
            if (group, f.name) == ("env", "reward"):
                for r in dataclasses.fields(RewardConfig):
                    out[r.name] = (group, f.name, r.name)
            out[f.name] = (group, f.name)
    if len(out) != sum(len(dataclasses.fields(c)) for c in GROUPS.values()) + len(
        dataclasses.fields(RewardConfig)
    ):
        raise RuntimeError("TrainConfig field names must be unique across its groups")
    return out


FLAT_NAMES: dict[str, tuple[str, ...]] = _leaf_paths()
_PATHS = [(g,) for g in GROUPS] + list(FLAT_NAMES.values())


def resolve(key: str) -> tuple[str, ...]:
    """The path of a field given by its own name or dotted (``optim.batch_size``)."""
    parts = tuple(key.split("."))
    found = [p for p in _PATHS if p[len(p) - len(parts) :] == parts and len(p) >= len(parts)]
    if len(found) != 1:
        raise ValueError(
            f"unknown TrainConfig field {key!r}; valid: {sorted(FLAT_NAMES)}, dotted as "
            f"group.field with the groups {list(GROUPS)}"
        )
    return found[0]


def _coerce(current: Any, value: Any) -> Any:
    """``value`` for a field whose value is ``current``: a dict over a group or reward config
    replaces the fields it names; ``"paper"`` / ``"learning"`` name a reward config."""
    if isinstance(current, RewardConfig) and not isinstance(value, Mapping):
        return RewardConfig.from_value(value)
    if dataclasses.is_dataclass(current) and isinstance(value, Mapping):
        names = {f.name for f in dataclasses.fields(current)}
        unknown = sorted(set(value) - names)
        if unknown:
            raise ValueError(
                f"unknown {type(current).__name__} field(s) {unknown}; valid: {sorted(names)}"
            )
        return _apply(current, [((k,), v) for k, v in value.items()])
    return value


def _apply(obj: Any, changes: list[tuple[tuple[str, ...], Any]]) -> Any:
    """``obj`` with every (path, value) of ``changes`` applied, in one replace per level."""
    direct: dict[str, Any] = {}
    nested: dict[str, list[tuple[tuple[str, ...], Any]]] = {}
    for path, value in changes:
        if len(path) == 1:
            direct[path[0]] = _coerce(getattr(obj, path[0]), value)
        else:
            nested.setdefault(path[0], []).append((path[1:], value))
    for name, sub in nested.items():
        direct[name] = _apply(direct.get(name, getattr(obj, name)), sub)
    return dataclasses.replace(obj, **direct)


@dataclass(frozen=True)
class TrainConfig:
    """Everything one training run depends on, in groups (module docstring).

    ``TrainConfig().replace(algo="qmix-da", episodes=50)`` builds one from field names; an
    unknown name is an error.
    """

    run: RunConfig = field(default_factory=RunConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    ablation: AblationConfig = field(default_factory=AblationConfig)
    paper: PaperConfig = field(default_factory=PaperConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    explore: ExploreConfig = field(default_factory=ExploreConfig)
    env: EnvConfig = field(default_factory=EnvConfig)

    def __post_init__(self) -> None:
        for name, cls in GROUPS.items():
            if not isinstance(getattr(self, name), cls):
                raise ValueError(f"TrainConfig.{name} must be a {cls.__name__}")
        if self.run.algo == "qmix-da" and (
            self.ablation.actor != ACTORS[0]
            or self.ablation.critic != CRITICS[0]
            or self.explore.exploration != EXPLORATIONS[0]
        ):
            _fail("algo", self.run.algo, "actor/critic/exploration switches apply to maasn-da only")

    # ---- building -------------------------------------------------------------------------
    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with fields changed, each named as in :func:`resolve`; a group or the reward
        may be given whole, or as a dict of the fields to change."""
        paths: dict[tuple[str, ...], str] = {}
        for key in changes:
            path = resolve(key)
            if path in paths:
                raise ValueError(f"TrainConfig field {key!r} given twice (also as {paths[path]!r})")
            paths[path] = key
        return _apply(self, [(p, changes[k]) for p, k in paths.items()])

    def flat(self) -> dict[str, Any]:
        """Every field by its own name (reward terms included, the reward itself not)."""
        out = {}
        for name, path in FLAT_NAMES.items():
            value: Any = self
            for part in path:
                value = getattr(value, part)
            if not isinstance(value, RewardConfig):
                out[name] = value
        return out

    def changes(self, base: TrainConfig | None = None) -> dict[str, Any]:
        """The fields (own names) whose values differ from ``base`` (default: the defaults);
        ``base.replace(**changes)`` gives this config back."""
        ref = (TrainConfig() if base is None else base).flat()
        return {k: v for k, v in self.flat().items() if v != ref[k]}

    # ---- derived --------------------------------------------------------------------------
    @property
    def rng_seed(self) -> int:
        """Seed of the learner's generator: ``learner_seed``, else ``seed``."""
        run = self.run
        return run.seed if run.learner_seed is None else int(run.learner_seed)

    @property
    def env_options(self) -> dict[str, Any]:
        """Keyword arguments of the env a policy acts in: ``prune_migrations``,
        ``observed_demand_only`` (off under a fixed placement, which does the caching), then
        ``env_kwargs``."""
        return {
            "prune_migrations": self.env.prune_migrations,
            "observed_demand_only": self.env.mask_observed_demand,
            **self.run.env_kwargs,
        }

    @property
    def train_env_options(self) -> dict[str, Any]:
        """Keyword arguments of the env the learner trains in: :attr:`env_options` and the
        learners' ``reward``."""
        return {"reward": self.env.reward, **self.env_options}

    @property
    def label(self) -> str:
        """Short name of the variant, e.g. ``maasn-da``, ``maasn-da[actor=mlp]``."""
        ab = self.ablation
        if self.run.algo == "qmix-da":
            base = "qmix-da"
            diffs = [] if ab.augmentation == "esn" else [f"augmentation={ab.augmentation}"]
        else:
            base = "maasn-da"
            diffs = [
                f"{n}={getattr(ab, n)}"
                for n, d in (("actor", ACTORS[0]), ("critic", CRITICS[0]), ("augmentation", "esn"))
                if getattr(ab, n) != d
            ]
        if (self.paper.tau0, self.paper.xi) != (0.8, 1.12):
            diffs.append(f"tau0={self.paper.tau0},xi={self.paper.xi}")
        if self.env.placement is not None:
            diffs.append(f"placement={self.env.placement}")
        return base + (f"[{';'.join(diffs)}]" if diffs else "")

    # ---- saving ---------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The config as JSON-ready nested dicts, with its ``schema``."""
        d: dict[str, Any] = {"schema": SCHEMA_VERSION}
        for name in GROUPS:
            d[name] = dataclasses.asdict(getattr(self, name))
        out = self.output.out
        d["output"]["out"] = None if out is None else str(out)
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> TrainConfig:
        """The config :meth:`to_json` wrote; a schema-1 (flat) config is converted (module
        docstring), a newer schema is an error."""
        d = dict(d)
        schema = d.pop("schema", 1)
        if schema == 1:
            flat = {**SCHEMA1_MISSING, **d}
            return cls().replace(**{SCHEMA1_RENAMED.get(k, k): v for k, v in flat.items()})
        if schema != SCHEMA_VERSION:
            raise ValueError(
                f"TrainConfig schema {schema!r}: this version reads schemas 1 to "
                f"{SCHEMA_VERSION}; the config was written by a newer fgamcd-env"
            )
        unknown = sorted(set(d) - set(GROUPS))
        if unknown:
            raise ValueError(f"unknown TrainConfig group(s) {unknown}; valid: {list(GROUPS)}")
        return cls().replace(**d)

    def digest(self) -> str:
        """Hash of what the run learns from (the schema and every group but ``output``), for
        result caching and for telling whether a saved policy matches a config."""
        d = self.to_json()
        del d["output"]
        if not d["run"]["compile"]:  # eager steps hash as configs from before the field did
            del d["run"]["compile"]
        blob = json.dumps(d, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]
