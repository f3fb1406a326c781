"""``python -m agents.reference``: train and export reference policies, or list them.

Examples::

    python -m agents.reference build --algos maasn-da qmix-da --seeds 0-4 --scenario paper \\
        --runs runs/reference                   # 600 episodes each; rerun to resume
    python -m agents.reference export runs/maasn0 runs/qmix0   # finished fgamcd-train runs
    python -m agents.reference list
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agents.config import ALGOS
from fgamcd_env.cli import add_override_option


def parse_seeds(items: list[str]) -> list[int]:
    """``["0-4"]`` -> [0, 1, 2, 3, 4]; ``["0,2", "5"]`` -> [0, 2, 5]."""
    seeds: list[int] = []
    for item in items:
        for part in item.split(","):
            lo, _, hi = part.partition("-")
            if not lo.strip().isdigit() or (hi and not hi.strip().isdigit()):
                raise argparse.ArgumentTypeError(f"seeds {part!r}: use e.g. 0-4 or 0,2,5")
            seeds += list(range(int(lo), int(hi or lo) + 1))
    return list(dict.fromkeys(seeds))


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m agents.reference",
        description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n", 2)[2],
    )
    sub = ap.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="train (or resume) and export reference policies")
    b.add_argument("--algos", nargs="+", choices=ALGOS, default=list(ALGOS))
    b.add_argument("--seeds", nargs="+", default=["0-4"], help="e.g. 0-4, or 0,2,5")
    b.add_argument("--scenario", default="paper")
    b.add_argument("--episodes", type=int, help="training episodes (default: TrainConfig's)")
    b.add_argument("--runs", type=Path, required=True, help="directory of the training runs")
    b.add_argument("--quiet", action="store_true", help="no progress bars")
    add_override_option(b, help="ScenarioConfig override (JSON value)")
    add_override_option(b, "--hp", "hp", "TrainConfig field, by name or group.field (JSON)")
    e = sub.add_parser("export", help="export finished fgamcd-train runs")
    e.add_argument("run_dirs", nargs="+", type=Path)
    e.add_argument("--no-check", action="store_true", help="do not evaluate the export again")
    sub.add_parser("list", help="print the shipped entries")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import agents.reference as ref

    if args.command == "list":
        entries = ref.available()
        if not entries:
            print(f"no reference policies in {ref.REFERENCE_DIR / ref.INDEX}")
        for e in entries:
            state = "current" if ref.is_current(e) else "STALE"
            where = " ".join(str(p) for p in (e.scenario, e.overrides or None) if p)
            wall = sum(float(r.get("wall_s") or 0.0) for r in ref.curve(e))
            print(
                f"{e.name}: {e.algo} {where} seed {e.seed}, {e.episodes} episodes in {wall:.0f} s"
                f"{f', options {e.options}' if e.options else ''}; return "
                f"{e.episode_return:.2f}, delay {e.total_delay_s:.4f} s, QoS-infeasible "
                f"{e.qos_infeasible_pbs}, undelivered {e.undelivered_pbs}; {state}"
            )
        return 0
    from agents.reference.export import build, export_run
    from agents.train import TrainingInterrupted

    try:
        if args.command == "export":
            for run_dir in args.run_dirs:
                entry = export_run(run_dir, check=not args.no_check)
                print(f"{run_dir} -> {entry.path}")
            return 0
        build(
            args.algos,
            parse_seeds(args.seeds),
            scenario=args.scenario,
            episodes=args.episodes,
            runs=args.runs,
            overrides=dict(args.overrides),
            hp=dict(args.hp),
            progress=not args.quiet,
        )
    except TrainingInterrupted as exc:
        print(f"agents.reference: stopped by {exc}; run the same command again to resume")
        return 128 + exc.signum
    except (ValueError, AssertionError, argparse.ArgumentTypeError) as exc:
        print(f"agents.reference: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
