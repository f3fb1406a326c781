"""Every method's gap to the exact optimum of P1 (``baselines.optimum``), per instance.

Run: ``python -m benchmarks.optimum_gap [--instances small:0-4 paper:0-2] [--csv optimum_gap.csv]``.

Per instance (preset and seed) it solves the optimum and replays its plan in the env (the replayed
return must equal the planned objective), runs each method for one episode, and prints two
markdown tables:

- the optima: objective, total delay, QoS-infeasible and undelivered PBs, the time to evaluate
  the per-PB pattern costs (deliveries included) and the MILP time, HiGHS's gap, and the
  deliveries evaluated (how many were new solves);
- the methods: return, total delay, QoS-infeasible and undelivered PBs, and the gap in return
  (12) to two optima: ``optimum`` (robust CoMP, ``beamformer="fast"``, one broadcast per PB: the
  paper's system) and the optimum of the method's own delivery (its beamformer and env options:
  TDMA for ``tdma``, one broadcast per model for ``coarse``, no cooperation for
  ``no_cooperation``, CoMP-or-TDMA per PB for ``centralised``). The second gap can't be negative
  (the benchmark fails if it is); the first can, for a method that delivers another way.

The optimum under ``beamformer="best"`` (CoMP or TDMA per PB, whichever is better) is always
solved too: it bounds every method that delivers each PB by one of the two.

Methods whose env options differ only in the beamformer share one env per instance (the env's
memo is keyed by delivery method), so each delivery is solved once and ``best`` reuses the CoMP
and TDMA solves. Results are written to the CSV after every instance.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from baselines.evaluate import episode_metrics, episode_seed
from baselines.optimum import Optimum
from fgamcd_env.atomic import atomic_write
from fgamcd_env.env import FGAMCDParallelEnv

DEFAULT_METHODS: tuple[str, ...] = (
    "trimcaching",
    "no_cooperation",
    "tdma",
    "coarse",
    "centralised",
    "replicate",
)
DEFAULT_INSTANCES: tuple[str, ...] = ("small:0-4", "paper:0-2")
REFERENCE = "fast"  # the paper's beamformer: the "optimum" every method's first gap is to


def make_method(name: str) -> Any:
    """A fresh policy object for a method name (``baselines.methods.BASELINES`` or centralised)."""
    if name == "centralised":
        from baselines.centralised import CentralisedReference

        return CentralisedReference()
    from baselines.methods import BASELINES

    if name not in BASELINES or name == "optimum":
        raise ValueError(f"unknown method {name!r}; choose from {['centralised', *BASELINES]}")
    return BASELINES[name]()


def parse_instances(specs: list[str]) -> list[tuple[str, int]]:
    """``["small:0-4", "paper:0,2"]`` -> [(preset, seed), ...]."""
    out = []
    for spec in specs:
        preset, _, seeds = spec.partition(":")
        if not preset or not seeds:
            raise ValueError(
                f"instance {spec!r}: expected PRESET:SEEDS, e.g. small:0-4 or paper:0,2"
            )
        for part in seeds.split(","):
            lo, _, hi = part.partition("-")
            out.extend((preset, s) for s in range(int(lo), int(hi or lo) + 1))
    return out


@contextmanager
def delivering_with(env: FGAMCDParallelEnv, beamformer: str) -> Iterator[FGAMCDParallelEnv]:
    """The env with another beamformer for a while (its memo keeps every method's solves)."""
    old = env.beamformer
    env.beamformer = beamformer
    try:
        yield env
    finally:
        env.beamformer = old


def run_episode(policy: Any, env: FGAMCDParallelEnv, seed: int) -> dict[str, Any]:
    """One evaluation episode as ``baselines.evaluate`` runs it, on an existing env."""
    t0 = time.perf_counter()
    obs, _ = env.reset(seed=episode_seed(seed, 0))
    policy.reset(env)
    while env.agents:
        obs, *_ = env.step(policy.act(obs, env))
    return {**episode_metrics(env), "time_s": time.perf_counter() - t0}


def _options_label(kwargs: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(kwargs.items())) or "default"


def run_instance(
    preset: str,
    seed: int,
    methods: tuple[str, ...],
    time_limit_s: float = 600.0,
    progress: bool = False,
    **overrides: Any,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(optimum rows, method rows) of one instance (``overrides``: scenario fields)."""
    policies = {name: make_method(name) for name in methods}
    # env options without the beamformer -> beamformers the optimum is solved for there
    groups: dict[tuple, list[str]] = {(): [REFERENCE, "best"]}
    for policy in policies.values():
        kwargs = {"beamformer": REFERENCE, **policy.env_kwargs}
        beamformer = kwargs.pop("beamformer")
        wanted = groups.setdefault(tuple(sorted(kwargs.items())), [])
        if beamformer not in wanted:
            wanted.append(beamformer)
    envs = {
        key: FGAMCDParallelEnv(
            scenario=preset, seed=seed, beamformer=REFERENCE, **dict(key), **overrides
        )
        for key in groups
    }
    base = {"scenario": preset, "seed": seed}
    optima: dict[tuple, dict[str, Any]] = {}
    opt_rows = []
    for key, beamformers in groups.items():
        env = envs[key]
        # "best" last: it reuses the solves of both its modes
        for beamformer in sorted(beamformers, key=lambda b: b == "best"):
            policy = Optimum(time_limit_s=time_limit_s, progress=progress)
            with delivering_with(env, beamformer):
                metrics = run_episode(policy, env, seed)
            res = policy.result
            if not math.isclose(metrics["return"], res.objective, rel_tol=1e-9, abs_tol=1e-9):
                raise RuntimeError(
                    f"{preset} seed {seed} {beamformer} {dict(key)}: replayed return "
                    f"{metrics['return']!r} != planned {res.objective!r}"
                )
            row = {
                **base,
                "method": "optimum",
                "beamformer": beamformer,
                "options": _options_label(dict(key)),
                "objective": res.objective,
                **metrics,
                "status": res.status,
                "mip_gap": res.mip_gap,
                "bound": res.bound,
                "precompute_time_s": res.precompute_time_s,
                "milp_time_s": res.milp_time_s,
                "deliveries": res.deliveries,
                "new_solves": res.new_solves,
                "variables": res.variables,
            }
            optima[key, beamformer] = row
            opt_rows.append(row)
    reference = optima[(), REFERENCE]["return"]
    method_rows = []
    for name, policy in policies.items():
        kwargs = {"beamformer": REFERENCE, **policy.env_kwargs}
        beamformer = kwargs.pop("beamformer")
        key = tuple(sorted(kwargs.items()))
        with delivering_with(envs[key], beamformer):
            metrics = run_episode(policy, envs[key], seed)
        own = optima[key, beamformer]["return"]
        method_rows.append(
            {
                **base,
                "method": name,
                "beamformer": beamformer,
                "options": _options_label(kwargs),
                **metrics,
                "gap_to_optimum": reference - metrics["return"],
                "rel_gap_to_optimum": (reference - metrics["return"]) / abs(reference),
                "gap_to_own_optimum": own - metrics["return"],
                "rel_gap_to_own_optimum": (own - metrics["return"]) / abs(own),
            }
        )
    return opt_rows, method_rows


def markdown(opt_rows: list[dict[str, Any]], method_rows: list[dict[str, Any]]) -> str:
    """The two tables (optima, then methods) as markdown."""
    lines = [
        "| instance | delivery | objective (return) | total delay [s] | QoS-inf. | undeliv. "
        "| precompute [s] | MILP [s] | gap | deliveries (new) | MILP vars |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in opt_rows:
        opts = "" if r["options"] == "default" else f", {r['options']}"
        lines.append(
            f"| {r['scenario']} s{r['seed']} | {r['beamformer']}{opts} | {r['objective']:.4f} "
            f"| {r['total_delay_s']:.4f} | {r['qos_infeasible_pbs']} | {r['undelivered_pbs']} "
            f"| {r['precompute_time_s']:.1f} | {r['milp_time_s']:.2f} | "
            f"{r['mip_gap']:.1e}{'' if r['status'] == 'optimal' else ' (time limit)'} "
            f"| {r['deliveries']} ({r['new_solves']}) | {r['variables']} |"
        )
    lines += [
        "",
        "| instance | method | return | total delay [s] | QoS-inf. | undeliv. "
        "| gap to optimum (CoMP) | gap to optimum of own delivery |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in method_rows:
        lines.append(
            f"| {r['scenario']} s{r['seed']} | {r['method']} | {r['return']:.4f} "
            f"| {r['total_delay_s']:.4f} | {r['qos_infeasible_pbs']} | {r['undelivered_pbs']} "
            f"| {r['gap_to_optimum']:.4f} ({100 * r['rel_gap_to_optimum']:.2f} %) "
            f"| {r['gap_to_own_optimum']:.4f} ({100 * r['rel_gap_to_own_optimum']:.2f} %) |"
        )
    return "\n".join(lines)


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    fields = list(dict.fromkeys(k for r in rows for k in r))
    with atomic_write(path, newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--instances", nargs="*", default=list(DEFAULT_INSTANCES))
    ap.add_argument("--methods", default=",".join(DEFAULT_METHODS))
    ap.add_argument("--time-limit", type=float, default=600.0, help="HiGHS limit per MILP [s]")
    ap.add_argument("--csv", type=Path, default=None, help="write every row here")
    ap.add_argument("--progress", action="store_true", help="progress bars of the deliveries")
    args = ap.parse_args(argv)
    methods = tuple(m for m in args.methods.split(",") if m)
    try:
        instances = parse_instances(args.instances)
        for name in methods:
            make_method(name)
    except ValueError as err:
        ap.error(str(err))
    opt_rows: list[dict[str, Any]] = []
    method_rows: list[dict[str, Any]] = []
    for preset, seed in instances:
        t0 = time.perf_counter()
        o, m = run_instance(preset, seed, methods, args.time_limit, args.progress)
        opt_rows += o
        method_rows += m
        print(f"{preset} seed {seed}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        if args.csv is not None:
            write_csv(args.csv, opt_rows + method_rows)
    print(markdown(opt_rows, method_rows))
    beaten = [r for r in method_rows if r["gap_to_own_optimum"] < -1e-9]
    for r in beaten:
        print(
            f"ERROR: {r['method']} beats the optimum of its own delivery on {r['scenario']} "
            f"seed {r['seed']} by {-r['gap_to_own_optimum']!r}",
            file=sys.stderr,
        )
    return 1 if beaten else 0


if __name__ == "__main__":
    sys.exit(main())
