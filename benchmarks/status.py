"""``fgamcd-bench status``: how far a benchmark has got, read from ``--out`` without running it.

A full-budget figure runs for hours and its trainings run inside worker processes, so the cell
bar of ``run`` says little until a cell ends. ``status`` reads what ``run`` leaves on disk, from a
second terminal or after a kill:

- per figure, the finished cells of the selected grid, per method;
- every unfinished training in ``<out>/_policies`` (the cache all figures share): ``running``
  if a process holds its lock, else ``stopped`` (the next ``run`` that needs it resumes from its
  checkpoint), with the episodes logged, the recent seconds per episode and the time left at
  that pace; finished trainings are counted.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from benchmarks.methods import is_locked
from benchmarks.runner import Cell, at_points, method_of, plan, read_cell, selected

RECENT_EPISODES = 50  # the pace of a training is its mean wall time over these last episodes


@dataclass(frozen=True)
class TrainingStatus:
    """One training of the policy cache ``<out>/_policies/<key>``."""

    key: str
    algo: str
    seed: int | None
    overrides: dict[str, Any]
    episodes: int | None  # budget, from its config.json
    logged: int  # episodes in its log.csv
    state: str  # "finished", "running" or "stopped"
    s_per_episode: float | None  # mean wall time of the last RECENT_EPISODES logged episodes
    last_delay_s: float | None  # total delay of the last logged (exploring) episode

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the recent pace (None when finished or unknown)."""
        if self.state == "finished" or self.s_per_episode is None or self.episodes is None:
            return None
        return max(self.episodes - self.logged, 0) * self.s_per_episode


def _log_tail(path: Path) -> tuple[int, float | None, float | None]:
    """(episodes logged, mean wall_s of the recent ones, last total_delay_s) of a log.csv."""
    try:
        with path.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
    except OSError:
        return 0, None, None
    walls = [float(r["wall_s"]) for r in rows[-RECENT_EPISODES:] if r.get("wall_s")]
    last = rows[-1].get("total_delay_s") if rows else None
    return (len(rows), sum(walls) / len(walls) if walls else None, float(last) if last else None)


def trainings(out: Path) -> list[TrainingStatus]:
    """Every training directory of ``<out>/_policies``, by key."""
    root = Path(out) / "_policies"
    found = []
    for run_dir in sorted(p for p in root.glob("*") if p.is_dir()):
        try:
            cfg = json.loads((run_dir / "config.json").read_text())
        except (OSError, ValueError):
            cfg = {}
        logged, pace, last = _log_tail(run_dir / "log.csv")
        if (run_dir / "bench_result.json").exists():
            state = "finished"
        elif is_locked(run_dir.with_name(run_dir.name + ".lock")):
            state = "running"
        else:
            state = "stopped"
        found.append(
            TrainingStatus(
                key=run_dir.name,
                algo=str(cfg.get("algo", "?")),
                seed=cfg.get("seed"),
                overrides=dict(cfg.get("overrides") or {}),
                episodes=cfg.get("episodes"),
                logged=logged,
                state=state,
                s_per_episode=pace,
                last_delay_s=last,
            )
        )
    return found


def cell_counts(
    cells: Iterable[Cell], methods: Sequence[str] | None, points: Sequence[float] | None
) -> dict[str, tuple[int, int]]:
    """Finished and selected cells per method label, in grid order."""
    done: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for c in cells:
        if at_points(c, points) and selected(c, methods):
            m = str(method_of(c) or "-")
            total[m] += 1
            done[m] += read_cell(c.path) is not None
    return {m: (done[m], n) for m, n in total.items()}


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def format_training(t: TrainingStatus) -> str:
    ov = json.dumps(t.overrides, sort_keys=True) if t.overrides else "defaults"
    parts = [
        f"{t.key}  {t.algo:<8} seed {t.seed}  {ov}  {t.state:<7}",
        f"episode {t.logged}/{t.episodes if t.episodes is not None else '?'}",
    ]
    if t.s_per_episode is not None:
        parts.append(f"{t.s_per_episode:.2f} s/episode")
    if t.eta_s is not None and t.state == "running":
        parts.append(f"about {_duration(t.eta_s)} left")
    if t.last_delay_s is not None:
        parts.append(f"last episode's delay {t.last_delay_s:.3f} s")
    return ", ".join(parts)


def status(
    names: Iterable[str | ModuleType],
    out: str | Path = "results",
    quick: bool = False,
    seeds: int | None = None,
    methods: Sequence[str] | None = None,
    episodes: int | None = None,
    points: Sequence[float] | None = None,
) -> str:
    """The status report of ``fgamcd-bench status`` (the grid is chosen as for ``run``)."""
    out = Path(out).resolve()
    _, grids = plan(names, out, quick, seeds, methods, episodes, points)
    lines = []
    for name, cells in grids.items():
        counts = cell_counts(cells, methods, points)
        done, total = sum(d for d, _ in counts.values()), sum(n for _, n in counts.values())
        per = ", ".join(f"{m} {d}/{n}" for m, (d, n) in counts.items())
        lines.append(f"{name}: {done}/{total} cells done" + (f" ({per})" if per else ""))
    runs = trainings(out)
    unfinished = [t for t in runs if t.state != "finished"]
    lines.append(
        f"trainings in {out / '_policies'} (all figures): "
        f"{len(runs) - len(unfinished)} finished, {len(unfinished)} not"
    )
    lines += ["  " + format_training(t) for t in unfinished]
    return "\n".join(lines)
