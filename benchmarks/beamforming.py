"""Benchmark of the robust CoMP beamformers: Table III's shape, ``fast`` against the solver it
replaced (``fast_legacy``), and ``fast`` against a multi-start phase-alignment SCA reference.

    python -m benchmarks.beamforming [--sections table,speed,sca] [--quick] [--no-sdp]
        [--instances 3] [--time-cap 90] [--sca-instances 2] [--csv PATH]

Sections (all by default; each prints its tables and writes a CSV next to ``--csv``):

- ``table``: for (N_par, M) in {(1,20), (2,20), (3,20), (6,20), (2,60), (6,60)} and 1, 3, 6
  requesting users (paper preset, seed 0; M = 60 by override), each instance a random PB, random
  participating nodes and random users associated with them: ``fast`` (stacked and per-node
  sets), ``fast_legacy``, ``nonrobust``, ``mrt_tdma`` and ``sdp_dc``. ``sdp_dc`` runs in a child
  process per setting with a per-instance time cap; an instance that hits the cap (and every
  larger setting with at least as many users) is marked "capped", never dropped silently. Times
  of ``sdp_dc`` exclude the one-off cvxpy model build (reported apart). Rate ratios are of the
  minimum worst-case rate (stacked error model, the paper's (28)). Monte Carlo: 10,000 error
  draws per robust solution flagged QoS-feasible (per-node and stacked sets), with Q_u both as
  drawn and set just below the achieved rate (so the flag is on); the non-robust design is
  checked the same way with Q_u just below its nominal rate.
- ``speed``: ``fast`` and ``fast_legacy`` on the same instances, interleaved (the machine may be
  shared): Table III's subroutine instances at (6, 20), (6, 60), (12, 60) (TrimCaching placement
  and relay-rule participants, the first ``--t3-steps`` requested PBs as in Table III's quick
  run; 0 = every requested PB) and every requested PB of ``paper`` seeds 0-1 with its
  requesters' home nodes as participants, QoS as drawn. Per set: mean / median time per solve,
  the new / old ratio of the minimum worst-case rate (mean, min) over the instances whose QoS
  flag agrees, and how many flags differ (a QoS-feasible solution can have a lower minimum rate
  than an infeasible max-min one).
- ``sca``: (N_par, M) = (6, 20) with 4-10 users (``--sca-instances`` random instances each, no
  QoS): the worst-case SNR of ``fast`` and ``fast_legacy`` relative to a reference that
  maximises it by phase-alignment SCA (fix the phases of a_u^H v, solve the convex SOCP with
  cvxpy/CLARABEL, re-align, repeat) from ``--sca-starts`` starts (the MRT-sum phases, then
  random phases), keeping the best.

The compiled kernel of ``fast`` is loaded before any timing.
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
from fgamcd_env.beamforming.fast import warm_up

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
    ap.add_argument("--sections", default="table,speed,sca", help="subset of table,speed,sca")
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
    ap.add_argument("--t3-steps", type=int, default=15, help="speed: Table III PBs (0 = all)")
    ap.add_argument("--sca-instances", type=int, default=2, help="sca: instances per user count")
    ap.add_argument("--sca-starts", type=int, default=11, help="sca: starts of the reference")
    args = ap.parse_args(argv)
    sections = [x.strip() for x in args.sections.split(",") if x.strip()]
    bad = sorted(set(sections) - {"table", "speed", "sca"})
    if bad:
        ap.error(f"--sections: unknown {bad}; choose from table, speed, sca")
    load = warm_up()
    print(f"one-off kernel load of 'fast': {load:.2f} s (not in the timings)")
    if "table" in sections:
        run_table(args)
    if "speed" in sections:
        run_speed(args)
    if "sca" in sections:
        run_sca(args)
    return 0


def _write_csv(path: Path, rows: list[dict]) -> None:
    if not rows:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = sorted(
        {k for r in rows for k in r},
        key=lambda k: list(rows[0]).index(k) if k in rows[0] else 100 + len(k),
    )
    with path.open("w", newline="") as fh:
        wr = csv.DictWriter(fh, fieldnames=keys)
        wr.writeheader()
        wr.writerows(rows)
    print(f"\nCSV: {path}")


def run_table(args: argparse.Namespace) -> None:
    """Table III's shape: every method on random instances (see the module docstring)."""
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
                old = solve(prob, "fast_legacy", "stacked")
                pn = solve(prob, "fast", "per_node")
                nr = solve(prob, "nonrobust", "stacked")
                td = solve(prob, "mrt_tdma", "stacked")
                row.update(
                    fast_s=fast.wall_time_s,
                    fast_rate=fast.min_rate_bps,
                    fast_qos=fast.qos_feasible,
                    legacy_s=old.wall_time_s,
                    legacy_rate=old.min_rate_bps,
                    legacy_qos=old.qos_feasible,
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
    _write_csv(args.csv, rows)
    print_tables(rows)


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
            ("fast_legacy", "legacy_s"),
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
    same = [r for r in rows if r["fast_qos"] == r["legacy_qos"] and r["legacy_rate"] > 0]
    ratio = [r["fast_rate"] / r["legacy_rate"] for r in same]
    if ratio:
        print(
            f"fast / fast_legacy min worst-case rate over {len(same)} instances with the same "
            f"QoS flag: mean {np.mean(ratio):.5f}, min {np.min(ratio):.5f}; QoS flags differ on "
            f"{len(rows) - len(same)}"
        )


def _nan(x) -> bool:
    return isinstance(x, float) and np.isnan(x)


def _f(x: list[float], fn, fmt: str = ".4f") -> str:
    return format(fn(x), fmt) if x else "-"


# ---- speed: fast against fast_legacy on Table III's and the home-node instances -------------
T3_SETTINGS = ((6, 20), (6, 60), (12, 60))


def table3_instances(n: int, m: int, steps: int | None, seed: int = 0) -> list:
    """Table III's subroutine problems (``benchmarks.figures.table3_runtime``): TrimCaching
    placement and relay-rule participants, the first ``steps`` requested PBs (None: all)."""
    from benchmarks.figures.table3_runtime import participation_plan, pick_steps

    sc = fgamcd_env.make_scenario("paper", seed=seed, num_nodes=n, num_antennas=m)
    lam = participation_plan(sc)
    return [
        problem_from_scenario(sc, k, lam[k]) for k in pick_steps(sorted(lam), steps, spread=False)
    ]


def home_node_instances(seeds: tuple[int, ...] = (0, 1)) -> list:
    """Every requested PB of ``paper`` with its requesters' home nodes as participants."""
    out = []
    for seed in seeds:
        sc = fgamcd_env.make_scenario("paper", seed=seed)
        for k in np.flatnonzero(sc.demand.any(axis=1)):
            users = np.flatnonzero(sc.demand[k])
            nodes = np.isin(np.arange(sc.num_nodes), sc.user_node[users])
            out.append(problem_from_scenario(sc, int(k), nodes, users))
    return out


def compare_fast(problems: list, label: str) -> list[dict]:
    """Solve every problem with fast and fast_legacy (alternating which goes first)."""
    rows = []
    for i, prob in enumerate(problems):
        order = ("fast", "fast_legacy") if i % 2 == 0 else ("fast_legacy", "fast")
        res = {m: solve(prob, m, "stacked") for m in order}
        new, old = res["fast"], res["fast_legacy"]
        rows.append(
            {
                "set": label,
                "k": prob.meta.get("k"),
                "nodes": prob.num_nodes,
                "users": prob.num_users,
                "new_s": new.wall_time_s,
                "old_s": old.wall_time_s,
                "new_rate": new.min_rate_bps,
                "old_rate": old.min_rate_bps,
                "new_qos": new.qos_feasible,
                "old_qos": old.qos_feasible,
                "new_iterations": new.iterations,
            }
        )
    return rows


def run_speed(args: argparse.Namespace) -> None:
    steps = None if args.t3_steps == 0 else args.t3_steps
    sets = [
        (f"Table III ({n}, {m})", table3_instances(n, m, steps, args.seed)) for n, m in T3_SETTINGS
    ]
    sets.append(("home nodes, paper seeds 0-1", home_node_instances()))
    rows: list[dict] = []
    for label, problems in sets:
        rows += compare_fast(problems, label)
        print(f"  done {label}: {len(problems)} solves each", flush=True)
    _write_csv(args.csv.with_name(args.csv.stem + "_speed.csv"), rows)
    print(
        "\nfast vs fast_legacy, same instances, interleaved (time per solve [ms]; rate = min "
        "worst-case rate, stacked)"
    )
    head = (
        f"{'set':<30}{'n':>5}{'nodes':>7}{'users':>7}{'new mean':>10}{'new med':>9}"
        f"{'old mean':>10}{'old med':>9}{'speed-up':>9}{'rate mean':>11}{'rate min':>10}"
        f"{'QoS diff':>9}"
    )
    print(head)
    print("-" * len(head))
    for label, _ in sets:
        sel = [r for r in rows if r["set"] == label]
        new_t = np.array([r["new_s"] for r in sel]) * 1e3
        old_t = np.array([r["old_s"] for r in sel]) * 1e3
        same = [r for r in sel if r["new_qos"] == r["old_qos"] and r["old_rate"] > 0]
        ratio = np.array([r["new_rate"] / r["old_rate"] for r in same])
        print(
            f"{label:<30}{len(sel):>5}{np.mean([r['nodes'] for r in sel]):>7.2f}"
            f"{np.mean([r['users'] for r in sel]):>7.2f}{new_t.mean():>10.2f}"
            f"{np.median(new_t):>9.2f}{old_t.mean():>10.2f}{np.median(old_t):>9.2f}"
            f"{old_t.mean() / new_t.mean():>8.1f}x{_f(list(ratio), np.mean, '.5f'):>11}"
            f"{_f(list(ratio), np.min, '.5f'):>10}{len(sel) - len(same):>9}"
        )
    flips = [r for r in rows if r["new_qos"] != r["old_qos"]]
    if flips:
        print(
            f"QoS flag differs on {len(flips)} solves: fast feasible where fast_legacy is not on "
            f"{sum(r['new_qos'] for r in flips)}, the reverse on "
            f"{sum(not r['new_qos'] for r in flips)}"
        )


# ---- sca: fast against a multi-start phase-alignment SCA reference -------------------------
SCA_USERS = (4, 5, 6, 7, 8, 9, 10)


class PhaseAlignedSCA:
    """max tau s.t. Re(e^{-j phi_u} a_u^H v) - r_u(v) >= tau, ||v_n|| <= 1 (internal units; a
    cvxpy problem with the phases as parameters), re-solved with phi_u the phases of a_u^H v of
    the previous solution until tau stops improving."""

    def __init__(self, prob: BeamformingProblem, error_model: str = "stacked") -> None:
        import cvxpy as cp

        internal = prob.internal
        u, n, m = internal.a.shape
        self.a = internal.a.reshape(u, n * m)
        self.shape = (n, m)
        v = cp.Variable(n * m, complex=True)
        tau = cp.Variable()
        self.cos, self.sin = cp.Parameter(u), cp.Parameter(u)
        cons = [cp.norm(v[i * m : (i + 1) * m]) <= 1 for i in range(n)]
        for k in range(u):
            s = self.a[k].conj() @ v
            lin = cp.multiply(self.cos[k], cp.real(s)) + cp.multiply(self.sin[k], cp.imag(s))
            parts = [_sqrtm(internal.d[i, k]) @ v[i * m : (i + 1) * m] for i in range(n)]
            if error_model == "stacked":
                rad = np.sqrt(n) * cp.norm(cp.hstack(parts))
            else:
                rad = sum(cp.norm(part) for part in parts)
            cons.append(lin - rad >= tau)
        self.v, self.tau = v, tau
        self.problem = cp.Problem(cp.Maximize(tau), cons)

    def run(self, phi: np.ndarray, max_iters: int = 40, tol: float = 1e-6) -> np.ndarray | None:
        """(N, M) internal beamformer of the SCA from phases ``phi``."""
        best, v_best = -np.inf, None
        for _ in range(max_iters):
            self.cos.value, self.sin.value = np.cos(phi), np.sin(phi)
            self.problem.solve(solver="CLARABEL")
            if self.v.value is None:
                break
            t = float(self.tau.value)
            phi = np.angle(self.a.conj() @ self.v.value)
            improved = t > best + tol * abs(t)
            if t > best:
                best, v_best = t, self.v.value.reshape(self.shape)
            if not improved:
                break
        return v_best


def _sqrtm(d: np.ndarray) -> np.ndarray:
    lam, vec = np.linalg.eigh(d)
    return (vec * np.sqrt(np.maximum(lam, 0.0))) @ vec.conj().T


def sca_reference(
    prob: BeamformingProblem, starts: int = 11, seed: int = 0, error_model: str = "stacked"
) -> float:
    """Best min worst-case SNR (closed form) of the SCA from the MRT-sum phases and
    ``starts - 1`` random phase vectors."""
    sca = PhaseAlignedSCA(prob, error_model)
    rng = np.random.default_rng(seed)
    u = prob.num_users
    phis = [np.angle(sca.a.conj() @ np.ones(sca.a.shape[1]))]
    phis += [rng.uniform(0.0, 2 * np.pi, u) for _ in range(starts - 1)]
    best = 0.0
    for phi in phis:
        v = sca.run(phi)
        if v is not None:
            best = max(best, _min_snr(prob, prob.from_internal_v(v), error_model))
    return best


def _min_snr(prob: BeamformingProblem, w: np.ndarray, error_model: str = "stacked") -> float:
    from fgamcd_env.beamforming import worst_case_amplitudes

    return float(worst_case_amplitudes(prob, w, error_model).min() ** 2 / prob.noise_w)


def run_sca(args: argparse.Namespace) -> None:
    rows = []
    for u in SCA_USERS:
        for prob in make_instances(6, 20, u, args.sca_instances, args.seed):
            prob = prob.with_qos(0.0)
            new = solve(prob, "fast")
            old = solve(prob, "fast_legacy")
            t0 = time.perf_counter()
            ref = sca_reference(prob, args.sca_starts, args.seed)
            rows.append(
                {
                    "users": u,
                    "k": prob.meta["k"],
                    "new_snr": _min_snr(prob, new.w),
                    "old_snr": _min_snr(prob, old.w),
                    "ref_snr": ref,
                    "new_s": new.wall_time_s,
                    "old_s": old.wall_time_s,
                    "ref_s": time.perf_counter() - t0,
                }
            )
        print(f"  done U={u}", flush=True)
    _write_csv(args.csv.with_name(args.csv.stem + "_sca.csv"), rows)
    print(
        f"\nworst-case SNR / SCA reference ({args.sca_starts} starts), (N_par, M) = (6, 20), "
        "no QoS; median [min] over instances; time per solve [ms], mean"
    )
    head = (
        f"{'U':>3}{'n':>4}{'fast / ref':>18}{'legacy / ref':>18}{'fast ms':>9}{'legacy ms':>11}"
        f"{'ref s':>8}"
    )
    print(head)
    print("-" * len(head))
    for u in SCA_USERS:
        sel = [r for r in rows if r["users"] == u and r["ref_snr"] > 0]
        if not sel:
            continue
        fr = np.array([r["new_snr"] / r["ref_snr"] for r in sel])
        lr = np.array([r["old_snr"] / r["ref_snr"] for r in sel])
        print(
            f"{u:>3}{len(sel):>4}{np.median(fr):>10.4f} [{fr.min():.4f}]"
            f"{np.median(lr):>10.4f} [{lr.min():.4f}]"
            f"{np.mean([r['new_s'] for r in sel]) * 1e3:>9.1f}"
            f"{np.mean([r['old_s'] for r in sel]) * 1e3:>11.1f}"
            f"{np.mean([r['ref_s'] for r in sel]):>8.1f}"
        )
    fr = [r["new_snr"] / r["ref_snr"] for r in rows if r["ref_snr"] > 0]
    if fr:
        print(f"all: fast / ref median {np.median(fr):.4f}, min {np.min(fr):.4f}")


if __name__ == "__main__":
    raise SystemExit(main())
