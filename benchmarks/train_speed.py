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

Run: ``python -m benchmarks.train_speed --scenario paper --repeats 7``,
``python -m benchmarks.train_speed --threads 2 --compile``,
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
import multiprocessing as mp  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from agents.config import ALGOS, TrainConfig  # noqa: E402
from agents.learner import Dims  # noqa: E402
from agents.policy import build_learner  # noqa: E402
from agents.train import make_env  # noqa: E402
from benchmarks.train_speed_worker import random_replay as fill_random_replay  # noqa: E402
from fgamcd_env.atomic import atomic_write  # noqa: E402


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
    learners = {}
    for name, change in (variants or {"": {}}).items():
        cfg = TrainConfig().replace(
            algo=algo, scenario=scenario, progress=False, overrides=overrides or {}, **change
        )
        dims = Dims.of(make_env(cfg))
        rng = np.random.default_rng(seed)
        learner = build_learner(cfg, dims, rng)
        fill_random_replay(learner, dims, rng, 4 * cfg.optim.batch_size)
        learners[name] = (learner, rng, cfg)
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
    threads and compile switch (its ``config.json``) and its greedy return and delay
    (``eval.json``, a copy of ``result.json``'s ``eval_rows``, or ``result.json``), where the
    folder has them."""
    head = [
        "run",
        "threads",
        "compiled",
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
        threads, compiled, greedy, delay = _run_facts(path.parent)
        if not rows or "time_update_s" not in rows[0]:
            lines.append(f"| {run.name} | {threads} | {compiled} | {len(rows)} | no time_*_s |")
            continue
        tot = {k: sum(float(r[f"time_{k}_s"]) for r in rows) for k in COMPONENTS}
        wall = sum(float(r["wall_s"]) for r in rows)
        cells = " | ".join(f"{tot[k]:.0f} ({100 * tot[k] / wall:.0f} %)" for k in COMPONENTS)
        lines.append(
            f"| {run.name} | {threads} | {compiled} | {len(rows)} | {cells} | {wall:.0f} | "
            f"{greedy} | {delay} |"
        )
    return "\n".join(lines)


def _run_facts(folder: Path) -> tuple[str, str, str, str]:
    """(torch threads, compiled, greedy return and total delay on the first evaluation seed)
    of a run folder, "?" where it does not say."""
    threads = compiled = greedy = delay = "?"
    if (folder / "config.json").exists():
        cfg = TrainConfig.from_json(json.loads((folder / "config.json").read_text()))
        threads, compiled = str(cfg.run.torch_threads), "yes" if cfg.run.compile else "no"
    rows = None
    if (folder / "eval.json").exists():
        rows = json.loads((folder / "eval.json").read_text())
    elif (folder / "result.json").exists():
        rows = json.loads((folder / "result.json").read_text())["eval_rows"]
    if rows:
        greedy, delay = f"{rows[0]['return']:.2f}", f"{rows[0]['total_delay_s']:.4f}"
    return threads, compiled, greedy, delay


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
