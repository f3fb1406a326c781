"""Fig. 11: model downloading delay vs antennas per edge node M (paper section V-D).

Grid: M = 20-70 (the paper's axis); quick: 20 and 40 (learned methods and the centralised reference
at 20 only). Paper: delay falls with M (spatial multiplexing gain); MAASN-DA best.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.sweeps import Axis, Sweep, run_point

SWEEP = Sweep(
    name="fig11",
    title="Fig. 11: model downloading delay vs number of antennas per edge node",
    scenario="paper",
    panels=(
        Axis(
            "num_antennas",
            "antennas per edge node M",
            (20, 30, 40, 50, 60, 70),
            (20, 40),
            lambda m: {"num_antennas": int(m)},
            trend=-1,
            sparse_quick=(20,),
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
