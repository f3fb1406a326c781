"""Fig. 7: accumulative reward vs training episode, MAASN-DA against QMIX-DA and its ablations.

Panel (a), training algorithms: MAASN-DA, QMIX-DA, without the action-semantics actor (plain MLP
actor, ``actor="mlp"``), without the value-decomposition critic (``critic="independent"``).
Panel (b), data augmentation: MAASN-DA (ESN), without augmentation (``augmentation="none"``),
RNN-based (``"rnn"``), cGAN-based (``"cgan"``) and the non-optimal hyperparameters
``tau0 = 0.9, xi = 1.2``. Every variant is trained on the ``paper`` instance of its seed with
``agents.train`` (cached like the sweeps: the default MAASN-DA / QMIX-DA runs are the same
trainings as the default point of Figs. 8-13). Rows are the training curve (``res["curve"]``).

Paper (section V-C): MAASN-DA reaches the highest reward fastest; RNN-based augmentation is
even worse than none; cGAN-based augmentation and the non-optimal (tau0, xi) are worse than the
ESN at (0.8, 1.12). Full: 600 episodes, 5 seeds; MAASN-DA and QMIX-DA read the curves of the
shipped reference policies where they exist. Quick: only those (the ablations are not trained).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from benchmarks.methods import reference_curve, reference_seeds, train_cached
from benchmarks.sweeps import FULL_EPISODES, FULL_SEEDS, QUICK_EPISODES, QUICK_SEEDS, flat_spec

if TYPE_CHECKING:
    import pandas as pd

NAME = "fig7"
TITLE = "Fig. 7: accumulative reward vs training episode (ablations, augmentation variants)"
NEEDS_AGENTS = True
SCENARIO = "paper"

# variant -> (algorithm, TrainConfig switches that differ from the defaults)
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "maasn-da": ("maasn-da", {}),
    "qmix-da": ("qmix-da", {}),
    "no-action-semantics": ("maasn-da", {"actor": "mlp"}),
    "no-value-decomposition": ("maasn-da", {"critic": "independent"}),
    "no-da": ("maasn-da", {"augmentation": "none"}),
    "rnn-da": ("maasn-da", {"augmentation": "rnn"}),
    "cgan-da": ("maasn-da", {"augmentation": "cgan"}),
    "non-optimal-hyper": ("maasn-da", {"tau0": 0.9, "xi": 1.2}),
}
LABELS = {
    "maasn-da": "MAASN-DA, proposed",
    "qmix-da": "QMIX-DA",
    "no-action-semantics": "Without action semantics actor",
    "no-value-decomposition": "Without value decomposition critic",
    "no-da": "Without data augmentation",
    "rnn-da": "RNN-based data augmentation",
    "cgan-da": "cGAN-based data augmentation",
    "non-optimal-hyper": "Non-optimal hyperparameters (tau0 0.9, xi 1.2)",
}
COLORS = {
    "maasn-da": "tab:red",
    "qmix-da": "tab:blue",
    "no-action-semantics": "tab:green",
    "no-value-decomposition": "tab:purple",
    "no-da": "tab:orange",
    "rnn-da": "tab:brown",
    "cgan-da": "tab:pink",
    "non-optimal-hyper": "tab:gray",
}
PANELS: dict[str, tuple[str, ...]] = {
    "(a) training algorithms": (
        "maasn-da",
        "qmix-da",
        "no-action-semantics",
        "no-value-decomposition",
    ),
    "(b) data augmentation": ("maasn-da", "no-da", "rnn-da", "cgan-da", "non-optimal-hyper"),
}


def cells(quick: bool, seeds: int | None) -> list[dict[str, Any]]:
    """One cell per (variant, seed). MAASN-DA and QMIX-DA read the training curves of the
    shipped reference policies where they exist; ``--quick`` never trains, so it has only
    those."""
    n_seeds = (QUICK_SEEDS if quick else FULL_SEEDS) if seeds is None else int(seeds)
    if n_seeds < 1:
        raise ValueError(f"seeds={seeds!r}: must be >= 1")
    out = []
    for variant, (algo, switches) in VARIANTS.items():
        refs = reference_seeds(variant, SCENARIO, {}) if not switches else ()
        wanted = refs if quick and seeds is None else range(n_seeds)
        for seed in wanted:
            spec: dict[str, Any] = {
                "figure": NAME,
                "variant": variant,
                "method": algo,
                "seed": seed,
                "scenario": SCENARIO,
                "episodes": FULL_EPISODES if seed in refs or not quick else QUICK_EPISODES,
                "train": switches,
            }
            if seed in refs:
                spec["policy"] = "reference"
            elif quick:
                continue  # not trained: no reference policy
            out.append(spec)
    return out


def run_cell(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The variant's training curve, one row per episode: the shipped reference policy's
    (``"policy": "reference"``), or a training's (cached)."""
    if spec.get("policy") == "reference":
        curve = reference_curve(spec["method"], spec["scenario"], {}, int(spec["seed"]))
    else:
        curve = train_cached(
            spec["method"],
            spec["scenario"],
            {},
            int(spec["seed"]),
            int(spec["episodes"]),
            spec.get("train") or {},
        )["curve"]
    if not curve:
        raise RuntimeError(f"{spec['variant']}: the training returned an empty curve")
    flat = flat_spec(spec)
    return [
        {**{k: v for k, v in point.items() if not isinstance(v, (list, dict))}, **flat}
        for point in curve
    ]


def _curves(df: pd.DataFrame, variant: str) -> pd.DataFrame:
    sub = df[df["variant"] == variant]
    g = sub.groupby("episode")["return"].agg(["mean", "std"]).fillna(0.0).sort_index()
    window = max(1, len(g) // 30)
    return g.rolling(window, min_periods=1).mean()


def plot(df: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Mean (line) and std over seeds (band) of the episode return, moving-average smoothed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if df.empty:
        raise ValueError("fig7: no rows to plot")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, (title, variants) in zip(axes, PANELS.items(), strict=True):
        for v in variants:
            if not (df["variant"] == v).any():
                continue
            c = _curves(df, v)
            x = c.index.to_numpy()
            ax.plot(
                x, c["mean"], lw=2 if v == "maasn-da" else 1.2, label=LABELS[v], color=COLORS[v]
            )
            ax.fill_between(
                x, c["mean"] - c["std"], c["mean"] + c["std"], alpha=0.15, color=COLORS[v]
            )
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("training episode")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("accumulative reward (episode return)")
    fig.suptitle(TITLE, fontsize=10)
    fig.tight_layout()
    path = out_dir / "fig7.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return [path]


def final_returns(df: pd.DataFrame) -> dict[str, float]:
    """Mean return over the last 10 % of episodes (and over seeds) per variant."""
    out = {}
    for v in VARIANTS:
        sub = df[df["variant"] == v]
        if sub.empty:
            continue
        last = sub["episode"].max()
        tail = sub[sub["episode"] > last - max(1, int(np.ceil(0.1 * (last + 1))))]
        out[v] = float(tail["return"].mean())
    return out


def paired_final(df: pd.DataFrame, a: str, b: str) -> tuple[float, float, int, int, int] | None:
    """Final returns of variants ``a`` and ``b`` over the seeds both have, how many those are,
    and on how many of them ``a`` (then ``b``) ends strictly higher. Pairing keeps a variant with
    fewer finished seeds from being compared with another's easier seeds; the per-seed counts
    show whether a gap in the means is more than one seed's noise."""
    common = sorted(
        set(df.loc[df["variant"] == a, "seed"]) & set(df.loc[df["variant"] == b, "seed"])
    )
    if not common:
        return None
    fin = final_returns(df[df["seed"].isin(common)])
    per_seed = [final_returns(df[df["seed"] == s]) for s in common]
    a_higher = sum(f[a] > f[b] for f in per_seed)
    b_higher = sum(f[b] > f[a] for f in per_seed)
    return fin[a], fin[b], len(common), a_higher, b_higher


def summary(df: pd.DataFrame) -> str:
    if df.empty:
        return "No rows.\n"
    fin = final_returns(df)
    n_seeds = df.groupby("variant")["seed"].nunique()
    episodes = int(df["episode"].max()) + 1
    lines = [
        f"Final return (mean of the last 10 % of {episodes} episodes over each variant's seeds):",
        "",
        "| variant | final return | seeds |",
        "| --- | --- | --- |",
        *(
            f"| {LABELS[v]} | {r:.1f} | {n_seeds[v]} |"
            for v, r in sorted(fin.items(), key=lambda t: -t[1])
        ),
        "",
        "Claims compare two variants over the seeds both have.",
        "",
    ]

    def fmt(a: float, b: float, n: int, a_higher: int, _b_higher: int) -> str:
        """A :func:`paired_final` tuple as text (its last field is b's count, not shown)."""
        return f"{a:.1f} vs {b:.1f}, {n} seed(s), higher on {a_higher}"

    claims = []
    if "maasn-da" in fin:
        pairs = {v: paired_final(df, "maasn-da", v) for v in fin if v != "maasn-da"}
        pairs = {v: t for v, t in pairs.items() if t is not None}
        if pairs:
            higher = []  # the variants that end above MAASN-DA, each from their side
            for v, (own, other, n, own_hi, other_hi) in pairs.items():
                if other > own:
                    higher.append(
                        f"{LABELS[v]} ends higher: " + fmt(other, own, n, other_hi, own_hi)
                    )
            claims.append(
                "Paper: MAASN-DA reaches the highest reward. Ours: "
                + (f"disagree ({'; '.join(higher)})." if higher else "agree.")
            )
        for v in ("cgan-da", "non-optimal-hyper", "no-da"):
            if v in pairs:
                ok = pairs[v][0] > pairs[v][1]
                claims.append(
                    f"Paper: {LABELS[v]} is worse than MAASN-DA. Ours: "
                    + ("agree" if ok else "disagree")
                    + f" ({fmt(*pairs[v])})."
                )
    rnn = paired_final(df, "rnn-da", "no-da") if {"rnn-da", "no-da"} <= set(fin) else None
    if rnn is not None:
        claims.append(
            "Paper: RNN-based augmentation is worse than none. Ours: "
            + ("agree" if rnn[0] < rnn[1] else "disagree")
            + f" ({fmt(*rnn)})."
        )
    if episodes < FULL_EPISODES:
        claims.append(
            f"Only {episodes} of the paper's {FULL_EPISODES} episodes were run, so "
            "these are not converged results."
        )
    return "\n".join(lines + claims) + "\n"
