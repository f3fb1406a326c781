"""The README is a short user manual whose results table is generated, not typed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
START, END = "<!-- summary:start -->", "<!-- summary:end -->"


def test_readme_is_short_and_has_no_history() -> None:
    text = README.read_text()
    assert len(text.splitlines()) <= 220
    for path in [README, *sorted((ROOT / "docs").rglob("*.md"))]:
        if "_build" in path.parts:
            continue
        hits = re.findall(r"(?i)\b(?:stop|issue) [0-9]+", path.read_text())
        assert not hits, f"{path.relative_to(ROOT)}: {hits}"


def test_readme_summary_is_the_committed_results() -> None:
    """The table between the markers is ``fgamcd-bench report --out docs/results --readme``."""
    pytest.importorskip("pandas")
    from benchmarks.report import readme_summary

    text = README.read_text()
    assert text.count(START) == 1 and text.count(END) == 1
    shown = text.split(START, 1)[1].split(END, 1)[0].strip()
    assert (ROOT / "docs" / "results" / "fig8" / "fig8.csv").exists()
    assert shown == readme_summary(ROOT / "docs" / "results").strip()


def test_training_time_table_is_the_shipped_curves() -> None:
    """docs/agents.md's table is ``python -m benchmarks.train_speed --references``."""
    from benchmarks.train_speed import reference_runs, summarize_logs

    text = (ROOT / "docs" / "agents.md").read_text()
    a, b = "<!-- training-time:start -->", "<!-- training-time:end -->"
    shown = text.split(a, 1)[1].split(b, 1)[0].strip()
    assert reference_runs()
    assert shown == summarize_logs(reference_runs()).strip()


def test_fast_training_table_is_the_committed_runs() -> None:
    """docs/agents.md's table of the faster trainings is
    ``python -m benchmarks.train_speed --log docs/agents/speed/*``."""
    from benchmarks.train_speed import summarize_logs

    runs = sorted(p for p in (ROOT / "docs" / "agents" / "speed").iterdir() if p.is_dir())
    assert runs and all((p / "log.csv").exists() and (p / "eval.json").exists() for p in runs)
    text = (ROOT / "docs" / "agents.md").read_text()
    a, b = "<!-- fast-training:start -->", "<!-- fast-training:end -->"
    shown = text.split(a, 1)[1].split(b, 1)[0].strip()
    assert shown == summarize_logs(runs).strip()
