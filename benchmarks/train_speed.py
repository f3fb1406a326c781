"""Learner speed: seconds per gradient step, and where a training episode's time goes.

Three reports, each with one torch and BLAS thread unless ``--threads`` says otherwise:

- Gradient steps (default): seconds per step of MAASN-DA and QMIX-DA at a scenario's sizes,
  on a replay buffer of random transitions of the right shapes (late in a run the steps are
  most of an episode's time).
- ``--episodes E``: the first E training episodes of a real run (``run_episode`` and
  ``end_episode``, as ``agents.train.train`` plays them), each split into env (reset and
  steps), action selection, data augmentation (ESN predict and tune), gradient steps (with
  replay sampling) and the rest. Early episodes solve new beamforming problems; later ones
  find most of them in the env's memo, so the env's share falls as a run goes on.
- ``--log RUN ...``: the same split summed over finished runs, from the ``time_*_s`` columns
  of their ``log.csv``.

``--baseline DIR`` also times the ``agents`` package of another checkout (e.g. a git worktree
of an older commit) in the same run: each learner runs in its own worker process
(``benchmarks/train_speed_worker.py``), and the two are timed in turns, episode by episode
or round by round, so load from other processes falls on both alike.

With ``--checkpoint-memory`` it also measures what saving a checkpoint with a full replay
buffer costs in memory (peak RSS, in a fresh process per learner), e.g. at N = 12:
``python -m benchmarks.train_speed --algos qmix-da --nodes 12 --checkpoint-memory``.

``--compile`` times eager and compiled (``compile=True``) gradient steps in turns, in one
process, and prints the ratio of the medians.

``--products`` records the matrix products (mm, bmm, addmm, baddbmm) one gradient step calls,
forward and backward, and times them alone on operands of the same shapes, in turns with whole
steps (compiled ones with ``--compile``): the products are the arithmetic of the algorithm, so
their time is what the steps cost at these shapes and layouts with this BLAS, however the rest
of the step is written.

Run: ``python -m benchmarks.train_speed --scenario paper --repeats 7``,
``python -m benchmarks.train_speed --threads 2 --compile``,
``python -m benchmarks.train_speed --threads 2 --compile --products``,
``python -m benchmarks.train_speed --episodes 20 --baseline ../old-checkout``,
``python -m benchmarks.train_speed --log runs/maasn0``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import csv  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import multiprocessing as mp  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402

from agents.config import ALGOS, TrainConfig  # noqa: E402
from agents.learner import Dims  # noqa: E402
from agents.policy import build_learner  # noqa: E402
from agents.train import make_env  # noqa: E402
from benchmarks.train_speed_worker import random_replay as fill_random_replay  # noqa: E402
from fgamcd_env.atomic import atomic_write  # noqa: E402


def random_learner(
    algo: str, scenario: str, overrides: dict | None = None, seed: int = 0, **change: Any
) -> tuple[Any, np.random.Generator, TrainConfig]:
    """A learner of ``algo`` at ``scenario``'s sizes (``change``: TrainConfig fields) with a
    replay of random transitions to sample minibatches from, its rng and its config."""
    cfg = TrainConfig().replace(
        algo=algo, scenario=scenario, progress=False, overrides=overrides or {}, **change
    )
    dims = Dims.of(make_env(cfg))
    rng = np.random.default_rng(seed)
    learner = build_learner(cfg, dims, rng)
    fill_random_replay(learner, dims, rng, 4 * cfg.optim.batch_size)
    return learner, rng, cfg


def time_updates(
    algo: str,
    scenario: str,
    repeats: int,
    steps: int,
    seed: int = 0,
    overrides: dict | None = None,
    threads: int = 1,
    variants: dict[str, dict] | None = None,
) -> dict[str, list[float]] | list[float]:
    """Wall seconds of ``steps`` gradient steps, ``repeats`` times (after one warm-up round).

    ``variants`` (name -> TrainConfig changes, e.g. ``{"eager": {}, "compiled": {"compile":
    True}}``) times one learner per variant in the same process, round by round in turns,
    and returns name -> seconds; without it, the seconds of the default learner."""
    torch.set_num_threads(threads)
    learners = {
        name: random_learner(algo, scenario, overrides, seed, **change)
        for name, change in (variants or {"": {}}).items()
    }
    out: dict[str, list[float]] = {name: [] for name in learners}
    for rep in range(repeats + 1):
        for name, (learner, rng, cfg) in learners.items():
            t0 = time.perf_counter()
            for _ in range(steps):
                batch = learner.buffer.sample(cfg.optim.batch_size, rng)
                learner.update(batch, cfg.run.episodes // 2)
            if rep:  # round 0 warms up allocators and caches (and compiles)
                out[name].append(time.perf_counter() - t0)
    return out if variants else out[""]


#: the matrix products of a gradient step: what the arithmetic of the algorithm costs
_PRODUCTS = ("mm", "bmm", "addmm", "baddbmm")


@dataclass(frozen=True)
class Product:
    """One matrix product of a gradient step: the aten op and its tensor arguments' shapes and
    strides (other arguments as given)."""

    op: str
    args: tuple[tuple[str, object], ...]  # ("tensor", (shape, stride)) or ("value", v)
    kwargs: tuple[tuple[str, object], ...]

    @property
    def flops(self) -> int:
        """2 m k n per product (times the batch for bmm and baddbmm)."""
        a, b = [v[0] for kind, v in self.args if kind == "tensor"][-2:]
        return 2 * math.prod(a) * b[-1]

    def materialise(self, gen: torch.Generator) -> tuple[list[object], dict[str, object]]:
        """Arguments of the same shapes and strides (random values) to call the op with."""
        out: list[object] = []
        for kind, v in self.args:
            if kind == "value":
                out.append(v)
                continue
            shape, stride = v
            size = 1 + sum((n - 1) * st for n, st in zip(shape, stride, strict=True))
            out.append(torch.rand(size, generator=gen).as_strided(shape, stride))
        return out, dict(self.kwargs)


class _RecordProducts(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.products: list[Product] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        if func.overloadpacket.__name__ in _PRODUCTS:
            self.products.append(
                Product(
                    func.overloadpacket.__name__,
                    tuple(
                        ("tensor", (tuple(a.shape), tuple(a.stride())))
                        if isinstance(a, torch.Tensor)
                        else ("value", a)
                        for a in args
                    ),
                    tuple(sorted(kwargs.items())),
                )
            )
        return func(*args, **kwargs)


def step_products(algo: str, scenario: str, overrides: dict | None = None) -> list[Product]:
    """The matrix products one (eager) gradient step of ``algo`` runs, forward and backward,
    at ``scenario``'s sizes."""
    learner, rng, cfg = random_learner(algo, scenario, overrides)
    batch = learner.buffer.sample(cfg.optim.batch_size, rng)
    with _RecordProducts() as rec:
        learner.update(batch, cfg.run.episodes // 2)
    return rec.products


def time_products(
    algo: str,
    scenario: str,
    repeats: int,
    steps: int,
    threads: int = 1,
    compile: bool = False,
    overrides: dict | None = None,
) -> dict[str, Any]:
    """Gradient steps of ``algo`` and their matrix products alone, timed in turns.

    Each round runs ``steps`` gradient steps (``compile``: compiled ones), then ``steps``
    times the products one step calls (:func:`step_products`, on random operands of the same
    shapes and strides): what the products cost, however the rest of the step is written.
    Returns the seconds of both per round, the number of products and their FLOPs per step."""
    products = step_products(algo, scenario, overrides)
    timed = {"steps": [], "products": []}
    torch.set_num_threads(threads)
    learner, rng, cfg = random_learner(algo, scenario, overrides, compile=compile)
    gen = torch.Generator().manual_seed(0)
    calls = [(getattr(torch.ops.aten, p.op), *p.materialise(gen)) for p in products]
    for rep in range(repeats + 1):
        t0 = time.perf_counter()
        for _ in range(steps):
            learner.update(learner.buffer.sample(cfg.optim.batch_size, rng), cfg.run.episodes // 2)
        t1 = time.perf_counter()
        with torch.no_grad():
            for _ in range(steps):
                for op, args, kwargs in calls:
                    op(*args, **kwargs)
        if rep:  # round 0 warms up (and compiles)
            timed["steps"].append(t1 - t0)
            timed["products"].append(time.perf_counter() - t1)
    return {**timed, "count": len(products), "flops": sum(p.flops for p in products)}


def _status_mib(field: str) -> float:
    """A /proc/self/status memory line (VmRSS, VmHWM = peak RSS) in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"no {field} in /proc/self/status (needs Linux)")


def _checkpoint_memory(
    algo: str,
    scenario: str,
    overrides: dict,
    size: int | None,
) -> dict[str, float]:
    torch.set_num_threads(1)
    cfg = TrainConfig().replace(algo=algo, scenario=scenario, progress=False, overrides=overrides)
    dims = Dims.of(make_env(cfg))
    rng = np.random.default_rng(0)
    learner = build_learner(cfg, dims, rng)
    fill_random_replay(learner, dims, rng, cfg.optim.buffer_size if size is None else size)
    buffer_mib = sum(v.nbytes for v in learner.buffer.data.values()) / 2**20
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak to the current RSS
    before = _status_mib("VmRSS")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "checkpoint.pt"
        with atomic_write(path, "wb") as fh:
            torch.save({"learner": learner.state_dict()}, fh)
        file_mib = path.stat().st_size / 2**20
    return {
        "samples": float(len(learner.buffer)),
        "buffer_mib": buffer_mib,
        "file_mib": file_mib,
        "rss_before_mib": before,
        "save_extra_mib": _status_mib("VmHWM") - before,
    }


def checkpoint_memory(
    algo: str, scenario: str = "paper", overrides: dict | None = None, size: int | None = None
) -> dict[str, float]:
    """Peak-RSS growth (MiB) while saving a checkpoint whose replay buffer holds ``size``
    random samples (default: full), measured in a fresh process so earlier work does not set
    the peak. Also the buffer's allocated MiB and the file's MiB."""
    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(_checkpoint_memory, (algo, scenario, overrides or {}, size))


WORKER = Path(__file__).with_name("train_speed_worker.py")
REPO = Path(__file__).resolve().parent.parent
COMPONENTS = ("env", "act", "aug", "update", "other")


class WorkerProcess:
    """A :mod:`benchmarks.train_speed_worker` process timing the ``agents`` of ``tree``."""

    def __init__(self, tree: Path, **setup: object) -> None:
        self.tree = Path(tree).resolve()
        if not (self.tree / "agents" / "train.py").exists():
            raise FileNotFoundError(f"{self.tree} is not a checkout with agents/train.py")
        env = {**os.environ, "PYTHONPATH": str(self.tree)}
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKER)],
            cwd=self.tree,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.info = self.ask("setup", **setup)

    def ask(self, cmd: str, **args: object) -> dict:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"cmd": cmd, **args}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"train_speed worker for {self.tree} exited (see stderr above)")
        return json.loads(line)

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


def compare(
    algo: str,
    trees: dict[str, Path],
    episodes: int = 0,
    rounds: int = 0,
    steps: int = 40,
    scenario: str = "paper",
    seed: int = 0,
    threads: int = 1,
    overrides: dict | None = None,
    hp: dict | None = None,
    progress: bool = True,
) -> dict[str, dict[str, list[dict]]]:
    """Time ``algo`` in one worker per checkout (``{label: path}``), in turns: ``episodes``
    training episodes (rows of seconds by component), then ``rounds`` rounds of ``steps``
    gradient steps (wall and CPU seconds per step). ``hp``: other ``TrainConfig`` fields.
    Returns ``{label: {"episodes": rows,
    "steps": rows}}``."""
    setup = dict(
        algo=algo,
        scenario=scenario,
        seed=seed,
        threads=threads,
        overrides=overrides or {},
        hp=hp or {},
    )
    workers = {label: WorkerProcess(tree, **setup) for label, tree in trees.items()}
    out: dict[str, dict[str, list[dict]]] = {k: {"episodes": [], "steps": []} for k in trees}
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=(episodes + rounds) * len(trees), desc=algo, unit="run", leave=False)
    try:
        for _ in range(episodes):
            for label, w in workers.items():
                out[label]["episodes"].append(w.ask("episode"))
                if bar is not None:
                    bar.update()
        for _ in range(rounds):
            for label, w in workers.items():
                out[label]["steps"].append(w.ask("steps", n=steps))
                if bar is not None:
                    bar.update()
    finally:
        if bar is not None:
            bar.close()
        for w in workers.values():
            w.close()
    return out


def component_table(results: dict[str, dict[str, list[dict]]], skip: int = 0) -> str:
    """Mean seconds per episode by component (episodes after the first ``skip``), per checkout,
    with each checkout's ratio to the first one."""
    labels = list(results)
    means = {}
    for label in labels:
        rows = results[label]["episodes"][skip:]
        means[label] = {k: statistics.fmean(r[f"{k}_s"] for r in rows) for k in COMPONENTS}
        means[label]["total"] = statistics.fmean(r["wall_s"] for r in rows)
    head = "| component | " + " | ".join(f"{lab} (s/episode)" for lab in labels)
    head += "".join(f" | {lab} / {labels[0]}" for lab in labels[1:]) + " |"
    lines = [head, "|" + " --- |" * (1 + 2 * len(labels) - 1)]
    for k in (*COMPONENTS, "total"):
        cells = [f"{means[lab][k]:.3f}" for lab in labels]
        base = means[labels[0]][k]
        cells += [f"{means[lab][k] / base:.2f}" if base > 1e-9 else "-" for lab in labels[1:]]
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def step_table(results: dict[str, dict[str, list[dict]]], steps: int) -> str:
    """Median wall and CPU milliseconds per gradient step, per checkout."""
    lines = []
    first = None
    for label, res in results.items():
        rows = res["steps"]
        if not rows:
            continue
        wall = statistics.median(r["wall_s"] for r in rows)
        cpu = statistics.median(r["cpu_s"] for r in rows)
        first = first or (wall, cpu)
        lines.append(
            f"{label}: {1e3 * wall:.1f} ms wall, {1e3 * cpu:.1f} ms CPU per step (median of "
            f"{len(rows)} rounds of {steps}); wall {wall / first[0]:.2f}x, CPU "
            f"{cpu / first[1]:.2f}x the first"
        )
    return "\n".join(lines)


def reference_runs() -> list[Path]:
    """The folders of the shipped reference policies (their ``curve.csv`` is the training log)."""
    from agents.reference import available

    return sorted(e.path for e in available())


def summarize_logs(runs: list[Path]) -> str:
    """Seconds by component summed over each run's ``log.csv`` (``time_*_s`` columns; a
    shipped reference policy's folder has them in its ``curve.csv``), with the run's torch
    threads, compile switch and gradient steps per episode (its ``config.json``) and its
    greedy return and delay
    (``eval.json``, a copy of ``result.json``'s ``eval_rows``, or ``result.json``), where the
    folder has them."""
    head = [
        "run",
        "threads",
        "compiled",
        "steps per episode",
        "episodes",
        *COMPONENTS,
        "wall (s)",
        "greedy return",
        "greedy delay (s)",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for run in runs:
        path = run
        if run.is_dir():
            path = run / "log.csv" if (run / "log.csv").exists() else run / "curve.csv"
        with path.open() as f:
            rows = list(csv.DictReader(f))
        threads, compiled, steps, greedy, delay = _run_facts(path.parent)
        facts = f"{run.name} | {threads} | {compiled} | {steps} | {len(rows)}"
        if not rows or "time_update_s" not in rows[0]:
            lines.append(f"| {facts} | no time_*_s |")
            continue
        tot = {k: sum(float(r[f"time_{k}_s"]) for r in rows) for k in COMPONENTS}
        wall = sum(float(r["wall_s"]) for r in rows)
        cells = " | ".join(f"{tot[k]:.0f} ({100 * tot[k] / wall:.0f} %)" for k in COMPONENTS)
        lines.append(f"| {facts} | {cells} | {wall:.0f} | {greedy} | {delay} |")
    return "\n".join(lines)


def _run_facts(folder: Path) -> tuple[str, str, str, str, str]:
    """(torch threads, compiled, gradient steps per episode, greedy return and total delay on
    the first evaluation seed) of a run folder, "?" where it does not say."""
    threads = compiled = steps = greedy = delay = "?"
    if (folder / "config.json").exists():
        cfg = TrainConfig.from_json(json.loads((folder / "config.json").read_text()))
        threads, compiled = str(cfg.run.torch_threads), "yes" if cfg.run.compile else "no"
        steps = str(cfg.optim.updates_per_episode)
    rows = None
    if (folder / "eval.json").exists():
        rows = json.loads((folder / "eval.json").read_text())
    elif (folder / "result.json").exists():
        rows = json.loads((folder / "result.json").read_text())["eval_rows"]
    if rows:
        greedy, delay = f"{rows[0]['return']:.2f}", f"{rows[0]['total_delay_s']:.4f}"
    return threads, compiled, steps, greedy, delay


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenario", default="paper")
    ap.add_argument("--algos", nargs="+", choices=ALGOS, default=list(ALGOS))
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument(
        "--steps",
        type=int,
        default=TrainConfig().optim.updates_per_episode,
        help="gradient steps per timed round (default: one episode's)",
    )
    ap.add_argument("--nodes", type=int, default=None, help="override num_nodes (N)")
    ap.add_argument(
        "--episodes",
        type=int,
        default=0,
        help="time the first EPISODES training episodes by component (0: gradient steps only)",
    )
    ap.add_argument("--skip", type=int, default=0, help="episodes left out of the means")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch and BLAS threads")
    ap.add_argument(
        "--compile",
        action="store_true",
        help="time eager and torch.compile'd gradient steps in turns (compile=True)",
    )
    ap.add_argument(
        "--products",
        action="store_true",
        help="time gradient steps and their matrix products alone, in turns",
    )
    ap.add_argument(
        "--baseline", type=Path, help="another checkout to time alongside this one (in turns)"
    )
    ap.add_argument("--log", type=Path, nargs="+", help="summarise the time_*_s of these runs")
    ap.add_argument(
        "--references",
        action="store_true",
        help="summarise the time_*_s of the shipped reference policies' trainings",
    )
    ap.add_argument(
        "--checkpoint-memory",
        action="store_true",
        help="also measure the memory of saving a checkpoint with a full replay",
    )
    args = ap.parse_args(argv)
    if args.log or args.references:
        print(summarize_logs([*(args.log or []), *(reference_runs() if args.references else [])]))
        return
    if args.repeats < 1 or args.steps < 1 or args.threads < 1:
        ap.error("--repeats, --steps and --threads must be >= 1")
    if args.episodes < 0 or not 0 <= args.skip < max(args.episodes, 1):
        ap.error("need --episodes >= 0 and 0 <= --skip < --episodes")
    if args.products and (args.episodes or args.baseline or args.checkpoint_memory):
        ap.error(
            "--products times gradient steps only: not with --episodes, --baseline or "
            "--checkpoint-memory"
        )
    if args.nodes is not None and args.nodes < 1:
        ap.error("--nodes must be >= 1")
    overrides = {} if args.nodes is None else {"num_nodes": args.nodes}
    print(
        f"learner speed: scenario={args.scenario} {overrides or ''}, batch "
        f"{TrainConfig().optim.batch_size}, {args.steps} steps per round, {args.threads} thread(s)"
    )
    if args.episodes or args.baseline is not None:
        trees = {"this": REPO}
        if args.baseline is not None:
            trees = {"baseline": args.baseline, "this": REPO}
        for algo in args.algos:
            res = compare(
                algo,
                trees,
                episodes=args.episodes,
                rounds=args.repeats if args.baseline is not None else 0,
                steps=args.steps,
                scenario=args.scenario,
                seed=args.seed,
                threads=args.threads,
                overrides=overrides,
            )
            print(f"\n{algo}, seed {args.seed}:")
            if args.episodes:
                print(f"seconds per training episode, episodes {args.skip}-{args.episodes - 1}:")
                print(component_table(res, args.skip))
            if args.baseline is not None:
                print(step_table(res, args.steps))
        return
    if args.products:
        budget = TrainConfig()
        total = budget.run.episodes * budget.optim.updates_per_episode
        for algo in args.algos:
            r = time_products(
                algo, args.scenario, args.repeats, args.steps, args.threads, args.compile, overrides
            )
            step = statistics.median(r["steps"]) / args.steps
            alone = statistics.median(r["products"]) / args.steps
            print(
                f"{algo:>9}{' compiled' if args.compile else ''}: {r['count']} matrix products "
                f"per step, {r['flops'] / 1e9:.3f} GFLOP; products alone {1e3 * alone:.2f} ms "
                f"per step ({r['flops'] / alone / 1e9:.0f} GFLOP/s), whole step "
                f"{1e3 * step:.2f} ms (products {100 * alone / step:.0f} %); "
                f"{total:,} steps ({budget.run.episodes} episodes): products alone "
                f"{total * alone:.0f} s, whole steps {total * step:.0f} s (medians)"
            )
        return
    for algo in args.algos:
        if args.checkpoint_memory:
            m = checkpoint_memory(algo, args.scenario, overrides)
            print(
                f"{algo:>9}: checkpoint of {m['samples']:.0f} samples: buffer "
                f"{m['buffer_mib']:.0f} MiB, file {m['file_mib']:.0f} MiB, saving added "
                f"{m['save_extra_mib']:.0f} MiB to the peak RSS"
            )
        variants = {"eager": {}, "compiled": {"compile": True}} if args.compile else None
        timed = time_updates(
            algo,
            args.scenario,
            args.repeats,
            args.steps,
            overrides=overrides,
            threads=args.threads,
            variants=variants,
        )
        for name, ts in timed.items() if variants else [("", timed)]:
            med = statistics.median(ts)
            print(
                f"{algo:>9}{' ' + name if name else ''}: median {med:.3f} s per round "
                f"({1e3 * med / args.steps:.1f} ms per step), min {min(ts):.3f} s over "
                f"{len(ts)} rounds"
            )
        if variants:
            ratio = statistics.median(timed["eager"]) / statistics.median(timed["compiled"])
            print(f"{algo:>9}: compiled steps {ratio:.2f}x as fast as eager ones (medians)")


if __name__ == "__main__":
    main()
