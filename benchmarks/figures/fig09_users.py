"""Fig. 9: model downloading delay vs number of users U (paper section V-D).

Grid: 18-48 users in steps of 6 (the paper's axis; U/N whole with N = 6); quick: 18 and 30 (learned
methods at 30 only). Paper: delay rises with U; MAASN-DA cuts it by 13.06 / 12.44 / 25.38 / 42.85 /
82.96 % vs QMIX-DA, TrimCaching, without cooperation, TDMA and coarse-grained caching (we average
the per-point reductions over the grid).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.sweeps import Axis, Headline, Sweep, run_point

SWEEP = Sweep(
    name="fig9",
    title="Fig. 9: model downloading delay vs number of users",
    scenario="paper",
    panels=(
        Axis(
            "num_users",
            "number of users U",
            (18, 24, 30, 36, 42, 48),
            (18, 30),
            lambda u: {"num_users": int(u)},
            trend=+1,
            sparse_quick=(30,),
        ),
    ),
    headline=Headline(
        {
            "qmix-da": 13.06,
            "trimcaching": 12.44,
            "no_cooperation": 25.38,
            "tdma": 42.85,
            "coarse": 82.96,
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
