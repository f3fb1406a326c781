"""Learner speed: seconds per gradient step of MAASN-DA and QMIX-DA at a scenario's sizes.

A training episode is one env episode plus ``updates_per_episode`` gradient steps (40 by default);
late in a 600-episode run on ``paper`` the steps are most of its wall time (the env finds most
beamforming problems in its memo). This times the steps alone, on a replay buffer of random
transitions of the right shapes, with one torch and BLAS thread (the trainer's setting).

With ``--checkpoint-memory`` it also measures what saving a checkpoint with a full replay
buffer costs in memory (peak RSS, in a fresh process per learner), e.g. at N = 12:
``python -m benchmarks.train_speed --algos qmix-da --nodes 12 --checkpoint-memory``.

Run: ``python -m benchmarks.train_speed --scenario paper --repeats 7``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import multiprocessing as mp  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from agents.config import ALGOS, TrainConfig  # noqa: E402
from agents.learner import Dims  # noqa: E402
from agents.policy import build_learner  # noqa: E402
from agents.train import _atomic_save, make_env  # noqa: E402


def fill_random_replay(learner, dims: Dims, rng: np.random.Generator, size: int) -> None:
    """Fill ``learner``'s replay buffer with ``size`` random transitions of the right shapes."""
    n, o = dims.agents, dims.obs
    fields: dict[str, np.ndarray] = {
        "obs": rng.random((size, n, o), dtype=np.float32),
        "act": (rng.random((size, n, n)) < 0.5).astype(np.float32),
        "rew": -rng.random(size).astype(np.float32),
        "next_obs": rng.random((size, n, o), dtype=np.float32),
        "done": np.zeros(size, np.float32),
        "synthetic": np.zeros(size, bool),
    }
    for name, (shape, dtype) in learner.extra_fields.items():
        if np.dtype(dtype) == np.bool_:
            fields[name] = np.ones((size, *shape), bool)
        elif np.issubdtype(np.dtype(dtype), np.integer):
            fields[name] = rng.integers(0, 2**n, (size, *shape)).astype(dtype)
        else:
            fields[name] = np.zeros((size, *shape), dtype)
    learner.buffer.add(**fields)


def time_updates(
    algo: str, scenario: str, repeats: int, steps: int, seed: int = 0, overrides: dict | None = None
) -> list[float]:
    """Wall seconds of ``steps`` gradient steps, ``repeats`` times (after one warm-up round)."""
    torch.set_num_threads(1)
    cfg = TrainConfig(algo=algo, scenario=scenario, progress=False, overrides=overrides or {})
    dims = Dims.of(make_env(cfg))
    rng = np.random.default_rng(seed)
    learner = build_learner(cfg, dims, rng)
    fill_random_replay(learner, dims, rng, 4 * cfg.batch_size)
    out = []
    for rep in range(repeats + 1):
        t0 = time.perf_counter()
        for _ in range(steps):
            learner.update(learner.buffer.sample(cfg.batch_size, rng), cfg.episodes // 2)
        if rep:  # round 0 warms up allocators and caches
            out.append(time.perf_counter() - t0)
    return out


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
    cfg = TrainConfig(algo=algo, scenario=scenario, progress=False, overrides=overrides)
    dims = Dims.of(make_env(cfg))
    rng = np.random.default_rng(0)
    learner = build_learner(cfg, dims, rng)
    fill_random_replay(learner, dims, rng, cfg.buffer_size if size is None else size)
    buffer_mib = sum(v.nbytes for v in learner.buffer.data.values()) / 2**20
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak to the current RSS
    before = _status_mib("VmRSS")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "checkpoint.pt"
        _atomic_save({"learner": learner.state_dict()}, path)
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


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenario", default="paper")
    ap.add_argument("--algos", nargs="+", choices=ALGOS, default=list(ALGOS))
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument(
        "--steps",
        type=int,
        default=TrainConfig().updates_per_episode,
        help="gradient steps per timed round (default: one episode's)",
    )
    ap.add_argument("--nodes", type=int, default=None, help="override num_nodes (N)")
    ap.add_argument(
        "--checkpoint-memory",
        action="store_true",
        help="also measure the memory of saving a checkpoint with a full replay",
    )
    args = ap.parse_args(argv)
    if args.repeats < 1 or args.steps < 1:
        ap.error("--repeats and --steps must be >= 1")
    if args.nodes is not None and args.nodes < 1:
        ap.error("--nodes must be >= 1")
    overrides = {} if args.nodes is None else {"num_nodes": args.nodes}
    print(
        f"learner speed: scenario={args.scenario} {overrides or ''}, batch "
        f"{TrainConfig().batch_size}, {args.steps} steps per round, 1 thread"
    )
    for algo in args.algos:
        if args.checkpoint_memory:
            m = checkpoint_memory(algo, args.scenario, overrides)
            print(
                f"{algo:>9}: checkpoint of {m['samples']:.0f} samples: buffer "
                f"{m['buffer_mib']:.0f} MiB, file {m['file_mib']:.0f} MiB, saving added "
                f"{m['save_extra_mib']:.0f} MiB to the peak RSS"
            )
        ts = time_updates(algo, args.scenario, args.repeats, args.steps, overrides=overrides)
        med = statistics.median(ts)
        print(
            f"{algo:>9}: median {med:.3f} s per round ({1e3 * med / args.steps:.1f} ms per "
            f"step), min {min(ts):.3f} s over {len(ts)} rounds"
        )


if __name__ == "__main__":
    main()
