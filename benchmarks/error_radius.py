"""The two readings of the stacked error set (28): over the participating nodes or all N.

    python -m benchmarks.error_radius --scenario paper --seeds 0 --episodes 2

Both envs replay the same random actions (cache with probability 1/2, migrate on each link with
probability 1/4), so they decide the same participants; only the radius of the stacked error
set differs. Prints, per reading, the requested PBs, those some requesting user gets at a
worst-case rate of 0 (undelivered), the QoS-infeasible ones and the total delay.
"""

from __future__ import annotations

import argparse

import numpy as np

import fgamcd_env
from fgamcd_env.delivery import STACKED_NODES


def run(scenario: str, seeds: list[int], episodes: int) -> dict[str, dict[str, float]]:
    out = {
        s: {"requested": 0, "undelivered": 0, "qos_infeasible": 0, "delay_s": 0.0}
        for s in STACKED_NODES
    }
    for seed in seeds:
        for reading in STACKED_NODES:
            env = fgamcd_env.parallel_env(scenario, seed=seed, stacked_nodes=reading)
            n = env.config.num_nodes
            for ep in range(episodes):
                rng = np.random.default_rng([seed, ep])
                env.reset(seed=seed)
                infos = {}
                while env.agents:
                    acts = {
                        a: np.concatenate([[rng.integers(0, 2)], rng.random(n - 1) < 0.25])
                        for a in env.agents
                    }
                    _, _, _, _, infos = env.step(acts)
                    t = infos[env.possible_agents[0]]["terms"]
                    row = out[reading]
                    row["requested"] += t["requested"]
                    row["undelivered"] += t["no_delivery"]
                    row["qos_infeasible"] += t["qos_infeasible"]
                    row["delay_s"] += t["delay_s"]
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="paper")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--episodes", type=int, default=2)
    args = ap.parse_args(argv)
    res = run(args.scenario, args.seeds, args.episodes)
    print(f"{args.scenario}, seeds {args.seeds}, {args.episodes} random episode(s) each:")
    print(
        "| stacked over | requested PBs | undelivered (no participant, or a zero rate) | "
        "QoS-infeasible | delay (s) |"
    )
    print("| --- | --- | --- | --- | --- |")
    for reading, r in res.items():
        print(
            f"| {reading} | {r['requested']} | {r['undelivered']} | {r['qos_infeasible']} | "
            f"{r['delay_s']:.3f} |"
        )


if __name__ == "__main__":
    main()
