"""``fgamcd-bench estimate``: the CPU-hours of figure grids, from what finished work cost.

A cell stands for a unit of *work*, which the caches share across cells and figures:

- a training (``method`` maasn-da / qmix-da with ``episodes``), keyed as in the policy cache
  (``<out>/_policies/<key>``), so Fig. 7's MAASN-DA and the sweeps' default point are one;
- a baseline's evaluation at a sweep point (``method`` and ``overrides``), keyed as in
  ``<out>/_evals``;
- anything else: the cell itself.

Each unit is counted once, under the first figure (in ``fgamcd-bench list`` order) whose grid
needs it; the other cells that need it are "shared". Costs are seconds of one worker (the
runner gives each worker one BLAS thread), read from ``<out>``:

- done work is **measured**: a finished cell's ``wall_s``, or its rows' ``method_wall_s`` (the
  training's or evaluation's time when it was computed, also when the cell found it cached), a
  training's ``bench_result.json``, a cached evaluation's rows;
- a training not done costs ``first + pace * (E - 1) + evaluation`` for its budget ``E``: the
  per-episode ``wall_s`` of the training logs (``log.csv``, also of unfinished trainings) give
  the first episode (cold: every beamforming solve is new), the pace of the others (weighted by
  their number, so a long log outweighs a short measurement) and the final evaluation; a
  training with no log counts its total as ``E`` equal episodes. An unfinished training has
  ``pace * (E - logged) + evaluation`` left;
- other work not done costs the mean of the measured work of its kind, taken from the nearest
  of: **same point** (the same kind at the same scenario point: another seed or budget; for
  cells without a point, the same spec but the seed), **same figure** (the same kind in the
  same figure, at other points: costs grow with N, U and M, so this is rough),
  **other figures** (the same method elsewhere); with nothing measured it is **unknown** and
  counts as 0.

These are wall times of a worker that had a core to itself only if the machine was not
overloaded: the cell files also hold the CPU time, and the estimate prints the measured cells'
CPU seconds per wall second (below 1, the measured costs overstate a dedicated core's).

``measure`` (``fgamcd-bench estimate ... --measure``) first runs one sample cell per (figure,
kind) that has nothing at "same figure" or nearer: the middle one of its unfinished cells in
grid order, a training with ``measure_episodes`` episodes (its own cell, beside the grid's). The
other samples are grid cells, so their time is not lost.
"""

from __future__ import annotations

import csv
import json
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from benchmarks import figures
from benchmarks.methods import (
    LEARNED,
    LEARNED_FORMS,
    METHODS,
    AgentsUnavailableError,
    canonical_overrides,
    eval_key,
    policy_key,
    stable_hash,
    train_defaults_digest,
    train_options_of,
    train_run_of,
)
from benchmarks.runner import (
    Cell,
    RunReport,
    at_points,
    cell_key,
    make_cell,
    plan,
    run_cells,
    selected,
)

SOURCES = ("measured", "same point", "same figure", "other figures", "unknown")
MEASURE_EPISODES = 3  # a measured training: one cold episode, then two for the pace


@dataclass(frozen=True)
class Work:
    """What a cell computes: ``key`` is shared by every cell computing the same thing."""

    key: str
    kind: str  # method, Fig. 7 variant, or the figure's own label
    point: str  # same kind, same point: another seed (or budget) of the same computation
    family: bool  # whether the kind means the same across figures (methods and trainings)
    episodes: int | None = None  # the training budget (trainings only)
    policy: str | None = None  # the policy cache key (trainings only)

    @property
    def trains(self) -> bool:
        return self.episodes is not None


@dataclass
class TrainLog:
    """What a training's files say about its cost."""

    first_s: float | None = None  # the first (cold) episode
    pace_s: float | None = None  # mean of the later episodes
    paced: int = 0  # how many later episodes
    eval_s: float | None = None  # the final evaluation
    logged: int = 0  # episodes in the log


@dataclass
class Sample:
    """Measured cost of one unit of work, and the figures whose cells need it."""

    work: Work
    cost_s: float | None = None  # done: the whole cost
    log: TrainLog | None = None
    figures: set[str] = field(default_factory=set)


@dataclass
class Estimate:
    """One unit of work of a grid: its cost, what is left of it, and where the number is from."""

    work: Work
    figure: str
    cell: Cell
    cost_s: float
    left_s: float
    source: str


@dataclass
class FigureEstimate:
    name: str
    cells: int = 0
    done: int = 0  # cells whose work is done
    cost_s: float = 0.0
    left_s: float = 0.0
    sources: Counter[str] = field(default_factory=Counter)  # cells by source, and "shared"


@dataclass
class GridEstimate:
    out: Path
    figures: dict[str, FigureEstimate]
    units: list[Estimate]
    kinds: dict[str, str]  # kind -> its kind-wide cost model, in words
    cpu_per_wall: float | None = None  # of the finished cells that recorded their CPU time

    @property
    def cost_s(self) -> float:
        return sum(f.cost_s for f in self.figures.values())

    @property
    def left_s(self) -> float:
        return sum(f.left_s for f in self.figures.values())


# ----------------------------------------------------------------------------- work units
def work_of(figure: str, spec: dict[str, Any], cell_key: str) -> Work:
    """The unit of work a cell of ``figure`` with ``spec`` stands for."""
    method = spec.get("method")
    kind = str(spec.get("variant", method) or figure)
    scenario = spec.get("scenario", "paper")
    if method in LEARNED and spec.get("policy") == "reference":  # evaluates, never trains
        ov = canonical_overrides(scenario, spec.get("overrides") or {})
        key = stable_hash(["reference", method, scenario, ov, spec.get("seed")])
        return Work(f"ref:{key}", f"{kind} (reference)", stable_hash(["ref", kind, scenario]), True)
    if method in LEARNED and "episodes" in spec:
        ov = canonical_overrides(scenario, spec.get("overrides") or {})
        algo, form_options, _ = LEARNED_FORMS[method]  # tdma_maasn shares MAASN-DA's training
        options = {**form_options, **(spec.get("train") or {})}
        episodes = int(spec["episodes"])
        seed = int(spec["seed"])
        try:
            pkey = policy_key(algo, scenario, ov, seed, episodes, options)
        except AgentsUnavailableError:
            pkey = stable_hash([algo, scenario, ov, seed, episodes, options])
        point = stable_hash(["train", training_kind(algo, options), scenario, ov])
        return Work(f"train:{pkey}", kind, point, True, episodes, pkey)
    if method in METHODS and "overrides" in spec:
        ov = canonical_overrides(scenario, spec["overrides"])
        key = eval_key(method, scenario, ov, int(spec.get("seed", 0)))
        return Work(f"eval:{key}", kind, stable_hash(["eval", kind, scenario, ov]), True)
    rest = {k: v for k, v in spec.items() if k != "seed"}
    label = figure if kind == figure else f"{figure} {kind}"  # e.g. "table3 sdp_dc"
    return Work(f"cell:{figure}:{cell_key}", label, stable_hash(["cell", figure, rest]), False)


def training_kind(algo: str, options: dict[str, Any]) -> str:
    """A training's kind: its algorithm, or the Fig. 7 variant its switches make."""
    if not options:
        return algo
    from benchmarks.figures.fig07_learning import VARIANTS

    want = stable_hash([algo, options])
    for variant, (a, switches) in VARIANTS.items():
        if stable_hash([a, switches]) == want:
            return variant
    return f"{algo} {json.dumps(options, sort_keys=True)}"


# ----------------------------------------------------------------------------- reading <out>
def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def read_log(run_dir: Path) -> TrainLog:
    """First episode, pace and evaluation time of a training directory."""
    walls: list[float] = []
    try:
        with (run_dir / "log.csv").open(newline="") as fh:
            walls = [float(r["wall_s"]) for r in csv.DictReader(fh) if r.get("wall_s")]
    except (OSError, ValueError, KeyError):
        pass
    log = TrainLog(logged=len(walls))
    if walls:
        log.first_s = walls[0]
    if len(walls) > 1:
        log.pace_s, log.paced = sum(walls[1:]) / (len(walls) - 1), len(walls) - 1
    result = _read_json(run_dir / "result.json")
    if isinstance(result, dict) and result.get("eval_wall_s") is not None:
        log.eval_s = float(result["eval_wall_s"])
    return log


def _cell_cost(payload: dict[str, Any], work: Work) -> float:
    """A finished cell's measure of its work: the largest of its own time and the time its
    rows say their training or evaluation took (per row for evaluations, whole for trainings)."""
    wall = float(payload.get("wall_s") or 0.0)
    times = [
        float(r["method_wall_s"])
        for r in payload.get("rows", [])
        if isinstance(r, dict) and isinstance(r.get("method_wall_s"), (int, float))
    ]
    if not times:
        return wall
    return max(wall, max(times) if work.trains else sum(times))


def cpu_per_wall(out: Path) -> float | None:
    """CPU seconds per wall second of the finished cells under ``out`` that record both."""
    cpu = wall = 0.0
    for path in Path(out).glob("*/cells/*.json"):
        payload = _read_json(path)
        if isinstance(payload, dict) and isinstance(payload.get("cpu_s"), (int, float)):
            cpu += float(payload["cpu_s"])
            wall += float(payload.get("wall_s") or 0.0)
    return cpu / wall if wall > 0 else None


def collect(out: Path, wanted: dict[str, Work]) -> dict[str, Sample]:
    """Samples keyed by work key, from every cell file under ``out``, the policy cache and the
    evaluation cache. ``wanted`` (the grid's work) says what cache entries stand for."""
    samples: dict[str, Sample] = {}

    def add(work: Work, cost: float | None, figure: str | None) -> Sample:
        s = samples.setdefault(work.key, Sample(work))
        if cost is not None:
            s.cost_s = cost if s.cost_s is None else max(s.cost_s, cost)
        if figure:
            s.figures.add(figure)
        return s

    defaults: str | None = None  # train_defaults_digest(), once a reference cell needs it
    for path in sorted(Path(out).glob("*/cells/*.json")):
        payload = _read_json(path)
        if not isinstance(payload, dict) or not isinstance(payload.get("spec"), dict):
            continue
        if payload["spec"].get("policy") == "reference":  # done only for the shipped policy
            defaults = defaults or train_defaults_digest()
            try:
                if path.stem != cell_key(payload["spec"], defaults):
                    continue
            except (ValueError, KeyError, TypeError):
                continue
        figure = str(payload.get("figure") or path.parent.parent.name)
        try:
            work = work_of(figure, payload["spec"], str(payload.get("key") or path.stem))
        except (ValueError, KeyError, TypeError):  # a spec of an older grid or a removed preset
            continue
        add(work, _cell_cost(payload, work), figure)

    by_policy = {w.policy: w for w in wanted.values() if w.policy}
    by_policy |= {s.work.policy: s.work for s in samples.values() if s.work.policy}
    for run_dir in sorted(p for p in (Path(out) / "_policies").glob("*") if p.is_dir()):
        work = by_policy.get(run_dir.name) or _work_of_training(run_dir)
        if work is None:
            continue
        done = _read_json(run_dir / "bench_result.json")
        cost = float(done["wall_s"]) if isinstance(done, dict) and "wall_s" in done else None
        add(work, cost, None).log = read_log(run_dir)

    by_eval = {w.key: w for w in wanted.values() if w.key.startswith("eval:")}
    for path in sorted((Path(out) / "_evals").glob("*.json")):
        work = by_eval.get(f"eval:{path.stem}")
        payload = _read_json(path)
        if work is None or not isinstance(payload, dict):
            continue
        times = [r.get("method_wall_s") for r in payload.get("rows", []) if isinstance(r, dict)]
        if times and all(isinstance(t, (int, float)) for t in times):
            add(work, float(sum(times)), None)
    return samples


def _work_of_training(run_dir: Path) -> Work | None:
    """The work a policy-cache directory holds, from its ``config.json`` (None if unreadable)."""
    cfg = _read_json(run_dir / "config.json")
    if not isinstance(cfg, dict):
        return None
    try:
        options = train_options_of(cfg)
        run = train_run_of(cfg)
        ov = canonical_overrides(run.scenario, run.overrides)
    except (AgentsUnavailableError, ValueError, TypeError, KeyError):
        return None
    kind = training_kind(run.algo, options)
    point = stable_hash(["train", kind, run.scenario, ov])
    return Work(f"train:{run_dir.name}", kind, point, True, int(run.episodes), run_dir.name)


# ----------------------------------------------------------------------------- the model
def _mean(values: Iterable[float]) -> float | None:
    vals = list(values)
    return sum(vals) / len(vals) if vals else None


def train_model(samples: Sequence[Sample]) -> TrainLog | None:
    """Pooled first episode, pace and evaluation of trainings; None if none says anything."""
    logs = [s.log for s in samples if s.log is not None and s.log.logged]
    paced = [lg for lg in logs if lg.paced]
    if paced:
        n = sum(lg.paced for lg in paced)
        model = TrainLog(
            first_s=_mean(lg.first_s for lg in logs if lg.first_s is not None),
            pace_s=sum(lg.pace_s * lg.paced for lg in paced) / n,  # type: ignore[operator]
            paced=n,
            eval_s=_mean(lg.eval_s for lg in logs if lg.eval_s is not None),
        )
        return model
    totals = [
        (s.cost_s, s.work.episodes) for s in samples if s.cost_s is not None and s.work.episodes
    ]
    if not totals:
        return None
    n = sum(e for _, e in totals)
    return TrainLog(first_s=None, pace_s=sum(c for c, _ in totals) / n, paced=n, eval_s=None)


def train_cost(model: TrainLog, episodes: int) -> float:
    first = model.first_s if model.first_s is not None else model.pace_s or 0.0
    return first + (model.pace_s or 0.0) * (episodes - 1) + (model.eval_s or 0.0)


def _levels(work: Work, figure: str, samples: dict[str, Sample]) -> Iterable[tuple[str, list]]:
    """Other samples of the same kind, from the nearest level out."""
    same_kind = [
        s
        for k, s in samples.items()
        if k != work.key and s.work.kind == work.kind and s.work.trains == work.trains
    ]
    yield "same point", [s for s in same_kind if s.work.point == work.point]
    yield "same figure", [s for s in same_kind if figure in s.figures]
    if work.family:
        yield "other figures", same_kind


def estimate_work(work: Work, figure: str, samples: dict[str, Sample]) -> tuple[float, float, str]:
    """(cost, left, source) of one unit of work of ``figure``."""
    mine = samples.get(work.key)
    if mine is not None and mine.cost_s is not None:
        return mine.cost_s, 0.0, "measured"
    if not work.trains:
        for source, found in _levels(work, figure, samples):
            costs = [s.cost_s for s in found if s.cost_s is not None]
            if costs:
                cost = sum(costs) / len(costs)
                return cost, cost, source
        return 0.0, 0.0, "unknown"
    # an unfinished training's own log counts at every level (it is the same point)
    partial = mine.log if mine is not None and mine.log is not None and mine.log.logged else None
    for source, found in _levels(work, figure, samples):
        model = train_model([*found, *([mine] if partial else [])])
        if model is None:
            continue
        episodes = int(work.episodes or 0)
        if partial is None:
            cost = train_cost(model, episodes)
            return cost, cost, source
        ran = (partial.first_s or 0.0) + (partial.pace_s or 0.0) * partial.paced
        left = (model.pace_s or 0.0) * max(episodes - partial.logged, 0) + (model.eval_s or 0.0)
        return ran + left, left, source
    return 0.0, 0.0, "unknown"


def describe_kind(kind: str, samples: Sequence[Sample]) -> str:
    """The kind-wide cost model, in words."""
    trains = [s for s in samples if s.work.trains]
    if trains:
        model = train_model(trains)
        if model is None:
            return "no measurement"
        n = len([s for s in trains if s.log is not None and s.log.logged] or trains)
        parts = []
        if model.first_s is not None:
            parts.append(f"first episode {model.first_s:.1f} s")
        parts.append(f"{model.pace_s:.2f} s/episode over {model.paced:,} episodes")
        if model.eval_s is not None:
            parts.append(f"evaluation {model.eval_s:.1f} s")
        return ", ".join(parts) + f" ({n} training{'s' * (n != 1)})"
    costs = [s.cost_s for s in samples if s.cost_s is not None]
    if not costs:
        return "no measurement"
    return f"{sum(costs) / len(costs):.1f} s per cell (mean of {len(costs)})"


# ----------------------------------------------------------------------------- estimate
def estimate(
    names: Iterable[str | ModuleType],
    out: str | Path = "results",
    quick: bool = False,
    seeds: int | None = None,
    methods: Sequence[str] | None = None,
    episodes: int | None = None,
    points: Sequence[float] | None = None,
) -> GridEstimate:
    """CPU-seconds of the selected grid (chosen as for ``run``), per figure and in total."""
    out = Path(out).resolve()
    mods, grids = plan(names, out, quick, seeds, methods, episodes, points)
    order: list[tuple[str, Cell, Work]] = []
    for m in mods:
        for c in grids[m.NAME]:
            if at_points(c, points) and selected(c, methods):
                order.append((m.NAME, c, work_of(m.NAME, c.spec, c.key)))
    wanted = {w.key: w for _, _, w in order}
    samples = collect(out, wanted)
    need: dict[str, set[str]] = defaultdict(set)
    for fig, _, w in order:
        need[fig].add(w.key)
    for key, s in samples.items():
        s.figures |= {fig for fig, keys in need.items() if key in keys}

    result = GridEstimate(
        out, {m.NAME: FigureEstimate(m.NAME) for m in mods}, [], {}, cpu_per_wall(out)
    )
    owned: set[str] = set()
    for fig, cell, work in order:
        fe = result.figures[fig]
        fe.cells += 1
        sample = samples.get(work.key)
        if sample is not None and sample.cost_s is not None:
            fe.done += 1
        if work.key in owned:
            fe.sources["shared"] += 1
            continue
        owned.add(work.key)
        cost, left, source = estimate_work(work, fig, samples)
        fe.cost_s += cost
        fe.left_s += left
        fe.sources[source] += 1
        result.units.append(Estimate(work, fig, cell, cost, left, source))
    by_kind: dict[str, list[Sample]] = defaultdict(list)
    for s in samples.values():
        by_kind[s.work.kind].append(s)
    for kind in dict.fromkeys(u.work.kind for u in result.units):
        result.kinds[kind] = describe_kind(kind, by_kind.get(kind, []))
    return result


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:,.2f}"


def format_estimate(est: GridEstimate) -> str:
    """The table of ``fgamcd-bench estimate``: per figure, a total, the cost models."""
    head = ("figure", "cells", "done", "CPU-h", "left CPU-h", "source (cells)")
    rows = []
    for fe in est.figures.values():
        src = ", ".join(f"{fe.sources[s]} {s}" for s in (*SOURCES, "shared") if fe.sources[s])
        rows.append(
            (fe.name, str(fe.cells), str(fe.done), _hours(fe.cost_s), _hours(fe.left_s), src)
        )
    total = Counter[str]()
    for fe in est.figures.values():
        total.update(fe.sources)
    rows.append(
        (
            "total",
            str(sum(f.cells for f in est.figures.values())),
            str(sum(f.done for f in est.figures.values())),
            _hours(est.cost_s),
            _hours(est.left_s),
            ", ".join(f"{total[s]} {s}" for s in (*SOURCES, "shared") if total[s]),
        )
    )
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]

    def line(r: Sequence[str]) -> str:
        cols = [
            r[0].ljust(widths[0]),
            *(v.rjust(w) for v, w in zip(r[1:5], widths[1:5], strict=True)),
        ]
        return "  ".join([*cols, r[5]]).rstrip()

    lines = [
        f"CPU-hours from the costs measured in {est.out} (one core per cell):",
        "",
        line(head),
        *(line(r) for r in rows),
        "",
    ]
    left = [u for u in est.units if u.left_s > 0]
    if left:
        u = max(left, key=lambda e: e.left_s)
        lines.append(
            f"longest unit left: {u.figure} {u.work.kind} "
            f"{json.dumps(_short(u.cell.spec), sort_keys=True)}: "
            f"{u.left_s / 3600:.2f} h ({u.source}); on W workers the rest takes at least "
            "max(left CPU-h / W, this)"
        )
    unknown = [u for u in est.units if u.source == "unknown"]
    if unknown:
        kinds = ", ".join(dict.fromkeys(u.work.kind for u in unknown))
        lines.append(
            f"unknown: {len(unknown)} unit(s) of kinds with nothing measured ({kinds}), "
            "counted as 0; `--measure` runs one sample per kind and figure"
        )
    r = est.cpu_per_wall
    if r is not None:
        lines.append(f"the measured cells used {r:.2f} CPU-s per wall-s")
        if r < 0.9:
            lines[-1] += (
                f": they shared their cores, so their costs overstate a core of their own by up "
                f"to {1 / r:.1f}x; scaled by {r:.2f}, the grid is {_hours(r * est.cost_s)} "
                f"CPU-h ({_hours(r * est.left_s)} left)"
            )
    lines += ["", "cost per kind (all measurements of the kind):"]
    width = max((len(k) for k in est.kinds), default=0)
    lines += [f"  {k.ljust(width)}  {v}" for k, v in est.kinds.items()]
    return "\n".join(lines)


def _short(spec: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in spec.items() if k not in ("figure", "scenario", "overrides")}


# ----------------------------------------------------------------------------- measure
def samples_to_measure(est: GridEstimate, measure_episodes: int = MEASURE_EPISODES) -> list[Cell]:
    """One cell per (figure, kind) with nothing measured at "same figure" or nearer: the middle
    unfinished one in grid order; a training with ``measure_episodes`` episodes."""
    groups: dict[tuple[str, str], list[Estimate]] = defaultdict(list)
    for u in est.units:
        groups[(u.figure, u.work.kind)].append(u)
    cells = []
    defaults: str | None = None
    for (fig, _), units in groups.items():
        if any(u.source in ("measured", "same point", "same figure") for u in units):
            continue
        u = units[len(units) // 2]
        if u.work.trains:
            defaults = defaults or train_defaults_digest()
            module = figures.get(fig)
            spec = {**u.cell.spec, "episodes": int(min(measure_episodes, u.work.episodes))}
            cells.append(make_cell(module, est.out, spec, defaults))
        else:
            cells.append(u.cell)
    return cells


def measure(
    names: Iterable[str | ModuleType],
    out: str | Path = "results",
    quick: bool = False,
    seeds: int | None = None,
    methods: Sequence[str] | None = None,
    episodes: int | None = None,
    points: Sequence[float] | None = None,
    workers: int | None = None,
    ray_address: str | None = None,
    progress: bool = True,
    measure_episodes: int = MEASURE_EPISODES,
) -> tuple[GridEstimate, RunReport]:
    """Run :func:`samples_to_measure`'s cells, then estimate again."""
    import os

    if measure_episodes < 2:
        raise ValueError(f"measure_episodes={measure_episodes}: need 2 or more for a pace")
    grid = dict(quick=quick, seeds=seeds, methods=methods, episodes=episodes, points=points)
    est = estimate(names, out, **grid)
    todo = samples_to_measure(est, measure_episodes)
    workers = (os.cpu_count() or 1) if workers is None else int(workers)
    t0 = time.perf_counter()
    report = run_cells(todo, est.out, workers, ray_address, progress)
    report.wall_s = time.perf_counter() - t0
    return estimate(names, out, **grid), report
