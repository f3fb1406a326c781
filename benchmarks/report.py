"""``<out>/report.md``: every figure (PNG links and its summary) and the headline table.

The headline table puts our reductions of MAASN-DA's total delay vs QMIX-DA, TrimCaching,
without cooperation, TDMA and coarse-grained caching (Figs. 8, 9, 13, 18) next to the paper's
(SPEC section 9), with each side's QoS-infeasible and undelivered PBs and return (12), the seeds
and training budget behind it, and the verdict of ``benchmarks.sweeps.verdict`` (which ranks by
the return). Learned rows below ``MIN_TRAINED_EPISODES`` are left out. Summaries are recomputed
from each figure's CSV, so the report always matches the data. Figures of the paper without a
module, without results, or whose module fails to load are listed as missing, not dropped.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import figures
from benchmarks.methods import LABELS, OPTIMA, PAPER_COMPETITORS
from benchmarks.sweeps import (
    AGREE_PP,
    MIN_TRAINED_EPISODES,
    Sweep,
    compare,
    gap_to_optimum,
    instance_keys,
    metrics_text,
    paper_form,
    standing_across,
    trained,
)
from fgamcd_env.atomic import atomic_write_text

# Every figure and table of the paper's section V.
EXPECTED: tuple[str, ...] = (
    "fig6",
    "fig7",
    "table3",
    "fig8",
    "fig9",
    "fig10",
    "fig11",
    "fig12",
    "fig13",
    "fig14",
    "fig15",
    "fig16",
    "fig17",
    "fig18",
)
HEADLINE_FIGURES: tuple[str, ...] = ("fig8", "fig9", "fig13", "fig18")


def _load(out: Path, name: str) -> tuple[Any, dict[str, Any]]:
    """The figure's DataFrame (or None) and its meta.json (or {})."""
    import pandas as pd

    fig_dir = out / name
    meta_path = fig_dir / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    csv = fig_dir / f"{name}.csv"
    if not csv.exists():  # the docs' copy of a large CSV is gzipped (``write_pages``)
        csv = fig_dir / f"{name}.csv.gz"
    df = pd.read_csv(csv) if csv.exists() else None
    return df, meta


def _status(meta: dict[str, Any]) -> str:
    if not meta:
        return "no run recorded"
    mode = "quick" if meta.get("quick") else "full"
    seeds = meta.get("seeds")
    text = (
        f"{meta.get('cells_done', 0)}/{meta.get('cells_total', '?')} cells ({mode} grid, "
        f"{'default' if seeds is None else seeds} seeds), cell time "
        f"{meta.get('cells_wall_s', 0.0):.0f} s, updated {meta.get('updated', '?')}"
    )
    if meta.get("cells_done", 0) < meta.get("cells_total", 0):
        text += " — INCOMPLETE: the missing cells failed or were not selected"
    return text


def headline_rows(out: Path) -> list[list[str]]:
    """Table rows: figure, where, vs (form), seeds, episodes, MAASN-DA, method, paper %, ours %,
    verdict (see ``Sweep.headline_rows``)."""
    reg = figures.registry()
    rows = []
    for name in HEADLINE_FIGURES:
        mod = reg.get(name)
        sweep = getattr(mod, "SWEEP", None)
        head = getattr(sweep, "headline", None)
        if sweep is None or head is None:
            continue
        df = _load(out, name)[0]
        if df is None:
            for m in PAPER_COMPETITORS:
                rows.append(
                    [
                        name,
                        head.where,
                        LABELS[m],
                        "—",
                        "—",
                        "—",
                        "—",
                        f"{head.paper[m]:.2f}",
                        "—",
                        "missing (no results)",
                    ]
                )
            continue
        for r in sweep.headline_rows(df):
            shown = f"{r.delay_reduction:.2f}" if math.isfinite(r.delay_reduction) else "—"
            form = f" ({r.competitor})" if r.competitor != r.competitor_key else ""
            rows.append(
                [
                    name,
                    head.where,
                    LABELS[r.competitor_key] + form,
                    ", ".join(map(str, r.seeds)) or "—",
                    "—" if r.episodes is None else str(r.episodes),
                    metrics_text(r.ours),
                    metrics_text(r.theirs),
                    f"{r.paper:.2f}",
                    shown,
                    r.verdict,
                ]
            )
    return rows


def _frames(out: Path) -> list[tuple[str, Sweep, Any]]:
    reg = figures.registry()
    frames = []
    for name in dict.fromkeys([*EXPECTED, *reg]):
        sweep = getattr(reg.get(name), "SWEEP", None)
        df = _load(out, name)[0] if isinstance(sweep, Sweep) else None
        if df is not None and len(df):
            frames.append((name, sweep, trained(df)[0]))
    return frames


def standing_section(out: Path) -> list[str]:
    """Markdown: MAASN-DA against each method on every instance any sweep evaluated."""
    frames = _frames(out)
    by_delay = {m: v for m, v in standing_across(frames, by="delay").items() if v[0]}
    by_return = standing_across(frames, by="return")
    if not by_delay:
        return []
    lines = [
        "## MAASN-DA instance by instance, every method sweep",
        "",
        "Every problem instance (scenario point and seed) that a method sweep evaluated counts "
        "once, named after the first figure that has it (Table II's point is in most sweeps). "
        "On the instances where both were evaluated: where MAASN-DA's delay is lower and where "
        "its return (12) is higher than the method's; a tie counts as not better. The paper has "
        "MAASN-DA's delay lower everywhere.",
        "",
        "| vs | lower delay at | higher return at | return not higher at |",
        "| --- | --- | --- | --- |",
    ]
    for m, (n, worse) in by_delay.items():
        unit = "instance" if n == 1 else "instances"
        r_n, r_worse = by_return[m]
        lines.append(
            f"| {LABELS[m]} | {n - len(worse)} of {n} {unit} | {r_n - len(r_worse)} of {r_n} | "
            f"{', '.join(r_worse) or '—'} |"
        )
    return [*lines, ""]


def optimum_section(out: Path) -> list[str]:
    """Markdown: every method's gap to the exact optimum, over the instances where it ran."""
    import pandas as pd

    parts = []
    for _, _, df in _frames(out):
        gap = gap_to_optimum(df)
        if gap is None or not {"scenario", "overrides"} <= set(df.columns):
            continue
        parts.append(df.assign(_gap=gap, _inst=instance_keys(df)))
    if not parts:
        return []
    rows = pd.concat(parts, ignore_index=True).drop_duplicates(["_inst", "method"])
    rows = rows[~rows["method"].isin(OPTIMA) & rows["_gap"].notna()]
    if rows.empty:
        return []
    lines = [
        "## Gap to the optimum",
        "",
        "The exact optimum of P1 (`baselines.optimum`) with each method's own delivery (robust "
        "CoMP by `fast` for most; TDMA, per-PB CoMP or TDMA, one broadcast per model, no "
        "cooperation for the methods that deliver so), on every instance where it ran (N <= 8), "
        "each instance counted once. Gap = (cost - optimal cost) / optimal cost, cost = -return "
        "(12); it is never negative.",
        "",
        "| method | instances | mean gap (%) | median (%) | max (%) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for m, g in rows.groupby("method", sort=False):
        lines.append(
            f"| {LABELS.get(m, m)} | {len(g)} | {g['_gap'].mean():.1f} | "
            f"{g['_gap'].median():.1f} | {g['_gap'].max():.1f} |"
        )
    return [*lines, ""]


def headline_section(out: Path) -> list[str]:
    """Markdown: the paper's headline claims checked on the results (``headline_rows``)."""
    return [
        "## Headline: reduction of MAASN-DA's model downloading delay",
        "",
        "Ours = mean over the figure's points of (delay of the method - delay of MAASN-DA) / delay "
        "of the method, delays averaged over seeds. MAASN-DA and method: delay (QoS-infeasible / "
        "undelivered PBs), return (12), means over the seeds and points. Methods are ranked by "
        "the return, which charges every QoS-infeasible and undelivered PB (an undelivered PB "
        f"adds no delay). Verdict: *agree* if within {AGREE_PP:g} percentage points of the "
        "paper's value with the same sign and MAASN-DA's return is at least the method's, "
        "*same direction* if the sign matches but the size does not, *disagree* otherwise. "
        f"Learned rows trained for fewer than {MIN_TRAINED_EPISODES} episodes are left out.",
        "",
        "| figure | where | vs (form) | seeds | episodes | MAASN-DA | method | paper (%) | "
        "ours (%) | verdict |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        *("| " + " | ".join(r) + " |" for r in headline_rows(out)),
        "",
    ]


def build_report(out: str | Path) -> str:
    """The markdown text of the report for the results under ``out``."""
    out = Path(out)
    reg = figures.registry()
    broken = figures.broken()
    lines = [
        "# FGAMCD benchmark report",
        "",
        f"Generated {_dt.datetime.now().isoformat(timespec='seconds')} from `{out}`. Paper: Fu et "
        "al., arXiv 2509.19341, section V. Regenerate with `fgamcd-bench run all [--quick]` and "
        "`fgamcd-bench report`.",
        "",
    ]
    lines += headline_section(out)
    for section in (standing_section, optimum_section):
        try:
            lines += section(out)
        except Exception:
            lines += [f"{section.__name__} failed:", "", "```", traceback.format_exc(), "```"]
    missing = []
    sections = []
    names = list(dict.fromkeys([*EXPECTED, *reg]))
    for name in names:
        mod = reg.get(name)
        if mod is None:
            errs = [
                f"`{m}`: {e.strip().splitlines()[-1]}"
                for m, e in broken.items()
                if figures.stem_key(m) == name
            ]
            missing.append(
                f"- **{name}**: "
                + ("module fails to load: " + "; ".join(errs) if errs else "no figure module")
            )
            continue
        df, meta = _load(out, name)
        if df is None:
            missing.append(
                f"- **{name}** ({mod.TITLE}): no results in `{out / name}` "
                f"(run `fgamcd-bench run {name}`)"
            )
            continue
        part = [f"## {mod.TITLE}", "", f"`{name}`: {_status(meta)}.", ""]
        pngs = sorted((out / name).glob("*.png"))
        part += [f"![{p.stem}]({os.path.relpath(p, out)})" for p in pngs] or ["(no PNG)"]
        part.append("")
        try:
            part.append(mod.summary(df).rstrip())
        except Exception:
            part.append("Summary failed:\n\n```\n" + traceback.format_exc() + "```")
        part.append("")
        sections += part
    if missing:
        lines += ["## Missing", "", *missing, ""]
    return "\n".join(lines + sections).rstrip() + "\n"


def provenance_line(meta: dict[str, Any]) -> str:
    """One line: the commits and machines that made a figure's cells, their CPU time and when
    they finished (from the figure's ``meta.json``)."""

    def counted(d: dict[str, int]) -> str:
        if not d:
            return "not recorded"
        if len(d) == 1:
            return f"`{next(iter(d))}`"
        return ", ".join(f"`{k}` ({v} cells)" for k, v in d.items())

    span = meta.get("first_finished"), meta.get("last_finished")
    when = f"{span[0]} to {span[1]}" if span[0] and span[0] != span[1] else str(span[1] or "?")
    commits, machines = counted(meta.get("commits") or {}), counted(meta.get("machines") or {})
    return (
        f"Commit {commits}; machine {machines}; "
        f"{meta.get('cells_done', 0)} of {meta.get('cells_total', '?')} cells, "
        f"{meta.get('cells_wall_s', 0.0) / 3600:.2f} h of cell time, finished {when}."
    )


# The docs' copy of a figure's CSV is gzipped above this size (Fig. 15 keeps every error draw:
# 24 MB of text, 1.6 MB gzipped), so the committed results stay small.
GZIP_ABOVE_BYTES = 1_000_000


def _copy_csv(src: Path, dest_dir: Path) -> Path:
    """Copy ``src`` into ``dest_dir``, gzipped (``.csv.gz``, reproducible bytes) if large."""
    import gzip
    import shutil

    if src.stat().st_size <= GZIP_ABOVE_BYTES:
        shutil.copy2(src, dest_dir / src.name)
        return dest_dir / src.name
    dest = dest_dir / f"{src.name}.gz"
    with src.open("rb") as fin, dest.open("wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as fout:
            shutil.copyfileobj(fin, fout)
    return dest


def write_pages(out: str | Path, dest: str | Path) -> list[Path]:
    """The results pages of the docs from one run under ``out``: per figure with results,
    ``<dest>/<name>/`` holds its CSV and PNGs and ``<dest>/<name>.md`` its page (provenance,
    plots, summary); ``<dest>/index.md`` the headline, the instance-by-instance and gap-to-the-
    optimum tables and the list of figures. Files of figures without results are left alone."""
    import shutil

    out, dest = Path(out), Path(dest)
    reg = figures.registry()
    dest.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    pages: list[tuple[str, str, str]] = []  # (name, title, status)
    missing: list[str] = []
    for name in dict.fromkeys([*EXPECTED, *reg]):
        mod = reg.get(name)
        df, meta = _load(out, name) if mod is not None else (None, {})
        if mod is None or df is None:
            missing.append(name)
            continue
        fig_dir = dest / name
        if fig_dir.exists():
            shutil.rmtree(fig_dir)
        fig_dir.mkdir(parents=True)
        files = [out / name / f"{name}.csv", *sorted((out / name).glob("*.png"))]
        data = _copy_csv(files[0], fig_dir)
        written.append(data)
        for f in files[1:]:
            shutil.copy2(f, fig_dir / f.name)
            written.append(fig_dir / f.name)
        try:
            summary = mod.summary(df).rstrip()
        except Exception:
            summary = "Summary failed:\n\n```\n" + traceback.format_exc() + "```"
        text = [
            f"# {mod.TITLE}",
            "",
            provenance_line(meta),
            f"Data: [`{data.name}`]({name}/{data.name}).",
            "",
            *[f"![{p.stem}]({name}/{p.name})" for p in files[1:]],
            "",
            summary,
            "",
        ]
        page = dest / f"{name}.md"
        atomic_write_text(page, "\n".join(text))
        written.append(page)
        pages.append((name, mod.TITLE, _status(meta)))
    index = [
        "# Results",
        "",
        f"Generated by `fgamcd-bench report --out RUN --pages {dest.as_posix()}` from one run; "
        "each figure's page names the commit, machine and cell time behind it. Paper: Fu et al., "
        "arXiv 2509.19341, section V.",
        "",
    ]
    for section in (headline_section, standing_section, optimum_section):
        index += section(out)
    index += ["## Figures", ""]
    index += [f"- [{title}]({name}.md): {status}" for name, title, status in pages]
    if missing:
        index += ["", "Not in this run: " + ", ".join(missing) + "."]
    index += ["", "```{toctree}", ":hidden:", "", *[name for name, _, _ in pages], "```", ""]
    atomic_write_text(dest / "index.md", "\n".join(index))
    written.append(dest / "index.md")
    return written


def readme_summary(out: str | Path, figure: str = "fig8", x: float = 1.25) -> str:
    """At most five rows for the README: MAASN-DA against each of the paper's methods at
    Table II's point (``figure`` at ``x``), with the paper's reduction (that figure's headline)
    and the verdict, from the rows under ``out``."""
    reg = figures.registry()
    sweep = reg[figure].SWEEP
    df = _load(Path(out), figure)[0]
    lines = [
        "| vs | MAASN-DA: delay (QoS-inf. / undeliv.), return | method | paper (%) | ours (%) | "
        "verdict |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    if df is None:
        return "\n".join(lines) + "\n"
    sel = df[np.isclose(df["x"].astype(float), x)]
    head = sweep.headline
    for m in PAPER_COMPETITORS:
        r = compare(trained(sel)[0], paper_form(sel, m), head.paper[m])
        shown = f"{r.delay_reduction:.2f}" if math.isfinite(r.delay_reduction) else "—"
        lines.append(
            f"| {LABELS[m]} | {metrics_text(r.ours)} | {metrics_text(r.theirs)} | "
            f"{r.paper:.2f} | {shown} | {r.verdict} |"
        )
    return "\n".join(lines) + "\n"


def write_report(out: str | Path) -> Path:
    """Write ``<out>/report.md`` atomically and return its path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "report.md"
    atomic_write_text(path, build_report(out))
    return path
