"""Fig. 17: FGAMCD with hybrid multicasting, total delay vs the PB popularity threshold eps_hot.

Paper (section V-D, Fig. 17): a PB requested by more than eps_hot users is CoMP-broadcast, else
unicast from the associated or nearby node; for M = 20, 40 and 60 antennas, eps_hot = 2 gives a
lower model downloading delay than full CoMP broadcasting (delays about 1.8-3 s, falling with M).

Here: the env option ``eps_hot`` (``fgamcd_env.beamforming.solve_pb``: unicast = each requesting
user in its own slot from the participating node with its best worst-case MRT rate), ``fast``
robust CoMP otherwise. Caching and migration come from a baseline plan policy, not MAASN-DA:
``baselines.methods.BASELINES["hybrid"](eps_hot=...)``, i.e. TrimCaching placement with the
greedy migration search of ``baselines.migration`` run against the same hybrid delivery.
eps_hot = 0 is full CoMP broadcasting (every requested PB broadcast); eps_hot = U (every PB has
at most U requesters) is full unicasting, drawn as a dashed line.

Rows: one per (M, eps_hot, seed): the metrics of ``baselines.evaluate`` (total delay and its
parts, QoS-infeasible and undelivered PBs, return) and the share of requested PBs unicast.
"""

from __future__ import annotations

import itertools
import pathlib
from typing import Any

import numpy as np

NAME = "fig17"
TITLE = "Fig. 17: FGAMCD with hybrid multicasting vs the PB popularity threshold eps_hot"
NEEDS_AGENTS = False

ANTENNAS = (20, 40, 60)
EPS_HOT = (0, 1, 2, 3, 4, 5, 6)
POLICY = "hybrid"  # baselines.methods.BASELINES key: TrimCaching + hybrid delivery


def cells(quick: bool, seeds: int | None) -> list[dict]:
    """One cell per (M, eps_hot, seed); eps_hot = U (``full_unicast``) adds the unicast line."""
    n_seeds = (1 if quick else 3) if seeds is None else int(seeds)
    if n_seeds < 1:
        raise ValueError(f"seeds={seeds!r}: need at least one seed")
    antennas = (20, 60) if quick else ANTENNAS
    eps_grid = (0, 2, 6) if quick else EPS_HOT
    out = []
    for m in antennas:
        for eps in (*eps_grid, "U"):
            for s in range(n_seeds):
                out.append(
                    {
                        "figure": NAME,
                        "scenario": "paper",
                        "num_antennas": m,
                        "eps_hot": eps,
                        "seed": s,
                        "policy": POLICY,
                    }
                )
    return out


def run_cell(spec: dict) -> list[dict]:
    from baselines.evaluate import evaluate
    from baselines.methods import BASELINES
    from fgamcd_env.core.presets import get_config

    cfg = get_config(spec["scenario"], num_antennas=spec["num_antennas"])
    eps = cfg.num_users if spec["eps_hot"] == "U" else int(spec["eps_hot"])
    policy = BASELINES[spec["policy"]](eps_hot=eps)
    row = evaluate(policy, cfg, seeds=[spec["seed"]])[0]
    from fgamcd_env import make_scenario

    counts = make_scenario(cfg, seed=spec["seed"]).demand.sum(axis=1)
    counts = counts[counts > 0]
    out = {k: v for k, v in row.items() if k not in ("policy", "seed", "scenario")}
    return [
        {
            **spec,
            **out,
            "eps_hot_value": eps,
            "full_unicast": spec["eps_hot"] == "U",
            "unicast_share": float(np.mean(counts <= eps)),
            "policy_name": row["policy"],
        }
    ]


def _means(df: Any) -> Any:
    cols = ["total_delay_s", "qos_infeasible_pbs", "undelivered_pbs", "return", "unicast_share"]
    return df.groupby(["num_antennas", "eps_hot_value", "full_unicast"])[cols].mean()


def plot(df: Any, out_dir: pathlib.Path) -> list[pathlib.Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    means = _means(df).reset_index()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for i, m in enumerate(sorted(means["num_antennas"].unique())):
        sel = means[(means["num_antennas"] == m) & ~means["full_unicast"]].sort_values(
            "eps_hot_value"
        )
        uni = means[(means["num_antennas"] == m) & means["full_unicast"]]
        for ax, col in zip(axes, ("total_delay_s", "qos_infeasible_pbs"), strict=True):
            ax.plot(sel["eps_hot_value"], sel[col], "o-", color=f"C{i}", label=f"M = {m} antennas")
            if len(uni):
                ax.axhline(
                    float(uni[col].iloc[0]),
                    ls="--",
                    color=f"C{i}",
                    lw=1,
                    label=f"M = {m}: full unicasting",
                )
    axes[0].set_ylabel("model downloading delay T [s]")
    axes[1].set_ylabel("QoS-infeasible PBs")
    for ax in axes:
        ax.set_xlabel("PB popularity threshold eps_hot (0 = full CoMP broadcasting)")
        ax.legend(fontsize=7)
    n_seeds = df["seed"].nunique()
    fig.suptitle(
        f"{TITLE}\n(TrimCaching placement + greedy migration; mean over {n_seeds} seed(s))",
        fontsize=10,
    )
    fig.tight_layout()
    path = out_dir / f"{NAME}.png"
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return [path]


def summary(df: Any) -> str:
    means = _means(df)
    lines = [
        "| M | eps_hot | requested PBs unicast | total delay [s] | QoS-infeasible PBs "
        "| undelivered PBs | return |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for (m, eps, uni), r in means.iterrows():
        label = f"{eps} (full unicast)" if uni else str(eps)
        lines.append(
            f"| {m} | {label} | {r['unicast_share']:.0%} | {r['total_delay_s']:.3f} "
            f"| {r['qos_infeasible_pbs']:.1f} | {r['undelivered_pbs']:.1f} | {r['return']:.1f} |"
        )
    delay = means["total_delay_s"]
    ms = sorted({idx[0] for idx in delay.index})
    verdicts = []
    for m in ms:
        try:
            d0, d2 = float(delay.loc[(m, 0, False)]), float(delay.loc[(m, 2, False)])
        except KeyError:
            continue
        verdicts.append(
            f"M = {m}: {d2:.3f} s vs {d0:.3f} s "
            f"({'lower' if d2 < d0 else 'not lower'}, {100 * (d2 / d0 - 1):+.1f} %)"
        )
    agree = verdicts and all("(lower" in v for v in verdicts)
    q = means["qos_infeasible_pbs"]
    qos = [
        f"M = {m}: {q.loc[(m, 0, False)]:.1f} vs {q.loc[(m, 2, False)]:.1f}"
        for m in ms
        if (m, 0, False) in q.index and (m, 2, False) in q.index
    ]
    broadcast = [float(delay.loc[(m, 0, False)]) for m in ms if (m, 0, False) in delay.index]
    falling = all(a > b for a, b in itertools.pairwise(broadcast))
    lines += [
        "",
        "Caching and migration: `baselines.methods.BASELINES['hybrid']` (TrimCaching placement, "
        "greedy migration search against the same hybrid delivery), not MAASN-DA; `fast` robust "
        "CoMP; means over seeds.",
        "",
        "- Paper: eps_hot = 2 gives a lower delay than full CoMP broadcasting (eps_hot = 0 here) "
        f"for every M. Here: {'agree' if agree else 'disagree'} — " + "; ".join(verdicts) + ".",
        f"- Paper: more antennas, lower delay. Here (full CoMP broadcasting): "
        f"{'agree' if falling else 'disagree'} — "
        + ", ".join(f"M = {m}: {d:.3f} s" for m, d in zip(ms, broadcast, strict=False))
        + ".",
        "- Paper's delays are 1.8-3 s for MAASN-DA on its instance; ours come from a heuristic "
        "policy and our calibration (users 10-80 m from their node), so only the trends compare. "
        "Unicasting k to its U_k requesters takes U_k slots, broadcasting one slot at the "
        "requesters' minimum rate; with users close to their nodes the broadcast minimum rate is "
        "near the unicast rates, so unicasting pays off only where broadcasting must reach a "
        "user with a much weaker channel. QoS-infeasible PBs, full CoMP broadcasting vs "
        "eps_hot = 2: " + "; ".join(qos) + ".",
    ]
    return "\n".join(lines)
