"""``fgamcd-train``: train MAASN-DA / QMIX-DA (or an ablation) and evaluate the greedy policy.

Examples::

    fgamcd-train --algo maasn-da --scenario paper --episodes 600 --seed 0 --out runs/maasn0
    fgamcd-train --out runs/maasn0 --resume            # continue a killed run exactly
    fgamcd-train --algo maasn-da --augmentation none --set storage_bytes=8e8 --out runs/x
    fgamcd-train --algo qmix-da --hp batch_size=64 --out runs/q
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from agents.config import ACTORS, ALGOS, AUGMENTATIONS, CRITICS, TrainConfig
from fgamcd_env.cli import parse_override


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="fgamcd-train", description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n", 2)[2])
    ap.add_argument("--algo", choices=ALGOS)
    ap.add_argument("--scenario")
    ap.add_argument("--episodes", type=int)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--eval-seeds", type=int, nargs="+")
    ap.add_argument("--beamformer")
    ap.add_argument("--actor", choices=ACTORS)
    ap.add_argument("--critic", choices=CRITICS)
    ap.add_argument("--augmentation", choices=AUGMENTATIONS)
    ap.add_argument("--tau0", type=float)
    ap.add_argument("--xi", type=float)
    ap.add_argument("--checkpoint-every", type=int)
    ap.add_argument("--out", type=Path, required=True, help="run directory")
    ap.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    ap.add_argument("--tensorboard", action="store_true")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    ap.add_argument("--set", dest="overrides", type=parse_override, action="append", default=[],
                    metavar="KEY=VALUE", help="ScenarioConfig override (JSON value)")
    ap.add_argument("--env", dest="env_kwargs", type=parse_override, action="append", default=[],
                    metavar="KEY=VALUE", help="env option, e.g. eps_hot=3")
    ap.add_argument("--hp", type=parse_override, action="append", default=[], metavar="KEY=VALUE",
                    help="any other TrainConfig field (JSON value)")
    return ap


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Flags over (for --resume) the saved config, over the defaults."""
    base = TrainConfig()
    saved = args.out / "config.json"
    if args.resume and saved.exists():
        base = TrainConfig.from_json(json.loads(saved.read_text()))
    changes = {
        k: v for k, v in {
            "algo": args.algo, "scenario": args.scenario, "episodes": args.episodes,
            "seed": args.seed, "beamformer": args.beamformer, "actor": args.actor,
            "critic": args.critic, "augmentation": args.augmentation, "tau0": args.tau0,
            "xi": args.xi, "checkpoint_every": args.checkpoint_every,
            "eval_seeds": None if args.eval_seeds is None else tuple(args.eval_seeds),
        }.items() if v is not None
    }
    if args.overrides:
        changes["overrides"] = {**base.overrides, **dict(args.overrides)}
    if args.env_kwargs:
        changes["env_kwargs"] = {**base.env_kwargs, **dict(args.env_kwargs)}
    changes.update(dict(args.hp))
    return base.replace(**changes, out=args.out, resume=args.resume,
                        progress=not args.quiet, tensorboard=args.tensorboard)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        cfg = config_from_args(args)
    except ValueError as exc:
        print(f"fgamcd-train: {exc}", file=sys.stderr)
        return 2
    from agents.train import train

    res = train(cfg)
    last = res["curve"][-1] if res["curve"] else {}
    print(f"{cfg.label}: {len(res['curve'])} episodes in {res['wall_time_s']:.1f} s; "
          f"last episode return {last.get('return', float('nan')):.2f}")
    for row in res["eval_rows"]:
        print(f"greedy policy on instance {row['seed']}: total delay {row['total_delay_s']:.4f} s,"
              f" QoS-infeasible PBs {row['qos_infeasible_pbs']}, undelivered "
              f"{row['undelivered_pbs']}, return {row['return']:.2f}")
    print(f"results in {cfg.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
