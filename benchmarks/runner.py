"""Resumable, parallel runner of the benchmark figure modules (``benchmarks/figures/``).

A cell is one spec of ``module.cells(quick, seeds)``; its identity is ``stable_hash(spec)``, and
for a learned method's cell also the digest of ``TrainConfig``'s defaults (a changed default
trains a new policy, so it reruns the cell) and, where it evaluates a shipped reference policy,
the policy's fingerprint (:func:`cell_key`). A finished cell is stored atomically (temporary
file + ``os.replace``, by the driver) as ``<out>/<NAME>/cells/<hash>.json`` holding the spec,
its rows, its wall and CPU time and where it ran; re-running skips cells whose file exists, so a
kill loses at most the cells in flight, and a failed cell is simply tried again next time (its
spec and traceback are kept in ``<hash>.error.txt`` meanwhile).

Cells run

- in a local ``ProcessPoolExecutor`` (``workers``, default: CPU count; ``spawn`` processes, one
  BLAS/OpenMP thread each so N workers use N cores; ``workers=0`` runs them in this process), at
  most ``workers`` at a time, so a worker that dies (killed, segfault) takes down only the cells
  in flight: those are retried one at a time in a fresh pool, and the one that dies alone is
  reported as failed. Ctrl-C or SIGTERM stops the run: workers ignore SIGINT and get one SIGTERM
  from the driver, on which a training finishes its episode and checkpoints it
  (``agents.train``); workers still running after ``STOP_GRACE_S`` are killed. If the driver
  dies without a word (SIGKILL, out of memory), each worker gets the same SIGTERM from the
  kernel or from its own watchdog thread and exits, and a guardian process ends what the
  workers started themselves (``benchmarks.orphans``);
- or as Ray tasks (``ray_address``: ``"auto"``, ``"HOST:PORT"``, or ``"local"`` to start an
  embedded instance, watched by ``benchmarks.orphans.Guardian``; an already initialised Ray is
  used as is). Results (rows, wall time, where the cell ran) come back to the driver, which
  writes the cell files. The caches of trained policies and evaluations (``<out>/_policies``,
  ``<out>/_evals``) are written by the workers: at ``<out>`` on every node that sees the
  driver's ``<out>`` (a shared filesystem at the same path, checked per task by a marker file
  the driver writes there), else in a node-local cache (:func:`node_cache`), which the cell
  file and the run's report name. See ``docs/benchmarks-cluster.md``.

After the cells, for every figure the rows of all its finished cells (the whole grid, whatever
``methods`` selected) become ``<out>/<NAME>/<NAME>.csv``; ``plot`` writes the PNGs and
``summary`` ``<out>/<NAME>/summary.md``; ``<out>/<NAME>/meta.json`` records the grid's
completeness. A failing cell, plot or summary is reported with its spec and traceback while the
rest goes on; ``RunReport.ok`` is False then (the CLI exits non-zero).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import importlib
import json
import math
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from types import ModuleType
from typing import Any

from benchmarks import figures
from benchmarks.methods import (
    LEARNED,
    METHODS,
    atomic_write_json,
    jsonable,
    reference_fingerprint,
    set_cache_dir,
    stable_hash,
    train_defaults_digest,
)
from benchmarks.orphans import Guardian, exit_with_parent
from fgamcd_env.atomic import atomic_write

THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
SCALARS = (str, int, float, bool, type(None))
STOP_GRACE_S = 120.0  # after Ctrl-C / SIGTERM, time workers get to checkpoint before a kill
# In <out>, ``<SHARED_MARK>-<token>``: a Ray task that reads the run's token there shares <out>.
SHARED_MARK = ".fgamcd-bench-run"
_IN_POOL_WORKER = False  # True in the processes of _run_pool (set by _init_worker)


class Interrupted(KeyboardInterrupt):
    """The run was stopped by a signal (finished cells are stored; re-running resumes)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class RayUnavailableError(RuntimeError):
    """Ray is not installed, or the cluster at ``ray_address`` cannot be reached."""


@dataclass(frozen=True)
class Cell:
    """One unit of work: a figure module's spec, its hash and its result file."""

    figure: str
    module: str
    spec: dict[str, Any]
    key: str
    path: Path

    def describe(self) -> str:
        return f"{self.figure} cell {self.key} {json.dumps(jsonable(self.spec), sort_keys=True)}"


@dataclass
class FigureStatus:
    name: str
    total: int
    done: int
    csv: Path | None = None
    plots: list[Path] = field(default_factory=list)
    wall_s: float = 0.0


@dataclass
class RunReport:
    """What ``run`` did: cells run / skipped, failures (description, traceback), figures."""

    ran: int = 0
    skipped: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    figures: dict[str, FigureStatus] = field(default_factory=dict)
    wall_s: float = 0.0
    # {host: node-local cache directory} of Ray nodes that did not see <out>
    node_caches: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failures


# ----------------------------------------------------------------------------- planning
def cell_path(out: Path, name: str, key: str) -> Path:
    return Path(out) / name / "cells" / f"{key}.json"


def resolve(names: Iterable[str | ModuleType]) -> list[ModuleType]:
    """Figure modules from NAMEs (``"all"`` = every registered figure) or modules."""
    mods: list[ModuleType] = []
    for n in names:
        if isinstance(n, ModuleType):
            figures.validate(n)
            mods.append(n)
        elif n == "all":
            mods.extend(figures.registry().values())
        else:
            mods.append(figures.get(n))
    return list({m.NAME: m for m in mods}.values())


def grid(
    module: ModuleType, out: Path, quick: bool, seeds: int | None, episodes: int | None = None
) -> list[Cell]:
    """Every cell of the module's grid (validated: JSON-serialisable, tagged with its figure).

    ``episodes`` replaces the training budget of every cell that trains (has ``episodes``).
    """
    if episodes is not None and (
        isinstance(episodes, bool) or int(episodes) != episodes or episodes < 1
    ):
        raise ValueError(f"episodes={episodes!r}: must be a positive integer")
    cells = []
    defaults: str | None = None
    for spec in module.cells(quick, seeds):
        if not isinstance(spec, dict) or spec.get("figure") != module.NAME:
            raise ValueError(
                f"{module.__name__}.cells: spec {spec!r} must be a dict with figure={module.NAME!r}"
            )
        if episodes is not None and "episodes" in spec:
            spec = {**spec, "episodes": int(episodes)}
        try:
            json.dumps(spec, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{module.__name__}.cells: spec {spec!r} is not JSON: {exc}") from exc
        if spec.get("method") in LEARNED:
            defaults = defaults or train_defaults_digest()
        cells.append(make_cell(module, out, spec, defaults))
    keys = [c.key for c in cells]
    if len(set(keys)) != len(keys):
        raise ValueError(f"{module.__name__}.cells returned duplicate specs")
    return cells


def cell_key(spec: dict[str, Any], defaults: str | None) -> str:
    """The key of the cell of ``spec``: its hash, with ``defaults`` (:func:`train_defaults_digest`)
    for a learned method (a new TrainConfig default retrains, so it must rerun the cell too),
    and for a cell of a shipped reference policy also the policy's fingerprint (a retrained
    policy keeps its name and digest)."""
    if spec.get("method") not in LEARNED:
        return stable_hash(spec)
    extra: dict[str, Any] = {"train_defaults": defaults}
    if spec.get("policy") == "reference":
        extra["reference"] = reference_fingerprint(
            spec["method"], spec["scenario"], spec.get("overrides"), int(spec["seed"])
        )
    return stable_hash({**spec, **extra})


def make_cell(module: ModuleType, out: Path, spec: dict[str, Any], defaults: str | None) -> Cell:
    """The cell of ``spec`` (its key: :func:`cell_key`)."""
    key = cell_key(spec, defaults)
    return Cell(module.NAME, module.__name__, spec, key, cell_path(out, module.NAME, key))


def read_cell(path: Path) -> dict[str, Any] | None:
    """The stored result of a cell, or None if absent or unreadable (then it runs again)."""
    try:
        payload = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return payload if isinstance(payload, dict) and isinstance(payload.get("rows"), list) else None


def selectable() -> tuple[str, ...]:
    """Names ``methods`` may hold: the comparison methods and Fig. 7's training variants."""
    from benchmarks.figures.fig07_learning import VARIANTS

    return tuple(dict.fromkeys((*METHODS, *VARIANTS)))


def method_of(cell: Cell) -> str | None:
    """What ``methods`` selects a cell by: its ``variant`` (Fig. 7), else its ``method``."""
    return cell.spec.get("variant", cell.spec.get("method"))


def selected(cell: Cell, methods: Sequence[str] | None) -> bool:
    """``methods`` restricts cells whose :func:`method_of` is one of :func:`selectable`; others
    always run. So ``maasn-da`` selects MAASN-DA itself, not the Fig. 7 ablations that also
    train with ``method="maasn-da"``."""
    m = method_of(cell)
    return methods is None or m not in selectable() or m in methods


def trains(cell: Cell) -> bool:
    """Whether the cell trains a policy (a training budget and no shipped reference policy)."""
    return "episodes" in cell.spec and cell.spec.get("policy") != "reference"


def _x_value(cell: Cell) -> float | None:
    """A sweep cell's numeric x value, None for cells without one."""
    x = cell.spec.get("x")
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else None


def _on(x: float, points: Sequence[float]) -> bool:
    return any(math.isclose(x, p, rel_tol=1e-9, abs_tol=1e-12) for p in points)


def at_points(cell: Cell, points: Sequence[float] | None) -> bool:
    """``points`` restricts cells with an x value (the sweeps') to those x values, compared as
    floats; cells without one always run."""
    x = _x_value(cell)
    return points is None or x is None or _on(x, points)


def plan(
    names: Iterable[str | ModuleType],
    out: Path,
    quick: bool = False,
    seeds: int | None = None,
    methods: Sequence[str] | None = None,
    episodes: int | None = None,
    points: Sequence[float] | None = None,
) -> tuple[list[ModuleType], dict[str, list[Cell]]]:
    """The figure modules and their whole grids, with ``methods`` and ``points`` checked against
    them (the cells to run are those passing :func:`at_points` and :func:`selected`)."""
    mods = resolve(names)
    if not mods:
        raise ValueError("no figure to run")
    if methods is not None:
        unknown = sorted(set(methods) - set(selectable()))
        if unknown:
            raise ValueError(f"unknown methods {unknown}; choose from {list(selectable())}")
    grids = {m.NAME: grid(m, out, quick, seeds, episodes) for m in mods}
    if points is not None:
        have = sorted(
            {x for cells in grids.values() for c in cells if (x := _x_value(c)) is not None}
        )
        missing = [float(p) for p in points if not _on(float(p), have)]
        if missing:
            raise ValueError(
                f"points {[f'{p:g}' for p in missing]} are not on the grid; "
                f"x values: {[f'{h:g}' for h in have] or 'none (no sweep)'}"
            )
    return mods, grids


# ----------------------------------------------------------------------------- execution
def execute(
    module_name: str, spec: dict[str, Any], cache: str | None, token: str | None = None
) -> dict[str, Any]:
    """Worker entry point (top level, picklable): run one cell, never raise.

    Returns ``{"ok": True, "rows": [...], "wall_s": t, "cpu_s": c, "ran_on": {...}}`` or
    ``{"ok": False, "error": tb, ...}``; ``cpu_s`` is the process's CPU time (below ``wall_s``
    when the cell shared its core), ``ran_on`` the host, pid and Ray node id. With a ``token`` (Ray
    tasks) the cache is ``cache`` only if this node sees the driver's marker file there, else
    :func:`node_cache` (then named in the outcome's ``"cache"``).
    """
    t0, c0 = time.perf_counter(), time.process_time()
    where = ran_on()
    extra: dict[str, Any] = {"ran_on": where}
    try:
        if "torch" in sys.modules:  # keep one intra-op thread per worker
            sys.modules["torch"].set_num_threads(1)
        if token is not None and cache is not None and not sees_out(cache, token):
            cache = str(node_cache(cache))
            extra["cache"] = cache
        set_cache_dir(cache)
        module = importlib.import_module(module_name)
        rows = module.run_cell(spec)
        check_rows(rows, module_name)
        return {
            "ok": True,
            "rows": jsonable(rows),
            "wall_s": time.perf_counter() - t0,
            "cpu_s": time.process_time() - c0,
            **extra,
        }
    except Exception:
        return {
            "ok": False,
            "error": traceback.format_exc(),
            "wall_s": time.perf_counter() - t0,
            **extra,
        }
    except KeyboardInterrupt:  # a training checkpointed on the driver's SIGTERM
        if _IN_POOL_WORKER:  # exit now; an idle pool worker would wait for the next cell
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(128 + signal.SIGTERM)
        raise


def provenance() -> dict[str, Any]:
    """What produced a cell: the code's git commit (``+dirty`` with uncommitted changes; None
    outside a git checkout) and the machine (platform, CPU model, cores)."""
    import platform
    import subprocess

    root = project_root()
    commit = None
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        commit = head + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    machine = f"{platform.system()} {platform.machine()}, {cpu}, {os.cpu_count()} cores"
    return {"commit": commit, "machine": machine}


def ran_on() -> dict[str, Any]:
    """Where this process runs: host, pid, and the Ray node id inside a Ray task (else None)."""
    node = None
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ctx = ray.get_runtime_context()
        if ctx.get_task_id() is not None:
            node = ctx.get_node_id()
    return {"host": socket.gethostname(), "pid": os.getpid(), "ray_node": node}


def sees_out(out: str, token: str) -> bool:
    """Whether this node sees the driver's ``out`` (the run's marker file holds ``token``)."""
    try:
        return (Path(out) / f"{SHARED_MARK}-{token}").read_text().strip() == token
    except OSError:
        return False


def node_cache(out: str) -> Path:
    """Node-local cache of a Ray node that does not see the driver's ``out``: under
    ``$XDG_CACHE_HOME`` (default ``~/.cache``), one directory per ``out`` path, so a training
    killed there resumes when the same node gets its cell again."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fgamcd-bench" / stable_hash(str(out))


def check_rows(rows: Any, where: str) -> None:
    """Rows must be a non-empty list of flat dicts of str/int/float/bool/None."""
    if not isinstance(rows, list) or not rows:
        raise TypeError(f"{where}.run_cell must return a non-empty list of dicts: {rows!r:.200}")
    for r in rows:
        if not isinstance(r, dict):
            raise TypeError(f"{where}.run_cell returned a non-dict row {r!r:.200}")
        bad = {
            k: type(v).__name__
            for k, v in r.items()
            if not isinstance(v, SCALARS) and not _is_numpy_scalar(v)
        }
        if bad:
            raise TypeError(f"{where}.run_cell row has non-scalar values {bad}")


def _is_numpy_scalar(v: Any) -> bool:
    np = sys.modules.get("numpy")
    return np is not None and isinstance(v, np.generic)


@contextlib.contextmanager
def single_threaded_env() -> Iterator[dict[str, str]]:
    """Set the BLAS/OpenMP thread variables to 1 (unless set) for child processes; restore."""
    saved = {k: os.environ.get(k) for k in THREAD_VARS}
    for k in THREAD_VARS:
        os.environ.setdefault(k, "1")
    try:
        yield {k: os.environ[k] for k in THREAD_VARS}
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def project_root() -> Path:
    """Directory holding the ``benchmarks`` package (for workers when it is not installed)."""
    return Path(__file__).resolve().parent.parent


def ray_runtime_env() -> dict[str, Any]:
    """Ray ``runtime_env`` for local workers: one BLAS thread and the project on PYTHONPATH."""
    path = os.pathsep.join(p for p in (str(project_root()), os.environ.get("PYTHONPATH")) if p)
    return {"env_vars": {**{k: "1" for k in THREAD_VARS}, "PYTHONPATH": path}}


Outcome = Callable[[Cell, dict[str, Any]], None]


def _run_inline(cells: list[Cell], cache: str, done: Outcome) -> None:
    try:
        for c in cells:
            done(c, execute(c.module, c.spec, cache))
    finally:
        set_cache_dir(None)


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """In the main thread, make SIGTERM raise :class:`Interrupted` (as SIGINT raises
    KeyboardInterrupt) so the pool's workers are stopped, not orphaned; restore on exit."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise Interrupted(signum)

    old = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _init_worker(driver: int) -> None:
    """Pool initializer: Ctrl-C reaches the whole process group, but only the driver acts on
    it, so each worker gets exactly one stop signal (a second one would lose its checkpoint).
    If the driver dies, the worker stops as on the driver's SIGTERM (``exit_with_parent``)."""
    global _IN_POOL_WORKER
    _IN_POOL_WORKER = True
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    exit_with_parent(driver, STOP_GRACE_S)


def _stop_workers(pool: ProcessPoolExecutor, grace_s: float) -> None:
    """SIGTERM every worker, wait up to ``grace_s`` for them to exit, kill the rest."""
    procs = multiprocessing.active_children()
    for p in procs:
        p.terminate()
    deadline = time.monotonic() + grace_s
    try:
        for p in procs:
            p.join(max(0.0, deadline - time.monotonic()))
    finally:  # also on a second Ctrl-C while waiting
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join()
        pool.shutdown(wait=False, cancel_futures=True)


def _run_pool(cells: list[Cell], cache: str, workers: int, done: Outcome) -> None:
    """At most ``workers`` cells in flight. If a worker dies, the pool breaks and every cell in
    flight is lost: a cell lost alone is reported as failed, cells lost together are retried one
    at a time (so the innocent ones finish and the culprit is found) in a fresh pool. On any
    exception here (Ctrl-C, SIGTERM) the workers are stopped before it propagates."""
    queue = list(cells)
    isolate: list[Cell] = []  # suspects, run alone
    ctx = get_context("spawn")
    while queue or isolate:
        pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=ctx,
            initializer=_init_worker,
            initargs=(os.getpid(),),
        )
        running: dict[Future, Cell] = {}
        lost: list[Cell] = []
        try:
            while True:
                source = isolate if isolate else queue
                limit = 1 if isolate else workers
                while source and len(running) < limit and not lost:
                    try:
                        fut = pool.submit(execute, source[0].module, source[0].spec, cache)
                    except BrokenProcessPool:  # a running cell killed the pool meanwhile
                        break
                    running[fut] = source.pop(0)
                if not running:
                    break
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in finished:
                    c = running.pop(fut)
                    try:
                        outcome = fut.result()
                    except BrokenProcessPool:
                        lost.append(c)
                        continue
                    done(c, outcome)
                if lost and not running:
                    break
        except BaseException:
            _stop_workers(pool, STOP_GRACE_S)
            raise
        pool.shutdown(wait=not lost, cancel_futures=True)
        if len(lost) == 1:
            done(
                lost[0],
                {
                    "ok": False,
                    "wall_s": 0.0,
                    "error": (
                        "the worker process running this cell died "
                        "(killed, out of memory or crashed)"
                    ),
                },
            )
        else:
            isolate.extend(lost)


def check_reachable(address: str, timeout_s: float = 10.0) -> None:
    """Fail fast on a ``HOST:PORT`` nobody listens on (``ray.init`` retries it forever)."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or "://" in address:
        return
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise RayUnavailableError(
            f"cannot reach the Ray head at {address} ({exc}); start it with "
            "`ray start --head --port=PORT` (docs/benchmarks-cluster.md)"
        ) from exc


def _run_ray(cells: list[Cell], cache: str, address: str, done: Outcome) -> None:
    try:
        import ray
    except ImportError as exc:
        raise RayUnavailableError("--ray-address needs Ray: pip install 'fgamcd-env[ray]'") from exc
    token = uuid.uuid4().hex
    mark = Path(cache) / f"{SHARED_MARK}-{token}"
    with contextlib.ExitStack() as stack:
        if not ray.is_initialized():
            if address == "local":  # ours: its processes must not outlive this one
                stack.enter_context(Guardian())
            check_reachable(address)
            try:
                ray.init(
                    address=address,  # "local" starts a new instance even if a cluster runs here
                    runtime_env=ray_runtime_env(),
                    include_dashboard=False,
                    log_to_driver=False,
                )
            except ConnectionError as exc:
                raise RayUnavailableError(
                    f"{exc}. Is the cluster up (`ray status --address {address}`)? A cluster "
                    "started with token authentication (Ray's default) also needs "
                    "RAY_AUTH_MODE=token and its token here (~/.ray/auth_token or "
                    "RAY_AUTH_TOKEN): see docs/benchmarks-cluster.md"
                ) from exc
            stack.callback(ray.shutdown)
        mark.parent.mkdir(parents=True, exist_ok=True)
        mark.write_text(token + "\n")
        stack.callback(mark.unlink, missing_ok=True)
        task = ray.remote(num_cpus=1, max_retries=1)(execute)
        refs = {task.remote(c.module, c.spec, cache, token): c for c in cells}
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1)
            for ref in ready:
                c = refs.pop(ref)
                try:
                    outcome = ray.get(ref)
                except Exception:  # task or worker failure (e.g. the worker died)
                    outcome = {"ok": False, "error": traceback.format_exc(), "wall_s": 0.0}
                done(c, outcome)


# ----------------------------------------------------------------------------- assembly
def load_rows(cells: Sequence[Cell]) -> tuple[list[dict[str, Any]], int, float]:
    """Rows of the finished cells (a cell file that cannot be read counts as not finished)."""
    rows, n, wall, _ = load_cells(cells)
    return rows, n, wall


def load_cells(
    cells: Sequence[Cell],
) -> tuple[list[dict[str, Any]], int, float, dict[str, Any]]:
    """Rows, count and summed wall time of the finished cells, and where they came from: the
    commits and machines that made them (with cell counts) and when the first and the last
    finished."""
    rows: list[dict[str, Any]] = []
    n = 0
    wall = 0.0
    commits: dict[str, int] = {}
    machines: dict[str, int] = {}
    finished: list[str] = []
    for c in cells:
        payload = read_cell(c.path)
        if payload is None:
            continue
        n += 1
        wall += float(payload.get("wall_s", 0.0))
        rows.extend(payload["rows"])
        made = payload.get("provenance") or {}
        commit = str(made.get("commit") or "not recorded")
        machine = str(made.get("machine") or "not recorded")
        commits[commit] = commits.get(commit, 0) + 1
        machines[machine] = machines.get(machine, 0) + 1
        if payload.get("finished"):
            finished.append(str(payload["finished"]))
    origin = {
        "commits": commits,
        "machines": machines,
        "first_finished": min(finished, default=None),
        "last_finished": max(finished, default=None),
    }
    return rows, n, wall, origin


def write_csv(rows: list[dict[str, Any]], path: Path) -> Any:
    """Tidy CSV of the rows (columns: union, in first-seen order), atomically; the DataFrame."""
    import pandas as pd

    df = pd.DataFrame(rows)
    with atomic_write(path) as fh:
        df.to_csv(fh, index=False)
    return pd.read_csv(path)


def finish_figure(
    module: ModuleType,
    cells: list[Cell],
    out: Path,
    quick: bool,
    seeds: int | None,
    report: RunReport,
) -> FigureStatus:
    """CSV, plot, summary and meta of one figure from its finished cells."""
    fig_dir = Path(out) / module.NAME
    fig_dir.mkdir(parents=True, exist_ok=True)
    rows, n_done, wall, origin = load_cells(cells)
    status = FigureStatus(module.NAME, len(cells), n_done, wall_s=wall)
    if rows:
        csv_path = fig_dir / f"{module.NAME}.csv"
        df = write_csv(rows, csv_path)
        status.csv = csv_path
        try:
            status.plots = [Path(p) for p in module.plot(df, fig_dir)]
        except Exception:
            report.failures.append((f"{module.NAME}: plot", traceback.format_exc()))
        try:
            text = module.summary(df)
            (fig_dir / "summary.md").write_text(text)
        except Exception:
            report.failures.append((f"{module.NAME}: summary", traceback.format_exc()))
    atomic_write_json(
        fig_dir / "meta.json",
        {
            "name": module.NAME,
            "title": module.TITLE,
            "quick": quick,
            "seeds": seeds,
            "cells_total": len(cells),
            "cells_done": n_done,
            "cells_wall_s": wall,
            "csv": status.csv.name if status.csv else None,
            "plots": [p.name for p in status.plots],
            "updated": _dt.datetime.now().isoformat(timespec="seconds"),
            **origin,
        },
    )
    return status


def run_cells(
    cells: Sequence[Cell],
    out: Path,
    workers: int,
    ray_address: str | None = None,
    progress: bool = True,
    report: RunReport | None = None,
) -> RunReport:
    """Run ``cells`` (finished or not) and store each one that succeeds as its cell file; the
    failures, and the node-local caches of Ray nodes that did not see ``out``, go to ``report``.
    Longest first (learned methods train), so the pool does not end on one long cell."""
    report = RunReport() if report is None else report
    todo = sorted(cells, key=lambda c: c.spec.get("method") not in LEARNED)
    made_by = provenance() if todo else {}
    bar = None
    if progress and todo:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), desc="cells", unit="cell", dynamic_ncols=True)

    def done(cell: Cell, outcome: dict[str, Any]) -> None:
        err = cell.path.with_suffix(".error.txt")
        where = outcome.get("ran_on") or {}
        if outcome.get("cache"):
            report.node_caches[str(where.get("host"))] = outcome["cache"]
        if outcome.get("ok"):
            atomic_write_json(
                cell.path,
                {
                    "figure": cell.figure,
                    "key": cell.key,
                    "spec": cell.spec,
                    "rows": outcome["rows"],
                    "wall_s": outcome["wall_s"],
                    "cpu_s": outcome.get("cpu_s"),
                    "finished": _dt.datetime.now().isoformat(timespec="seconds"),
                    "ran_on": where,
                    "provenance": made_by,
                    **({"cache": outcome["cache"]} if outcome.get("cache") else {}),
                },
            )
            with contextlib.suppress(FileNotFoundError):
                err.unlink()
            report.ran += 1
        else:
            report.failures.append((cell.describe(), outcome["error"]))
            err.parent.mkdir(parents=True, exist_ok=True)
            err.write_text(cell.describe() + "\n\n" + outcome["error"])
        if bar is not None:
            bar.set_postfix(failed=len(report.failures), refresh=False)
            bar.update()

    cache = str(Path(out).resolve())
    try:
        with single_threaded_env(), sigterm_interrupts():
            if not todo:
                pass
            elif ray_address:
                _run_ray(todo, cache, ray_address, done)
            elif workers == 0:
                _run_inline(todo, cache, done)
            else:  # the guardian also ends what the workers start (Table III's SDP helpers)
                with Guardian(grace_s=STOP_GRACE_S):
                    _run_pool(todo, cache, min(workers, len(todo)), done)
    finally:
        if bar is not None:
            bar.close()
    return report


# ----------------------------------------------------------------------------- main entry
def run(
    names: Iterable[str | ModuleType],
    out: str | Path = "results",
    quick: bool = False,
    seeds: int | None = None,
    workers: int | None = None,
    methods: Sequence[str] | None = None,
    ray_address: str | None = None,
    progress: bool = True,
    episodes: int | None = None,
    points: Sequence[float] | None = None,
    train: bool = True,
) -> RunReport:
    """Run the grids of the named figures (skipping finished cells), then assemble each figure.

    ``episodes`` overrides the training budget of learned methods (default: 600, quick: 2).
    ``points`` runs only the sweep cells at those x values (:func:`at_points`); a value no
    selected figure has is an error. ``train=False`` leaves out every cell that would train
    (:func:`trains`): learned methods then run only where a shipped reference policy exists.
    """
    t0 = time.perf_counter()
    out = Path(out).resolve()
    workers = (os.cpu_count() or 1) if workers is None else int(workers)
    if workers < 0:
        raise ValueError(f"workers={workers}: must be >= 0 (0 = run in this process)")
    mods, grids = plan(names, out, quick, seeds, methods, episodes, points)
    report = RunReport()
    todo: list[Cell] = []
    for cells in grids.values():
        for c in cells:
            if not at_points(c, points) or (not train and trains(c)):
                continue
            if read_cell(c.path) is not None:
                report.skipped += 1
            elif selected(c, methods):
                todo.append(c)

    run_cells(todo, out, workers, ray_address, progress, report)
    for m in mods:
        report.figures[m.NAME] = finish_figure(m, grids[m.NAME], out, quick, seeds, report)
    report.wall_s = time.perf_counter() - t0
    return report


def format_report(report: RunReport) -> str:
    """Human summary of a run: per figure cells done / total, then every failure in full."""
    lines = [
        f"ran {report.ran} cell(s), skipped {report.skipped} finished, "
        f"{len(report.failures)} failure(s), {report.wall_s:.1f} s"
    ]
    for st in report.figures.values():
        where = st.csv if st.csv else "no rows yet"
        lines.append(
            f"  {st.name:>8}: {st.done}/{st.total} cells, cell time {st.wall_s:.1f} s, "
            f"{where}, {len(st.plots)} plot(s)"
        )
    for host, path in sorted(report.node_caches.items()):
        lines.append(
            f"  note: {host} does not see the --out folder; its trained policies and "
            f"evaluations are cached in {path} there (docs/benchmarks-cluster.md)"
        )
    for what, tb in report.failures:
        lines += ["", f"FAILED {what}", tb.rstrip()]
    return "\n".join(lines)
