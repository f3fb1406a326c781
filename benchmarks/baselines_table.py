"""Table of every baseline and the centralised reference.

Run: ``python -m benchmarks.baselines_table --scenario paper --seeds 3 --out results/``.
Writes ``baselines.csv`` (one row per policy, seed and episode) and prints the mean per policy.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

from baselines.centralised import CentralisedReference
from baselines.evaluate import evaluate
from baselines.methods import BASELINES
from fgamcd_env.atomic import atomic_write
from fgamcd_env.cli import add_override_option

COLUMNS = (
    "total_delay_s",
    "migration_delay_s",
    "broadcast_delay_s",
    "qos_infeasible_pbs",
    "undelivered_pbs",
    "hit_ratio",
    "return",
)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenario", default="paper")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--beamformer", default="fast")
    ap.add_argument("--policies", nargs="*", default=[*BASELINES, "centralised"])
    ap.add_argument("--out", type=Path, default=Path("results"))
    add_override_option(ap)
    args = ap.parse_args(argv)
    unknown = set(args.policies) - {*BASELINES, "centralised"}
    if unknown:
        ap.error(f"unknown policies {sorted(unknown)}; choose from {[*BASELINES, 'centralised']}")
    rows = []
    for name in args.policies:
        policy = CentralisedReference() if name == "centralised" else BASELINES[name]()
        t0 = time.perf_counter()
        part = evaluate(
            policy,
            args.scenario,
            seeds=range(args.seeds),
            beamformer=args.beamformer,
            progress=True,
            **dict(args.overrides),
        )
        for r in part:
            r["wall_s"] = (time.perf_counter() - t0) / len(part)
        rows.extend(part)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "baselines.csv"
    with atomic_write(path, newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(
        f"\n{args.scenario} {dict(args.overrides)}, beamformer={args.beamformer}, "
        f"mean over {args.seeds} seeds (csv: {path})"
    )
    print(f"{'policy':>24} " + " ".join(f"{c:>18}" for c in COLUMNS))
    for name in dict.fromkeys(r["policy"] for r in rows):
        sel = [r for r in rows if r["policy"] == name]
        means = [sum(r[c] for r in sel) / len(sel) for c in COLUMNS]
        print(f"{name:>24} " + " ".join(f"{m:18.4f}" for m in means))


if __name__ == "__main__":
    main()
