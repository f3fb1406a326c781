"""The methods compared in Figs. 8-14 and 18, and one function that runs a method at a point.

``run_method(method, scenario, overrides, seed, ...)`` returns ``baselines.evaluate``-style rows
(one per evaluation episode) for any method of ``METHODS``:

- baselines (``trimcaching``, ``no_cooperation``, ``tdma``, ``coarse``, the request-aware
  reference rows ``*_known_requests``) come from ``baselines.methods.BASELINES`` and
  ``centralised`` from ``baselines.centralised``;
- learned methods (``maasn-da``, ``qmix-da``) call ``agents.train.train(TrainConfig(...))``
  (imported lazily, so everything else works without the ``agents`` package) and return the
  rows of its evaluation.

Results are cached under a cache directory (the runner sets ``<out>``): training runs (log,
checkpoint, ``bench_result.json``) in ``<cache>/_policies/<hash>/``, where the hash is
``TrainConfig.digest()`` (every group but ``output``, with the config's schema version), so the
same (scenario point, seed, budget, switches) trains once across all figures, and a training
killed midway resumes from its checkpoint;
baseline evaluations go to ``<cache>/_evals/<hash>.json``. Scenario overrides are canonicalised
first (values equal to the preset's are dropped), so e.g. Fig. 8 at 1.25 GB and Fig. 9 at 30
users share the default point. Concurrent workers wanting the same hash
serialise on a POSIX ``flock`` lock file (released by the OS if a holder dies), and results are
written atomically (temporary file + ``os.replace``). Delete a cache entry after changing the
code it depends on. ``import_training`` (``fgamcd-bench import``) adds a finished
``fgamcd-train`` run under the key of the bench cell that would train the same config.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from baselines.optimum import OPTIMUM_OF
from fgamcd_env.atomic import atomic_write

ALGOS: tuple[str, ...] = ("maasn-da", "qmix-da")  # what ``agents.train`` trains
# The learned methods: the two learners, and the paper's baselines in the forms whose caching or
# migration MAASN-DA chooses, as the paper has it ("optimised through our proposed approach").
LEARNED: tuple[str, ...] = (*ALGOS, "trimcaching_maasn", "tdma_maasn")
# method -> (algorithm trained, its TrainConfig options, env options of the evaluation): a
# training is shared by every method with the same algorithm and options (the cache key).
LEARNED_FORMS: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "maasn-da": ("maasn-da", {}, {}),
    "qmix-da": ("qmix-da", {}, {}),
    "trimcaching_maasn": ("maasn-da", {"placement": "trimcaching"}, {}),
    "tdma_maasn": ("maasn-da", {}, {"beamformer": "mrt_tdma"}),
}
# The paper's four baselines in their faithful forms (placements from request probabilities).
BASELINE_METHODS: tuple[str, ...] = ("trimcaching", "no_cooperation", "tdma", "coarse")
# Reference rows beyond the paper: the request-aware placements and the centralised search.
REFERENCE_METHODS: tuple[str, ...] = (
    "trimcaching_known_requests",
    "no_cooperation_known_requests",
    "coarse_known_requests",
    "centralised",
    "optimum",
    "optimum_tdma",
    "optimum_best",
    "optimum_model_groups",
    "optimum_no_cooperation",
)
# The optima: under the paper's delivery, and under each other method's own (``OPTIMUM_OF``).
OPTIMA: tuple[str, ...] = ("optimum", *dict.fromkeys(OPTIMUM_OF.values()))
METHODS: tuple[str, ...] = (*LEARNED, *BASELINE_METHODS, *REFERENCE_METHODS)
# The five methods the paper's headline reductions compare MAASN-DA against, in its order.
PAPER_COMPETITORS: tuple[str, ...] = ("qmix-da", "trimcaching", "no_cooperation", "tdma", "coarse")
LABELS: dict[str, str] = {
    "maasn-da": "MAASN-DA, proposed",
    "qmix-da": "QMIX-DA",
    "trimcaching": "TrimCaching",
    "trimcaching_maasn": "TrimCaching, MAASN-DA migration",
    "tdma_maasn": "TDMA-based unicasting, MAASN-DA caching",
    "no_cooperation": "Without edge cooperation",
    "tdma": "TDMA-based unicasting",
    "coarse": "Coarse-grained caching",
    "trimcaching_known_requests": "TrimCaching, known requests (ours)",
    "no_cooperation_known_requests": "W/o cooperation, known requests (ours)",
    "coarse_known_requests": "Coarse-grained, known requests (ours)",
    "centralised": "Centralised reference (ours)",
    "optimum": "Optimum of P1 (ours)",
    "optimum_tdma": "Optimum, TDMA delivery (ours)",
    "optimum_best": "Optimum, CoMP or TDMA per PB (ours)",
    "optimum_model_groups": "Optimum, one broadcast per model (ours)",
    "optimum_no_cooperation": "Optimum without cooperation (ours)",
}
STYLES: dict[str, dict[str, str]] = {
    "maasn-da": {"color": "tab:red", "marker": "o"},
    "qmix-da": {"color": "tab:blue", "marker": "s"},
    "trimcaching": {"color": "tab:green", "marker": "^"},
    "trimcaching_maasn": {"color": "tab:green", "marker": "o"},
    "tdma_maasn": {"color": "tab:orange", "marker": "o"},
    "no_cooperation": {"color": "tab:purple", "marker": "v"},
    "tdma": {"color": "tab:orange", "marker": "D"},
    "coarse": {"color": "tab:brown", "marker": "x"},
    "trimcaching_known_requests": {"color": "tab:olive", "marker": "^"},
    "no_cooperation_known_requests": {"color": "tab:pink", "marker": "v"},
    "coarse_known_requests": {"color": "tab:gray", "marker": "x"},
    "centralised": {"color": "black", "marker": "*"},
    "optimum": {"color": "black", "marker": "P"},
    "optimum_tdma": {"color": "tab:orange", "marker": "P"},
    "optimum_best": {"color": "dimgray", "marker": "P"},
    "optimum_model_groups": {"color": "tab:brown", "marker": "P"},
    "optimum_no_cooperation": {"color": "tab:purple", "marker": "P"},
}
# What each method does, as the reports state it (one line each).
FORMS: dict[str, str] = {
    "maasn-da": "MAASN-DA's greedy policy (600 training episodes, or the shipped reference "
    "policy where one exists); robust CoMP by `fast`",
    "qmix-da": "QMIX-DA's greedy policy (as MAASN-DA)",
    "trimcaching": "placement from the request probabilities (TrimCaching's greedy on the "
    "expected hit ratio); migration by the greedy search; robust CoMP",
    "no_cooperation": "each node places for its own users' request probabilities; no "
    "migration; each node serves its own users alone",
    "tdma": "stand-in for MAASN-DA's caching and migration: request-aware TrimCaching "
    "placement and the greedy migration search; TDMA unicasting with MRT",
    "trimcaching_maasn": "placement from the request probabilities (TrimCaching's greedy); "
    "migration by MAASN-DA trained with that placement fixed; robust CoMP",
    "tdma_maasn": "caching and migration by MAASN-DA's greedy policy (its training); TDMA "
    "unicasting with MRT",
    "coarse": "whole models by request probability, no PB sharing, until storage is full; "
    "greedy migration; one broadcast per requested model",
    "trimcaching_known_requests": "TrimCaching's greedy on the realised requests; greedy "
    "migration; robust CoMP",
    "no_cooperation_known_requests": "each node places for its own users' realised requests; "
    "no migration; alone",
    "coarse_known_requests": "whole models by realised popularity; greedy migration; one "
    "broadcast per requested model",
    "centralised": "full-information greedy search over placements and migrations; per PB the "
    "better of robust CoMP and TDMA",
    "optimum": "the exact optimum of P1 for the `fast` beamformer: a MILP over caching, "
    "migration and each PB's participant set (N <= 8)",
    "optimum_tdma": "the exact optimum with TDMA unicasting (the bound of TDMA)",
    "optimum_best": "the exact optimum with CoMP or TDMA per PB (the bound of the centralised "
    "reference)",
    "optimum_model_groups": "the exact optimum with one broadcast per model (the bound of "
    "coarse-grained caching)",
    "optimum_no_cooperation": "the exact optimum without cooperation (the bound of the "
    "without-cooperation methods)",
}
# The paper's methods whose caching or migration it optimises "through our approach": the forms
# to compare with, best first (``benchmarks.sweeps.paper_form`` takes the first one present).
PAPER_FORMS: dict[str, tuple[str, ...]] = {
    "trimcaching": ("trimcaching_maasn", "trimcaching"),
    "tdma": ("tdma_maasn", "tdma"),
}
CACHE_ENV = "FGAMCD_BENCH_CACHE"
_cache_dir: Path | None = None


class AgentsUnavailableError(RuntimeError):
    """A learned method was asked for but ``agents.train`` cannot be imported."""


def set_cache_dir(path: str | Path | None) -> None:
    """Directory for ``_policies/`` and ``_evals/`` (None: the ``FGAMCD_BENCH_CACHE`` env var)."""
    global _cache_dir
    _cache_dir = None if path is None else Path(path)


def cache_dir() -> Path | None:
    """The cache directory in effect, or None (no caching: train in a temporary directory)."""
    if _cache_dir is not None:
        return _cache_dir
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else None


# ----------------------------------------------------------------------------- hashing / io
def jsonable(obj: Any) -> Any:
    """JSON-ready copy: tuples -> lists, numpy scalars/arrays -> Python, Paths -> str."""
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return jsonable(dataclasses.asdict(obj))
    return obj


def stable_hash(obj: Any, length: int = 16) -> str:
    """Hex digest of the canonical JSON of ``obj`` (sorted keys): equal specs, equal hashes."""
    text = json.dumps(jsonable(obj), sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def atomic_write_json(path: Path, payload: Any) -> None:
    """Write ``payload`` (made :func:`jsonable`) as JSON to ``path`` atomically."""
    with atomic_write(path) as fh:
        json.dump(jsonable(payload), fh, indent=1, allow_nan=True)


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Exclusive ``flock`` on ``path`` (blocks; the OS releases it if the holder dies)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def is_locked(path: Path) -> bool:
    """Whether a live process holds :func:`file_lock` on ``path`` (False if it does not exist)."""
    try:
        fh = path.open("r")
    except FileNotFoundError:
        return False
    with fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        return False


# ----------------------------------------------------------------------------- overrides
def config_overrides(overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """JSON overrides as ``ScenarioConfig.replace`` wants them (lists -> tuples, nested too)."""

    def conv(v: Any) -> Any:
        if isinstance(v, list):
            return tuple(conv(x) for x in v)
        if isinstance(v, Mapping):
            return {k: conv(x) for k, x in v.items()}
        return v

    return {k: conv(v) for k, v in (overrides or {}).items()}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        try:
            return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=0.0)
        except (TypeError, ValueError):
            return False
    return jsonable(a) == jsonable(b)


def canonical_overrides(scenario: str, overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """Overrides validated against the preset and without the values equal to the preset's.

    Raises ``ValueError`` (from the config) for an unknown field or a bad value.
    """
    from fgamcd_env.core.presets import get_config

    ov = config_overrides(overrides)
    base = get_config(scenario)
    get_config(scenario, **ov)  # validate the whole point once
    out: dict[str, Any] = {}
    for key, val in ov.items():
        if key == "repository" and isinstance(val, Mapping):
            repo = {k: v for k, v in val.items() if not _same(v, getattr(base.repository, k))}
            if repo:
                out[key] = repo
        elif not _same(val, getattr(base, key)):
            out[key] = val
    return out


# ----------------------------------------------------------------------------- methods
def make_baseline(method: str) -> Any:
    """A fresh baseline policy object for ``method`` (not the learned ones)."""
    if method == "centralised":
        from baselines.centralised import CentralisedReference

        return CentralisedReference()
    from baselines.methods import BASELINES

    if method not in BASELINES:
        raise ValueError(f"unknown method {method!r}; choose from {list(METHODS)}")
    return BASELINES[method]()


def reference_seeds(method: str, scenario: str, overrides: Mapping[str, Any]) -> tuple[int, ...]:
    """Seeds with a shipped reference policy for ``method`` at (``scenario``, ``overrides``):
    one of its training (``LEARNED_FORMS``: ``tdma_maasn`` uses MAASN-DA's); () for other
    methods or without the ``agents`` package."""
    if method not in LEARNED:
        return ()
    try:
        from agents.reference import available
    except ImportError:
        return ()
    algo, options, _ = LEARNED_FORMS[method]
    want = canonical_overrides(scenario, overrides)
    return tuple(
        sorted(
            r.seed
            for r in available()
            if r.algo == algo
            and r.options == options
            and r.scenario == scenario
            and canonical_overrides(scenario, r.overrides) == want
        )
    )


def reference_fingerprint(
    method: str, scenario: str, overrides: Mapping[str, Any] | None, seed: int
) -> str | None:
    """:attr:`~agents.reference.ReferenceEntry.fingerprint` of the shipped reference policy a
    cell of ``method`` at (``scenario``, ``overrides``, ``seed``) evaluates; None where none is
    shipped or the agents are not installed (the cell then fails when it runs)."""
    try:
        from agents.reference import find

        algo, options, _ = LEARNED_FORMS[method]
        ov = canonical_overrides(scenario, overrides)
        return find(algo, scenario, ov, seed, options=options or None).fingerprint
    except (ImportError, LookupError):
        return None


def reference_curve(
    method: str, scenario: str, overrides: Mapping[str, Any] | None, seed: int
) -> list[dict[str, Any]]:
    """The training curve (one row per episode) of the shipped reference policy."""
    from agents.reference import curve, find

    algo, options, _ = LEARNED_FORMS[method]
    ov = canonical_overrides(scenario, overrides)
    return curve(find(algo, scenario, ov, seed, options=options or None))


def reference_rows(
    method: str,
    scenario: str,
    overrides: Mapping[str, Any] | None,
    seed: int,
    cache: Path | None = None,
) -> list[dict[str, Any]]:
    """Evaluation rows of the shipped reference policy of ``method`` (``agents.reference``;
    evaluated with the method's env options, see ``LEARNED_FORMS``), cached like a baseline's;
    the rows carry the policy's training budget as ``episodes``."""
    from agents.reference import find, load_reference
    from baselines.evaluate import evaluate
    from fgamcd_env.core.presets import get_config

    algo, options, env_options = LEARNED_FORMS[method]
    ov = canonical_overrides(scenario, overrides)
    ref = find(algo, scenario, ov, seed, options=options or None)
    cache = cache_dir() if cache is None else cache
    meta = {
        "reference": ref.name,
        "scenario": scenario,
        "overrides": ov,
        "seed": int(seed),
        "digest": ref.digest,
        "env": env_options,
        "fingerprint": ref.fingerprint,  # a retrained policy keeps its name and digest
    }

    def run() -> list[dict[str, Any]]:
        t0 = time.perf_counter()
        policy = load_reference(algo, scenario, ov, seed, options=options or None)
        rows = evaluate(
            policy,
            get_config(scenario, **config_overrides(ov)),
            seeds=[int(seed)],
            **{**policy.env_kwargs, **env_options},
        )
        wall = time.perf_counter() - t0
        return [
            jsonable({**r, "episodes": ref.episodes, "method_wall_s": wall / len(rows)})
            for r in rows
        ]

    return _cached_rows(cache, f"ref-{stable_hash(meta)}.json", meta, run)


def _agents() -> tuple[Any, Any]:
    try:
        from agents.train import TrainConfig, train
    except ImportError as exc:
        raise AgentsUnavailableError(
            "learned methods (maasn-da, qmix-da) need agents.train.train and TrainConfig, "
            f"which cannot be imported here ({exc}). Run the baselines only, e.g. "
            "`fgamcd-bench run fig8 --methods trimcaching,no_cooperation,tdma,coarse,centralised`."
        ) from exc
    return TrainConfig, train


def train_defaults_digest() -> str | None:
    """Digest of ``TrainConfig()``: a learned cell's result depends on every default it does
    not set, so the runner hashes this into such cells' keys (None without the agents)."""
    try:
        TrainConfig, _ = _agents()
    except AgentsUnavailableError:
        return None
    return str(TrainConfig().digest())


def _bench_config(
    TrainConfig: Any,
    algo: str,
    scenario: str,
    overrides: Mapping[str, Any] | None,
    seed: int,
    episodes: int,
    train_options: Mapping[str, Any] | None,
) -> tuple[Any, str, dict[str, Any]]:
    """The ``TrainConfig`` a bench cell trains, its cache key and its hashed fields."""
    ov = config_overrides(canonical_overrides(scenario, overrides))
    cfg = TrainConfig().replace(
        algo=algo,
        scenario=scenario,
        overrides=ov,
        episodes=int(episodes),
        seed=int(seed),
        out=Path(tempfile.gettempdir()),
        eval_seeds=(int(seed),),
        progress=False,
        **dict(train_options or {}),
    )
    # The agents' own digest leaves out every run-only field (out, progress, resume, ...).
    fields = {k: v for k, v in cfg.to_json().items() if k != "output"}
    return cfg, str(cfg.digest())[:16], fields


def policy_key(
    algo: str,
    scenario: str,
    overrides: Mapping[str, Any] | None,
    seed: int,
    episodes: int,
    train_options: Mapping[str, Any] | None = None,
) -> str:
    """The key of the training a bench cell trains: ``<cache>/_policies/<key>``."""
    TrainConfig, _ = _agents()
    return _bench_config(TrainConfig, algo, scenario, overrides, seed, episodes, train_options)[1]


def train_run_of(config: Mapping[str, Any]) -> Any:
    """The ``run`` group (algorithm, scenario, overrides, episodes, seeds) of a training's
    ``config.json``."""
    TrainConfig, _ = _agents()
    return TrainConfig.from_json(dict(config)).run


def train_options_of(config: Mapping[str, Any]) -> dict[str, Any]:
    """The switches of a training's ``config.json`` (or ``result.json``'s config): the fields
    that differ from ``TrainConfig``'s defaults, other than those a bench cell sets itself."""
    TrainConfig, _ = _agents()
    changed = TrainConfig.from_json(dict(config)).changes()
    return {k: v for k, v in changed.items() if k not in _CELL_FIELDS}


def train_cached(
    algo: str,
    scenario: str = "paper",
    overrides: Mapping[str, Any] | None = None,
    seed: int = 0,
    episodes: int = 600,
    train_options: Mapping[str, Any] | None = None,
    cache: Path | None = None,
) -> dict[str, Any]:
    """Train ``algo`` once per config (see the module docstring); the train result as a dict.

    The dict holds ``eval_rows``, ``curve``, ``checkpoint`` (a path, or None without a cache),
    ``config`` (the hashed TrainConfig fields), ``key`` and ``wall_s`` (seconds of the training,
    summed over the sessions of a killed and resumed one, plus its final evaluation).
    """
    if algo not in ALGOS:
        raise ValueError(f"{algo!r} is not a learning algorithm {ALGOS}")
    if int(episodes) != episodes or episodes < 1:
        raise ValueError(f"episodes={episodes!r}: must be a positive integer")
    TrainConfig, train = _agents()
    cache = cache_dir() if cache is None else cache
    cfg, key, fields = _bench_config(
        TrainConfig, algo, scenario, overrides, seed, episodes, train_options
    )

    def run(out: Path) -> dict[str, Any]:
        # continue a killed training from its checkpoint
        run_cfg = cfg.replace(out=out, resume=(out / "checkpoint.pt").exists())
        res = train(run_cfg)
        return {
            "key": key,
            "config": fields,
            "eval_rows": list(res["eval_rows"]),
            "curve": list(res.get("curve", [])),
            "checkpoint": str(res["checkpoint"]) if res.get("checkpoint") else None,
            "wall_s": _train_wall_s(res),
        }

    if cache is None:
        with tempfile.TemporaryDirectory(prefix="fgamcd-train-") as tmp:
            result = jsonable(run(Path(tmp)))
        result["checkpoint"] = None  # gone with the temporary directory
        return result
    run_dir = Path(cache) / "_policies" / key
    done = run_dir / "bench_result.json"
    with file_lock(run_dir.with_name(key + ".lock")):
        if done.exists():
            return json.loads(done.read_text())
        run_dir.mkdir(parents=True, exist_ok=True)
        result = run(run_dir)
        atomic_write_json(done, result)
        return jsonable(result)


def _train_wall_s(res: Mapping[str, Any]) -> float:
    """Training + final evaluation seconds of a ``train`` result, over all its sessions (a
    resumed run's own clock would miss the time before the kill). Results written before
    ``eval_wall_s`` existed count training only."""
    return float(res["wall_time_s"]) + float(res.get("eval_wall_s", 0.0))


# TrainConfig fields a bench cell sets itself (or that only say where and how to run).
_CELL_FIELDS = (
    "algo",
    "scenario",
    "overrides",
    "episodes",
    "seed",
    "eval_seeds",
    "out",
    "progress",
    "resume",
    "checkpoint_every",
    "tensorboard",
)


def import_training(run_dir: Path, cache: Path) -> tuple[str, bool]:
    """Put a finished ``fgamcd-train`` run into ``<cache>/_policies`` under the key a bench cell
    with the same config trains, so the bench reuses it instead of training it again.

    Returns ``(key, added)``; ``added`` is False if that key was already cached (left as is).
    Raises ValueError for a directory that is not a finished run, or a run evaluated on other
    instances than its training seed (a bench cell evaluates on that seed only).
    """
    TrainConfig, _ = _agents()
    from agents.train import read_finished_run

    run_dir = Path(run_dir)
    run_cfg, res = read_finished_run(run_dir)
    run = run_cfg.run
    if run.eval_seeds not in (None, (run.seed,)):
        raise ValueError(
            f"{run_dir}: evaluated on instances {list(run.eval_seeds)}, a bench "
            f"cell on its training seed {run.seed} only"
        )
    options = {k: v for k, v in run_cfg.changes().items() if k not in _CELL_FIELDS}
    _, key, fields = _bench_config(
        TrainConfig, run.algo, run.scenario, run.overrides, run.seed, run.episodes, options
    )
    dest = Path(cache) / "_policies" / key
    done = dest / "bench_result.json"
    with file_lock(dest.with_name(key + ".lock")):
        if done.exists():
            return key, False
        dest.mkdir(parents=True, exist_ok=True)
        for name in ("checkpoint.pt", "log.csv", "config.json", "result.json"):
            src, dst = run_dir / name, dest / name
            if not src.exists():
                continue
            # A checkpoint (hundreds of MB) is hard-linked where possible: training replaces it
            # with os.replace, never in place, so the cached copy cannot change. log.csv is
            # appended to in place, so it and the small files are copied.
            with contextlib.suppress(FileNotFoundError):
                dst.unlink()
            if name == "checkpoint.pt":
                try:
                    os.link(src, dst)
                    continue
                except OSError:
                    pass
            shutil.copy2(src, dst)
        atomic_write_json(
            done,
            jsonable(
                {
                    "key": key,
                    "config": fields,
                    "eval_rows": res["eval_rows"],
                    "curve": res["curve"],
                    "checkpoint": str(dest / "checkpoint.pt")
                    if (dest / "checkpoint.pt").exists()
                    else None,
                    "wall_s": _train_wall_s(res),  # of the original training
                    "imported_from": str(run_dir.resolve()),
                }
            ),
        )
    return key, True


def eval_key(
    method: str,
    scenario: str,
    overrides: Mapping[str, Any] | None,
    seed: int,
    beamformer: str = "fast",
) -> str:
    """The key of a baseline's cached evaluation: ``<cache>/_evals/<key>.json``."""
    ov = canonical_overrides(scenario, overrides)
    return stable_hash(
        {
            "method": method,
            "scenario": scenario,
            "overrides": ov,
            "seed": int(seed),
            "beamformer": beamformer,
        }
    )


def evaluate_cached(
    method: str,
    scenario: str = "paper",
    overrides: Mapping[str, Any] | None = None,
    seed: int = 0,
    beamformer: str = "fast",
    cache: Path | None = None,
) -> list[dict[str, Any]]:
    """``baselines.evaluate`` of a baseline at one point and seed, cached under ``_evals/``."""
    from baselines.evaluate import evaluate
    from fgamcd_env.core.presets import get_config

    policy = make_baseline(method)
    cache = cache_dir() if cache is None else cache
    ov = canonical_overrides(scenario, overrides)
    key = eval_key(method, scenario, ov, seed, beamformer)

    def run() -> list[dict[str, Any]]:
        t0 = time.perf_counter()
        rows = evaluate(
            policy,
            get_config(scenario, **config_overrides(ov)),
            seeds=[int(seed)],
            beamformer=beamformer,
        )
        wall = time.perf_counter() - t0
        return [jsonable({**r, "method_wall_s": wall / len(rows)}) for r in rows]

    meta = {
        "method": method,
        "scenario": scenario,
        "overrides": ov,
        "seed": seed,
        "beamformer": beamformer,
    }
    return _cached_rows(cache, f"{key}.json", meta, run)


def _cached_rows(
    cache: Path | None, name: str, meta: Mapping[str, Any], run: Callable[[], Any]
) -> Any:
    """``run()``, or what it returned before: kept as ``rows`` in ``<cache>/_evals/<name>``."""
    if cache is None:
        return run()
    path = Path(cache) / "_evals" / name
    with file_lock(path.with_suffix(".lock")):
        if path.exists():
            return json.loads(path.read_text())["rows"]
        rows = run()
        atomic_write_json(path, {**meta, "rows": rows})
        return rows


def learned_rows(
    method: str,
    scenario: str,
    overrides: Mapping[str, Any] | None,
    seed: int,
    episodes: int,
    train_options: Mapping[str, Any] | None = None,
    cache: Path | None = None,
) -> list[dict[str, Any]]:
    """Evaluation rows of a learned method (``LEARNED_FORMS``): its training's own evaluation,
    or, for a method that delivers differently (``tdma_maasn``), the trained policy evaluated
    with its env options (cached under ``_evals/``). Without a cache the training and that
    evaluation use a temporary one."""
    algo, options, env_options = LEARNED_FORMS[method]
    options = {**options, **dict(train_options or {})}
    cache = cache_dir() if cache is None else cache
    if env_options and cache is None:
        with tempfile.TemporaryDirectory(prefix="fgamcd-bench-") as tmp:
            return learned_rows(method, scenario, overrides, seed, episodes, options, Path(tmp))
    res = train_cached(algo, scenario, overrides, seed, episodes, options, cache)
    if not env_options:
        return [
            {**r, "episodes": int(episodes), "method_wall_s": res["wall_s"]}
            for r in res["eval_rows"]
        ]
    from agents.policy import load_policy
    from baselines.evaluate import evaluate
    from fgamcd_env.core.presets import get_config

    ov = canonical_overrides(scenario, overrides)
    meta = {"training": res["key"], "seed": int(seed), "env": env_options}

    def run() -> list[dict[str, Any]]:
        t0 = time.perf_counter()
        policy = load_policy(res["checkpoint"])
        rows = evaluate(
            policy,
            get_config(scenario, **config_overrides(ov)),
            seeds=[int(seed)],
            **{**policy.env_kwargs, **env_options},
        )
        wall = time.perf_counter() - t0
        return [
            jsonable({**r, "episodes": int(episodes), "method_wall_s": res["wall_s"] + wall})
            for r in rows
        ]

    return _cached_rows(cache, f"learned-{stable_hash(meta)}.json", meta, run)


def full_comp_failures_cached(
    scenario: str = "paper",
    overrides: Mapping[str, Any] | None = None,
    reset_seed: int = 0,
    cache: Path | None = None,
) -> int:
    """Requested PBs that are QoS-infeasible with full CoMP in the episode drawn at
    ``reset(reset_seed)`` (``fgamcd_env.delivery.full_comp_qos_failures``), cached under
    ``_evals/``: every method at a point shares it."""
    from fgamcd_env.core.presets import get_config
    from fgamcd_env.core.scenario import make_instance
    from fgamcd_env.delivery import full_comp_qos_failures

    cache = cache_dir() if cache is None else cache
    ov = canonical_overrides(scenario, overrides)
    meta = {
        "reference": "full_comp_qos_failures",
        "scenario": scenario,
        "overrides": ov,
        "reset_seed": int(reset_seed),
    }

    def run() -> int:
        sc = make_instance(get_config(scenario, **config_overrides(ov)), int(reset_seed))
        return int(full_comp_qos_failures(sc).sum())

    return int(_cached_rows(cache, f"fullcomp-{stable_hash(meta)}.json", meta, run))


def run_method(
    method: str,
    scenario: str = "paper",
    overrides: Mapping[str, Any] | None = None,
    seed: int = 0,
    *,
    episodes: int = 600,
    train_options: Mapping[str, Any] | None = None,
    beamformer: str = "fast",
    cache: Path | None = None,
    policy: str = "train",
) -> list[dict[str, Any]]:
    """Evaluation rows of ``method`` at (``scenario`` + ``overrides``, ``seed``).

    Learned methods are trained first (``episodes``, ``train_options`` go to ``TrainConfig``;
    they use TrainConfig's own beamformer), or with ``policy="reference"`` the shipped reference
    policy of the instance is evaluated; baselines ignore ``episodes`` and ``policy``. Every row
    gets ``method`` and ``method_wall_s`` (seconds the evaluation, or training + evaluation, took
    when it was computed, cached or not), and drops the per-node storage columns.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {list(METHODS)}")
    if policy not in ("train", "reference"):
        raise ValueError(f"policy={policy!r}: must be 'train' or 'reference'")
    if method in LEARNED and policy == "reference":
        rows = reference_rows(method, scenario, overrides, seed, cache)
    elif method in LEARNED:
        rows = learned_rows(method, scenario, overrides, seed, episodes, train_options, cache)
    else:
        rows = evaluate_cached(method, scenario, overrides, seed, beamformer, cache)
    if not rows:
        raise RuntimeError(f"{method} at {scenario} {dict(overrides or {})} returned no rows")
    return [
        {"method": method, **{k: v for k, v in r.items() if not k.startswith("storage_used_")}}
        for r in rows
    ]
