"""What exploration costs a trained policy: its greedy return against exploring returns.

Run: ``python -m benchmarks.exploration_tax runs/maasn-s0 runs/qmix-s0 --episodes 10``.

Fig. 7 plots training returns, which include exploration, while the delay tables rank greedy
policies. Each run's final policy (the one its last training episodes acted with) plays its
training instance once greedily and ``--episodes`` times exploring as in training episode
``--at-episode`` (default: the last), optionally with another ``--epsilon`` or MAASN-DA
``--exploration`` kind. Writes ``exploration_tax.csv`` (one row per episode) and prints a table.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from agents.config import EXPLORATIONS, TrainConfig
from agents.learner import Dims
from agents.policy import build_learner
from agents.train import CHECKPOINT, make_env, run_episode
from fgamcd_env.atomic import atomic_write

FIELDS = (
    "run",
    "algo",
    "seed",
    "exploration",
    "epsilon",
    "mode",
    "episode",
    "return",
    "total_delay_s",
    "qos_infeasible_pbs",
    "undelivered_pbs",
)


def measure(
    run: Path,
    episodes: int,
    at_episode: int | None = None,
    epsilon: float | None = None,
    exploration: str | None = None,
    seed: int = 0,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """One greedy and ``episodes`` exploring episodes of the final policy in ``run``."""
    ckpt = Path(run) / CHECKPOINT
    if not ckpt.exists():
        raise FileNotFoundError(f"{ckpt} does not exist: pass fgamcd-train output directories")
    if episodes < 1:
        raise ValueError(f"episodes={episodes}: must be >= 1")
    state = torch.load(ckpt, map_location="cpu", weights_only=False)
    cfg = TrainConfig.from_json(state["config"])
    changes: dict[str, Any] = {}
    if epsilon is not None:
        changes.update(epsilon_start=float(epsilon), epsilon_end=float(epsilon))
    if exploration is not None:
        changes["exploration"] = exploration
    cfg = cfg.replace(**changes)  # validates: e.g. exploration is MAASN-DA's switch only
    at = cfg.run.episodes - 1 if at_episode is None else int(at_episode)
    if not 0 <= at < cfg.run.episodes:
        raise ValueError(f"at_episode={at_episode}: the run has episodes 0..{cfg.run.episodes - 1}")
    torch.set_num_threads(cfg.run.torch_threads)
    env = make_env(cfg)
    learner = build_learner(cfg, Dims(**state["dims"]), np.random.default_rng(seed))
    learner.load_state_dict(state["learner"])
    base = {
        "run": str(run),
        "algo": cfg.run.algo,
        "seed": cfg.run.seed,
        "exploration": cfg.explore.exploration if cfg.run.algo == "maasn-da" else "node",
        "epsilon": learner.epsilon(at),
    }
    rows = []
    bar = tqdm(total=episodes + 1, desc=Path(run).name, unit="ep", disable=not progress)
    for i in range(episodes + 1):
        explore = i > 0
        out = run_episode(env, learner, at, explore, cfg.run.seed)
        learner.begin_episode()  # drop the recorded transitions: nothing is learned here
        rows.append({**base, "mode": "explore" if explore else "greedy", "episode": i, **out})
        bar.update()
    bar.close()
    return rows


def summary(rows: list[dict[str, Any]]) -> str:
    """Markdown table: per run, greedy return, exploring mean and sd, and their difference."""
    lines = [
        "| run | algo | greedy return | exploring return (mean, sd) | cost | undelivered |",
        "|---|---|---|---|---|---|",
    ]
    for run in dict.fromkeys(r["run"] for r in rows):
        mine = [r for r in rows if r["run"] == run]
        g = next(r for r in mine if r["mode"] == "greedy")
        ex = [r for r in mine if r["mode"] == "explore"]
        ret = np.array([r["return"] for r in ex])
        und = np.mean([r["undelivered_pbs"] for r in ex])
        lines.append(
            f"| {Path(run).name} | {g['algo']} | {g['return']:.1f} | {ret.mean():.1f}, "
            f"{ret.std():.1f} | {g['return'] - ret.mean():.1f} | {und:.1f} |"
        )
    return "\n".join(lines)


def _write(rows: list[dict[str, Any]], path: Path) -> None:
    with atomic_write(path, newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        w.writerows(rows)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", type=Path, help="fgamcd-train output directories")
    ap.add_argument("--episodes", type=int, default=10, help="exploring episodes per run")
    ap.add_argument(
        "--at-episode",
        type=int,
        default=None,
        help="training episode whose epsilon / temperature to use (default: last)",
    )
    ap.add_argument("--epsilon", type=float, default=None, help="override epsilon")
    ap.add_argument(
        "--exploration",
        choices=EXPLORATIONS,
        default=None,
        help="override MAASN-DA's exploration kind",
    )
    ap.add_argument("--seed", type=int, default=0, help="seed of the exploration noise")
    ap.add_argument("--out", type=Path, default=Path("results"))
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    missing = [str(r) for r in args.runs if not (r / CHECKPOINT).exists()]
    if missing:
        ap.error(f"no {CHECKPOINT} in {missing}")
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "exploration_tax.csv"
    rows: list[dict[str, Any]] = []
    for run in args.runs:
        rows += measure(
            run,
            args.episodes,
            args.at_episode,
            args.epsilon,
            args.exploration,
            args.seed,
            progress=not args.no_progress,
        )
        _write(rows, path)  # after every run: an interrupt keeps the finished ones
    print(summary(rows))
    print(f"rows in {path}")


if __name__ == "__main__":
    main()
