"""Fig. 13: model downloading delay vs parameter reuse ratio (paper section V-D).

x is the target reuse ratio, the same for the three CNN bases (``RepositoryConfig.reuse_ratios``);
each base freezes the block prefix whose parameter share is closest to it, so the achieved ratio
(column ``reuse_ratio_achieved``, parameter-weighted over stage-2 models) is near, not equal to, x
(0.30 and 0.35 give the same repository, achieved 29.3 %), and K changes with x (940 PBs at 0, 604
at 8.70 %, 464 at 35 %). Grid: 0-35 % (the paper's axis) with the paper's 8.70 %; quick: 8.70 % and
20 % (learned methods and the centralised reference at 8.70 % only; K = 940 at 0 would double the
cost of an episode). Paper: delay falls as reuse grows; MAASN-DA equals coarse-grained caching at
0; at 8.70 % it cuts the delay by 8.00 / 12.19 / 18.75 / 21.83 / 31.09 % vs QMIX-DA, TrimCaching,
without cooperation, TDMA and coarse-grained.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.sweeps import Axis, Headline, Sweep, run_point

SWEEP = Sweep(
    name="fig13",
    title="Fig. 13: model downloading delay vs parameter reuse ratio",
    scenario="paper",
    panels=(
        Axis(
            "reuse_ratio",
            "parameter reuse ratio (target, all bases)",
            (0.0, 0.05, 0.087, 0.15, 0.2, 0.25, 0.3, 0.35),
            (0.087, 0.2),
            lambda r: {"repository": {"reuse_ratios": [float(r)] * 3}},
            trend=-1,
            sparse_quick=(0.087,),
        ),
    ),
    headline=Headline(
        {
            "qmix-da": 8.00,
            "trimcaching": 12.19,
            "no_cooperation": 18.75,
            "tdma": 21.83,
            "coarse": 31.09,
        },
        panel="reuse_ratio",
        x=0.087,
        where="at a target reuse ratio of 8.70 %",
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
