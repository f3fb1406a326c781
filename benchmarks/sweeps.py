"""Shared logic of the method-comparison figures (Figs. 8-14 and 18): a ``Sweep`` is a figure.

A sweep has one or more panels (``Axis``: the x grid of the paper's figure, the quick grid, and
the scenario override per x value), an optional second dimension (``series``, Fig. 14's backhaul
rates), the methods to compare, and what the paper states: the direction of each curve and, for
Figs. 8, 9, 13 and 18, the headline reductions of MAASN-DA's delay vs the five other methods.

One cell = (panel, x, series value, method, seed). ``run_point`` runs it with
``benchmarks.methods.run_method`` (learned methods are trained once per scenario point, seed and
budget and cached across figures; where a shipped reference policy exists for the instance it is
evaluated instead). Rows are ``baselines.evaluate`` rows plus the cell's keys, ``num_pbs`` (K)
and ``reuse_ratio_achieved`` (share of a stage-2 model's parameters that are frozen,
parameter-weighted over the repository's stage-2 models).

Reading the results. Delay (8) counts only delivered PBs: a method that leaves a PB undelivered
pays the penalty r2 in the return (12) but no delay. So every table puts the QoS-infeasible and
undelivered PBs next to the delay, methods are ranked by the return (12), and MAASN-DA counts as
better than a method at a point only if its return is higher (a lower delay with a lower return
means it delivered less). Learned rows trained for fewer than ``MIN_TRAINED_EPISODES`` episodes
are "not trained": they are left out of every comparison.

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
    FORMS,
    LABELS,
    LEARNED,
    METHODS,
    OPTIMA,
    OPTIMUM_OF,
    PAPER_COMPETITORS,
    PAPER_FORMS,
    STYLES,
    canonical_overrides,
    config_overrides,
    full_comp_failures_cached,
    reference_seeds,
    run_method,
)
from fgamcd_env.core.presets import get_config

if TYPE_CHECKING:
    import pandas as pd

FULL_EPISODES = 600  # Table II: E = 600 training episodes
# Learned rows below this budget are "not trained" and left out of every comparison.
MIN_TRAINED_EPISODES = FULL_EPISODES
# Training budget of the Fig. 7 variants in --quick mode: enough to draw the figure, not to
# learn. The sweeps never train in --quick mode: their learned cells exist only where a shipped
# reference policy does.
QUICK_EPISODES = 2
FULL_SEEDS = 5
QUICK_SEEDS = 1
# The exact optimum enumerates 2^N - 1 participant sets per PB: only where N is at most this.
OPTIMUM_MAX_NODES = 8
# The optima of other deliveries: they give the other methods' gaps, not a table column.
HIDDEN: frozenset[str] = frozenset(OPTIMA) - {"optimum"}
# Left out of --quick: each costs 14-26 s per Table II instance (as much as the optimum itself)
# and four of them would more than double the quick run's time at its reference seeds.
QUICK_SKIPS: frozenset[str] = HIDDEN
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
    sparse_methods: tuple[str, ...] = (*LEARNED, "centralised", *OPTIMA)
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
        """One spec per (panel, x, series value, method, seed); overrides stored in the spec.

        A learned cell whose instance has a shipped reference policy evaluates it
        (``"policy": "reference"``); otherwise it trains (``FULL_EPISODES``), except in quick
        mode, where it is left out. In quick mode a point with reference policies runs every
        method on the reference seeds, so the comparison there is over the same instances.
        The optimum runs only where N <= ``OPTIMUM_MAX_NODES`` (it is exact there); the optima of
        the other deliveries (``QUICK_SKIPS``) only in full runs.
        """
        if seeds is not None and int(seeds) < 1:
            raise ValueError(f"seeds={seeds!r}: must be >= 1")
        n_seeds = (QUICK_SEEDS if quick else self.default_seeds) if seeds is None else int(seeds)
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
                    dense = panel.dense_at(x, quick) and (
                        self.series is None or self.series.dense_at(s, quick)
                    )
                    refs = {m: reference_seeds(m, self.scenario, ov) for m in LEARNED}
                    point_seeds = range(n_seeds)
                    if quick and dense and seeds is None and any(refs.values()):
                        point_seeds = sorted(set().union(*refs.values()))
                    nodes = get_config(self.scenario, **config_overrides(ov)).num_nodes
                    for method in self.methods:
                        if method in self.sparse_methods and not dense:
                            continue
                        if method in OPTIMA and nodes > OPTIMUM_MAX_NODES:
                            continue
                        if quick and method in QUICK_SKIPS:
                            continue
                        for seed in point_seeds:
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
                                if seed in refs[method]:
                                    spec["policy"] = "reference"
                                elif quick:
                                    continue  # not trained: no reference policy here
                                spec["episodes"] = FULL_EPISODES
                            out.append(spec)
        return out

    # ------------------------------------------------------------------------- plot
    def plot(self, df: pd.DataFrame, out_dir: Path) -> list[Path]:
        """Delay, cost (-return) and failed PBs vs x per panel (mean +- std over seeds)."""
        import matplotlib.pyplot as plt

        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        fig = self.figure(df)
        path = out_dir / f"{self.name}.png"
        fig.savefig(path, dpi=120, bbox_inches="tight")
        plt.close(fig)
        return [path]

    def figure(self, df: pd.DataFrame) -> Any:
        """The matplotlib figure ``plot`` saves (the caller closes it): per panel, the delay (8),
        the cost -return (12) and the share of requested PBs that were QoS-infeasible or
        undelivered. Learned rows below ``MIN_TRAINED_EPISODES`` are left out."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        df, _ = trained(df)
        df = df[~df["method"].isin(HIDDEN)]
        panels = [p for p in self.panels if (df["panel"] == p.key).any()] if len(df) else []
        if not panels:
            raise ValueError(f"{self.name}: no rows to plot")
        fig, axes = plt.subplots(
            3,
            len(panels),
            figsize=(5.2 * len(panels), 8.4),
            squeeze=False,
            gridspec_kw={"height_ratios": [3, 2, 1.4]},
            sharex="col",
        )
        series_vals = (sorted(df["series"].dropna().unique()) if "series" in df else []) or [None]
        cmap = plt.get_cmap("viridis")
        for col, panel in enumerate(panels):
            top, mid, bottom = axes[:, col]
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
                    ls = "-" if method == "maasn-da" else ("-." if method == "optimum" else "--")
                    top.errorbar(
                        g["x"],
                        g["delay_mean"],
                        yerr=g["delay_std"],
                        ls=ls,
                        capsize=2,
                        label=label,
                        **style,
                    )
                    mid.plot(g["x"], g["cost_mean"], ls=ls, **style)
                    bottom.plot(g["x"], 100 * g["failed_share"], ls=ls, **style)
            for ax, key in ((top, "total_delay_s"), (mid, "_cost")):
                vals = (
                    (sub.assign(_cost=-sub["return"]) if key == "_cost" else sub)
                    .groupby(["method", "x"])[key]
                    .mean()
                )
                if len(vals) and vals.min() > 0 and vals.max() > 10 * vals.min():
                    ax.set_yscale("log")
            top.set_ylabel("Model downloading delay (s)")
            mid.set_ylabel("Cost: -return (12)")
            letter = f"({'abcdefgh'[col]}) " if len(panels) > 1 else ""
            top.set_title(f"{letter}vs {panel.label}", fontsize=10)
            bottom.set_xlabel(panel.label)
            bottom.set_ylabel("QoS-infeasible +\nundelivered PBs (%)")
            for ax in (top, mid, bottom):
                ax.grid(alpha=0.3)
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
    def headline_rows(self, df: pd.DataFrame) -> list[HeadlineRow]:
        """The paper's headline claims of this figure checked on ``df`` (empty without one)."""
        h = self.headline
        if h is None:
            return []
        sel, _ = trained(df)
        if h.panel is not None:
            sel = sel[sel["panel"] == h.panel]
        if h.x is not None:
            sel = sel[np.isclose(sel["x"].astype(float), float(h.x))]
        return [compare(sel, paper_form(sel, m), h.paper[m]) for m in PAPER_COMPETITORS]

    def reductions(self, df: pd.DataFrame) -> dict[str, float]:
        """Our reduction (%) of MAASN-DA's delay vs each other method where the headline holds
        (the form of each paper method that ``paper_form`` picks)."""
        return {row.competitor_key: row.delay_reduction for row in self.headline_rows(df)}

    def summary(self, df: pd.DataFrame) -> str:
        """Markdown: the forms used, delay and return tables per point, the paper's trends,
        MAASN-DA point by point and the headline claims."""
        lines = [
            f"**{self.title}** (scenario `{self.scenario}`"
            + (f"; {self.notes}" if self.notes else "")
            + ")",
            "",
        ]
        if df.empty:
            return "\n".join([*lines, "No rows."])
        df, dropped = trained(df)
        if dropped:
            lines += [f"Not trained (left out): {dropped}.", ""]
        methods = [m for m in self.methods if (df["method"] == m).any()]
        lines += forms_markdown(methods)
        methods = [m for m in methods if m not in HIDDEN]
        for panel in self.panels:
            sub = df[df["panel"] == panel.key]
            if sub.empty:
                lines += [f"Panel {panel.label}: no rows.", ""]
                continue
            lines += self._panel_tables(sub, panel, methods)
        lines += standing_markdown(
            df,
            [m for m in methods if m != "maasn-da"],
            self.series.key if self.series is not None else None,
        )
        if self.headline is not None:
            lines += headline_markdown(self.headline, self.headline_rows(df))
        return "\n".join(lines).rstrip() + "\n"

    def _panel_tables(self, sub: pd.DataFrame, panel: Axis, methods: list[str]) -> list[str]:
        has_full_comp = (
            "qos_infeasible_full_comp" in sub and sub["qos_infeasible_full_comp"].notna().any()
        )
        cols = ["x"] + (["series"] if "series" in sub and sub["series"].notna().any() else [])
        header = [panel.key] + ([self.series.key] if len(cols) > 1 and self.series else [])
        points = list(sub[cols].drop_duplicates().sort_values(cols).itertuples(index=False))
        gaps = gap_to_optimum(sub)

        def masked(pt: tuple[Any, ...]) -> np.ndarray:
            mask = np.ones(len(sub), dtype=bool)
            for c, v in zip(cols, pt, strict=True):
                mask &= (sub[c] == v).to_numpy()
            return mask

        def label(pt: tuple[Any, ...]) -> list[str]:
            return [f"{v:g}" if isinstance(v, (int, float)) else str(v) for v in pt]

        note = (
            "; full CoMP: the requested PBs whose QoS fails even when every node broadcasts "
            "them by CoMP, a property of the draw"
            if has_full_comp
            else ""
        )
        lines = [
            f"Total delay (s) vs {panel.label}, mean over seeds (QoS-infeasible / undelivered "
            f"PBs in brackets{note}):",
            "",
            "| "
            + " | ".join(header + [LABELS[m] for m in methods])
            + (" | full CoMP |" if has_full_comp else " |"),
            "|" + " --- |" * (len(header) + len(methods) + int(has_full_comp)),
        ]
        for pt in points:
            mask = masked(pt)
            cells = label(pt)
            for m in methods:
                part = sub[mask & (sub["method"] == m).to_numpy()]
                if part.empty:
                    cells.append("—")
                    continue
                qos, undelivered = part["qos_infeasible_pbs"].mean(), part["undelivered_pbs"].mean()
                cells.append(
                    f"{part['total_delay_s'].mean():.3f} ({count(qos)} / {count(undelivered)})"
                )
            if has_full_comp:
                ref = sub[mask].dropna(subset=["qos_infeasible_full_comp"])
                ref = ref.drop_duplicates(["seed", "episode"])["qos_infeasible_full_comp"]
                cells.append(f"({ref.mean():.0f})" if len(ref) else "—")
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        with_gap = gaps is not None
        lines += [
            f"Return (12) vs {panel.label}, mean over seeds"
            + (
                " (in brackets the gap of the cost -return to the optimum of the method's own "
                "delivery, mean over seeds)"
                if with_gap
                else ""
            )
            + ":",
            "",
            "| " + " | ".join(header + [LABELS[m] for m in methods]) + " |",
            "|" + " --- |" * (len(header) + len(methods)),
        ]
        for pt in points:
            mask = masked(pt)
            cells = label(pt)
            for m in methods:
                part = sub[mask & (sub["method"] == m).to_numpy()]
                if part.empty:
                    cells.append("—")
                    continue
                text = f"{part['return'].mean():.1f}"
                if with_gap and m not in OPTIMA:
                    g = gaps.loc[part.index].dropna()
                    if len(g):
                        text += f" ({g.mean():+.1f} %)"
                cells.append(text)
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
                        part = sub[sub["x"] == v].drop(columns="x").rename(columns={"series": "x"})
                        lines.append(
                            trend_sentence(part, ser, methods, where=f" ({panel.label} = {v:g})")
                        )
                lines.append("")
        return lines


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
        policy=spec.get("policy", "train"),
    )
    extra = {**repository_columns(spec["scenario"], spec["overrides"]), **flat_spec(spec)}
    if spec.get("policy") == "reference":
        extra.pop("episodes", None)  # the reference policy's own budget, from its rows
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
def trained(df: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """``df`` without learned rows trained below ``MIN_TRAINED_EPISODES``, and a note naming
    what was left out ("" if nothing)."""
    if df.empty or "episodes" not in df:
        return df, ""
    learned = df["method"].isin(LEARNED)
    short = learned & (df["episodes"].fillna(0) < MIN_TRAINED_EPISODES)
    if not short.any():
        return df, ""
    parts = [
        f"{LABELS.get(m, m)} ({int(g['episodes'].max())} of {MIN_TRAINED_EPISODES} episodes, "
        f"{len(g)} row{'s' if len(g) > 1 else ''})"
        for m, g in df[short].groupby("method", sort=False)
    ]
    return df[~short], ", ".join(parts)


def point_means(df: pd.DataFrame) -> pd.DataFrame:
    """Per x: mean and std of the delay over seeds, the mean cost -return (12) and the share of
    requested PBs that were QoS-infeasible or undelivered."""
    failed = df["qos_infeasible_pbs"] + df["undelivered_pbs"]
    tmp = df.assign(_failed=failed / df["requested_pbs"].clip(lower=1), _cost=-df["return"])
    g = tmp.groupby("x").agg(
        delay_mean=("total_delay_s", "mean"),
        delay_std=("total_delay_s", "std"),
        cost_mean=("_cost", "mean"),
        failed_share=("_failed", "mean"),
    )
    return g.fillna({"delay_std": 0.0}).reset_index().sort_values("x")


def point_keys(df: pd.DataFrame) -> list[str]:
    """The columns that name a point: panel, x and series, those the rows carry."""
    return [c for c in ("panel", "x", "series") if c in df and df[c].notna().any()]


def point_values(df: pd.DataFrame, column: str = "total_delay_s") -> pd.DataFrame:
    """Mean of ``column`` over seeds: one row per point (``point_keys``), one column per
    method."""
    return df.groupby([*point_keys(df), "method"])[column].mean().unstack("method")


def gap_to_optimum(df: pd.DataFrame) -> pd.Series | None:
    """Per row, the gap (%) of its cost -return (12) to that of the optimum of the method's own
    delivery (``OPTIMUM_OF``, else ``optimum``) on the same instance (point, seed, episode), NaN
    where that optimum was not run; None without optimum rows."""
    if df.empty or not df["method"].isin(OPTIMA).any():
        return None
    keys = [*point_keys(df), "seed", "episode"]
    own = df["method"].map(lambda m: OPTIMUM_OF.get(m, "optimum")).to_numpy()
    ref = np.full(len(df), np.nan)
    index = pd_index(df, keys)
    for opt in OPTIMA:
        rows = df[df["method"] == opt].set_index(keys)["return"]
        rows = rows[~rows.index.duplicated()]
        sel = own == opt
        ref[sel] = rows.reindex(index[sel]).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        gap = 100.0 * (df["return"].to_numpy() - ref) / ref  # (-r_m + r_opt) / -r_opt
    return _series(gap, df.index)


def pd_index(df: pd.DataFrame, keys: Sequence[str]) -> Any:
    import pandas as pd

    return pd.MultiIndex.from_frame(df[list(keys)]) if len(keys) > 1 else pd.Index(df[keys[0]])


def _series(values: np.ndarray, index: Any) -> pd.Series:
    import pandas as pd

    return pd.Series(values, index=index)


def paper_form(df: pd.DataFrame, method: str) -> str:
    """The form of the paper's ``method`` to compare with: the one "optimised through our
    approach" (``PAPER_FORMS``) where ``df`` has its rows, else the heuristic form."""
    for form in PAPER_FORMS.get(method, (method,)):
        if (df["method"] == form).any():
            return form
    return method


@dataclass(frozen=True)
class HeadlineRow:
    """One of the paper's headline claims (MAASN-DA vs a method) checked on our rows."""

    competitor_key: str  # the paper's method name
    competitor: str  # the form compared (see ``paper_form``)
    paper: float  # the paper's reduction of MAASN-DA's delay [%]
    points: int  # points where both were measured
    seeds: tuple[int, ...]
    episodes: int | None  # MAASN-DA's training budget
    delay_reduction: float  # ours [%], mean over points of (d_m - d_ours) / d_m
    ours: tuple[float, float, float, float]  # MAASN-DA: delay, QoS-infeasible, undelivered, return
    theirs: tuple[float, float, float, float]  # the competitor's, same order
    verdict: str


def compare(df: pd.DataFrame, other: str, paper: float, ours: str = "maasn-da") -> HeadlineRow:
    """MAASN-DA against ``other`` over the points where both were measured (means over seeds,
    then over points); the verdict ranks by the return (12), see :func:`verdict`."""
    means: dict[str, list[float]] = {}
    both = None
    if len(df) and (df["method"] == ours).any() and (df["method"] == other).any():
        cols = ("total_delay_s", "qos_infeasible_pbs", "undelivered_pbs", "return")
        tables = {c: point_values(df, c)[[ours, other]].dropna() for c in cols}
        both = tables["total_delay_s"]
        both = both[both[other] > 0]
        for m in (ours, other):
            means[m] = [float(tables[c].loc[both.index, m].mean()) for c in cols]
    nan4 = (math.nan,) * 4
    if both is None or both.empty:
        return HeadlineRow(
            paper_key(other), other, paper, 0, (), None, math.nan, nan4, nan4, "not measured"
        )
    red = float((100 * (both[other] - both[ours]) / both[other]).mean())
    mine = df[df["method"] == ours]
    eps = mine["episodes"].dropna() if "episodes" in mine else ()
    seeds = tuple(sorted({int(s) for s in mine["seed"]}))
    return HeadlineRow(
        paper_key(other),
        other,
        paper,
        len(both),
        seeds,
        int(min(eps)) if len(eps) else None,
        red,
        tuple(means[ours]),  # type: ignore[arg-type]
        tuple(means[other]),  # type: ignore[arg-type]
        verdict(red, paper, means[ours][3], means[other][3]),
    )


def paper_key(method: str) -> str:
    """The paper's method a form belongs to (``trimcaching_maasn`` -> ``trimcaching``)."""
    for key, forms in PAPER_FORMS.items():
        if method in forms:
            return key
    return method


def agreement(ours: float, paper: float) -> str:
    """Delay reduction vs the paper's: agree (within AGREE_PP points), same direction, or
    disagree."""
    if ours is None or not math.isfinite(ours):
        return "not measured"
    if (ours > 0) != (paper > 0):
        return "disagree (opposite sign)"
    if abs(ours - paper) <= AGREE_PP:
        return "agree"
    return f"same direction, {ours - paper:+.1f} pp off"


def verdict(reduction: float, paper: float, our_return: float, their_return: float) -> str:
    """:func:`agreement` on the delay, but a lower delay with a lower return (12) is no win: it
    comes from delivering less (undelivered PBs add no delay) or failing more QoS targets."""
    text = agreement(reduction, paper)
    if text in ("agree",) or text.startswith("same direction"):
        if our_return < their_return:
            return "delay lower but return lower (delivers less): disagree"
    return text


def standing(
    df: pd.DataFrame, others: Sequence[str], ours: str = "maasn-da", by: str = "delay"
) -> dict[str, tuple[int, list[tuple[Any, ...]]]]:
    """Per other method: the points where both were measured, and those where ours is not
    better: not a lower delay (``by="delay"``), or not a higher return (``by="return"``).

    A point is a tuple of the ``point_keys`` values; values are means over seeds. The paper's
    claim (MAASN-DA below every other method) checked point by point, which the headline
    averages away.
    """
    column = {"delay": "total_delay_s", "return": "return"}[by]
    out: dict[str, tuple[int, list[tuple[Any, ...]]]] = {}
    mean = point_values(df, column) if len(df) and (df["method"] == ours).any() else None
    for m in others:
        if mean is None or m not in mean:
            out[m] = (0, [])
            continue
        both = mean[[ours, m]].dropna()
        idx = [i if isinstance(i, tuple) else (i,) for i in both.index]
        better = both[ours] < both[m] if by == "delay" else both[ours] > both[m]
        out[m] = (len(both), [i for i, ok in zip(idx, better, strict=True) if not ok])
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
    frames: Sequence[tuple[str, Sweep, pd.DataFrame]], ours: str = "maasn-da", by: str = "delay"
) -> dict[str, tuple[int, list[str]]]:
    """Per other method, over every sweep's evaluated instances counted once: how many have
    both values, and the labels (first figure in ``frames`` order) of those where ours is not
    better (``by="delay"``: not a lower delay; ``by="return"``: not a higher return; a tie is
    not better). Rows without ``scenario``/``overrides`` count per figure."""
    import pandas as pd

    column = {"delay": "total_delay_s", "return": "return"}[by]
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
                    "value": df[column].to_numpy(),
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
        theirs = rows[rows["method"] == m].set_index("inst")["value"]
        both = mine.join(theirs.rename("other"), how="inner")
        better = both["value"] < both["other"] if by == "delay" else both["value"] > both["other"]
        out[m] = (len(both), list(both.loc[~better, "label"]))
    return out


def standing_markdown(
    df: pd.DataFrame, others: Sequence[str], series_key: str | None = None
) -> list[str]:
    """Markdown table of ``standing``: where MAASN-DA's mean delay is lower and where its mean
    return (12) is higher, and the points where not."""
    by_delay, by_return = standing(df, others, by="delay"), standing(df, others, by="return")
    if not any(n for n, _ in by_delay.values()):
        return []
    keys = point_keys(df)
    one_panel = "panel" in keys and df["panel"].nunique() == 1

    def point(pt: tuple[Any, ...]) -> str:
        return point_text(dict(zip(keys, pt, strict=True)), series_key, with_panel=not one_panel)

    lines = [
        "MAASN-DA point by point (means over seeds): a lower delay, and a higher return (12), "
        "the ranking that charges undelivered and QoS-infeasible PBs:",
        "",
        "| vs | lower delay at | not at | higher return at | not at |",
        "| --- | --- | --- | --- | --- |",
    ]
    for m, (n, worse) in by_delay.items():
        if n:
            unit = "point" if n == 1 else "points"
            r_n, r_worse = by_return[m]
            lines.append(
                f"| {LABELS[m]} | {n - len(worse)} of {n} {unit} | "
                f"{', '.join(point(pt) for pt in worse) or '—'} | {r_n - len(r_worse)} of {r_n} | "
                f"{', '.join(point(pt) for pt in r_worse) or '—'} |"
            )
    return [*lines, ""]


def forms_markdown(methods: Sequence[str]) -> list[str]:
    """One line per method in the rows: the form it takes (``benchmarks.methods.FORMS``)."""
    if not methods:
        return []
    lines = ["Methods as run:", ""]
    lines += [f"- {LABELS[m]}: {FORMS[m]}" for m in methods]
    return [*lines, ""]


def count(value: float) -> str:
    """A mean count of PBs: whole numbers as such, else one decimal (``3``, ``0.5``)."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def metrics_text(values: tuple[float, float, float, float]) -> str:
    """``delay s (QoS-infeasible / undelivered), return`` of a ``HeadlineRow`` side."""
    delay, qos, undelivered, ret = values
    if not math.isfinite(delay):
        return "—"
    return f"{delay:.3f} s ({count(qos)} / {count(undelivered)}), {ret:.1f}"


def headline_markdown(h: Headline, rows: Sequence[HeadlineRow]) -> list[str]:
    """The paper's reductions next to ours, one row per competitor, with the verdict."""
    lines = [
        f"Reduction of MAASN-DA's delay ({h.where}). Each method's delay (QoS-infeasible / "
        "undelivered PBs) and return (12) are means over seeds and points. Verdict: *agree* if "
        f"within {AGREE_PP:g} percentage points of the paper with the same sign, and MAASN-DA's "
        "return is at least the method's (a lower delay with a lower return comes from "
        "delivering less):",
        "",
        "| vs (form) | seeds | MAASN-DA | method | paper (%) | ours (%) | verdict |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        shown = f"{r.delay_reduction:.2f}" if math.isfinite(r.delay_reduction) else "—"
        name = LABELS[r.competitor_key] + (
            f" ({r.competitor})" if r.competitor != r.competitor_key else ""
        )
        seeds = ", ".join(map(str, r.seeds)) or "—"
        ours, theirs = metrics_text(r.ours), metrics_text(r.theirs)
        lines.append(
            f"| {name} | {seeds} | {ours} | {theirs} | {r.paper:.2f} | {shown} | {r.verdict} |"
        )
    return [*lines, ""]


def trend_sentence(sub: pd.DataFrame, panel: Axis, methods: Sequence[str], where: str = "") -> str:
    """Whether each method's delay, and its cost -return (12), move with x as the paper says of
    the delay: the sign of a least-squares slope of the per-x means, "flat" if the means vary by
    less than FLAT_SHARE of their mean."""
    want = "falls" if panel.trend < 0 else "rises"
    texts = []
    for metric, column in (("delay", "delay_mean"), ("cost -return", "cost_mean")):
        groups: dict[str, list[str]] = {"as the paper": [], "opposite": [], "flat": []}
        for m in methods:
            g = point_means(sub[sub["method"] == m])
            if len(g) < 2:
                continue
            d = g[column].to_numpy(float)
            if np.ptp(d) <= FLAT_SHARE * max(abs(d.mean()), 1e-12):
                groups["flat"].append(LABELS[m])
                continue
            slope = np.polyfit(g["x"].astype(float), d, 1)[0]
            key = "as the paper" if np.sign(slope) == panel.trend else "opposite"
            groups[key].append(LABELS[m])
        if not any(groups.values()):
            return (
                f"Paper: delay {want} with {panel.label}{where}; not checkable (fewer than 2 x "
                "values)."
            )
        n_ok = len(groups["as the paper"])
        n_all = sum(len(v) for v in groups.values())
        verdict = "agree" if n_ok == n_all else ("disagree" if n_ok == 0 else "partly agree")
        parts = [f"{k}: {', '.join(v)}" for k, v in groups.items() if v and k != "as the paper"]
        texts.append(
            f"{metric}: {verdict} ({n_ok}/{n_all} methods"
            + (f"; {'; '.join(parts)}" if parts else "")
            + ")"
        )
    return f"Paper: delay {want} as {panel.label} grows{where}. Ours, " + "; ".join(texts) + "."
