"""``fgamcd-bench estimate``: CPU-hours of a grid from fake finished cells, training logs and
cached evaluations, worked out by hand.

This module is a figure (``NAME = "toy_cost"``); a second one, ``toy_cost2``, is built below.
Sweep-like cells (``method``, ``scenario``, ``overrides``) at x = 1, 2 on the ``small`` preset:
MAASN-DA trainings of 10 episodes and TDMA evaluations, plus a ``bound`` cell without a method.
"""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks import cli, estimate, figures, methods, runner

NAME = "toy_cost"
TITLE = "Toy figure of the estimate tests"
NEEDS_AGENTS = True
EPISODES = 10


def _ov(x: int) -> dict[str, float]:
    return {"storage_bytes": x * 3e7}


def _sweep(fig: str, x: int, method: str, seed: int) -> dict[str, Any]:
    spec = {"figure": fig, "x": x, "method": method, "seed": seed, "scenario": "small"}
    spec["overrides"] = _ov(x)
    if method in methods.LEARNED:
        spec["episodes"] = EPISODES
    return spec


def cells(quick: bool, seeds: int | None) -> list[dict[str, Any]]:
    n = 2 if seeds is None else seeds
    out = [_sweep(NAME, x, m, s) for x in (1, 2) for m in ("maasn-da", "tdma") for s in range(n)]
    return out + [{"figure": NAME, "part": "bound", "seed": s} for s in range(n)]


def run_cell(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [{**{k: v for k, v in spec.items() if k != "overrides"}, "value": 1.0}]


def plot(df: Any, out_dir: Path) -> list[Path]:
    return []


def summary(df: Any) -> str:
    return ""


def _make_second() -> types.ModuleType:
    """``toy_cost2``: TDMA at x = 1 seed 0 (toy_cost's too), a QMIX-DA training at x = 1, a
    MAASN-DA training at x = 3, and a ``probe`` cell."""
    mod = types.ModuleType("tests.toy_cost2")
    mod.NAME, mod.TITLE, mod.NEEDS_AGENTS = "toy_cost2", "second toy", True

    def cells2(quick: bool, seeds: int | None) -> list[dict[str, Any]]:
        return [
            _sweep("toy_cost2", 1, "tdma", 0),
            _sweep("toy_cost2", 1, "qmix-da", 0),
            _sweep("toy_cost2", 3, "maasn-da", 0),
            {"figure": "toy_cost2", "part": "probe", "seed": 0},
        ]

    mod.cells, mod.run_cell, mod.plot, mod.summary = cells2, run_cell, plot, summary
    return mod


@pytest.fixture
def toys() -> Iterator[tuple[types.ModuleType, types.ModuleType]]:
    pytest.importorskip("torch")  # training keys come from agents.train.TrainConfig
    first, second = sys.modules[__name__], _make_second()
    sys.modules[second.__name__] = second  # workers import figure modules by name
    figures.register(first)
    figures.register(second)
    yield first, second
    figures.unregister(NAME)
    figures.unregister(second.NAME)
    del sys.modules[second.__name__]


def _cell(mod: types.ModuleType, out: Path, **match: Any) -> runner.Cell:
    (cell,) = [
        c
        for c in runner.grid(mod, out, False, 2)
        if all(c.spec.get(k) == v for k, v in match.items())
    ]
    return cell


def _finish(
    cell: runner.Cell,
    wall_s: float,
    method_walls: list[float] | None = None,
    cpu_s: float | None = None,
) -> None:
    rows = [
        {"value": 1.0, **({"method_wall_s": w} if w is not None else {})}
        for w in method_walls or [None]
    ]
    payload = {"figure": cell.figure, "key": cell.key, "spec": cell.spec, "rows": rows}
    methods.atomic_write_json(cell.path, {**payload, "wall_s": wall_s, "cpu_s": cpu_s})


def _training(
    out: Path, key: str, walls: list[float], eval_s: float | None = None, config: dict | None = None
) -> None:
    run = out / "_policies" / key
    run.mkdir(parents=True)
    (run / "log.csv").write_text(
        "episode,return,wall_s\n" + "".join(f"{i},-1,{w}\n" for i, w in enumerate(walls))
    )
    if config is not None:
        (run / "config.json").write_text(json.dumps(config))
    if eval_s is not None:
        (run / "result.json").write_text(json.dumps({"eval_wall_s": eval_s}))
        (run / "bench_result.json").write_text(json.dumps({"wall_s": sum(walls) + eval_s}))


def _policy(method: str, x: int, seed: int, episodes: int = EPISODES) -> str:
    return methods.policy_key(method, "small", _ov(x), seed, episodes)


@pytest.fixture
def results(toys: tuple[types.ModuleType, types.ModuleType], tmp_path: Path) -> Path:
    """Finished work under ``<out>`` (costs in seconds):

    - TDMA x = 1 seed 0: a cell of 2.0 s (1.0 s of CPU) whose two rows took 1.5 s each, so
      3.0 s of work;
    - TDMA x = 2 seed 0: only its cached evaluation, 2.0 s;
    - bound seed 0: a cell of 0.5 s (0.5 s of CPU);
    - MAASN-DA x = 1 seed 0: a training stopped after 4 episodes of 5, 1, 1, 1 s;
    - MAASN-DA x = 2 seed 0, 3 episodes (a measurement, off the grid): 4, 2, 2 s + 3 s of
      evaluation, with its cell;
    - QMIX-DA x = 1 seed 0, 20 episodes (imported, no cell): 6, 3, 3, 3 s + 5 s of evaluation.
    """
    first, _ = toys
    out = tmp_path / "res"
    _finish(_cell(first, out, x=1, method="tdma", seed=0), 2.0, [1.5, 1.5], cpu_s=1.0)
    key = methods.eval_key("tdma", "small", _ov(2), 0)
    methods.atomic_write_json(out / "_evals" / f"{key}.json", {"rows": [{"method_wall_s": 2.0}]})
    _finish(_cell(first, out, part="bound", seed=0), 0.5, cpu_s=0.5)
    _training(out, _policy("maasn-da", 1, 0), [5, 1, 1, 1])
    spec = {**_sweep(NAME, 2, "maasn-da", 0), "episodes": 3}
    measured = runner.make_cell(first, out, spec, methods.train_defaults_digest())
    _finish(measured, 11.5, [11.0])
    _training(out, _policy("maasn-da", 2, 0, 3), [4, 2, 2], eval_s=3.0)
    from agents.train import TrainConfig

    cfg = TrainConfig().replace(
        algo="qmix-da", scenario="small", overrides=_ov(1), episodes=20, seed=0
    )
    _training(out, "imported", [6, 3, 3, 3], eval_s=5.0, config=cfg.to_json())
    return out


def test_estimate_counts_measured_and_extrapolated_work_once(
    toys: tuple[types.ModuleType, types.ModuleType], results: Path
) -> None:
    est = estimate.estimate(list(toys), out=results, seeds=2)
    units = {
        (u.figure, u.work.kind, u.cell.spec.get("x"), u.cell.spec["seed"]): (
            u.cost_s,
            u.left_s,
            u.source,
        )
        for u in est.units
    }
    approx = pytest.approx
    assert units[(NAME, "tdma", 1, 0)] == (3.0, 0.0, "measured")  # the rows' 3 s, not the cell's 2
    assert units[(NAME, "tdma", 1, 1)] == (3.0, 3.0, "same point")
    assert units[(NAME, "tdma", 2, 0)] == (2.0, 0.0, "measured")  # from the evaluation cache
    assert units[(NAME, "tdma", 2, 1)] == (2.0, 2.0, "same point")
    assert units[(NAME, NAME, None, 1)] == (0.5, 0.5, "same point")
    # the stopped training: 8 s run, 6 episodes left at its own pace of 1 s, no evaluation known
    assert units[(NAME, "maasn-da", 1, 0)] == (14.0, 6.0, "same point")
    assert units[(NAME, "maasn-da", 1, 1)] == (5 + 9 * 1.0, 14.0, "same point")
    # x = 2: the 3-episode measurement: first 4 s, then 2 s/episode, evaluation 3 s
    assert units[(NAME, "maasn-da", 2, 1)] == (4 + 9 * 2.0 + 3, 25.0, "same point")
    a = est.figures[NAME]
    assert (a.cells, a.done) == (10, 3)
    assert a.cost_s == approx(3 + 3 + 2 + 2 + 0.5 + 0.5 + 14 + 14 + 25 + 25)
    assert a.left_s == approx(a.cost_s - 3 - 2 - 0.5 - 8)
    assert dict(a.sources) == {"measured": 3, "same point": 7}
    # toy_cost2: TDMA x = 1 seed 0 is toy_cost's work; QMIX-DA at x = 1 from the imported
    # 20-episode run (6 + 9 * 3 + 5); MAASN-DA at x = 3 from every MAASN-DA log: first
    # (5 + 4) / 2, pace (3 * 1 + 2 * 2) / 5 episodes, evaluation 3; the probe is unknown
    assert units[("toy_cost2", "qmix-da", 1, 0)] == (38.0, 38.0, "same point")
    assert units[("toy_cost2", "maasn-da", 3, 0)] == (approx(4.5 + 9 * 1.4 + 3),) * 2 + (
        "other figures",
    )
    assert units[("toy_cost2", "toy_cost2", None, 0)] == (0.0, 0.0, "unknown")
    b = est.figures["toy_cost2"]
    assert (b.cells, b.done) == (4, 1)
    assert dict(b.sources) == {"shared": 1, "same point": 1, "other figures": 1, "unknown": 1}
    assert est.cost_s == approx(a.cost_s + 38 + 20.1)
    assert est.kinds["maasn-da"] == (
        "first episode 4.5 s, 1.40 s/episode over 5 episodes, evaluation 3.0 s (2 trainings)"
    )
    assert est.kinds["tdma"] == "2.5 s per cell (mean of 2)"
    # a figure alone shares nothing; --methods narrows the grid as for run
    alone = estimate.estimate([toys[1]], out=results)
    assert alone.figures["toy_cost2"].sources["measured"] == 1
    only = estimate.estimate([toys[0]], out=results, seeds=2, methods=["tdma"])
    assert only.figures[NAME].cells == 6  # the bound cells have no method: always selected


def test_estimate_table_and_measure(
    toys: tuple[types.ModuleType, types.ModuleType],
    results: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["estimate", NAME, "toy_cost2", "--seeds", "2", "--out", str(results)]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert lines[2].split() == [
        "figure",
        "cells",
        "done",
        "CPU-h",
        "left",
        "CPU-h",
        "source",
        "(cells)",
    ]
    assert lines[3].split()[:3] == [NAME, "10", "3"] and "3 measured, 7 same point" in lines[3]
    assert "1 same point, 1 other figures, 1 unknown, 1 shared" in lines[4]
    assert lines[5].split()[:4] == ["total", "14", "4", "0.04"]  # 147.1 s
    assert "longest unit left: toy_cost2 qmix-da" in text
    assert "unknown: 1 unit(s) of kinds with nothing measured (toy_cost2)" in text
    assert "used 0.60 CPU-s per wall-s: they shared their cores" in text  # 1.5 of 2.5 s
    assert "by up to 1.7x; scaled by 0.60, the grid is 0.02 CPU-h (0.02 left)" in text
    # --measure: one sample per (figure, kind) with nothing at "same figure" or nearer
    est = estimate.estimate(list(toys), out=results, seeds=2)
    picked = estimate.samples_to_measure(est, measure_episodes=3)
    assert [(c.figure, c.spec.get("method"), c.spec.get("episodes")) for c in picked] == [
        ("toy_cost2", "maasn-da", 3),
        ("toy_cost2", None, None),
    ]
    assert (
        picked[0].key
        == runner.make_cell(toys[1], results, picked[0].spec, methods.train_defaults_digest()).key
    )
    new, report = estimate.measure(
        [toys[1]], out=results, methods=["tdma"], workers=0, progress=False
    )
    assert report.ok and report.ran == 1  # the probe; TDMA x = 1 is measured already
    assert new.figures["toy_cost2"].sources == {"measured": 2}
    with pytest.raises(ValueError, match="need 2 or more"):
        estimate.measure([toys[1]], out=results, measure_episodes=1)


def test_learned_forms_share_their_training() -> None:
    """``tdma_maasn`` is MAASN-DA's training evaluated with TDMA: one unit of work with
    ``maasn-da``; ``trimcaching_maasn`` trains MAASN-DA with the TrimCaching placement."""
    works = {
        m: estimate.work_of(NAME, _sweep(NAME, 1, m, 0), m)
        for m in ("maasn-da", "tdma_maasn", "trimcaching_maasn")
    }
    assert works["tdma_maasn"].key == works["maasn-da"].key
    assert works["trimcaching_maasn"].key != works["maasn-da"].key
    assert works["trimcaching_maasn"].kind == "trimcaching_maasn"
    assert all(w.policy and w.episodes == EPISODES for w in works.values())


def test_a_reference_policy_cell_is_no_training() -> None:
    """A learned cell that evaluates a shipped policy is an evaluation: its cost says nothing of
    a training's, so the trainings of the same method are not modelled on it."""
    spec = {**_sweep(NAME, 1, "maasn-da", 0), "policy": "reference"}
    ref = estimate.work_of(NAME, spec, "c")
    train = estimate.work_of(NAME, _sweep(NAME, 2, "maasn-da", 0), "d")
    assert ref.policy is None and ref.episodes is None and ref.kind == "maasn-da (reference)"
    assert train.policy and ref.point != train.point
