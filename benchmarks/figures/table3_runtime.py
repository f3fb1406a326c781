"""Table III: running time per step — MADRL decision, beamforming subroutine, full CoMP.

Paper (Table III, CPU times per step): MAASN-DA decision 0.0156 / 0.0161 / 0.0201 s, its
beamforming subroutine 0.650 / 3.09 / 8.38 s and full CoMP (every node in every broadcast)
3.41 / 60.3 / 366 s at (N, M) = (6, 20), (6, 60), (12, 60).

Stages measured here, per (N, M) on the ``paper`` preset with those overrides (U = 30):

- ``decision``: wall time of ``agents.make_policy("maasn-da", env).act(obs, env)`` per step
  (all N actors; weights untrained, which does not change the cost; torch on one thread);
- ``subroutine``: one P2(k) per requested PB with the participating nodes of a plan policy —
  TrimCaching placement (``baselines.placement.greedy_hit_placement``) and the relay rule
  (``baselines.policy.relay_migration``); a trained MAASN-DA is not available here;
- ``full_comp``: the same PBs with all N nodes participating (``problem_from_scenario(...,
  full_comp=True)``).

Beamforming methods: ``fast`` (every requested PB, or the first ``steps``; its compiled kernel
is loaded before the timing, a one-off per process) and the paper's
``sdp_dc`` (``sdp_steps`` PBs spread over the episode). Each ``sdp_dc`` solve runs in a child
process with a hard wall-clock cap ``time_cap_s`` (model build + solve; the child's start-up is
not counted) and a resident-memory cap ``memory_limit_gb``; a capped solve is reported with
``capped=True`` and ``time_s`` = the cap (so means over capped steps are lower bounds); a solve
that fails (e.g. cvxpy runs out of memory compiling the lifted SDP) is reported with its
``status`` and no time. The cvxpy model build
(once per problem shape in a long run) is reported apart from the solve time.
"""

from __future__ import annotations

import os
import pathlib
import time
from typing import Any

import numpy as np

NAME = "table3"
TITLE = "Table III: running time per step (MADRL decision, beamforming subroutine, full CoMP)"
NEEDS_AGENTS = True

SETTINGS = ((6, 20), (6, 60), (12, 60))
PAPER = {  # (N, M) -> (MADRL decision, subroutine, full CoMP) [s per step]
    (6, 20): (0.01562, 0.6501, 3.4136),
    (6, 60): (0.01606, 3.0884, 60.321),
    (12, 60): (0.02013, 8.3760, 366.083),
}


def cells(quick: bool, seeds: int | None) -> list[dict]:
    """One cell per (setting, stage, method, seed)."""
    n_seeds = 1 if seeds is None else int(seeds)
    if n_seeds < 1:
        raise ValueError(f"seeds={seeds!r}: need at least one seed")
    common = {
        "figure": NAME,
        "scenario": "paper",
        "steps": 15 if quick else None,  # fast: first requested PBs (None = all)
        "sdp_steps": 1 if quick else 2,
        "time_cap_s": 20.0 if quick else 300.0,
        "memory_limit_gb": 8.0,
        "decision_steps": 20 if quick else None,  # None = the whole episode
    }
    out = []
    for n, m in SETTINGS:
        for s in range(n_seeds):
            base = {**common, "num_nodes": n, "num_antennas": m, "seed": s}
            out.append({**base, "stage": "decision", "method": "maasn-da"})
            for stage in ("subroutine", "full_comp"):
                for method in ("fast", "sdp_dc"):
                    out.append({**base, "stage": stage, "method": method})
    return out


# ---- helpers -----------------------------------------------------------------------------------
def _scenario(spec: dict) -> Any:
    import fgamcd_env

    return fgamcd_env.make_scenario(
        spec["scenario"],
        seed=spec["seed"],
        num_nodes=spec["num_nodes"],
        num_antennas=spec["num_antennas"],
    )


def participation_plan(scenario: Any) -> dict[int, np.ndarray]:
    """{k: lambda(k)} for every requested PB some node takes part in: TrimCaching placement
    and relay-rule migrations (the subroutine's participants)."""
    from baselines.placement import greedy_hit_placement
    from baselines.policy import relay_migration
    from fgamcd_env.core import system

    plan = greedy_hit_placement(scenario, reach="visible")
    out = {}
    for k in np.flatnonzero(scenario.demand.any(axis=1)):
        lam = system.participation(plan[:, k], relay_migration(scenario, int(k), plan[:, k]))
        if lam.any():
            out[int(k)] = lam
    return out


def pick_steps(ks: list[int], count: int | None, spread: bool) -> list[int]:
    """The first ``count`` of ``ks`` (all if None), or ``count`` spread evenly over them."""
    if count is None or count >= len(ks):
        return list(ks)
    if count < 1:
        raise ValueError(f"count={count}: must be >= 1 or None")
    if not spread:
        return list(ks[:count])
    idx = np.unique(np.linspace(0, len(ks) - 1, count).round().astype(int))
    return [ks[i] for i in idx]


OK_STATUSES = ("optimal", "optimal_inaccurate", "no_users", "ok")  # "ok": decision rows


def _sdp_child(conn: Any, problem: Any, error_model: str) -> None:
    """Child process: build the cvxpy model, solve, send the timings (see ``timed_sdp``)."""
    import signal

    from fgamcd_env.beamforming import sdp as sdp_mod
    from fgamcd_env.beamforming import solve

    # A forked child inherits the parent's handlers (e.g. the runner's, which turn SIGTERM into
    # an exception): the parent's terminate() at the cap must end it.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    conn.send(("ready",))
    try:
        t0 = time.perf_counter()
        sdp_mod._get_model(
            problem.num_nodes, problem.num_antennas, problem.num_users, error_model, False
        )
        build = time.perf_counter() - t0
        conn.send(("built", build))
        res = solve(problem, "sdp_dc", error_model)
        status = res.status
        errors = res.info.get("errors") or {}
        if status not in OK_STATUSES and errors:  # say why (e.g. cvxpy's MemoryError)
            status = f"{status}: " + "; ".join(f"{k}: {v}" for k, v in errors.items())
        conn.send(
            (
                "done",
                res.wall_time_s,
                status[:240],
                bool(res.qos_feasible),
                float(res.min_rate_bps),
                int(res.iterations),
            )
        )
    except BaseException as err:  # never hang the parent
        conn.send(("error", f"{type(err).__name__}: {err}"[:240]))
    finally:
        conn.close()


def _rss_bytes(pid: int) -> float:
    """Resident memory of a process (Linux /proc), 0 where unavailable."""
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return float(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0.0


def timed_sdp(
    problem: Any, cap_s: float, error_model: str = "stacked", memory_limit_gb: float = 8.0
) -> dict[str, Any]:
    """Solve with ``sdp_dc`` in a child process under a hard wall-clock cap (build + solve) and
    a resident-memory cap (checked twice a second; an address-space limit would also stop the
    solvers' harmless virtual reservations).

    The child is forked where the platform can (no re-import of ``__main__``, as spawn would
    do), else spawned. ``status`` is the solver's (with its error messages when it failed),
    ``"capped"``, ``"memory cap"`` or the reason the child died; only ``OK_STATUSES`` rows are
    timings."""
    import multiprocessing as mp

    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_sdp_child, args=(child, problem, error_model), daemon=True)
    proc.start()
    child.close()
    out: dict[str, Any] = {
        "time_s": float(cap_s),
        "build_s": float("nan"),
        "capped": True,
        "status": "capped",
        "qos_feasible": False,
        "min_rate_gbps": float("nan"),
        "iterations": 0,
        "peak_rss_gb": 0.0,
    }
    limit = memory_limit_gb * 2**30
    try:
        if not parent.poll(300.0):  # start-up only; generous
            out.update(capped=False, status="child did not start", time_s=float("nan"))
            return out
        parent.recv()
        deadline = time.perf_counter() + cap_s
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                return out
            if not parent.poll(min(left, 0.5)):
                rss = _rss_bytes(proc.pid)
                out["peak_rss_gb"] = max(out["peak_rss_gb"], rss / 2**30)
                if rss > limit:
                    out.update(
                        capped=False,
                        time_s=float("nan"),
                        status=f"memory cap ({memory_limit_gb:g} GB resident)",
                    )
                    return out
                if not proc.is_alive() and not parent.poll():
                    raise EOFError
                continue
            msg = parent.recv()
            if msg[0] == "built":
                out["build_s"] = float(msg[1])
            elif msg[0] == "done":
                ok = msg[2] in OK_STATUSES
                out.update(
                    time_s=float(msg[1]) if ok else float("nan"),
                    capped=False,
                    status=msg[2],
                    qos_feasible=msg[3],
                    min_rate_gbps=msg[4] / 1e9,
                    iterations=msg[5],
                )
                return out
            else:
                out.update(capped=False, status=f"error: {msg[1]}", time_s=float("nan"))
                return out
    except EOFError:
        out.update(
            capped=False,
            time_s=float("nan"),
            status=f"child died (exit code {proc.exitcode}; out of memory?)",
        )
        return out
    finally:
        if proc.is_alive():
            proc.terminate()
        proc.join(10)
        if proc.is_alive():
            proc.kill()
            proc.join()
        parent.close()


def _decision_rows(spec: dict) -> list[dict]:
    try:
        from agents import make_policy
    except ImportError as err:
        raise RuntimeError(
            "Table III's MADRL-decision cells time agents.make_policy('maasn-da', env).act; "
            f"the agents package does not provide it yet ({err}). Run the other cells "
            "(stage 'subroutine' / 'full_comp') or install the agents first."
        ) from err
    import torch

    from fgamcd_env.env import FGAMCDParallelEnv

    torch.set_num_threads(1)
    env = FGAMCDParallelEnv(
        scenario=spec["scenario"],
        seed=spec["seed"],
        beamformer="mrt_tdma",
        num_nodes=spec["num_nodes"],
        num_antennas=spec["num_antennas"],
        max_cycles=spec["decision_steps"],
    )
    policy = make_policy("maasn-da", env, seed=spec["seed"])
    obs, _ = env.reset(seed=spec["seed"])
    if hasattr(policy, "reset"):
        policy.reset(env)
    rows = []
    while env.agents:
        k = env.current_pb
        t0 = time.perf_counter()
        actions = policy.act(obs, env)
        dt = time.perf_counter() - t0
        rows.append(
            {
                **spec,
                "k": k,
                "time_s": dt,
                "capped": False,
                "status": "ok",
                "num_participating": -1,
                "num_users": -1,
                "torch_threads": 1,
            }
        )
        obs, *_ = env.step(actions)
    return rows


def run_cell(spec: dict) -> list[dict]:
    if spec["stage"] == "decision":
        return _decision_rows(spec)
    if spec["stage"] not in ("subroutine", "full_comp"):
        raise ValueError(f"stage={spec['stage']!r}: 'decision', 'subroutine' or 'full_comp'")
    from fgamcd_env.beamforming import problem_from_scenario, solve

    sc = _scenario(spec)
    lam_of = participation_plan(sc)
    sdp = spec["method"] == "sdp_dc"
    if spec["method"] not in ("fast", "sdp_dc"):
        raise ValueError(f"method={spec['method']!r}: 'fast' or 'sdp_dc'")
    ks = pick_steps(sorted(lam_of), spec["sdp_steps"] if sdp else spec["steps"], spread=sdp)
    full = spec["stage"] == "full_comp"
    if not sdp:  # load fast's compiled kernel (once per process) before timing
        from fgamcd_env.beamforming.fast import warm_up

        warm_up()
    rows = []
    for k in ks:
        prob = problem_from_scenario(sc, k, lam_of[k], full_comp=full)
        row = {
            **spec,
            "k": k,
            "num_participating": int(prob.num_nodes),
            "num_users": int(prob.num_users),
        }
        if sdp:
            row.update(timed_sdp(prob, spec["time_cap_s"], "stacked", spec["memory_limit_gb"]))
        else:
            t0 = time.perf_counter()
            res = solve(prob, "fast", "stacked")
            row.update(
                time_s=time.perf_counter() - t0,
                build_s=0.0,
                capped=False,
                status=res.status,
                qos_feasible=bool(res.qos_feasible),
                min_rate_gbps=float(res.min_rate_bps / 1e9),
                iterations=res.iterations,
            )
        rows.append(row)
    return rows


# ---- report ------------------------------------------------------------------------------------
def _settings(df: Any) -> list[tuple[int, int]]:
    """(N, M) settings present in the rows, the paper's first, in the paper's order."""
    have = {(int(n), int(m)) for n, m in zip(df["num_nodes"], df["num_antennas"], strict=True)}
    return [s for s in SETTINGS if s in have] + sorted(have - set(SETTINGS))


def _cell(df: Any, n: int, m: int, stage: str, method: str) -> tuple[str, float | None, bool]:
    """(table text, mean time per step, some step hit the cap) of one stage and method."""
    sel = df[
        (df["num_nodes"] == n)
        & (df["num_antennas"] == m)
        & (df["stage"] == stage)
        & (df["method"] == method)
    ]
    if sel.empty:
        return "not run", None, False
    capped = sel["capped"].astype(bool)
    ok = sel["status"].astype(str).isin(OK_STATUSES) | capped
    failed = int((~ok).sum())
    note = f"; {failed}/{len(sel)} failed" if failed else ""
    if not ok.any():
        return f"failed ({failed}/{len(sel)})", None, False
    mean = float(sel.loc[ok, "time_s"].astype(float).mean())
    if capped.any():
        return f">= {mean:.3g} s ({int(capped.sum())}/{len(sel)} hit the cap{note})", mean, True
    return f"{mean:.3g} s" + (f" ({note[2:]})" if note else ""), mean, False


def summary(df: Any) -> str:
    lines = [
        "| (N, M) | stage | ours: fast | ours: sdp_dc | full CoMP: fast | full CoMP: sdp_dc "
        "| paper | paper full CoMP | participants / users per PB (ours) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    ratio_lines: list[str] = []
    dec_vs_sub: list[tuple[float, float]] = []
    fast_ratios: list[float] = []
    for n, m in _settings(df):
        paper = PAPER.get((n, m), ("-", "-", "-"))
        dec = _cell(df, n, m, "decision", "maasn-da")[0]
        lines.append(f"| ({n}, {m}) | MADRL decision | {dec} | | | | {paper[0]} s | / | |")
        vals = {}
        for stage in ("subroutine", "full_comp"):
            for method in ("fast", "sdp_dc"):
                vals[(stage, method)] = _cell(df, n, m, stage, method)
        sub = df[
            (df["num_nodes"] == n)
            & (df["num_antennas"] == m)
            & (df["stage"] == "subroutine")
            & (df["method"] == "fast")
        ]
        part = (
            f"{sub['num_participating'].mean():.2f} / {sub['num_users'].mean():.2f} "
            f"(full CoMP: {n})"
            if len(sub)
            else ""
        )
        lines.append(
            f"| ({n}, {m}) | beamforming subroutine | {vals[('subroutine', 'fast')][0]} "
            f"| {vals[('subroutine', 'sdp_dc')][0]} | {vals[('full_comp', 'fast')][0]} "
            f"| {vals[('full_comp', 'sdp_dc')][0]} | {paper[1]} s | {paper[2]} s | {part} |"
        )
        for method in ("fast", "sdp_dc"):
            _, a, cap_a = vals[("subroutine", method)]
            _, b, cap_b = vals[("full_comp", method)]
            if a and b and not cap_a:  # a capped subroutine mean makes the ratio meaningless
                ratio_lines.append(f"({n}, {m}) {method}: {'>= ' if cap_b else ''}{b / a:.1f}x")
                if method == "fast":
                    fast_ratios.append(b / a)
        d, sub_fast = _cell(df, n, m, "decision", "maasn-da")[1], vals[("subroutine", "fast")][1]
        if d is not None and sub_fast:
            dec_vs_sub.append((d, sub_fast))
        if (n, m) in PAPER:
            ratio_lines.append(f"({n}, {m}) paper: {paper[2] / paper[1]:.1f}x")
    capped = df[df["capped"].astype(bool)] if "capped" in df else df.iloc[0:0]
    n_sdp = int((df["method"] == "sdp_dc").sum())
    sdp_rows = df[df["method"] == "sdp_dc"]
    failed = sdp_rows[
        ~(sdp_rows["status"].astype(str).isin(OK_STATUSES) | sdp_rows["capped"].astype(bool))
    ]
    reasons = sorted(
        {
            (
                "MemoryError (cvxpy compiling the lifted SDP)"
                if "MemoryError" in str(st)
                else str(st)[:80]
            )
            for st in failed["status"]
        }
    )
    build = df.loc[df["method"] == "sdp_dc", "build_s"].astype(float).dropna()
    lines += [
        "",
        "Per-step means over the measured steps (requested PBs; `fast`: "
        f"{'the whole episode' if df['steps'].isna().all() else 'the first requested PBs'}, "
        "`sdp_dc`: PBs spread over the episode). Subroutine participants: TrimCaching "
        "placement + relay-rule migrations (not a trained MAASN-DA). sdp_dc: "
        f"{len(capped)} of {n_sdp} solves hit the time cap"
        + (
            f" ({', '.join(sorted({f'{c:g} s' for c in capped['time_cap_s']}))})"
            if len(capped)
            else ""
        )
        + (f"; {len(failed)} failed: {', '.join(reasons)}" if len(failed) else "")
        + (
            f"; cvxpy model builds took {build.min():.2g}-{build.max():.2g} s, not counted in "
            "the solve time"
            if len(build)
            else ""
        )
        + ". The paper does not name its solver or CPU; no MOSEK licence here (CLARABEL, then "
        "SCS).",
        "",
        "- Paper: MADRL decisions are negligible next to the subroutine (its decisions take "
        "2.4 % or less of its subroutine's time). Here: "
        + (
            ("agree" if all(d < 0.25 * b for d, b in dec_vs_sub) else "disagree")
            + " — decision / `fast` subroutine per step: "
            + ", ".join(
                f"{1e3 * d:.1f} ms / {1e3 * b:.0f} ms ({100 * d / b:.0f} %)" for d, b in dec_vs_sub
            )
            + "; `fast` is itself orders of magnitude faster than the paper's SDP method, so "
            "next to `sdp_dc` the decisions are negligible."
            if dec_vs_sub
            else "not measured (no decision or subroutine cells)."
        ),
        "- Full CoMP vs subroutine with `fast`: "
        + (
            f"{min(fast_ratios):.1f}-{max(fast_ratios):.1f}x, far below the paper's 5-44x "
            "(partly disagree: `fast` works in the span of the requesting users' channels, so "
            "its cost grows with N U rather than N M, while the lifted SDP has (N M)^2 "
            "variables)."
            if fast_ratios
            else "not measured."
        ),
        "- Paper: full CoMP costs far more than the subroutine (ratios full CoMP / subroutine "
        "where the subroutine was not capped: "
        + "; ".join(ratio_lines)
        + "). Compare the ratios, not absolute times (different "
        "solvers and machines). `fast` is our interior-point solver (not in the paper); "
        "`sdp_dc` is the paper's method.",
    ]
    return "\n".join(lines)


def plot(df: Any, out_dir: pathlib.Path) -> list[pathlib.Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    groups = [
        ("decision", "maasn-da"),
        ("subroutine", "fast"),
        ("full_comp", "fast"),
        ("subroutine", "sdp_dc"),
        ("full_comp", "sdp_dc"),
    ]
    fig, ax = plt.subplots(figsize=(9, 4.2))
    width = 0.8 / len(groups)
    settings = _settings(df)
    for j, (stage, method) in enumerate(groups):
        xs, ys, hatch = [], [], []
        for i, (n, m) in enumerate(settings):
            _, mean, _ = _cell(df, n, m, stage, method)
            if mean is None:
                continue
            sel = df[
                (df["num_nodes"] == n)
                & (df["num_antennas"] == m)
                & (df["stage"] == stage)
                & (df["method"] == method)
            ]
            xs.append(i + (j - len(groups) / 2 + 0.5) * width)
            ys.append(mean)
            hatch.append(bool(sel["capped"].astype(bool).any()))
        bars = ax.bar(xs, ys, width, label=f"{stage} ({method})", color=f"C{j}")
        for b, h in zip(bars, hatch, strict=True):
            if h:
                b.set_hatch("//")
    ax.set_yscale("log")
    ax.set_xticks(range(len(settings)))
    ax.set_xticklabels([f"N = {n}, M = {m}" for n, m in settings])
    ax.set_ylabel("time per step [s] (hatched: capped, lower bound)")
    ax.legend(fontsize=7)
    ax.set_title(TITLE, fontsize=10)
    fig.tight_layout()
    path = out_dir / f"{NAME}.png"
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return [path]
