"""Analysis of the method-comparison figures: tables with QoS-infeasible and undelivered PBs next
to the delay, the ranking by return (12), untrained learners left out, the gap to the optimum,
the paper's trends and headline claims, and the report built from them. Numbers are by hand."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks import figures, report, sweeps


def _rows(
    values: dict[str, list[tuple[float, int, int]]],
    xs: list[float],
    *,
    figure: str = "fig8",
    panel: str = "storage_gb",
    episodes: int = 600,
) -> pd.DataFrame:
    """Two seeds per (method, x): delay d -+ 0.01 with (qos, undelivered) PBs; the return is
    -(delay + 10 * (qos + undelivered)), as (12) gives for delivered PBs."""
    rows = []
    for m, vals in values.items():
        for x, (d, qos, undelivered) in zip(xs, vals, strict=True):
            for seed, jitter in ((0, -0.01), (1, 0.01)):
                row = {
                    "figure": figure,
                    "panel": panel,
                    "x": x,
                    "method": m,
                    "seed": seed,
                    "episode": 0,
                    "total_delay_s": d + jitter,
                    "qos_infeasible_pbs": qos,
                    "undelivered_pbs": undelivered,
                    "requested_pbs": 100,
                    "return": -(d + jitter) - 10.0 * (qos + undelivered),
                }
                if m in ("maasn-da", "qmix-da"):
                    row["episodes"] = episodes
                rows.append(row)
    return pd.DataFrame(rows)


def _d(*delays: float) -> list[tuple[float, int, int]]:
    return [(d, 1, 0) for d in delays]


def test_headline_reductions_and_verdicts_rank_by_return() -> None:
    fig8 = figures.get("fig8")
    df = _rows(
        {
            "maasn-da": _d(2.0, 1.0),
            "qmix-da": _d(2.5, 1.25),  # 20 % at both points
            "trimcaching": _d(2.0, 1.0),  # 0 %
            "no_cooperation": _d(1.0, 0.5),  # -100 %: MAASN-DA slower
            "tdma": _d(2.8, 1.5),  # 28.57 %, 33.33 % -> 30.95 %
            # 66.67 %, but coarse leaves nothing undelivered while MAASN-DA fails 1 QoS: the
            # return ranks coarse first
            "coarse": [(6.0, 0, 0), (3.0, 0, 0)],
        },
        [0.8, 1.25],
    )
    rows = {r.competitor_key: r for r in fig8.SWEEP.headline_rows(df)}
    assert rows["qmix-da"].delay_reduction == pytest.approx(20.0)
    assert rows["trimcaching"].delay_reduction == pytest.approx(0.0, abs=1e-9)
    assert rows["tdma"].delay_reduction == pytest.approx((100 * 0.8 / 2.8 + 100 * 0.5 / 1.5) / 2)
    assert rows["qmix-da"].verdict == "same direction, +7.8 pp off"
    assert rows["no_cooperation"].verdict == "disagree (opposite sign)"
    assert rows["coarse"].delay_reduction == pytest.approx(100 * 2 / 3)
    assert rows["coarse"].verdict == "delay lower but return lower (delivers less): disagree"
    assert rows["qmix-da"].seeds == (0, 1) and rows["qmix-da"].episodes == 600
    assert rows["qmix-da"].points == 2
    # MAASN-DA's side: mean delay 1.5 s, 1 QoS-infeasible PB, return -11.5
    assert rows["tdma"].ours == pytest.approx((1.5, 1.0, 0.0, -11.5))
    assert fig8.SWEEP.reductions(df)["qmix-da"] == pytest.approx(20.0)
    text = fig8.summary(df)
    assert (
        "| Coarse-grained caching | 0, 1 | 1.500 s (1 / 0), -11.5 | 4.500 s (0 / 0), -4.5 | 67.86 "
        "| 66.67 | delay lower but return lower (delivers less): disagree |"
    ) in text
    assert sweeps.agreement(math.nan, 1.0) == "not measured"
    assert sweeps.verdict(66.0, 67.86, -1.0, -2.0) == "agree"


def test_untrained_learners_are_left_out_of_every_comparison() -> None:
    fig8 = figures.get("fig8")
    df = pd.concat(
        [
            _rows({"maasn-da": _d(0.1, 0.1)}, [0.8, 1.25], episodes=2),
            _rows({"qmix-da": _d(2.5, 1.25), "coarse": _d(6.0, 3.0)}, [0.8, 1.25]),
        ]
    )
    kept, note = sweeps.trained(df)
    assert set(kept["method"]) == {"qmix-da", "coarse"}
    assert note == "MAASN-DA, proposed (2 of 600 episodes, 4 rows)"
    text = fig8.summary(df)
    assert "Not trained (left out): MAASN-DA, proposed (2 of 600 episodes, 4 rows)." in text
    assert all(r.verdict == "not measured" for r in fig8.SWEEP.headline_rows(df))
    assert "MAASN-DA, proposed |" not in text.split("Total delay")[1].split("\n")[2]


def test_summary_tables_put_failed_pbs_next_to_delay_and_the_gap_to_the_optimum() -> None:
    fig8 = figures.get("fig8")
    df = _rows(
        {
            "maasn-da": [(2.0, 1, 2), (1.0, 0, 0)],
            "trimcaching": [(3.0, 0, 4), (2.0, 1, 0)],
            "optimum": [(1.5, 0, 0), (1.0, 0, 0)],
        },
        [0.8, 1.25],
    )
    text = fig8.summary(df)
    assert "| storage_gb | MAASN-DA, proposed | TrimCaching | Optimum of P1 (ours) |" in text
    assert "| 0.8 | 2.000 (1 / 2) | 3.000 (0 / 4) | 1.500 (0 / 0) |" in text
    # returns -32 / -43 / -1.5 at 0.8 GB: gaps (32 - 1.5) / 1.5 and (43 - 1.5) / 1.5
    gaps = sweeps.gap_to_optimum(df)
    sel = (df["x"] == 0.8) & (df["method"] == "trimcaching")
    assert gaps[sel].mean() == pytest.approx(
        np.mean([100 * (42.99 - 1.49) / 1.49, 100 * (43.01 - 1.51) / 1.51])
    )
    assert gaps[df["method"] == "optimum"].abs().max() == 0.0
    assert sweeps.count(0.5) == "0.5" and sweeps.count(3.0) == "3"
    assert "| 0.8 | -32.0 (+2033.4 %) | -43.0 (+2766.8 %) | -1.5 |" in text
    assert sweeps.gap_to_optimum(df[df["method"] != "optimum"]) is None
    assert "- TrimCaching: placement from the request probabilities" in text


def test_trends_of_delay_and_cost_and_point_by_point_standing() -> None:
    fig8 = figures.get("fig8")
    # MAASN-DA's delay rises with storage because it delivers more; its cost falls
    df = _rows(
        {
            "maasn-da": [(1.0, 0, 5), (1.5, 0, 1), (2.0, 0, 0)],
            "qmix-da": [(2.5, 0, 0), (1.5, 0, 0), (1.4, 0, 0)],
        },
        [0.8, 1.25, 2.0],
    )
    text = fig8.summary(df)
    assert (
        "Paper: delay falls as edge storage capacity C_n (GB) grows. Ours, delay: partly agree "
        "(1/2 methods; opposite: MAASN-DA, proposed); cost -return: agree (2/2 methods)."
    ) in text
    assert sweeps.standing(df, ["qmix-da"], by="delay") == {
        "qmix-da": (3, [("storage_gb", 1.25), ("storage_gb", 2.0)])  # a tie is not lower
    }
    assert sweeps.standing(df, ["qmix-da"], by="return") == {
        "qmix-da": (3, [("storage_gb", 0.8), ("storage_gb", 1.25), ("storage_gb", 2.0)])
    }
    assert "| QMIX-DA | 1 of 3 points | 1.25, 2 | 0 of 3 | 0.8, 1.25, 2 |" in text
    assert sweeps.standing_markdown(df, ["tdma"]) == []


def test_standing_across_counts_each_instance_once_over_figures(tmp_path: Path) -> None:
    fig8, fig9 = figures.get("fig8"), figures.get("fig9")
    a = _rows({"maasn-da": _d(2.0, 1.0), "qmix-da": _d(2.5, 1.0)}, [0.8, 1.25])
    a["scenario"] = "paper"
    a["overrides"] = np.where(a["x"] == 0.8, '{"storage_bytes": 800000000.0}', "{}")
    # Fig. 9 reaches Table II's point (Fig. 8 at 1.25 GB) through an override equal to the default
    b = _rows(
        {"maasn-da": _d(1.0, 3.0), "qmix-da": _d(1.0, 2.0)},
        [30, 36],
        figure="fig9",
        panel="num_users",
    ).assign(scenario="paper")
    b["overrides"] = np.where(b["x"] == 30, '{"storage_bytes": 1250000000.0}', '{"num_users": 36}')
    frames = [("fig8", fig8.SWEEP, a), ("fig9", fig9.SWEEP, b)]
    assert sweeps.standing_across(frames) == {
        "qmix-da": (
            6,  # 3 instances x 2 seeds: the shared point once, under the first figure
            [
                "fig8 storage_gb 1.25 seed 0",
                "fig8 storage_gb 1.25 seed 1",
                "fig9 num_users 36 seed 0",
                "fig9 num_users 36 seed 1",
            ],
        )
    }
    one_seed = [(n, sw, df[df["seed"] == 0]) for n, sw, df in frames]
    assert sweeps.standing_across(one_seed)["qmix-da"][1] == [
        "fig8 storage_gb 1.25",
        "fig9 num_users 36",
    ]
    bare = [(n, sw, df.drop(columns=["scenario", "overrides"])) for n, sw, df in one_seed]
    assert sweeps.standing_across(bare)["qmix-da"][0] == 4
    for name, _, df in frames:
        (tmp_path / name).mkdir()
        df.to_csv(tmp_path / name / f"{name}.csv", index=False)
    text = report.build_report(tmp_path)
    assert "| QMIX-DA | 2 of 6 instances | 2 of 6 | fig8 storage_gb 1.25 seed 0, " in text


def test_report_gap_to_the_optimum_and_headline_columns(tmp_path: Path) -> None:
    df = _rows(
        {
            "maasn-da": _d(2.0, 1.0),
            "trimcaching": [(3.0, 0, 4), (2.0, 1, 0)],
            "optimum": [(1.5, 0, 0), (1.0, 0, 0)],
        },
        [0.8, 1.25],
    ).assign(scenario="paper")
    df["overrides"] = np.where(df["x"] == 0.8, '{"storage_bytes": 800000000.0}', "{}")
    (tmp_path / "fig8").mkdir()
    df.to_csv(tmp_path / "fig8" / "fig8.csv", index=False)
    text = report.build_report(tmp_path)
    gaps = sweeps.gap_to_optimum(df)
    trim = gaps[df["method"] == "trimcaching"]
    expect = f"| TrimCaching | 4 | {trim.mean():.1f} | {trim.median():.1f} | {trim.max():.1f} |"
    assert expect in text
    assert "| fig8 | averaged over the x grid | TrimCaching | 0, 1 | 600 |" in text


def test_fig14_plot_names_the_series_once_and_keeps_the_axes_wide(tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    fig14 = figures.get("fig14")
    df = pd.concat(
        [
            _rows(
                {"maasn-da": _d(1.2, 1.1), "centralised": _d(1.7, 1.6)},
                [4, 6],
                figure="fig14",
                panel="num_nodes",
            ).assign(series=g)
            for g in (8.0, 12.0)
        ]
    )
    fig = fig14.SWEEP.figure(df)
    try:
        top = fig.axes[0]
        labels = [t.get_text() for t in top.get_legend().get_texts()]
        assert top.get_legend().get_title().get_text() == "average backhaul rate (Gbps)"
        assert labels == [
            "MAASN-DA, proposed: 8",
            "MAASN-DA, proposed: 12",
            "Centralised reference (ours): 8",
            "Centralised reference (ours): 12",
        ]
        # The legend sits right of the axes without eating their width.
        width_in = top.get_position().width * fig.get_figwidth()
        assert width_in > 0.75 * fig.get_figwidth()
        assert [ax.get_ylabel() for ax in fig.axes[:3]] == [
            "Model downloading delay (s)",
            "Cost: -return (12)",
            "QoS-infeasible +\nundelivered PBs (%)",
        ]
    finally:
        plt.close(fig)
    assert fig14.plot(df, tmp_path)[0].stat().st_size > 10_000


def test_fig13_headline_is_taken_at_the_papers_reuse_ratio() -> None:
    fig13 = figures.get("fig13")
    df = _rows(
        {"maasn-da": _d(1.0, 2.0), "coarse": _d(2.0, 2.0)},
        [0.087, 0.2],
        figure="fig13",
        panel="reuse_ratio",
    )
    assert fig13.SWEEP.reductions(df)["coarse"] == pytest.approx(50.0, abs=0.6)


def test_each_method_is_measured_against_the_optimum_of_its_own_delivery() -> None:
    """TDMA delivers differently from the paper's CoMP: it may beat ``optimum`` but never
    ``optimum_tdma``, which gives its gap; the other optima are no table column."""
    fig8 = figures.get("fig8")
    df = _rows(
        {
            "tdma": [(2.0, 0, 1), (1.0, 0, 0)],
            "optimum": [(1.5, 0, 2), (1.0, 0, 1)],  # worse than TDMA's return
            "optimum_tdma": [(1.5, 0, 1), (0.5, 0, 0)],
            "trimcaching": [(3.0, 0, 2), (2.0, 0, 1)],
        },
        [0.8, 1.25],
    )
    gaps = sweeps.gap_to_optimum(df)
    tdma = (df["method"] == "tdma") & (df["x"] == 1.25) & (df["seed"] == 0)
    assert gaps[tdma].item() == pytest.approx(100 * (0.99 - 0.49) / 0.49)
    trim = (df["method"] == "trimcaching") & (df["x"] == 1.25) & (df["seed"] == 1)
    assert gaps[trim].item() == pytest.approx(100 * (12.01 - 11.01) / 11.01)
    text = fig8.summary(df)
    assert "| storage_gb | TrimCaching | TDMA-based unicasting | Optimum of P1 (ours) |" in text
    assert "Optimum, TDMA delivery (ours) |" not in text
    assert "- Optimum, TDMA delivery (ours): the exact optimum with TDMA unicasting" in text


def test_results_pages_and_readme_summary_from_one_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``write_pages`` copies each figure's CSV and PNG next to a page that names the commit and
    machine behind its cells; ``readme_summary`` gives five rows at Table II's point."""
    from benchmarks import runner

    out = tmp_path / "run"
    (out / "fig8").mkdir(parents=True)
    df = _rows(
        {"maasn-da": _d(1.0, 1.0), "qmix-da": _d(2.0, 2.0), "coarse": [(3.0, 0, 0), (3.0, 0, 0)]},
        [0.8, 1.25],
    )
    df.to_csv(out / "fig8" / "fig8.csv", index=False)
    (out / "fig8" / "fig8.png").write_bytes(b"png")
    meta = {
        "cells_done": 12,
        "cells_total": 12,
        "cells_wall_s": 7200.0,
        "commits": {"abc123": 12},
        "machines": {"Linux x86_64, CPU, 2 cores": 12},
        "first_finished": "2026-01-01T10:00:00",
        "last_finished": "2026-01-01T12:00:00",
    }
    (out / "fig8" / "meta.json").write_text(__import__("json").dumps(meta))
    pages = tmp_path / "pages"
    written = report.write_pages(out, pages)
    assert {p.relative_to(pages).as_posix() for p in written} == {
        "fig8/fig8.csv",
        "fig8/fig8.png",
        "fig8.md",
        "index.md",
    }
    page = (pages / "fig8.md").read_text()
    assert (
        "Commit `abc123`; machine `Linux x86_64, CPU, 2 cores`; 12 of 12 cells, 2.00 h of cell "
        "time, finished 2026-01-01T10:00:00 to 2026-01-01T12:00:00."
    ) in page
    assert "![fig8](fig8/fig8.png)" in page and "| Coarse-grained caching |" in page
    index = (pages / "index.md").read_text()
    assert "- [Fig. 8: model downloading delay vs edge storage capacity](fig8.md)" in index
    assert "```{toctree}\n:hidden:\n\nfig8\n```" in index
    text = report.readme_summary(out)
    assert report.readme_summary(pages) == text  # the pages are enough to regenerate it
    # a large CSV is gzipped in the pages, and read back the same
    monkeypatch.setattr(report, "GZIP_ABOVE_BYTES", 10)
    again = report.write_pages(out, tmp_path / "gz")
    assert (tmp_path / "gz" / "fig8" / "fig8.csv.gz") in again
    assert "[`fig8.csv.gz`](fig8/fig8.csv.gz)" in (tmp_path / "gz" / "fig8.md").read_text()
    assert report.readme_summary(tmp_path / "gz") == text
    assert text.count("\n") == 7  # header, rule, five rows
    assert "| QMIX-DA | 1.000 s (1 / 0), -11.0 | 2.000 s (1 / 0), -12.0 | 12.20 | 50.00 |" in text
    # a run's cells record what made them
    made = runner.provenance()
    assert set(made) == {"commit", "machine"} and "cores" in made["machine"]
