"""Command line: ``python -m fgamcd_env.cli summary --scenario paper --seed 0``."""

from __future__ import annotations

import argparse
import json

import fgamcd_env


def parse_override(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"override {text!r} must look like key=value")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def add_override_option(
    parser: argparse.ArgumentParser,
    flag: str = "--set",
    dest: str = "overrides",
    help: str = "override a ScenarioConfig field (JSON value)",
) -> None:
    """A repeatable ``FLAG KEY=VALUE`` option collected as a list of (key, value) pairs."""
    parser.add_argument(
        flag,
        dest=dest,
        type=parse_override,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=help,
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="fgamcd", description="fgamcd-env utilities")
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("summary", help="draw a scenario instance and print its summary")
    s.add_argument("--scenario", default="paper", help=f"preset: {sorted(fgamcd_env.PRESETS)}")
    s.add_argument("--seed", type=int, default=0)
    add_override_option(s)
    s.add_argument(
        "--full-comp",
        action="store_true",
        help="also count the requested PBs whose QoS fails even when every node broadcasts them"
        " (one robust CoMP solve per requested PB: seconds)",
    )
    sub.add_parser("presets", help="list the registered presets")
    args = ap.parse_args(argv)
    if args.command == "presets":
        for name, cfg in sorted(fgamcd_env.PRESETS.items()):
            print(
                f"{name:8s} N={cfg.num_nodes} U={cfg.num_users} M={cfg.num_antennas} "
                f"J={cfg.repository.num_models} C_n={cfg.storage_bytes:.3g} B"
            )
        return
    try:
        sc = fgamcd_env.make_scenario(args.scenario, seed=args.seed, **dict(args.overrides))
    except ValueError as err:
        ap.error(str(err))
    print(sc.summary())
    if args.full_comp:
        from fgamcd_env.delivery import full_comp_qos_failures

        failed = full_comp_qos_failures(sc)
        requested = int(sc.demand.any(axis=1).sum())
        print(
            f"  QoS-infeasible with full CoMP (every node, fast beamformer): "
            f"{int(failed.sum())} of {requested} requested PBs"
        )


if __name__ == "__main__":
    main()
