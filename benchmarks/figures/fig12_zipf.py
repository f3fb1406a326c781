"""Fig. 12: model downloading delay vs Zipf exponent iota (paper section V-D).

Grid: iota = 0.5-1.5 (the paper's axis); quick: 0.5 and 1.5 (learned methods
at 0.5 only). Paper: delay falls as iota grows
(requests concentrate on hot models, whose PBs are cached at several nodes: more CoMP).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.sweeps import Axis, Sweep, run_point

SWEEP = Sweep(
    name="fig12",
    title="Fig. 12: model downloading delay vs Zipf distribution parameter",
    scenario="paper",
    panels=(
        Axis(
            "zipf_exponent",
            "Zipf exponent iota",
            (0.5, 0.75, 1.0, 1.25, 1.5),
            (0.5, 1.5),
            lambda z: {"zipf_exponent": float(z)},
            trend=-1,
            sparse_quick=(0.5,),
        ),
    ),
)

NAME: str = SWEEP.name
TITLE: str = SWEEP.title
NEEDS_AGENTS: bool = SWEEP.needs_agents
run_cell = run_point


def cells(quick: bool, seeds: int | None) -> list[dict[str, Any]]:
    return SWEEP.cells(quick, seeds)


def plot(df: Any, out_dir: Path) -> list[Path]:
    return SWEEP.plot(df, out_dir)


def summary(df: Any) -> str:
    return SWEEP.summary(df)
