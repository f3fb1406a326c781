"""Fig. 8: model downloading delay vs edge storage capacity C_n (paper section V-D).

Grid: the paper's axis, 0.8-2 GB, with Table II's 1.25 GB (the default point, shared with the other
figures); quick: 0.8 and 1.25 GB (learned methods and the centralised reference at 1.25 GB only).
Paper: every curve falls as C_n grows; MAASN-DA cuts the delay by 12.20 / 12.24 / 23.30 / 29.74 /
67.86 % vs QMIX-DA, TrimCaching, without cooperation, TDMA and coarse-grained caching (we average
the per-point reductions over the grid).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.sweeps import Axis, Headline, Sweep, run_point

SWEEP = Sweep(
    name="fig8",
    title="Fig. 8: model downloading delay vs edge storage capacity",
    scenario="paper",
    panels=(
        Axis(
            "storage_gb",
            "edge storage capacity C_n (GB)",
            (0.8, 1.0, 1.25, 1.5, 1.75, 2.0),
            (0.8, 1.25),
            lambda gb: {"storage_bytes": float(round(gb * 1e9))},
            trend=-1,
            sparse_quick=(1.25,),
        ),
    ),
    headline=Headline(
        {
            "qmix-da": 12.20,
            "trimcaching": 12.24,
            "no_cooperation": 23.30,
            "tdma": 29.74,
            "coarse": 67.86,
        }
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
