"""Calibration report: are users placed so that the paper's rate regime holds?

For a preset over several seeds it prints

1. the distance of each user to its own node;
2. the best-case single-node rate: own node alone, full power MRT, perfect CSI, over all k
   (and the same under the worst-case CSI error, per-node sets (4));
3. the share of requested PBs whose QoS (9b) is met when every requesting user's own node holds
   the PB and broadcasts it with multicast MRT to its own requesting users (no optimisation),
   under the worst-case error with the per-node sets (4) and the stacked relaxation (28).

Run: ``python -m benchmarks.calibration --scenario paper --seeds 5``.
"""

from __future__ import annotations

import argparse

import numpy as np

import fgamcd_env
from fgamcd_env.core.worstcase import mrt_multicast, rates_bps, worst_case_rates


def _pct(x: np.ndarray) -> str:
    q = np.percentile(x, [0, 5, 50, 95, 100])
    return "min {:.2f}  p5 {:.2f}  median {:.2f}  p95 {:.2f}  max {:.2f}".format(*q)


def calibrate(
    scenario: str = "paper", seeds: int = 5, **overrides: object
) -> dict[str, np.ndarray]:
    """Per-seed arrays of distances [m], best-case rates [Gbps] and QoS-feasibility flags."""
    dist, best, best_wc, feas_pn, feas_st = [], [], [], [], []
    for seed in range(seeds):
        sc = fgamcd_env.make_scenario(scenario, seed=seed, **overrides)
        cfg = sc.config
        users = np.arange(sc.num_users)
        own = sc.user_node
        dist.append(sc.distance_m[own, users])
        h_own = sc.channels[:, own, users, :]  # (K, U, M)
        gain = np.sum(np.abs(h_own) ** 2, axis=2)
        best.append(rates_bps(np.sqrt(cfg.p_max_w * gain), cfg.noise_w, cfg.bandwidth_hz).ravel())
        radius = np.sqrt(cfg.p_max_w / cfg.csi_error_shape)  # max |e^H w| with ||w||^2 = P, C = cI
        amp_wc = np.maximum(np.sqrt(cfg.p_max_w * gain) - radius, 0.0)
        best_wc.append(rates_bps(amp_wc, cfg.noise_w, cfg.bandwidth_hz).ravel())
        demand, cinv = sc.demand, sc.error_shape_inv
        for k in np.flatnonzero(demand.any(axis=1)):
            req = demand[k]
            targets = np.zeros((sc.num_nodes, sc.num_users), dtype=bool)
            targets[own[req], users[req]] = True
            part = targets.any(axis=1)
            w = mrt_multicast(sc.channels[k], targets, cfg.p_max_w)
            for model, out in (("per_node", feas_pn), ("stacked", feas_st)):
                r = worst_case_rates(
                    sc.channels[k], w, cinv, part, cfg.noise_w, cfg.bandwidth_hz, model
                )
                out.append(bool(np.all(r[req] >= sc.qos_bps[req])))
    return {
        "distance_m": np.concatenate(dist),
        "best_rate_gbps": np.concatenate(best) / 1e9,
        "best_rate_worst_case_gbps": np.concatenate(best_wc) / 1e9,
        "qos_feasible_per_node": np.array(feas_pn),
        "qos_feasible_stacked": np.array(feas_st),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenario", default="paper")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument(
        "--user-max-distance-m",
        type=float,
        default=None,
        help="override ScenarioConfig.user_max_distance_m",
    )
    args = ap.parse_args(argv)
    overrides = {}
    if args.user_max_distance_m is not None:
        overrides["user_max_distance_m"] = args.user_max_distance_m
    res = calibrate(args.scenario, args.seeds, **overrides)
    cfg = fgamcd_env.get_config(args.scenario, **overrides)
    print(
        f"calibration of {args.scenario!r} over {args.seeds} seeds "
        f"(users {cfg.user_min_distance_m:g}-{cfg.user_max_distance_m:g} m from their node)"
    )
    print(f"  user-to-own-node distance [m]:        {_pct(res['distance_m'])}")
    print(f"  best single-node rate, exact CSI [Gbps]: {_pct(res['best_rate_gbps'])}")
    print(f"  same, worst-case CSI error [Gbps]:       {_pct(res['best_rate_worst_case_gbps'])}")
    q = fgamcd_env.get_config(args.scenario, **overrides)
    print(
        f"  users with best-case worst-case rate >= Q_min ({q.qos_min_bps / 1e9:g} Gbps): "
        f"{np.mean(res['best_rate_worst_case_gbps'] >= q.qos_min_bps / 1e9):.1%} of (user, k)"
    )
    for model in ("per_node", "stacked"):
        f = res[f"qos_feasible_{model}"]
        print(
            f"  requested PBs QoS-feasible, own nodes broadcast with MRT ({model} error set): "
            f"{f.mean():.1%} of {f.size}"
        )


if __name__ == "__main__":
    main()
