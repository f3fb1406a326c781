"""Reference policies shipped with the package: trained MAASN-DA and QMIX-DA greedy policies.

Each entry of ``index.json`` names a folder next to it holding

- ``policy.pt``: the weights the greedy policy acts with (MAASN-DA's actor, QMIX-DA's Q network)
  and the sizes of the env it was trained on; no optimiser, target networks or replay buffer;
- ``config.json``: the :class:`~agents.config.TrainConfig` of the training;
- ``curve.csv``: the training curve (one row per episode, as ``log.csv`` of the run);
- ``eval.json``: the evaluation rows of the greedy policy on its training instance, as the
  training recorded them (``baselines.evaluate``'s format).

>>> from agents.reference import available
>>> isinstance(available(), list)
True

:func:`available`, :func:`find`, :func:`is_current` and :func:`curve` read JSON and CSV only
(no torch), so a benchmark can ask which instances have a policy while it builds its grid;
:func:`load_reference` returns a :class:`~agents.policy.LearnedPolicy` for
``baselines.evaluate``. ``python -m agents.reference build ...`` trains and exports entries,
``export RUN_DIR`` exports a finished ``fgamcd-train`` run, ``list`` prints the index.

An entry is *current* when its training config is what the current defaults give for its
algorithm, instance, seed, budget and options (same :meth:`TrainConfig.digest`, which includes
the config's schema version). A stale entry still loads, with a :class:`StaleReferenceWarning`
(``strict=True`` refuses it): its numbers are those of the config it was trained with.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agents.config import TrainConfig

if TYPE_CHECKING:
    from agents.policy import LearnedPolicy

#: Folder of ``index.json`` and the entries' folders (the installed package data).
REFERENCE_DIR = Path(__file__).resolve().parent
INDEX = "index.json"
INDEX_SCHEMA = 1
POLICY, CONFIG, CURVE, EVAL = "policy.pt", "config.json", "curve.csv", "eval.json"
# TrainConfig fields that name an entry (the rest, where not the defaults, are its options).
IDENTITY = ("algo", "scenario", "overrides", "seed", "episodes")
# Fields that say how a run was run or evaluated, not what it learned.
NOT_OPTIONS = (*IDENTITY, "eval_seeds", "out", "progress", "resume", "checkpoint_every")
NOT_OPTIONS += ("tensorboard",)


_FINGERPRINTS: dict[tuple[tuple[str, int, int], ...], str] = {}


class StaleReferenceWarning(UserWarning):
    """A reference policy was trained with other settings than the current defaults give."""


@dataclass(frozen=True)
class ReferenceEntry:
    """One shipped policy: what it is, and the numbers its training recorded for it on its
    training instance (``baselines.evaluate`` of the greedy policy)."""

    name: str  # folder under the reference directory
    algo: str
    scenario: str
    overrides: dict[str, Any]  # ScenarioConfig overrides of the instance
    seed: int  # instance seed (and the learner's, unless options set learner_seed)
    episodes: int  # training episodes
    options: dict[str, Any]  # TrainConfig fields (own names) that differ from the defaults
    digest: str  # TrainConfig.digest() of the training, evaluation seeds at their default
    episode_return: float  # return (12) of the evaluation episode
    total_delay_s: float
    qos_infeasible_pbs: int
    undelivered_pbs: int

    @property
    def path(self) -> Path:
        """The entry's folder."""
        return REFERENCE_DIR / self.name

    @property
    def fingerprint(self) -> str:
        """Hash of the entry's weights and training curve: a retrained policy keeps its name
        and digest, so caches of what it gave (``fgamcd-bench`` cells) key on this too."""
        files = [self.path / name for name in (POLICY, CURVE)]
        stamp = tuple((str(f), (st := f.stat()).st_mtime_ns, st.st_size) for f in files)
        if stamp not in _FINGERPRINTS:  # a grid asks for each entry many times
            h = hashlib.sha256()
            for f in files:
                h.update(f.read_bytes())
            _FINGERPRINTS[stamp] = h.hexdigest()[:16]
        return _FINGERPRINTS[stamp]

    def config(self) -> TrainConfig:
        """The training's config."""
        return TrainConfig.from_json(json.loads((self.path / CONFIG).read_text()))

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _read_index(folder: Path) -> list[dict[str, Any]]:
    path = folder / INDEX
    if not path.exists():
        return []
    data = json.loads(path.read_text())
    if data.get("schema") != INDEX_SCHEMA:
        raise ValueError(
            f"{path}: index schema {data.get('schema')!r}, this version reads {INDEX_SCHEMA}"
        )
    return list(data["entries"])


def available() -> list[ReferenceEntry]:
    """Every entry of the index, in its order (algorithm, scenario, seed)."""
    return [ReferenceEntry(**e) for e in _read_index(REFERENCE_DIR)]


def _config_overrides(overrides: dict[str, Any] | None) -> dict[str, Any]:
    def conv(v: Any) -> Any:
        if isinstance(v, list):
            return tuple(conv(x) for x in v)
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        return v

    return {k: conv(v) for k, v in (overrides or {}).items()}


def same_instance(scenario: str, a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    """Whether two override sets give the same scenario config (e.g. a value equal to the
    preset's, given or not)."""
    from fgamcd_env.core.presets import get_config

    return get_config(scenario, **_config_overrides(a)) == get_config(
        scenario, **_config_overrides(b)
    )


def find(
    algo: str,
    scenario: str = "paper",
    overrides: dict[str, Any] | None = None,
    seed: int = 0,
    *,
    options: dict[str, Any] | None = None,
    episodes: int | None = None,
) -> ReferenceEntry:
    """The entry of ``algo`` on (``scenario`` + ``overrides``, ``seed``) trained with
    ``options`` (default: none, the defaults) and ``episodes`` (default: the largest budget
    shipped). Raises ``LookupError`` naming the entries that exist."""
    want = json.loads(json.dumps(dict(options or {})))  # as the index stores it (lists)
    entries = available()
    hits = [
        e
        for e in entries
        if e.algo == algo
        and e.scenario == scenario
        and e.seed == int(seed)
        and e.options == want
        and (episodes is None or e.episodes == int(episodes))
        and same_instance(scenario, e.overrides, overrides)
    ]
    if not hits:
        have = "; ".join(
            f"{e.algo} {e.scenario} {e.overrides or ''} seed {e.seed}, {e.episodes} episodes"
            + (f", options {e.options}" if e.options else "")
            for e in entries
        )
        raise LookupError(
            f"no reference policy of {algo} on {scenario} {overrides or {}} seed {seed}"
            + (f" with options {want}" if want else "")
            + (f" trained {episodes} episodes" if episodes is not None else "")
            + f"; shipped: {have or 'none'} (in {REFERENCE_DIR / INDEX})"
        )
    return max(hits, key=lambda e: e.episodes)


def current_config(entry: ReferenceEntry) -> TrainConfig:
    """What the current defaults train for the entry's algorithm, instance, seed, budget and
    options."""
    return TrainConfig().replace(
        algo=entry.algo,
        scenario=entry.scenario,
        overrides=dict(entry.overrides),
        seed=entry.seed,
        episodes=entry.episodes,
        **entry.options,
    )


def is_current(entry: ReferenceEntry) -> bool:
    """Whether the entry was trained with what the current defaults give (module docstring)."""
    try:
        return current_config(entry).digest() == entry.digest
    except ValueError:  # an option the current config no longer has
        return False


def curve(entry: ReferenceEntry) -> list[dict[str, Any]]:
    """The training curve, one dict per episode (numbers as int or float)."""

    def value(text: str) -> Any:
        if text == "":
            return None
        for kind in (int, float):
            try:
                return kind(text)
            except ValueError:
                pass
        return text

    with (entry.path / CURVE).open(newline="") as fh:
        return [{k: value(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def eval_rows(entry: ReferenceEntry) -> list[dict[str, Any]]:
    """The evaluation rows the training recorded for the greedy policy."""
    return json.loads((entry.path / EVAL).read_text())


def load_reference(
    algo: str,
    scenario: str = "paper",
    overrides: dict[str, Any] | None = None,
    seed: int = 0,
    *,
    options: dict[str, Any] | None = None,
    episodes: int | None = None,
    strict: bool = False,
) -> LearnedPolicy:
    """The shipped greedy policy of :func:`find`, for ``baselines.evaluate``. A stale entry
    (:func:`is_current`) gives a :class:`StaleReferenceWarning`, or with ``strict`` a
    ``ValueError``."""
    entry = find(algo, scenario, overrides, seed, options=options, episodes=episodes)
    if not is_current(entry):
        msg = (
            f"reference policy {entry.name} was trained with another config than the current "
            "defaults give (retrain it: python -m agents.reference build ...)"
        )
        if strict:
            raise ValueError(msg)
        warnings.warn(msg, StaleReferenceWarning, stacklevel=2)
    return load_entry(entry)


def load_entry(entry: ReferenceEntry) -> LearnedPolicy:
    """The greedy policy stored in ``entry``'s folder (built for acting only)."""
    import numpy as np
    import torch

    from agents.learner import Dims
    from agents.policy import LearnedPolicy, build_learner, restore_policy

    cfg = entry.config()
    state = torch.load(entry.path / POLICY, map_location="cpu", weights_only=True)
    learner = build_learner(
        cfg, Dims(**state["dims"]), np.random.default_rng(cfg.rng_seed), acting_only=True
    )
    restore_policy(learner, state["modules"])
    return LearnedPolicy(learner)


def export_run(run_dir: str | Path) -> ReferenceEntry:
    """Export a finished training run (``config.json``, ``result.json``, ``checkpoint.pt``)
    into :data:`REFERENCE_DIR` and add it to the index (replacing an entry of the same name)."""
    from agents.reference.export import export_run as _export

    return _export(Path(run_dir))


__all__ = [
    "REFERENCE_DIR",
    "ReferenceEntry",
    "StaleReferenceWarning",
    "available",
    "current_config",
    "curve",
    "eval_rows",
    "export_run",
    "find",
    "is_current",
    "load_entry",
    "load_reference",
]
