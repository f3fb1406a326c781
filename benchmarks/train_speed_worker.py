"""Worker of :mod:`benchmarks.train_speed`: times one learner in its own process.

Run as a script (``python benchmarks/train_speed_worker.py``) with ``PYTHONPATH`` set to the
checkout whose ``agents`` package is timed, so the same worker times this code and an older
checkout (``--baseline``) under the same conditions. It imports nothing else from
``benchmarks`` and only the ``agents`` API that older checkouts have: ``TrainConfig``, ``Dims``,
``build_learner``, ``make_env``, ``run_episode``, ``Learner.act/end_episode/update``,
``learner.buffer`` and ``learner.predictor``.

Protocol: one JSON object per line on stdin, one JSON answer per line on stdout.

- ``{"cmd": "setup", "algo", "scenario", "seed", "threads", "overrides", "hp"}``: build the
  env and the learner of a ``TrainConfig`` with those fields and ``hp`` (other fields; none:
  the defaults, 600-episode schedules).
- ``{"cmd": "episode"}``: play and learn the next training episode (``run_episode`` then
  ``end_episode``, as ``agents.train.train`` does, without logging and checkpoints); answer its
  wall seconds by component, measured by wrapping the env's ``reset``/``step``/``step_array``,
  the learner's ``act``, ``update`` and replay sampling, and the predictor's
  ``predict``/``tune``.
- ``{"cmd": "steps", "n"}``: ``n`` gradient steps on a separate learner whose replay holds 512
  random transitions; answer wall and CPU seconds per step.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

COMPONENTS = ("env", "act", "aug", "update")


def _timed(fn: Callable, acc: dict[str, float], key: str) -> Callable:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            acc[key] += time.perf_counter() - t0

    return wrapper


def random_replay(learner: Any, dims: Any, rng: np.random.Generator, size: int) -> None:
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


def _field(cfg: Any, name: str) -> Any:
    """A TrainConfig field by its own name, in grouped configs and in older flat ones."""
    return cfg.flat()[name] if hasattr(cfg, "flat") else getattr(cfg, name)


class Worker:
    def setup(
        self, algo: str, scenario: str, seed: int, threads: int, overrides: dict, hp: dict
    ) -> dict:
        from threadpoolctl import threadpool_limits

        from agents.config import TrainConfig
        from agents.learner import Dims
        from agents.policy import build_learner
        from agents.train import make_env

        self._limits = threadpool_limits(limits=1, user_api="blas")  # as train() does
        torch.set_num_threads(threads)
        self.cfg = cfg = TrainConfig().replace(
            algo=algo,
            scenario=scenario,
            seed=seed,
            progress=False,
            overrides=overrides,
            torch_threads=threads,
            **hp,
        )
        self.env = make_env(cfg)
        self.dims = Dims.of(self.env)
        self.learner = build_learner(cfg, self.dims, np.random.default_rng(seed))
        self.acc = dict.fromkeys(COMPONENTS, 0.0)
        env, learner, acc = self.env, self.learner, self.acc
        env.reset = _timed(env.reset, acc, "env")
        env.step = _timed(env.step, acc, "env")
        if hasattr(env, "step_array"):  # what the learners step with (older checkouts: step)
            env.step_array = _timed(env.step_array, acc, "env")
        learner.act = _timed(learner.act, acc, "act")
        learner.update = _timed(learner.update, acc, "update")
        learner.buffer.sample = _timed(learner.buffer.sample, acc, "update")
        if learner.predictor is not None:
            learner.predictor.predict = _timed(learner.predictor.predict, acc, "aug")
            learner.predictor.tune = _timed(learner.predictor.tune, acc, "aug")
        self.episode = 0
        self.step_learner = build_learner(cfg, self.dims, np.random.default_rng(seed))
        self.step_rng = np.random.default_rng(seed)
        self.seed = seed
        self.batch_size = int(_field(cfg, "batch_size"))
        self.schedule_at = int(_field(cfg, "episodes")) // 2
        random_replay(self.step_learner, self.dims, self.step_rng, 4 * self.batch_size)
        return {"agents": self.dims.agents, "steps": self.dims.steps}

    def run_episode(self) -> dict:
        from agents.train import run_episode

        for k in self.acc:
            self.acc[k] = 0.0
        e = self.episode
        t0 = time.perf_counter()
        out = run_episode(self.env, self.learner, e, True, self.seed)
        stats = self.learner.end_episode(e)
        wall = time.perf_counter() - t0
        self.episode += 1
        row = {"episode": e, "wall_s": wall, **{f"{k}_s": v for k, v in self.acc.items()}}
        row["other_s"] = wall - sum(self.acc.values())
        row["return"] = out["return"]
        row["synthetic_samples"] = stats.get("synthetic_samples", 0.0)
        return row

    def steps(self, n: int) -> dict:
        learner, size, at = self.step_learner, self.batch_size, self.schedule_at
        learner.update(learner.buffer.sample(size, self.step_rng), at)
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(n):
            learner.update(learner.buffer.sample(size, self.step_rng), at)
        return {
            "wall_s": (time.perf_counter() - t0) / n,
            "cpu_s": (time.process_time() - c0) / n,
        }


def main() -> None:
    worker = Worker()
    for line in sys.stdin:
        msg = json.loads(line)
        cmd = msg.pop("cmd")
        if cmd == "setup":
            out = worker.setup(**msg)
        elif cmd == "episode":
            out = worker.run_episode()
        elif cmd == "steps":
            out = worker.steps(**msg)
        else:
            raise ValueError(f"unknown command {cmd!r}")
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
