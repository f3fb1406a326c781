"""Shared logic of the method-comparison figures (Figs. 8-14 and 18): a ``Sweep`` is a figure.

A sweep has one or more panels (``Axis``: the x grid of the paper's figure, the quick grid, and
the scenario override per x value), an optional second dimension (``series``, Fig. 14's backhaul
rates), the methods to compare, and what the paper states: the direction of each curve and, for
Figs. 8, 9, 13 and 18, the headline reductions of MAASN-DA's delay vs the five other methods.

One cell = (panel, x, series value, method, seed). ``run_point`` runs it with
``benchmarks.methods.run_method`` (learned methods are trained once per scenario point, seed and
budget and cached across figures). Rows are ``baselines.evaluate`` rows plus the cell's keys,
``num_pbs`` (K) and ``reuse_ratio_achieved`` (share of a stage-2 model's parameters that are
frozen, parameter-weighted over the repository's stage-2 models).

A figure module is then a few lines::

    SWEEP = Sweep(name="fig8", ..., panels=(Axis("storage_gb", ..., lambda x: {...}),))
    NAME, TITLE, NEEDS_AGENTS = SWEEP.name, SWEEP.title, SWEEP.needs_agents
    run_cell = run_point
    def cells(quick, seeds): return SWEEP.cells(quick, seeds)
    ...
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from benchmarks.methods import (
    LABELS,
    LEARNED,
    METHODS,
    PAPER_COMPETITORS,
    STYLES,
    canonical_overrides,
    config_overrides,
    full_comp_failures_cached,
    run_method,
)

if TYPE_CHECKING:
    import pandas as pd

FULL_EPISODES = 600  # Table II: E = 600 training episodes
# Training budget of learned methods in --quick mode (every figure uses the same value so the
# default point is trained once for all of them). Enough to produce every figure, not to learn:
# a 2-episode training costs 20-60 s on the paper preset, so --quick also trains at few points
# (``Axis.sparse_quick``).
QUICK_EPISODES = 2
FULL_SEEDS = 5
QUICK_SEEDS = 1
# A reduction within this many percentage points of the paper's counts as agreement.
AGREE_PP = 5.0
# A curve whose per-x mean delays span less than this share of their mean counts as flat.
FLAT_SHARE = 0.01

Override = Callable[[Any], dict[str, Any]]


@dataclass(frozen=True)
class Axis:
    """One swept quantity: its key (a column of the rows), label, grids and scenario override."""

    key: str
    label: str
    values: tuple[Any, ...]  # the paper's grid (full runs)
    quick: tuple[Any, ...]  # the --quick grid
    overrides: Override  # x -> ScenarioConfig overrides (JSON-serialisable values)
    trend: int = 0  # the paper's direction of delay vs x: -1 falls, +1 rises, 0 not stated
    # --quick: the x values at which the costly methods (``Sweep.sparse_methods``: training,
    # the centralised search) run; None: every quick value. Most figures use Table II's point,
    # which every figure shares, so it costs one training / search for all of them.
    sparse_quick: tuple[Any, ...] | None = None

    def dense_at(self, x: Any, quick: bool) -> bool:
        """Whether the costly methods run at ``x``."""
        return not quick or self.sparse_quick is None or x in self.sparse_quick


@dataclass(frozen=True)
class Headline:
    """The paper's reductions (%) of MAASN-DA's delay vs each method, and where they hold."""

    paper: Mapping[str, float]  # method -> reduction [%]
    panel: str | None = None  # None: every panel
    x: Any = None  # None: averaged over the panel's grid
    where: str = "averaged over the x grid"


@dataclass(frozen=True)
class Sweep:
    """A method-comparison figure (see the module docstring)."""

    name: str
    title: str
    scenario: str
    panels: tuple[Axis, ...]
    methods: tuple[str, ...] = METHODS
    series: Axis | None = None
    headline: Headline | None = None
    notes: str = ""
    default_seeds: int = FULL_SEEDS
    # Methods that --quick runs only at each axis's ``sparse_quick`` values.
    sparse_methods: tuple[str, ...] = (*LEARNED, "centralised")
    base_overrides: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = set(self.methods) - set(METHODS)
        if unknown:
            raise ValueError(f"{self.name}: unknown methods {sorted(unknown)}")
        keys = [p.key for p in self.panels]
        if len(set(keys)) != len(keys):
            raise ValueError(f"{self.name}: duplicate panel keys {keys}")

    @property
    def needs_agents(self) -> bool:
        return any(m in LEARNED for m in self.methods)

    # ------------------------------------------------------------------------- cells
    def cells(self, quick: bool, seeds: int | None) -> list[dict[str, Any]]:
        """One spec per (panel, x, series value, method, seed); overrides stored in the spec."""
        n_seeds = (QUICK_SEEDS if quick else self.default_seeds) if seeds is None else int(seeds)
        if n_seeds < 1:
            raise ValueError(f"seeds={seeds!r}: must be >= 1")
        series_vals = (
            [None]
            if self.series is None
            else list(self.series.quick if quick else self.series.values)
        )
        out = []
        for panel in self.panels:
            for x in panel.quick if quick else panel.values:
                for s in series_vals:
                    ov = {**self.base_overrides, **panel.overrides(x)}
                    if s is not None:
                        assert self.series is not None
                        ov.update(self.series.overrides(s))
                    ov = canonical_overrides(self.scenario, ov)  # validates the point
                    for method in self.methods:
                        if method in self.sparse_methods and not (
                            panel.dense_at(x, quick)
                            and (self.series is None or self.series.dense_at(s, quick))
                        ):
                            continue
                        for seed in range(n_seeds):
                            spec: dict[str, Any] = {
                                "figure": self.name,
                                "panel": panel.key,
                                "x": x,
                                "method": method,
                                "seed": seed,
                                "scenario": self.scenario,
                                "overrides": ov,
                            }
                            if s is not None:
                                spec["series"] = s
                            if method in LEARNED:
                                spec["episodes"] = QUICK_EPISODES if quick else FULL_EPISODES
                            out.append(spec)
        return out

    # ------------------------------------------------------------------------- plot
    def plot(self, df: pd.DataFrame, out_dir: Path) -> list[Path]:
        """Delay vs x per panel (mean +- std over seeds) over the share of QoS-failed PBs."""
        import matplotlib.pyplot as plt

        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        fig = self.figure(df)
        path = out_dir / f"{self.name}.png"
        fig.savefig(path, dpi=120, bbox_inches="tight")
        plt.close(fig)
        return [path]

    def figure(self, df: pd.DataFrame) -> Any:
        """The matplotlib figure ``plot`` saves (the caller closes it)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        panels = [p for p in self.panels if (df["panel"] == p.key).any()] if len(df) else []
        if not panels:
            raise ValueError(f"{self.name}: no rows to plot")
        fig, axes = plt.subplots(
            2,
            len(panels),
            figsize=(5.2 * len(panels), 6.4),
            squeeze=False,
            gridspec_kw={"height_ratios": [3, 1.4]},
            sharex="col",
        )
        series_vals = (sorted(df["series"].dropna().unique()) if "series" in df else []) or [None]
        cmap = plt.get_cmap("viridis")
        for col, panel in enumerate(panels):
            top, bottom = axes[0, col], axes[1, col]
            sub = df[df["panel"] == panel.key]
            for method in [m for m in self.methods if (sub["method"] == m).any()]:
                for i, s in enumerate(series_vals):
                    sel = sub[sub["method"] == method]
                    if s is not None:
                        sel = sel[sel["series"] == s]
                    if sel.empty:
                        continue
                    g = point_means(sel)
                    style = dict(STYLES[method])
                    label = LABELS[method]
                    if s is not None:
                        style["color"] = cmap(i / max(len(series_vals) - 1, 1))
                        label = f"{label}: {s:g}"  # the legend's title names the series
                    ls = "-" if method == "maasn-da" else "--"
                    top.errorbar(
                        g["x"],
                        g["delay_mean"],
                        yerr=g["delay_std"],
                        ls=ls,
                        capsize=2,
                        label=label,
                        **style,
                    )
                    bottom.plot(g["x"], 100 * g["failed_share"], ls=ls, **style)
            means = sub.groupby(["method", "x"])["total_delay_s"].mean()
            if len(means) and means.min() > 0 and means.max() > 10 * means.min():
                top.set_yscale("log")  # e.g. an untrained learner next to the baselines
            top.set_ylabel("Model downloading delay (s)")
            top.grid(alpha=0.3)
            letter = f"({'abcdefgh'[col]}) " if len(panels) > 1 else ""
            top.set_title(f"{letter}vs {panel.label}", fontsize=10)
            bottom.set_xlabel(panel.label)
            bottom.set_ylabel("QoS-failed PBs (%)")
            bottom.grid(alpha=0.3)
        title = self.series.label if self.series is not None and series_vals != [None] else None
        legend = axes[0, -1].legend(
            fontsize=7, title=title, title_fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0)
        )
        fig.suptitle(self.title, fontsize=10)
        # Out of tight_layout, which would shrink the axes to make room for it; back in for
        # savefig's bbox_inches="tight", which then grows the canvas to take it in.
        legend.set_in_layout(False)
        fig.tight_layout()
        legend.set_in_layout(True)
        return fig

    # ------------------------------------------------------------------------- summary
    def reductions(self, df: pd.DataFrame) -> dict[str, float]:
        """Our reduction (%) of MAASN-DA's delay vs each other method, where the headline holds.

        Per point (panel, x, series): mean delays over seeds; reduction = (d_m - d_ours) / d_m;
        then the mean over the points where both were measured. NaN if none.
        """
        h = self.headline
        sel = df
        if h is not None and h.panel is not None:
            sel = sel[sel["panel"] == h.panel]
        if h is not None and h.x is not None:
            sel = sel[np.isclose(sel["x"].astype(float), float(h.x))]
        return reductions(sel, [m for m in self.methods if m != "maasn-da"])

    def summary(self, df: pd.DataFrame) -> str:
        """Markdown: delay table per point, the paper's trends and headline vs ours."""
        lines = [
            f"**{self.title}** (scenario `{self.scenario}`"
            + (f"; {self.notes}" if self.notes else "")
            + ")",
            "",
        ]
        if df.empty:
            return "\n".join([*lines, "No rows."])
        methods = [m for m in self.methods if (df["method"] == m).any()]
        learned = df[df["method"].isin(LEARNED)]
        if "episodes" in learned and len(learned):
            eps = int(learned["episodes"].max())
            if eps < FULL_EPISODES:
                lines += [
                    f"Learned methods were trained for only {eps} of the paper's "
                    f"{FULL_EPISODES} episodes (--quick): their numbers show that the "
                    "pipeline runs, not what MAASN-DA / QMIX-DA achieve.",
                    "",
                ]
        for panel in self.panels:
            sub = df[df["panel"] == panel.key]
            if sub.empty:
                lines.append(f"Panel {panel.label}: no rows.")
                continue
            has_full_comp = (
                "qos_infeasible_full_comp" in sub and sub["qos_infeasible_full_comp"].notna().any()
            )
            full_comp_note = (
                "; full CoMP: the requested PBs whose QoS fails even when every "
                "node broadcasts them by CoMP, a property of the draw; TDMA "
                "unicasting and per-model (coarse) broadcasts can meet some of them"
            )
            lines += [
                f"Total delay (s), mean over seeds, vs {panel.label} "
                "(QoS-infeasible + undelivered PBs in brackets"
                + (full_comp_note if has_full_comp else "")
                + "):",
                "",
            ]
            cols = ["x"] + (["series"] if "series" in sub and sub["series"].notna().any() else [])
            points = sub[cols].drop_duplicates().sort_values(cols).itertuples(index=False)
            header = [panel.key] + ([self.series.key] if len(cols) > 1 and self.series else [])
            extra = ["full CoMP"] if has_full_comp else []
            lines.append("| " + " | ".join(header + [LABELS[m] for m in methods] + extra) + " |")
            lines.append("|" + " --- |" * (len(header) + len(methods) + len(extra)))
            for pt in points:
                mask = np.ones(len(sub), dtype=bool)
                for c, v in zip(cols, pt, strict=True):
                    mask &= (sub[c] == v).to_numpy()
                cells = [f"{v:g}" if isinstance(v, (int, float)) else str(v) for v in pt]
                for m in methods:
                    part = sub[mask & (sub["method"] == m).to_numpy()]
                    if part.empty:
                        cells.append("—")
                        continue
                    failed = (part["qos_infeasible_pbs"] + part["undelivered_pbs"]).mean()
                    cells.append(f"{part['total_delay_s'].mean():.3f} ({failed:.0f})")
                if has_full_comp:
                    # one value per (seed, episode) draw, whichever method's rows carry it
                    ref = sub[mask].dropna(subset=["qos_infeasible_full_comp"])
                    ref = ref.drop_duplicates(["seed", "episode"])["qos_infeasible_full_comp"]
                    cells.append(f"({ref.mean():.0f})" if len(ref) else "—")
                lines.append("| " + " | ".join(cells) + " |")
            lines.append("")
            if panel.trend:
                if self.series is None or "series" not in sub:
                    lines += [trend_sentence(sub, panel, methods), ""]
                else:
                    ser = self.series
                    for v in sorted(sub["series"].dropna().unique()):
                        part = sub[sub["series"] == v]
                        lines.append(
                            trend_sentence(part, panel, methods, where=f" ({ser.label} = {v:g})")
                        )
                    if ser.trend:
                        for v in sorted(sub["x"].unique()):
                            part = (
                                sub[sub["x"] == v].drop(columns="x").rename(columns={"series": "x"})
                            )
                            lines.append(
                                trend_sentence(
                                    part, ser, methods, where=f" ({panel.label} = {v:g})"
                                )
                            )
                    lines.append("")
        lines += standing_markdown(
            df,
            [m for m in methods if m != "maasn-da"],
            self.series.key if self.series is not None else None,
        )
        if self.headline is not None:
            lines += headline_markdown(self.headline, self.reductions(df))
        return "\n".join(lines).rstrip() + "\n"


# ----------------------------------------------------------------------------- cell runner
def flat_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The spec as flat row columns (nested values JSON-encoded)."""
    return {
        k: json.dumps(v, sort_keys=True) if isinstance(v, (dict, list, tuple)) else v
        for k, v in spec.items()
    }


def repository_columns(scenario: str, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """K and the achieved reuse ratio of the point's repository."""
    from fgamcd_env.core.presets import get_config
    from fgamcd_env.core.repository import build_repository

    repo = build_repository(get_config(scenario, **config_overrides(overrides)).repository)
    sizes = repo.pb_sizes_bytes.astype(float)
    frozen = total = 0.0
    for j, pbs in enumerate(repo.model_pbs):
        parent = int(repo.model_parent[j])
        if parent < 0:
            continue
        shared = np.isin(pbs, repo.model_pbs[parent])
        frozen += sizes[pbs[shared]].sum()
        total += sizes[pbs].sum()
    return {
        "num_pbs": int(repo.num_pbs),
        "reuse_ratio_achieved": float(frozen / total) if total else 0.0,
    }


def run_point(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Run one sweep cell: the method at the spec's scenario point and seed; tidy rows.

    ``qos_infeasible_full_comp``: the row episode's requested PBs whose QoS fails even with
    full CoMP, to tell the draw's share of ``qos_infeasible_pbs`` from the method's.
    """
    from baselines.evaluate import episode_seed

    for key in ("figure", "method", "seed", "scenario", "overrides"):
        if key not in spec:
            raise ValueError(f"sweep cell spec lacks {key!r}: {dict(spec)}")
    rows = run_method(
        spec["method"],
        spec["scenario"],
        spec["overrides"],
        int(spec["seed"]),
        episodes=int(spec.get("episodes", FULL_EPISODES)),
    )
    extra = {**repository_columns(spec["scenario"], spec["overrides"]), **flat_spec(spec)}
    return [
        {
            **r,
            **extra,
            "qos_infeasible_full_comp": full_comp_failures_cached(
                spec["scenario"], spec["overrides"], episode_seed(r["seed"], r["episode"])
            ),
        }
        for r in rows
    ]


# ----------------------------------------------------------------------------- analysis
def point_means(df: pd.DataFrame) -> pd.DataFrame:
    """Per x: mean and std of the delay over seeds, and the share of QoS-failed requested PBs."""
    failed = df["qos_infeasible_pbs"] + df["undelivered_pbs"]
    tmp = df.assign(_failed=failed / df["requested_pbs"].clip(lower=1))
    g = tmp.groupby("x").agg(
        delay_mean=("total_delay_s", "mean"),
        delay_std=("total_delay_s", "std"),
        failed_share=("_failed", "mean"),
    )
    return g.fillna({"delay_std": 0.0}).reset_index().sort_values("x")


def point_keys(df: pd.DataFrame) -> list[str]:
    """The columns that name a point: panel, x and series, those the rows carry."""
    return [c for c in ("panel", "x", "series") if c in df and df[c].notna().any()]


def point_delays(df: pd.DataFrame) -> pd.DataFrame:
    """Mean delay over seeds: one row per point (``point_keys``), one column per method."""
    return df.groupby([*point_keys(df), "method"])["total_delay_s"].mean().unstack("method")


def reductions(df: pd.DataFrame, others: Sequence[str], ours: str = "maasn-da") -> dict[str, float]:
    """Mean over points of (d_other - d_ours) / d_other in %, NaN where not both measured."""
    out: dict[str, float] = {}
    if df.empty or not (df["method"] == ours).any():
        return {m: math.nan for m in others}
    mean = point_delays(df)
    for m in others:
        if m not in mean:
            out[m] = math.nan
            continue
        both = mean[[ours, m]].dropna()
        both = both[both[m] > 0]
        out[m] = float((100 * (both[m] - both[ours]) / both[m]).mean()) if len(both) else math.nan
    return out


def standing(
    df: pd.DataFrame, others: Sequence[str], ours: str = "maasn-da"
) -> dict[str, tuple[int, list[tuple[Any, ...]]]]:
    """Per other method: the points where both were measured, and those where ours is not lower.

    A point is a tuple of the ``point_keys`` values; delays are means over seeds. The paper's
    claim (MAASN-DA below every other method) checked point by point, which ``reductions``
    averages away.
    """
    out: dict[str, tuple[int, list[tuple[Any, ...]]]] = {}
    mean = point_delays(df) if len(df) and (df["method"] == ours).any() else None
    for m in others:
        if mean is None or m not in mean:
            out[m] = (0, [])
            continue
        both = mean[[ours, m]].dropna()
        idx = [i if isinstance(i, tuple) else (i,) for i in both.index]
        out[m] = (
            len(both),
            [i for i, lower in zip(idx, both[ours] < both[m], strict=True) if not lower],
        )
    return out


def point_text(
    named: Mapping[str, Any], series_key: str | None = None, with_panel: bool = True
) -> str:
    """A point for a reader: ``x`` [``(series_key series)``], after its panel if asked."""
    text = f"{named['x']:g}"
    series = named.get("series")
    if series is not None and series == series:  # NaN: the row has no series
        text += f" ({series_key or 'series'} {series:g})"
    return f"{named['panel']} {text}" if with_panel and "panel" in named else text


def instance_keys(df: pd.DataFrame) -> pd.Series:
    """Per row, its problem instance: (resolved ScenarioConfig, seed, episode).

    Figures reach the same instance through different overrides (Table II's point is in most
    sweeps, e.g. Fig. 8 at 1.25 GB and Fig. 9 at U = 30), so the overrides are resolved into the
    full config before comparing. Needs the ``scenario`` and ``overrides`` (JSON) columns.
    """
    import pandas as pd

    from fgamcd_env.core.presets import get_config

    configs: dict[tuple[str, str], str] = {}

    def config(scenario: str, overrides: Any) -> str:
        text = overrides if isinstance(overrides, str) and overrides else "{}"
        if (scenario, text) not in configs:
            resolved = get_config(scenario, **config_overrides(json.loads(text)))
            configs[scenario, text] = repr(resolved)
        return configs[scenario, text]

    return pd.Series(
        [
            (config(sc, ov), int(seed), int(ep))
            for sc, ov, seed, ep in zip(
                df["scenario"], df["overrides"], df["seed"], df["episode"], strict=True
            )
        ],
        index=df.index,
    )


def standing_across(
    frames: Sequence[tuple[str, Sweep, pd.DataFrame]], ours: str = "maasn-da"
) -> dict[str, tuple[int, list[str]]]:
    """Per other method, over every sweep's evaluated instances counted once: how many have
    both delays, and the labels (first figure in ``frames`` order) of those where ours is not
    lower (a tie is not lower). Rows without ``scenario``/``overrides`` count per figure."""
    import pandas as pd

    parts = []
    for name, sweep, df in frames:
        if df is None or df.empty:
            continue
        series_key = sweep.series.key if sweep.series is not None else None
        keys = point_keys(df)
        if {"scenario", "overrides"} <= set(df.columns):
            inst = instance_keys(df)
        else:
            inst = pd.Series(
                [
                    (name, *pt)
                    for pt in df[[*keys, "seed", "episode"]].itertuples(index=False, name=None)
                ],
                index=df.index,
            )
        labels = [
            f"{name} {point_text(dict(zip(keys, pt, strict=True)), series_key)}"
            for pt in df[keys].itertuples(index=False, name=None)
        ]
        parts.append(
            pd.DataFrame(
                {
                    "inst": inst,
                    "label": labels,
                    "seed": df["seed"].to_numpy(),
                    "method": df["method"].to_numpy(),
                    "delay": df["total_delay_s"].to_numpy(),
                }
            )
        )
    if not parts:
        return {}
    rows = pd.concat(parts, ignore_index=True).drop_duplicates(["inst", "method"])
    if rows["seed"].nunique() > 1:
        rows["label"] = rows["label"] + " seed " + rows["seed"].astype(str)
    mine = rows[rows["method"] == ours].set_index("inst")
    out: dict[str, tuple[int, list[str]]] = {}
    for m in dict.fromkeys(rows["method"]):
        if m == ours:
            continue
        theirs = rows[rows["method"] == m].set_index("inst")["delay"]
        both = mine.join(theirs.rename("other"), how="inner")
        out[m] = (len(both), list(both.loc[~(both["delay"] < both["other"]), "label"]))
    return out


def standing_markdown(
    df: pd.DataFrame, others: Sequence[str], series_key: str | None = None
) -> list[str]:
    """Markdown table of ``standing``: where MAASN-DA's mean delay is lower, where it is not."""
    table = standing(df, others)
    if not any(n for n, _ in table.values()):
        return []
    keys = point_keys(df)
    one_panel = "panel" in keys and df["panel"].nunique() == 1

    def point(pt: tuple[Any, ...]) -> str:
        return point_text(dict(zip(keys, pt, strict=True)), series_key, with_panel=not one_panel)

    lines = [
        "MAASN-DA's delay point by point (mean over seeds):",
        "",
        "| vs | lower at | not lower at |",
        "| --- | --- | --- |",
    ]
    for m, (n, worse) in table.items():
        if n:
            where = ", ".join(point(pt) for pt in worse) or "—"
            unit = "point" if n == 1 else "points"
            lines.append(f"| {LABELS[m]} | {n - len(worse)} of {n} {unit} | {where} |")
    return [*lines, ""]


def agreement(ours: float, paper: float) -> str:
    """Plain verdict: agree (within AGREE_PP points), same direction, or disagree."""
    if ours is None or not math.isfinite(ours):
        return "not measured"
    if (ours > 0) != (paper > 0):
        return "disagree (opposite sign)"
    if abs(ours - paper) <= AGREE_PP:
        return "agree"
    return f"same direction, {ours - paper:+.1f} pp off"


def headline_markdown(h: Headline, ours: Mapping[str, float]) -> list[str]:
    """The paper's reductions next to ours, one row per competitor, with the verdict."""
    lines = [
        f"Reduction of MAASN-DA's delay ({h.where}); agreement = same sign and within "
        f"{AGREE_PP:g} percentage points:",
        "",
        "| vs | paper (%) | ours (%) | verdict |",
        "| --- | --- | --- | --- |",
    ]
    for m in PAPER_COMPETITORS:
        val = ours.get(m, math.nan)
        shown = f"{val:.2f}" if val is not None and math.isfinite(val) else "—"
        lines.append(f"| {LABELS[m]} | {h.paper[m]:.2f} | {shown} | {agreement(val, h.paper[m])} |")
    return [*lines, ""]


def trend_sentence(sub: pd.DataFrame, panel: Axis, methods: Sequence[str], where: str = "") -> str:
    """Whether each method's delay moves with x as the paper says: the sign of a least-squares
    slope of the per-x means, "flat" if the means vary by less than FLAT_SHARE of their mean."""
    want = "falls" if panel.trend < 0 else "rises"
    groups: dict[str, list[str]] = {"as the paper": [], "opposite": [], "flat": []}
    for m in methods:
        g = point_means(sub[sub["method"] == m])
        if len(g) < 2:
            continue
        d = g["delay_mean"].to_numpy(float)
        if np.ptp(d) <= FLAT_SHARE * max(abs(d.mean()), 1e-12):
            groups["flat"].append(LABELS[m])
            continue
        slope = np.polyfit(g["x"].astype(float), d, 1)[0]
        groups["as the paper" if np.sign(slope) == panel.trend else "opposite"].append(LABELS[m])
    if not any(groups.values()):
        return (
            f"Paper: delay {want} with {panel.label}{where}; not checkable (fewer than 2 x values)."
        )
    n_ok = len(groups["as the paper"])
    n_all = sum(len(v) for v in groups.values())
    verdict = "agree" if n_ok == n_all else ("disagree" if n_ok == 0 else "partly agree")
    parts = [f"{k}: {', '.join(v)}" for k, v in groups.items() if v and k != "as the paper"]
    text = (
        f"Paper: delay {want} as {panel.label} grows{where}. Ours: {verdict} "
        f"({n_ok}/{n_all} methods"
    )
    text += (f"; {'; '.join(parts)}" if parts else "") + ")."
    return text
