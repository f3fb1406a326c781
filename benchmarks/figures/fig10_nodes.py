"""Fig. 10: model downloading delay vs number of edge nodes N (paper section V-D).

Grid: N = 4-12 (the paper's axis), U = 30 (users per node padded to ceil(U/N)); quick: 4 and 6
(learned methods and the centralised reference at 6 only). Paper: delay falls with N, the gain
shrinking for large N (backhaul-limited); MAASN-DA best.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.sweeps import Axis, Sweep, run_point

SWEEP = Sweep(
    name="fig10",
    title="Fig. 10: model downloading delay vs number of edge nodes",
    scenario="paper",
    panels=(
        Axis(
            "num_nodes",
            "number of edge nodes N",
            (4, 6, 8, 10, 12),
            (4, 6),
            lambda n: {"num_nodes": int(n)},
            trend=-1,
            sparse_quick=(6,),
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
