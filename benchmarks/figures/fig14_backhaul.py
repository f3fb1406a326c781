"""Fig. 14: delay vs number of edge nodes for average backhaul rates 8 / 10 / 12 Gbps.

Each backhaul rate is drawn uniformly in [mean - 2, mean + 2] Gbps (Table II: [8, 12], mean 10).
The paper shows MAASN-DA only; we add the centralised reference as a yardstick. Grid: N = 4-12 x
{8, 10, 12} Gbps; quick: N in {4, 6} x {8, 10} Gbps (MAASN-DA at N = 6, 10 Gbps only). Paper: delay
falls with both N and the backhaul rate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.sweeps import Axis, Sweep, run_point

SWEEP = Sweep(
    name="fig14",
    title="Fig. 14: impact of number of edge nodes and average backhaul rate",
    scenario="paper",
    methods=("maasn-da", "centralised"),
    sparse_methods=("maasn-da",),
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
    series=Axis(
        "backhaul_gbps",
        "average backhaul rate (Gbps)",
        (8.0, 10.0, 12.0),
        (8.0, 10.0),
        lambda g: {"backhaul_min_bps": (g - 2.0) * 1e9, "backhaul_max_bps": (g + 2.0) * 1e9},
        trend=-1,
        sparse_quick=(10.0,),
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
