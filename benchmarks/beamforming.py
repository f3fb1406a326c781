"""Benchmark of the robust CoMP beamformers (issue #3), in the shape of the paper's Table III.

    python -m benchmarks.beamforming [--quick] [--instances 3] [--time-cap 90] [--csv PATH]

One run, the same random instances for every method: for (N_par, M) in {(1,20), (2,20), (3,20),
(6,20), (2,60), (6,60)} and 1, 3, 6 requesting users (paper preset, seed 0; M = 60 by override),
each instance a random PB, random participating nodes and random users associated with them.
``sdp_dc`` runs in a child process per setting with a per-instance time cap; an instance that
hits the cap (and every larger setting with at least as many users) is marked "capped", never
dropped silently. Times of ``sdp_dc`` exclude the one-off cvxpy model build (reported apart).
Rate ratios are of the minimum worst-case rate (stacked error model, the paper's (28)).
Monte Carlo: 10,000 error draws per robust solution flagged QoS-feasible (per-node and stacked
sets), with Q_u both as drawn and set just below the achieved rate (so the flag is on); the
non-robust design is checked the same way with Q_u just below its nominal rate.
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing as mp
import time
from pathlib import Path

import numpy as np

import fgamcd_env
from fgamcd_env.beamforming import (
    BeamformingProblem,
    SdpOptions,
    monte_carlo_check,
    problem_from_scenario,
    solve,
)
from fgamcd_env.beamforming import sdp as sdp_mod

SETTINGS = [(1, 20), (2, 20), (3, 20), (6, 20), (2, 60), (6, 60)]
USERS = [1, 3, 6]


def make_instances(n_par: int, m: int, n_users: int, count: int, seed: int) -> list:
    sc = _scenario(m, seed)
    rng = np.random.default_rng([seed, n_par, m, n_users])
    out = []
    for _ in range(count):
        nodes = np.sort(rng.choice(sc.num_nodes, n_par, replace=False))
        pool = np.flatnonzero(np.isin(sc.user_node, nodes))
        if len(pool) < n_users:  # add the users nearest to the participating nodes
            rest = np.setdiff1d(np.arange(sc.num_users), pool)
            near = rest[np.argsort(sc.distance_m[np.ix_(nodes, rest)].min(axis=0))]
            pool = np.concatenate([pool, near[: n_users - len(pool)]])
        users = np.sort(rng.choice(pool, n_users, replace=False))
        k = int(rng.integers(sc.num_pbs))
        mask = np.isin(np.arange(sc.num_nodes), nodes)
        out.append(problem_from_scenario(sc, k, mask, users))
    return out


_SC: dict = {}


def _scenario(m: int, seed: int):
    if (m, seed) not in _SC:
        _SC[(m, seed)] = fgamcd_env.make_scenario("paper", seed=seed, num_antennas=m)
    return _SC[(m, seed)]


def _sdp_worker(problems: list, conn, opts: SdpOptions) -> None:
    p = problems[0]
    t0 = time.perf_counter()
    sdp_mod._get_model(p.num_nodes, p.num_antennas, p.num_users, "stacked", False)
    conn.send(("built", time.perf_counter() - t0))
    for i, prob in enumerate(problems):
        res = solve(prob, "sdp_dc", "stacked", options=opts)
        conn.send(("done", i, res))
    conn.close()


def run_sdp(problems: list, cap: float, opts: SdpOptions) -> tuple[list, float | None]:
    """Results (or "capped") per instance, and the model build time, with a hard time cap."""
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_sdp_worker, args=(problems, child, opts), daemon=True)
    proc.start()
    child.close()
    out: list = ["capped"] * len(problems)
    build = None
    try:
        if not parent.poll(cap):
            return out, None
        build = parent.recv()[1]
        for _ in problems:
            if not parent.poll(cap):
                break
            _, i, res = parent.recv()
            out[i] = res
    except EOFError:
        pass
    finally:
        if proc.is_alive():
            proc.terminate()
        proc.join(5)
    return out, build


def _tight(prob: BeamformingProblem, rate: float) -> BeamformingProblem:
    return prob.with_qos(np.full(prob.num_users, 0.999 * rate))


def _mc(prob, res, model: str, draws: int) -> tuple[int, int]:
    """(violations, checks) over the drawn QoS (if flagged feasible) and a tight QoS."""
    viol, checks = 0, 0
    if res.qos_feasible:
        viol += monte_carlo_check(prob, res, draws, seed=1, error_set=model).total_violations
        checks += 1
    tight = _tight(prob, res.min_rate_bps)
    res_t = solve(tight, res.method, model, warm_start=res.w)
    if res_t.qos_feasible:
        viol += monte_carlo_check(tight, res_t, draws, seed=2, error_set=model).total_violations
        checks += 1
    return viol, checks


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 instance per setting, 1000 MC draws")
    ap.add_argument("--instances", type=int, default=3)
    ap.add_argument("--time-cap", type=float, default=90.0, help="sdp_dc seconds per instance")
    ap.add_argument("--mc-draws", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--csv", type=Path, default=Path("benchmarks/results/beamforming.csv"))
    ap.add_argument("--no-sdp", action="store_true", help="skip sdp_dc (fast methods only)")
    ap.add_argument("--settings", default=None, help="subset, e.g. '2x20,3x20' (N_par x M)")
    ap.add_argument("--users", default=None, help="subset of user counts, e.g. '1,3'")
    ap.add_argument("--sdp-solvers", default=None, help="e.g. 'SCS' (default: the chain)")
    ap.add_argument("--scs-eps", type=float, default=1e-6)
    args = ap.parse_args(argv)
    settings = (
        SETTINGS
        if args.settings is None
        else [tuple(int(x) for x in t.split("x")) for t in args.settings.split(",")]
    )
    users_list = USERS if args.users is None else [int(x) for x in args.users.split(",")]
    sdp_opts = SdpOptions(
        scs_eps=args.scs_eps,
        solvers=None if args.sdp_solvers is None else tuple(args.sdp_solvers.split(",")),
    )
    count = 1 if args.quick else args.instances
    draws = 1000 if args.quick else args.mc_draws
    print(
        f"solver chain: {sdp_mod.solver_chain(sdp_opts.solvers)}  "
        f"(MOSEK licence: {sdp_mod.mosek_licensed()}); SCS eps {args.scs_eps:g}"
    )
    rows: list[dict] = []
    capped_at: list[tuple[int, int]] = []  # (size N_par*M, users) of settings that hit the cap
    for n_par, m in settings:
        for n_users in users_list:
            problems = make_instances(n_par, m, n_users, count, args.seed)
            size = n_par * m
            skip = args.no_sdp or any(size >= s and n_users >= u for s, u in capped_at)
            if skip:
                sdp_res, build = ["skipped" if args.no_sdp else "capped"] * count, None
            else:
                sdp_res, build = run_sdp(problems, args.time_cap, sdp_opts)
                if any(isinstance(r, str) for r in sdp_res):
                    capped_at.append((size, n_users))
            for i, prob in enumerate(problems):
                row = {
                    "n_par": n_par,
                    "m": m,
                    "users": n_users,
                    "instance": i,
                    "k": prob.meta["k"],
                    "sdp_build_s": build,
                }
                fast = solve(prob, "fast", "stacked")
                pn = solve(prob, "fast", "per_node")
                nr = solve(prob, "nonrobust", "stacked")
                td = solve(prob, "mrt_tdma", "stacked")
                row.update(
                    fast_s=fast.wall_time_s,
                    fast_rate=fast.min_rate_bps,
                    fast_qos=fast.qos_feasible,
                    fast_pn_s=pn.wall_time_s,
                    fast_pn_rate=pn.min_rate_bps,
                    nonrobust_s=nr.wall_time_s,
                    nonrobust_rate=nr.min_rate_bps,
                    tdma_s=td.wall_time_s,
                    tdma_delay=td.delay_s,
                    fast_delay=fast.delay_s,
                )
                v1, c1 = _mc(prob, fast, "stacked", draws)
                v2, c2 = _mc(prob, pn, "per_node", draws)
                v3, c3 = _mc(prob, nr, "per_node", draws)
                row.update(
                    robust_mc_viol=v1 + v2,
                    robust_mc_checks=c1 + c2,
                    nonrobust_mc_viol=v3,
                    nonrobust_mc_checks=c3,
                )
                r = sdp_res[i]
                if isinstance(r, str):
                    row.update(sdp_status=r)
                else:
                    row.update(
                        sdp_status=r.status,
                        sdp_solver=r.solver,
                        sdp_s=r.wall_time_s,
                        sdp_rate=r.min_rate_bps,
                        sdr_bound=r.sdr_bound_bps,
                        sdp_iters=r.iterations,
                        sdp_qos=r.qos_feasible,
                    )
                    if r.qos_feasible:
                        row["robust_mc_viol"] += monte_carlo_check(
                            prob, r, draws, seed=3, error_set="stacked"
                        ).total_violations
                        row["robust_mc_checks"] += 1
                rows.append(row)
            _progress(rows[-count:])
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    keys = sorted(
        {k for r in rows for k in r},
        key=lambda k: list(rows[0]).index(k) if k in rows[0] else 100 + len(k),
    )
    with args.csv.open("w", newline="") as fh:
        wr = csv.DictWriter(fh, fieldnames=keys)
        wr.writeheader()
        wr.writerows(rows)
    print_tables(rows)
    print(f"\nCSV: {args.csv}")
    return 0


def _progress(rows: list[dict]) -> None:
    r = rows[0]
    st = [x.get("sdp_status") for x in rows]
    print(f"  done N_par={r['n_par']} M={r['m']} U={r['users']}: sdp {st}", flush=True)


def _med_max(x: list[float]) -> str:
    if not x:
        return "-"
    return f"{np.median(x):.3g}/{np.max(x):.3g}"


def print_tables(rows: list[dict]) -> None:
    print(
        "\nRunning time per beamforming call [s], median/max over instances "
        "(Table III shape; sdp_dc without model build)"
    )
    head = f"{'setting':<14}{'method':<18}" + "".join(f"{'U=' + str(u):>20}" for u in USERS)
    print(head)
    print("-" * len(head))
    for n_par, m in SETTINGS:
        sel = [r for r in rows if r["n_par"] == n_par and r["m"] == m]
        for label, key in (
            ("fast (stacked)", "fast_s"),
            ("fast (per-node)", "fast_pn_s"),
            ("nonrobust", "nonrobust_s"),
            ("sdp_dc", "sdp_s"),
        ):
            cells = []
            for u in USERS:
                su = [r for r in sel if r["users"] == u]
                vals = [r[key] for r in su if r.get(key) is not None and not _nan(r.get(key))]
                cell = _med_max(vals)
                if key == "sdp_s":
                    miss = sum(1 for r in su if r.get("sdp_s") is None)
                    if miss:
                        cell += f" ({miss} capped)"
                cells.append(cell)
            name = f"N={n_par}, M={m}" if label.startswith("fast (s") else ""
            print(f"{name:<14}{label:<18}" + "".join(f"{c:>20}" for c in cells))
    print("\nQuality (min worst-case rate, stacked model)")
    print(
        f"{'setting':<14}{'U':>3}{'fast/sdp med':>14}{'fast/sdp min':>14}{'fast/SDR med':>14}"
        f"{'sdp/SDR med':>13}{'speedup med':>13}{'pn gain %':>11}{'MC viol rob':>13}"
        f"{'MC viol nonrob':>16}"
    )
    for n_par, m in SETTINGS:
        for u in USERS:
            su = [r for r in rows if r["n_par"] == n_par and r["m"] == m and r["users"] == u]
            both = [r for r in su if r.get("sdp_rate") is not None]
            ratio = [r["fast_rate"] / r["sdp_rate"] for r in both if r["sdp_rate"] > 0]
            f_sdr = [r["fast_rate"] / r["sdr_bound"] for r in both if r.get("sdr_bound")]
            s_sdr = [r["sdp_rate"] / r["sdr_bound"] for r in both if r.get("sdr_bound")]
            spd = [r["sdp_s"] / r["fast_s"] for r in both]
            gain = [
                100 * (r["fast_pn_rate"] / r["fast_rate"] - 1) for r in su if r["fast_rate"] > 0
            ]
            rob = f"{sum(r['robust_mc_viol'] for r in su)}/{sum(r['robust_mc_checks'] for r in su)}"
            nrb = (
                f"{sum(r['nonrobust_mc_viol'] for r in su)}/"
                f"{sum(r['nonrobust_mc_checks'] for r in su)}"
            )
            name = f"N={n_par}, M={m}"
            print(
                f"{name:<14}{u:>3}{_f(ratio, np.median):>14}{_f(ratio, np.min):>14}"
                f"{_f(f_sdr, np.median):>14}{_f(s_sdr, np.median):>13}"
                f"{_f(spd, np.median, '.0f'):>13}{_f(gain, np.median, '.2f'):>11}{rob:>13}"
                f"{nrb:>16}"
            )
    both = [r for r in rows if r.get("sdp_rate") is not None]
    if both:
        ratio = [r["fast_rate"] / r["sdp_rate"] for r in both]
        spd = [r["sdp_s"] / r["fast_s"] for r in both]
        med_ratio = np.median([r["sdp_s"] for r in both]) / np.median([r["fast_s"] for r in both])
        print(
            f"\nALL solved-by-both instances ({len(both)}): fast/sdp_dc rate median "
            f"{np.median(ratio):.4f}, min {np.min(ratio):.4f}; speedup median "
            f"{np.median(spd):.0f}x, ratio of median times {med_ratio:.0f}x"
        )
    capped = sum(1 for r in rows if r.get("sdp_s") is None)
    print(f"sdp_dc capped/skipped instances: {capped} of {len(rows)}")
    print(
        f"fast: median {np.median([r['fast_s'] for r in rows]) * 1e3:.1f} ms, "
        f"max {np.max([r['fast_s'] for r in rows]) * 1e3:.1f} ms over all {len(rows)} instances"
    )


def _nan(x) -> bool:
    return isinstance(x, float) and np.isnan(x)


def _f(x: list[float], fn, fmt: str = ".4f") -> str:
    return format(fn(x), fmt) if x else "-"


if __name__ == "__main__":
    raise SystemExit(main())
