"""``fgamcd-train``: train MAASN-DA / QMIX-DA (or an ablation) and evaluate the greedy policy.

Examples::

    fgamcd-train --algo maasn-da --scenario paper --episodes 600 --seed 0 --out runs/maasn0
    fgamcd-train --out runs/maasn0 --resume            # continue a killed run exactly
    fgamcd-train --algo maasn-da --augmentation none --set storage_bytes=8e8 --out runs/x
    fgamcd-train --algo qmix-da --hp batch_size=64 --out runs/q
    fgamcd-train --hp reward.storage_cost=5 --hp optim.lr_actor=3e-4 --out runs/r
    fgamcd-train --out runs/maasn0 --evaluate --env prune_migrations=true  # re-evaluate
    fgamcd-train --hp select_every=20 --out runs/best0  # keep the best greedy policy seen
    fgamcd-train --threads 2 --out runs/maasn0  # gradient steps on two torch threads
    fgamcd-train --threads 2 --compile --out runs/maasn0  # and compiled by torch.compile
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from agents.config import ACTORS, ALGOS, AUGMENTATIONS, CRITICS, TrainConfig
from fgamcd_env.cli import add_override_option


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="fgamcd-train",
        description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n", 2)[2],
    )
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
    ap.add_argument(
        "--threads", type=int, help="torch threads of the gradient steps (torch_threads)"
    )
    ap.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="compile the gradient steps with torch.compile (needs a C++ compiler)",
    )
    ap.add_argument("--out", type=Path, required=True, help="run directory")
    ap.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    ap.add_argument(
        "--evaluate",
        action="store_true",
        help="no training: evaluate the greedy policy of OUT/checkpoint.pt; only "
        "--env, --eval-seeds and --beamformer apply",
    )
    ap.add_argument("--tensorboard", action="store_true")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    add_override_option(ap, help="ScenarioConfig override (JSON value)")
    add_override_option(ap, "--env", "env_kwargs", "env option, e.g. eps_hot=3")
    add_override_option(
        ap, "--hp", "hp", "any other TrainConfig field, by name or group.field (JSON value)"
    )
    return ap


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Flags over (for --resume) the saved config, over the defaults."""
    base = TrainConfig()
    saved = args.out / "config.json"
    if args.resume and saved.exists():
        base = TrainConfig.from_json(json.loads(saved.read_text()))
    changes = {
        k: v
        for k, v in {
            "algo": args.algo,
            "scenario": args.scenario,
            "episodes": args.episodes,
            "seed": args.seed,
            "beamformer": args.beamformer,
            "actor": args.actor,
            "critic": args.critic,
            "augmentation": args.augmentation,
            "tau0": args.tau0,
            "xi": args.xi,
            "checkpoint_every": args.checkpoint_every,
            "torch_threads": args.threads,
            "compile": args.compile,
            "eval_seeds": None if args.eval_seeds is None else tuple(args.eval_seeds),
        }.items()
        if v is not None
    }
    if args.overrides:
        changes["overrides"] = {**base.run.overrides, **dict(args.overrides)}
    if args.env_kwargs:
        changes["env_kwargs"] = {**base.run.env_kwargs, **dict(args.env_kwargs)}
    changes.update(dict(args.hp))
    return base.replace(
        **changes,
        out=args.out,
        resume=args.resume,
        progress=not args.quiet,
        tensorboard=args.tensorboard,
    )


def _print_rows(rows: list[dict]) -> None:
    for row in rows:
        print(
            f"greedy policy on instance {row['seed']}: total delay {row['total_delay_s']:.4f} s,"
            f" QoS-infeasible PBs {row['qos_infeasible_pbs']}, undelivered "
            f"{row['undelivered_pbs']}, return {row['return']:.2f}, migrations "
            f"{row['migrations']} ({row['redundant_migrations']} redundant)"
        )


def evaluate_checkpoint(args: argparse.Namespace) -> int:
    """``--evaluate``: the checkpoint's greedy policy, with the given env options on top."""
    from agents.policy import load_policy
    from agents.train import CHECKPOINT, make_env_config
    from baselines.evaluate import evaluate

    training_only = [
        f"--{k.replace('_', '-')}"
        for k in (
            "algo",
            "scenario",
            "episodes",
            "seed",
            "actor",
            "critic",
            "augmentation",
            "tau0",
            "xi",
            "checkpoint_every",
            "threads",
            "compile",
        )
        if getattr(args, k) is not None
    ]
    training_only += [
        flag
        for flag, given in (("--set", args.overrides), ("--hp", args.hp), ("--resume", args.resume))
        if given
    ]
    if training_only:
        print(
            f"fgamcd-train: --evaluate uses the checkpoint's config; drop {training_only}",
            file=sys.stderr,
        )
        return 2
    path = args.out / CHECKPOINT
    if not path.exists():
        print(f"fgamcd-train: no checkpoint at {path}", file=sys.stderr)
        return 2
    policy = load_policy(path)
    policy.env_kwargs = {**policy.env_kwargs, **dict(args.env_kwargs)}
    cfg = policy.learner.cfg
    rows = evaluate(
        policy,
        make_env_config(cfg),
        seeds=args.eval_seeds or cfg.run.eval_seeds or (cfg.run.seed,),
        beamformer=args.beamformer or cfg.run.beamformer,
    )
    print(f"{cfg.label} from {path}, env options {policy.env_kwargs}")
    _print_rows(rows)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.evaluate:
        try:
            return evaluate_checkpoint(args)
        except (TypeError, ValueError) as exc:
            print(f"fgamcd-train: {exc}", file=sys.stderr)
            return 2
    try:
        cfg = config_from_args(args)
    except ValueError as exc:
        print(f"fgamcd-train: {exc}", file=sys.stderr)
        return 2
    from agents.train import ResumeMismatchError, TrainingInterrupted, train

    try:
        res = train(cfg)
    except (ResumeMismatchError, FileNotFoundError) as exc:
        print(f"fgamcd-train: {exc}", file=sys.stderr)
        return 2
    except TrainingInterrupted as exc:
        print(f"fgamcd-train: stopped by {exc}", file=sys.stderr)
        return 128 + exc.signum
    last = res["curve"][-1] if res["curve"] else {}
    print(
        f"{cfg.label}: {len(res['curve'])} episodes in {res['wall_time_s']:.1f} s; "
        f"last episode return {last.get('return', float('nan')):.2f}"
    )
    _print_rows(res["eval_rows"])
    print(f"results in {cfg.output.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
