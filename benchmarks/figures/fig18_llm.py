"""Fig. 18: LLM caching and downloading (paper section V-E), delay vs storage and vs nodes.

Scenario ``llm``: 20 fine-tuned Llama-2-7B / 13B models, K = 285, C_n = 375 GB, B = 40 GHz, R^bac
in [3.2, 4.8] Tbps. Panel (a): C_n = 125-625 GB; panel (b): N = 4-12 at 375 GB (the paper's axes);
quick: {125, 375} GB and N in {4, 6} (learned methods and the centralised reference at N = 6, 375
GB only). Paper: the trends of Figs. 8 and 10 (delay falls with storage and with N); at N = 6, C_n
= 375 GB MAASN-DA cuts the delay by 5.68 / 8.80 / 14.7 / 30.52 / 50.86 % vs QMIX-DA, TrimCaching,
without cooperation, TDMA and coarse-grained. Note: our LLM repository holds 158.77 GB, so from
about 160 GB of storage every node can cache every model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.sweeps import Axis, Headline, Sweep, run_point

SWEEP = Sweep(
    name="fig18",
    title="Fig. 18: LLM model downloading delay vs storage and vs number of edge nodes",
    scenario="llm",
    panels=(
        Axis(
            "storage_gb",
            "edge storage capacity C_n (GB)",
            (125.0, 250.0, 375.0, 500.0, 625.0),
            (125.0, 375.0),
            lambda gb: {"storage_bytes": float(round(gb * 1e9))},
            trend=-1,
            sparse_quick=(375.0,),
        ),
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
    headline=Headline(
        {
            "qmix-da": 5.68,
            "trimcaching": 8.80,
            "no_cooperation": 14.7,
            "tdma": 30.52,
            "coarse": 50.86,
        },
        panel="storage_gb",
        x=375.0,
        where="at N = 6, C_n = 375 GB",
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
