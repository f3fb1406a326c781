"""Export finished training runs as reference policies, and train the missing ones.

:func:`export_run` copies what the greedy policy needs (its acting weights, the config, the
curve and the evaluation rows) into a folder under :data:`agents.reference.REFERENCE_DIR`,
checks that the exported policy, evaluated again, reproduces the recorded evaluation, and adds
the entry to ``index.json`` (every file written atomically, the index under a lock, last).
:func:`build` trains each (algorithm, seed) into its own run directory (resuming a killed
run from its checkpoint) and exports it.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import json
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from threadpoolctl import threadpool_limits

import agents.reference as ref
from agents.config import OutputConfig, TrainConfig
from agents.policy import LEARNERS
from agents.train import CHECKPOINT, make_env_config, read_finished_run, train
from fgamcd_env.atomic import atomic_write, atomic_write_text

# Tolerance of the check that an exported policy reproduces its recorded evaluation: the same
# weights and code give the same actions, and the env's float sums agree to rounding.
REL_TOL = 1e-9
COUNTS = ("qos_infeasible_pbs", "undelivered_pbs", "requested_pbs", "steps")


@contextlib.contextmanager
def _index_lock(folder: Path) -> Iterator[None]:
    """Exclusive ``flock`` while the index is read and rewritten (released if a holder dies)."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".index.lock").open("a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _read_run(run_dir: Path) -> tuple[TrainConfig, dict[str, Any], dict[str, Any]]:
    """The config, result and checkpoint of a finished run (ValueError otherwise)."""
    cfg, res = read_finished_run(run_dir)
    run = cfg.run
    if not (run_dir / CHECKPOINT).exists():
        raise ValueError(f"{run_dir}: no {CHECKPOINT}")
    state = torch.load(run_dir / CHECKPOINT, map_location="cpu", weights_only=False)
    if TrainConfig.from_json(state["config"]).digest() != cfg.digest():
        raise ValueError(f"{run_dir}: {CHECKPOINT} and config.json are of different configs")
    if state["episode"] != run.episodes:
        raise ValueError(f"{run_dir}: {CHECKPOINT} is of episode {state['episode']}")
    return cfg, res, state


def _write_curve(rows: list[dict[str, Any]], path: Path) -> None:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with atomic_write(path, newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)


def _same(a: Any, b: Any) -> bool:
    return math.isclose(float(a), float(b), rel_tol=REL_TOL, abs_tol=1e-12)


def verify(entry: ref.ReferenceEntry, recorded: dict[str, Any]) -> dict[str, Any]:
    """Evaluate the exported policy of ``entry`` on its training instance; raise
    ``AssertionError`` unless it reproduces ``recorded`` (counts exactly, return and delays to
    :data:`REL_TOL`). Returns the new row."""
    from baselines.evaluate import evaluate

    policy = ref.load_entry(entry)
    cfg = policy.learner.cfg
    with threadpool_limits(limits=1, user_api="blas"):  # as the training's evaluation
        (row,) = evaluate(
            policy,
            make_env_config(cfg),
            seeds=[entry.seed],
            beamformer=cfg.run.beamformer,
            **policy.env_kwargs,
        )
    bad = [k for k in COUNTS if row[k] != recorded[k]]
    bad += [
        k
        for k in ("return", "total_delay_s", "migration_delay_s", "broadcast_delay_s")
        if not _same(row[k], recorded[k])
    ]
    if bad:
        diff = {k: (recorded[k], row[k]) for k in bad}
        raise AssertionError(f"{entry.name}: the exported policy does not reproduce {diff}")
    return row


def export_run(run_dir: Path, check: bool = True) -> ref.ReferenceEntry:
    """Export the finished run in ``run_dir`` (module docstring); ``check``: evaluate the
    exported policy again before it enters the index."""
    run_dir = Path(run_dir)
    cfg, res, state = _read_run(run_dir)
    run = cfg.run
    rows = [r for r in res["eval_rows"] if r["seed"] == run.seed and r["episode"] == 0]
    if not rows:
        raise ValueError(
            f"{run_dir}: evaluated on instances {run.eval_seeds}, not on its training "
            f"instance {run.seed}"
        )
    recorded = rows[0]
    trained = cfg.replace(eval_seeds=None)  # what was learned, whatever it was evaluated on
    options = {k: v for k, v in trained.changes().items() if k not in ref.NOT_OPTIONS}
    digest = trained.digest()
    name = f"{run.algo}-{run.scenario}-seed{run.seed}-{digest}"
    entry = ref.ReferenceEntry(
        name=name,
        algo=run.algo,
        scenario=run.scenario,
        overrides=json.loads(json.dumps(run.overrides)),
        seed=int(run.seed),
        episodes=int(run.episodes),
        options=json.loads(json.dumps(options)),
        digest=digest,
        episode_return=float(recorded["return"]),
        total_delay_s=float(recorded["total_delay_s"]),
        qos_infeasible_pbs=int(recorded["qos_infeasible_pbs"]),
        undelivered_pbs=int(recorded["undelivered_pbs"]),
    )
    modules = state["best"]["modules"] if state.get("best") else state["learner"]["modules"]
    acting = LEARNERS[run.algo].acting_modules
    policy = {"dims": dict(state["dims"]), "modules": {k: modules[k] for k in acting}}
    folder = entry.path
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_write(folder / ref.POLICY, "wb") as fh:
        torch.save(policy, fh)
    shipped = cfg.replace(output=OutputConfig())  # not the machine's run directory
    atomic_write_text(folder / ref.CONFIG, json.dumps(shipped.to_json(), indent=1))
    _write_curve(res["curve"], folder / ref.CURVE)
    atomic_write_text(folder / ref.EVAL, json.dumps(res["eval_rows"], indent=1))
    if check:
        verify(entry, recorded)
    with _index_lock(ref.REFERENCE_DIR):
        entries = [e for e in ref._read_index(ref.REFERENCE_DIR) if e["name"] != name]
        entries.append(entry.to_json())
        entries.sort(key=lambda e: (e["algo"], e["scenario"], e["seed"], e["episodes"], e["name"]))
        index = {"schema": ref.INDEX_SCHEMA, "entries": entries}
        atomic_write_text(ref.REFERENCE_DIR / ref.INDEX, json.dumps(index, indent=1) + "\n")
    return entry


def _finished(run_dir: Path, cfg: TrainConfig) -> bool:
    try:
        res = json.loads((run_dir / "result.json").read_text())
    except (OSError, ValueError):
        return False
    done = TrainConfig.from_json(res["config"]).digest() == cfg.digest()
    return done and len(res.get("curve") or []) == cfg.run.episodes


def build(
    algos: Sequence[str],
    seeds: Sequence[int],
    scenario: str = "paper",
    episodes: int | None = None,
    runs: Path = Path("runs/reference"),
    overrides: dict[str, Any] | None = None,
    hp: dict[str, Any] | None = None,
    progress: bool = True,
) -> list[ref.ReferenceEntry]:
    """Train every (algorithm, seed) with the current defaults (and ``hp``) into
    ``runs/<algo>-<scenario>-seed<seed>-<digest>`` unless finished there, resuming a killed
    run from its checkpoint, and export each. Returns the entries in order."""
    base = TrainConfig().replace(scenario=scenario, overrides=dict(overrides or {}), **(hp or {}))
    if episodes is not None:
        base = base.replace(episodes=int(episodes))
    jobs = [base.replace(algo=a, seed=int(s)) for a in algos for s in seeds]
    out = []
    for i, cfg in enumerate(jobs, 1):
        run_dir = Path(runs) / f"{cfg.run.algo}-{scenario}-seed{cfg.run.seed}-{cfg.digest()}"
        print(f"[{i}/{len(jobs)}] {cfg.label} seed {cfg.run.seed}: {run_dir}", flush=True)
        if not _finished(run_dir, cfg):
            resume = (run_dir / CHECKPOINT).exists()
            train(cfg.replace(out=run_dir, progress=progress, resume=resume))
        entry = export_run(run_dir)
        print(
            f"  exported {entry.name}: return {entry.episode_return:.2f}, delay "
            f"{entry.total_delay_s:.4f} s, QoS-infeasible {entry.qos_infeasible_pbs}, "
            f"undelivered {entry.undelivered_pbs}",
            flush=True,
        )
        out.append(entry)
    return out
