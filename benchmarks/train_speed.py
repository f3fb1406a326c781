"""Learner speed: seconds per gradient step of MAASN-DA and QMIX-DA at a scenario's sizes.

A training episode is one env episode plus ``updates_per_episode`` gradient steps (40 by default);
late in a 600-episode run on ``paper`` the steps are most of its wall time (the env finds most
beamforming problems in its memo). This times the steps alone, on a replay buffer of random
transitions of the right shapes, with one torch and BLAS thread (the trainer's setting).

Run: ``python -m benchmarks.train_speed --scenario paper --repeats 7``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from agents.config import ALGOS, TrainConfig  # noqa: E402
from agents.learner import Dims  # noqa: E402
from agents.policy import build_learner  # noqa: E402
from agents.train import make_env  # noqa: E402


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


def time_updates(algo: str, scenario: str, repeats: int, steps: int, seed: int = 0) -> list[float]:
    """Wall seconds of ``steps`` gradient steps, ``repeats`` times (after one warm-up round)."""
    torch.set_num_threads(1)
    cfg = TrainConfig(algo=algo, scenario=scenario, progress=False)
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


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenario", default="paper")
    ap.add_argument("--algos", nargs="+", choices=ALGOS, default=list(ALGOS))
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--steps", type=int, default=TrainConfig().updates_per_episode,
                    help="gradient steps per timed round (default: one episode's)")
    args = ap.parse_args(argv)
    if args.repeats < 1 or args.steps < 1:
        ap.error("--repeats and --steps must be >= 1")
    print(f"learner speed: scenario={args.scenario}, batch {TrainConfig().batch_size}, "
          f"{args.steps} steps per round, 1 thread")
    for algo in args.algos:
        ts = time_updates(algo, args.scenario, args.repeats, args.steps)
        med = statistics.median(ts)
        print(f"{algo:>9}: median {med:.3f} s per round ({1e3 * med / args.steps:.1f} ms per "
              f"step), min {min(ts):.3f} s over {len(ts)} rounds")


if __name__ == "__main__":
    main()
