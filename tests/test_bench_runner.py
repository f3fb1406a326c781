"""Benchmark engine: figure registry, resumable runner (inline, process pool, Ray), CLI, report,
method caching and the sweep figures' analysis.

This test module is itself a tiny figure module (``NAME = "toy_bench"``): worker processes import
it by name, and environment variables steer its cells (fail, die, log each run).
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import fgamcd_env
from benchmarks import cli, figures, methods, runner, sweeps
from benchmarks.methods import LEARNED
from fgamcd_env.delivery import full_comp_qos_failures

# ----------------------------------------------------------------------------- toy figure
NAME = "toy_bench"
TITLE = "Toy figure of the runner tests"
NEEDS_AGENTS = False


def cells(quick: bool, seeds: int | None) -> list[dict[str, Any]]:
    n = (1 if quick else 2) if seeds is None else seeds
    return [
        {"figure": NAME, "x": x, "method": m, "seed": s}
        for x in (1, 2)
        for m in ("tdma", "coarse")
        for s in range(n)
    ]


def run_cell(spec: dict[str, Any]) -> list[dict[str, Any]]:
    log = os.environ.get("TOY_LOG")
    if log:
        with open(log, "a") as fh:
            fh.write(json.dumps(spec, sort_keys=True) + "\n")
    tag = f"{spec['x']}:{spec['method']}"
    if tag == os.environ.get("TOY_FAIL"):
        raise RuntimeError(f"toy failure at {tag}")
    if tag == os.environ.get("TOY_DIE"):
        os._exit(3)  # a killed worker: no exception, no result
    if tag == os.environ.get("TOY_HANG"):
        _train_until_stopped(Path(os.environ["TOY_MARKS"]))
    delay = spec["x"] * (2.0 if spec["method"] == "tdma" else 1.0) + 0.1 * spec["seed"]
    return [{**spec, "total_delay_s": delay}]


def _train_until_stopped(marks: Path) -> None:
    """A stand-in for a long training with the real signal deferral: it runs until a stop
    signal, records which one ("checkpoints"), and raises as ``agents.train`` does."""
    from agents.train import stop_after_episode

    with stop_after_episode() as stop:
        (marks / f"started-{os.getpid()}").touch()
        while stop["signal"] is None:
            time.sleep(0.02)
        (marks / f"stopped-{os.getpid()}").write_text(str(stop["signal"]))
        raise KeyboardInterrupt


def plot(df: pd.DataFrame, out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    for m, g in df.groupby("method"):
        ax.plot(g["x"], g["total_delay_s"], "o", label=m)
    path = Path(out_dir) / "toy_bench.png"
    fig.savefig(path)
    plt.close(fig)
    return [path]


def summary(df: pd.DataFrame) -> str:
    return f"toy rows: {len(df)}\n"


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    mod = sys.modules[__name__]
    figures.register(mod)
    for var in ("TOY_LOG", "TOY_FAIL", "TOY_DIE", "TOY_HANG"):
        monkeypatch.delenv(var, raising=False)
    yield mod
    figures.unregister(NAME)


def _runs(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


# ----------------------------------------------------------------------------- registry
def test_registry_lists_the_sweep_modules_with_valid_quick_grids() -> None:
    reg = figures.registry()
    for name in ("fig7", "fig8", "fig9", "fig10", "fig11", "fig12", "fig13", "fig14", "fig18"):
        assert name in reg, (name, sorted(reg), figures.broken())
        # fig7's quick grid holds only shipped reference curves (it never trains): check its
        # full grid's shape
        specs = reg[name].cells(False, 1) if name == "fig7" else reg[name].cells(True, None)
        assert specs and all(s["figure"] == name for s in specs)
        json.dumps(specs, allow_nan=False)
        assert len({methods.stable_hash(s) for s in specs}) == len(specs)
    assert all(s["policy"] == "reference" for s in reg["fig7"].cells(True, None))
    assert list(reg).index("fig8") < list(reg).index("fig10")  # natural order
    with pytest.raises(KeyError, match="unknown figure 'fig99'"):
        figures.get("fig99")
    bad = types.ModuleType("bad_fig")
    bad.NAME, bad.TITLE, bad.NEEDS_AGENTS = "bad", "bad", False
    with pytest.raises(TypeError, match="missing cells"):
        figures.register(bad)


def test_episodes_override_changes_only_training_cells(tmp_path: Path) -> None:
    fig8 = figures.registry()["fig8"]
    base = runner.grid(fig8, tmp_path, False, 1)
    over = runner.grid(fig8, tmp_path, False, 1, episodes=7)
    assert [c.spec.get("method") for c in base] == [c.spec.get("method") for c in over]
    for b, o in zip(base, over, strict=True):
        if "episodes" in b.spec:  # learned methods: new budget, new cell
            assert o.spec["episodes"] == 7 and o.key != b.key
        else:  # heuristics: the same cell, reused
            assert o.spec == b.spec and o.key == b.key
    assert any("episodes" in c.spec for c in base) and any("episodes" not in c.spec for c in base)
    with pytest.raises(ValueError, match="positive integer"):
        runner.grid(fig8, tmp_path, True, 1, episodes=0)
    assert cli.build_parser().parse_args(["run", "fig7", "--episodes", "9"]).episodes == 9


def test_new_train_defaults_rerun_only_learned_cells(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A changed TrainConfig default trains new policies, so the learned cells get new keys (a
    finished one is not reused); the heuristics' cells keep theirs."""
    fig8 = figures.registry()["fig8"]
    real = runner.grid(fig8, tmp_path, False, 1)
    monkeypatch.setattr(runner, "train_defaults_digest", lambda: "another-default")
    changed = runner.grid(fig8, tmp_path, False, 1)
    for a, b in zip(real, changed, strict=True):
        assert a.spec == b.spec
        assert (a.key != b.key) == (a.spec["method"] in methods.LEARNED)
    assert {c.spec["method"] for c in real} & set(methods.LEARNED)
    assert methods.train_defaults_digest() == methods._agents()[0]().digest()


def test_sweep_grids_follow_the_paper_and_share_the_default_point(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reg = figures.registry()
    full = reg["fig9"].cells(False, None)
    assert sorted({s["x"] for s in full}) == [18, 24, 30, 36, 42, 48]
    assert {s["method"] for s in full} == set(methods.METHODS)
    assert {s["seed"] for s in full} == set(range(sweeps.FULL_SEEDS))
    assert all(s["episodes"] == sweeps.FULL_EPISODES for s in full if s["method"] in LEARNED)
    # the optimum only where it is exact (N <= 8)
    fig10 = reg["fig10"].cells(False, 1)
    assert sorted({s["x"] for s in fig10 if s["method"] == "optimum"}) == [4, 6, 8]
    # Table II's point has no overrides, whichever figure it comes from
    default8 = [s for s in reg["fig8"].cells(True, None) if s["x"] == 1.25]
    default9 = [s for s in reg["fig9"].cells(True, None) if s["x"] == 30]
    assert default8 and all(s["overrides"] == {} for s in default8 + default9)
    # --quick never trains: without reference policies it has no learned cells ...
    monkeypatch.setattr(sweeps, "reference_seeds", lambda *a: ())
    quick8 = reg["fig8"].cells(True, None)
    assert not {s["method"] for s in quick8} & set(LEARNED)
    assert {s["seed"] for s in quick8} == {0}
    # ... with them, it evaluates them and runs every method on their seeds at that point
    refs = {"maasn-da": (0, 1, 2, 3, 4), "qmix-da": (0, 1, 2)}
    monkeypatch.setattr(
        sweeps, "reference_seeds", lambda m, sc, ov: refs.get(m, ()) if ov == {} else ()
    )
    quick8 = reg["fig8"].cells(True, None)
    at_default = [s for s in quick8 if s["x"] == 1.25]
    for m in ("trimcaching", "optimum", "centralised"):
        assert {s["seed"] for s in at_default if s["method"] == m} == set(range(5))
    # the other deliveries' optima only in full runs
    assert not {s["method"] for s in quick8} & sweeps.QUICK_SKIPS
    assert sweeps.QUICK_SKIPS and sweeps.QUICK_SKIPS <= {s["method"] for s in full}
    learned = [s for s in quick8 if s["method"] in LEARNED]
    assert {(s["method"], s["seed"]) for s in learned} == {
        (m, seed) for m, seeds in refs.items() for seed in seeds
    }
    assert all(s["policy"] == "reference" and s["x"] == 1.25 for s in learned)
    assert {s["seed"] for s in quick8 if s["x"] == 0.8} == {0}
    fig14 = reg["fig14"].cells(True, None)
    assert {(s["x"], s["series"]) for s in fig14} == {(4, 8.0), (4, 10.0), (6, 8.0), (6, 10.0)}
    assert {(s["method"], s["x"], s["series"]) for s in fig14 if s["method"] in LEARNED} == {
        ("maasn-da", 6, 10.0)
    }


def test_run_twice_skips_finished_cells(
    toy: types.ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "runs.log"
    monkeypatch.setenv("TOY_LOG", str(log))
    rep = runner.run([NAME], out=tmp_path / "res", quick=True, workers=0, progress=False)
    assert rep.ok and rep.ran == 4 and rep.skipped == 0
    assert len(_runs(log)) == 4
    csv = tmp_path / "res" / NAME / f"{NAME}.csv"
    df = pd.read_csv(csv)
    assert len(df) == 4 and set(df["method"]) == {"tdma", "coarse"}
    assert (tmp_path / "res" / NAME / "toy_bench.png").stat().st_size > 0
    assert (tmp_path / "res" / NAME / "summary.md").read_text() == "toy rows: 4\n"
    meta = json.loads((tmp_path / "res" / NAME / "meta.json").read_text())
    assert meta["cells_done"] == meta["cells_total"] == 4

    again = runner.run([NAME], out=tmp_path / "res", quick=True, workers=0, progress=False)
    assert again.ok and again.ran == 0 and again.skipped == 4
    assert len(_runs(log)) == 4  # nothing re-ran
    # a corrupted cell file (e.g. written by hand) is not taken as finished; stray tmp files
    # are ignored
    cell_files = sorted((tmp_path / "res" / NAME / "cells").glob("*.json"))
    cell_files[0].write_text('{"rows": [')
    (cell_files[0].parent / ".junk.json.tmp").write_text("partial")
    third = runner.run([NAME], out=tmp_path / "res", quick=True, workers=0, progress=False)
    assert third.ran == 1 and third.skipped == 3
    assert len(pd.read_csv(csv)) == 4


def test_methods_filter_and_seeds(toy: types.ModuleType, tmp_path: Path) -> None:
    rep = runner.run(
        [NAME], out=tmp_path, quick=False, seeds=3, workers=0, progress=False, methods=["coarse"]
    )
    assert rep.ran == 6  # 2 x values x 3 seeds of coarse only
    st = rep.figures[NAME]
    assert (st.done, st.total) == (6, 12)
    with pytest.raises(ValueError, match="unknown methods"):
        runner.run([NAME], out=tmp_path, workers=0, progress=False, methods=["nope"])


def test_points_filter_runs_only_those_x_values(
    toy: types.ModuleType,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    log = tmp_path / "runs.log"
    monkeypatch.setenv("TOY_LOG", str(log))
    rep = runner.run([NAME], out=tmp_path / "res", seeds=2, workers=0, progress=False, points=[2.0])
    ran = [json.loads(line) for line in log.read_text().splitlines()]
    assert sorted((r["x"], r["method"], r["seed"]) for r in ran) == [
        (2, "coarse", 0),
        (2, "coarse", 1),
        (2, "tdma", 0),
        (2, "tdma", 1),
    ]
    assert rep.ran == 4 and (rep.figures[NAME].done, rep.figures[NAME].total) == (4, 8)
    # adding x = 1: the finished x = 2 cells are skipped, not rerun
    again = runner.run(
        [NAME], out=tmp_path / "res", seeds=2, workers=0, progress=False, points=[1, 2]
    )
    assert (again.ran, again.skipped) == (4, 4)
    with pytest.raises(
        ValueError, match=r"points \['3'\] are not on the grid; x values: \['1', '2'\]"
    ):
        runner.run([NAME], out=tmp_path / "res", workers=0, progress=False, points=[3])
    assert cli.build_parser().parse_args(["run", NAME, "--points", "8,10.5"]).points == [8.0, 10.5]
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["run", NAME, "--points", "eight"])
    assert "expected comma-separated numbers" in capsys.readouterr().err
    out = tmp_path / "cli"
    assert cli.main(["run", NAME, "--points", "9", "--out", str(out), "--workers", "0"]) == 2
    assert "not on the grid" in capsys.readouterr().err


def test_status_counts_cells_and_tells_running_from_stopped_trainings(
    toy: types.ModuleType,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from benchmarks import status as bstatus

    res = tmp_path / "res"
    runner.run([NAME], out=res, seeds=2, workers=0, progress=False, points=[2.0])
    pol = res / "_policies"
    done = pol / "aaaa"
    done.mkdir(parents=True)
    (done / "bench_result.json").write_text("{}")
    for key, seed, ov in (("bbbb", 3, {"num_nodes": 8}), ("cccc", 1, {})):
        d = pol / key
        d.mkdir()
        (d / "config.json").write_text(
            json.dumps({"algo": "maasn-da", "seed": seed, "overrides": ov, "episodes": 600})
        )
        # 60 logged episodes: the pace is the mean of the last 50 (2 s each), not of all
        walls = [9.0] * 10 + [2.0] * 50
        (d / "log.csv").write_text(
            "episode,total_delay_s,wall_s\n"
            + "".join(f"{i},{1.5 + i / 1000},{w}\n" for i, w in enumerate(walls))
        )
        (pol / f"{key}.lock").touch()
    with methods.file_lock(pol / "bbbb.lock"):  # held as by a worker training "bbbb"
        got = {t.key: t for t in bstatus.trainings(res)}
        text = bstatus.status([NAME], out=res, seeds=2)
    assert [got[k].state for k in ("aaaa", "bbbb", "cccc")] == ["finished", "running", "stopped"]
    assert got["bbbb"].logged == 60 and got["bbbb"].s_per_episode == pytest.approx(2.0)
    assert got["bbbb"].eta_s == pytest.approx(540 * 2.0)
    assert got["bbbb"].last_delay_s == pytest.approx(1.559)
    assert got["aaaa"].eta_s is None
    assert text.splitlines()[0] == f"{NAME}: 4/8 cells done (tdma 2/4, coarse 2/4)"
    assert "1 finished, 2 not" in text
    assert (
        'bbbb  maasn-da seed 3  {"num_nodes": 8}  running, episode 60/600, 2.00 s/episode, '
        "about 18 min left, last episode's delay 1.559 s"
    ) in text
    assert "cccc  maasn-da seed 1  defaults  stopped, episode 60/600" in text
    assert "left" not in text.split("cccc")[1]  # a stopped training has no time left to wait
    # the grid is chosen as for run: methods and points narrow it, off-grid points are errors
    assert (
        bstatus.status([NAME], out=res, seeds=2, methods=["tdma"], points=[1]).splitlines()[0]
        == f"{NAME}: 0/2 cells done (tdma 0/2)"
    )
    assert cli.main(["status", NAME, "--seeds", "2", "--out", str(res)]) == 0
    assert "stopped" in capsys.readouterr().out
    assert cli.main(["status", NAME, "--points", "7", "--out", str(res)]) == 2
    assert "not on the grid" in capsys.readouterr().err


def test_cli_output_into_a_closed_pipe_is_not_a_traceback() -> None:
    """`fgamcd-bench list | head -1`: the reader closes the pipe before the command writes."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from benchmarks import cli; sys.exit(cli.main())",
            "list",
        ],
        cwd=runner.project_root(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    proc.stdout.close()  # before the child has imported anything, so its first write fails
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 141
    assert "Traceback" not in err and "BrokenPipeError" not in err


def test_cli_keeps_a_broken_pipe_that_is_not_stdout(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(argv: list[str] | None) -> int:
        raise BrokenPipeError("a worker's pipe")

    monkeypatch.setattr(cli, "_main", broken)
    with pytest.raises(BrokenPipeError, match="a worker's pipe"):
        cli.main(["list"])


def test_methods_filter_picks_fig7_variants_by_name(tmp_path: Path) -> None:
    from benchmarks.figures import fig07_learning as fig7

    cells = [
        runner.Cell("fig7", fig7.__name__, s, str(i), tmp_path / f"{i}.json")
        for i, s in enumerate(fig7.cells(quick=False, seeds=2))
    ]
    pick = {
        (c.spec["variant"], c.spec["seed"])
        for c in cells
        if runner.selected(c, ["maasn-da", "no-da"])
    }
    # the ablations train with method="maasn-da" too, but "maasn-da" means MAASN-DA itself
    assert pick == {("maasn-da", 0), ("maasn-da", 1), ("no-da", 0), ("no-da", 1)}
    assert all(runner.selected(c, None) for c in cells)
    assert cli.build_parser().parse_args(
        ["run", "fig7", "--methods", "qmix-da,cgan-da"]
    ).methods == ["qmix-da", "cgan-da"]


def test_failed_cell_is_reported_others_finish_and_rerun_retries_it(
    toy: types.ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "runs.log"
    monkeypatch.setenv("TOY_LOG", str(log))
    monkeypatch.setenv("TOY_FAIL", "2:coarse")
    rep = runner.run([NAME], out=tmp_path / "res", quick=True, workers=0, progress=False)
    assert not rep.ok and rep.ran == 3 and len(rep.failures) == 1
    what, tb = rep.failures[0]
    assert '"method": "coarse"' in what and '"x": 2' in what
    assert "RuntimeError: toy failure at 2:coarse" in tb
    assert "toy failure" in runner.format_report(rep)
    errors = list((tmp_path / "res" / NAME / "cells").glob("*.error.txt"))
    assert len(errors) == 1 and "Traceback" in errors[0].read_text()
    assert len(pd.read_csv(tmp_path / "res" / NAME / f"{NAME}.csv")) == 3

    monkeypatch.delenv("TOY_FAIL")
    fixed = runner.run([NAME], out=tmp_path / "res", quick=True, workers=0, progress=False)
    assert fixed.ok and fixed.ran == 1 and fixed.skipped == 3
    assert _runs(log)[-1]["method"] == "coarse" and _runs(log)[-1]["x"] == 2
    assert not list((tmp_path / "res" / NAME / "cells").glob("*.error.txt"))


def test_process_pool_survives_a_killed_worker(
    toy: types.ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOY_DIE", "2:tdma")
    rep = runner.run([NAME], out=tmp_path, quick=True, workers=2, progress=False)
    assert [w for w, _ in rep.failures] and len(rep.failures) == 1
    what, why = rep.failures[0]
    assert '"method": "tdma"' in what and "worker process running this cell died" in why
    assert rep.ran == 3
    cell_dir = tmp_path / NAME / "cells"
    stored = [runner.read_cell(p) for p in cell_dir.glob("*.json")]
    assert len(stored) == 3 and all(s is not None for s in stored)
    assert not list(cell_dir.glob("*.tmp")) and not list(cell_dir.glob(".*.tmp"))
    assert sorted(pd.read_csv(tmp_path / NAME / f"{NAME}.csv")["total_delay_s"]) == [1, 2, 2]


@pytest.mark.parametrize("how", ["sigterm-to-driver", "ctrl-c-to-group"])
def test_stop_signal_reaches_each_worker_once_and_leaves_none_behind(
    tmp_path: Path, how: str
) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    # SIGINT handled as in a terminal even when the tests run in the background (which
    # starts every child with SIGINT ignored)
    script = (
        "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "from benchmarks import cli, figures; import tests.test_bench_runner as toy; "
        "figures.register(toy); sys.exit(cli.main(sys.argv[1:]))"
    )
    args = [
        "run",
        NAME,
        "--quick",
        "--out",
        str(tmp_path / "res"),
        "--workers",
        "2",
        "--no-progress",
    ]
    env = {**os.environ, "TOY_HANG": "1:tdma", "TOY_MARKS": str(marks)}
    proc = subprocess.Popen(
        [sys.executable, "-c", script, *args],
        cwd=runner.project_root(),
        env=env,
        start_new_session=True,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not list(marks.glob("started-*")):
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "the hanging cell never started"
            time.sleep(0.05)
        worker = int(next(marks.glob("started-*")).name.split("-")[1])
        if how == "sigterm-to-driver":
            proc.send_signal(signal.SIGTERM)
        else:  # a terminal's Ctrl-C goes to the whole process group
            os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    signum = signal.SIGTERM if how == "sigterm-to-driver" else signal.SIGINT
    assert proc.returncode == 128 + signum, err
    assert "the same command resumes" in err
    # the worker saw one SIGTERM (not the group's SIGINT), checkpointed, and is gone
    assert (marks / f"stopped-{worker}").read_text() == str(int(signal.SIGTERM))
    with pytest.raises(ProcessLookupError):
        os.kill(worker, 0)


def test_ray_local_instance_runs_the_grid(toy: types.ModuleType, tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    ray.init(
        address="local",  # never a cluster another test or user started on this machine
        num_cpus=1,
        include_dashboard=False,
        runtime_env=runner.ray_runtime_env(),
        log_to_driver=False,
    )
    try:
        rep = runner.run([NAME], out=tmp_path, quick=True, ray_address="auto", progress=False)
    finally:
        ray.shutdown()
    assert rep.ok, runner.format_report(rep)
    assert rep.ran == 4
    assert len(pd.read_csv(tmp_path / NAME / f"{NAME}.csv")) == 4


# ----------------------------------------------------------------------------- CLI / report
def test_cli_list_run_report(
    toy: types.ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["list"]) == 0
    listed = capsys.readouterr().out
    assert "fig8" in listed and "toy_bench" in listed and "needs agents" in listed
    out = tmp_path / "res"
    args = ["run", NAME, "--quick", "--out", str(out), "--workers", "0", "--no-progress"]
    assert cli.main(args) == 0
    assert "ran 4 cell(s)" in capsys.readouterr().out
    assert cli.main(["run", "fig99", "--out", str(out), "--workers", "0"]) == 2
    assert "unknown figure" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["run", NAME, "--methods", "bogus"])
    assert cli.main(["report", "--out", str(out)]) == 0
    text = (out / "report.md").read_text()
    assert "## Toy figure of the runner tests" in text
    assert "![toy_bench](toy_bench/toy_bench.png)" in text and "toy rows: 4" in text
    assert "## Missing" in text and "**fig8**" in text  # not run: listed, not dropped
    row = (
        "| fig8 | averaged over the x grid | QMIX-DA | — | — | — | — | 12.20 | — | "
        "missing (no results) |"
    )
    assert row in text


# ----------------------------------------------------------------------------- methods
def test_canonical_overrides_drop_defaults_and_validate() -> None:
    assert methods.canonical_overrides("paper", {"storage_bytes": 1.25e9, "num_users": 30}) == {}
    assert methods.canonical_overrides(
        "paper", {"num_users": 18, "repository": {"reuse_ratios": [0.3341, 0.25, 0.45]}}
    ) == {"num_users": 18}
    with pytest.raises(ValueError, match="unknown ScenarioConfig field"):
        methods.canonical_overrides("paper", {"num_nodez": 4})
    assert methods.stable_hash({"a": 1, "b": (1, 2)}) == methods.stable_hash({"b": [1, 2], "a": 1})


def test_run_method_baseline_on_small_is_cached(tmp_path: Path) -> None:
    rows = methods.run_method("tdma", "small", {"storage_bytes": 5e7}, seed=1, cache=tmp_path)
    assert len(rows) == 1 and rows[0]["method"] == "tdma" and rows[0]["seed"] == 1
    assert rows[0]["total_delay_s"] > 0 and not any(k.startswith("storage_used") for k in rows[0])
    files = list((tmp_path / "_evals").glob("*.json"))
    assert len(files) == 1
    again = methods.run_method("tdma", "small", {"storage_bytes": 5e7}, seed=1, cache=tmp_path)
    assert again == rows and len(list((tmp_path / "_evals").glob("*.json"))) == 1
    with pytest.raises(ValueError, match="unknown method"):
        methods.run_method("oracle", "small")


def test_sweep_cell_on_small_returns_tidy_rows() -> None:
    sweep = sweeps.Sweep(
        name="fig8",
        title="t",
        scenario="small",
        methods=("no_cooperation",),
        panels=(
            sweeps.Axis(
                "storage_gb",
                "C_n (GB)",
                (0.05, 0.1),
                (0.05,),
                lambda gb: {"storage_bytes": gb * 1e9},
            ),
        ),
    )
    (spec,) = sweep.cells(True, None)
    rows = sweeps.run_point(spec)
    assert rows[0]["x"] == 0.05 and rows[0]["panel"] == "storage_gb"
    assert json.loads(rows[0]["overrides"]) == {"storage_bytes": 5e7}
    assert rows[0]["num_pbs"] == 32 and 0 < rows[0]["reuse_ratio_achieved"] < 1
    runner.check_rows(rows, "sweep")
    sc = fgamcd_env.make_scenario("small", seed=spec["seed"], storage_bytes=5e7)
    assert rows[0]["qos_infeasible_full_comp"] == full_comp_qos_failures(sc).sum() == 9


def test_full_comp_reference_is_cached_per_draw(tmp_path: Path) -> None:
    counts = [methods.full_comp_failures_cached("small", {}, s, cache=tmp_path) for s in (0, 1)]
    assert counts == [9, 6]  # the draws differ, so a wrong seed shows
    files = sorted((tmp_path / "_evals").glob("fullcomp-*.json"))
    assert len(files) == 2 and json.loads(files[0].read_text())["rows"] in counts
    assert methods.full_comp_failures_cached("small", {"num_users": 6}, 0, cache=tmp_path) == 9
    assert len(list((tmp_path / "_evals").glob("fullcomp-*.json"))) == 2  # default dropped


@dataclasses.dataclass(frozen=True)
class FakeTrainConfig:
    """The part of ``agents.config.TrainConfig``'s interface the bench uses, flat."""

    algo: str = "maasn-da"
    scenario: str = "paper"
    overrides: dict = dataclasses.field(default_factory=dict)
    episodes: int = 600
    seed: int = 0
    out: Path = Path("runs")
    eval_seeds: tuple = (0,)
    progress: bool = True
    resume: bool = False
    actor: str = "action_semantics"
    tau0: float = 0.8

    def replace(self, **changes: Any) -> FakeTrainConfig:
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        run = {k: v for k, v in dataclasses.asdict(self).items() if k not in ("out", "progress")}
        return {"run": run, "output": {"out": str(self.out), "progress": self.progress}}

    def digest(self) -> str:
        return methods.stable_hash(self.to_json()["run"])


def test_learned_training_is_cached_by_config_hash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[FakeTrainConfig] = []

    def fake_train(cfg: FakeTrainConfig) -> dict[str, Any]:
        calls.append(cfg)
        (cfg.out / "ckpt.pt").write_text("weights")
        curve = [
            {"episode": e, "return": -100.0 + e, "total_delay_s": 2.0 - 0.1 * e}
            for e in range(cfg.episodes)
        ]
        # as a resumed run reports it: 100 s of episodes over all its sessions, most before the
        # kill, then 2.5 s of evaluation
        return {
            "eval_rows": [{"policy": cfg.algo, "seed": cfg.seed, "total_delay_s": 1.5}],
            "curve": curve,
            "checkpoint": cfg.out / "ckpt.pt",
            "wall_time_s": 100.0,
            "eval_wall_s": 2.5,
        }

    fake = types.ModuleType("agents.train")
    fake.TrainConfig, fake.train = FakeTrainConfig, fake_train
    monkeypatch.setitem(sys.modules, "agents.train", fake)
    methods.set_cache_dir(tmp_path)
    try:
        rows = methods.run_method("maasn-da", "paper", {"storage_bytes": 1.25e9}, 0, episodes=3)
        again = methods.run_method("maasn-da", "paper", {}, 0, episodes=3)  # same point
        assert len(calls) == 1 and rows == again
        assert rows[0]["method"] == "maasn-da" and rows[0]["total_delay_s"] == 1.5
        assert rows[0]["method_wall_s"] == 102.5  # not this process's clock
        assert calls[0].overrides == {} and calls[0].progress is False
        assert calls[0].out.parent == tmp_path / "_policies"
        assert (calls[0].out / "ckpt.pt").exists()
        fig7 = figures.get("fig7")
        spec = next(s for s in fig7.cells(False, 1) if s["variant"] == "maasn-da")
        spec = {**spec, "episodes": 3}
        spec.pop("policy", None)  # train, whether or not a reference policy is shipped
        curve = fig7.run_cell(spec)  # the same training as the sweep's default point
        assert len(calls) == 1 and [r["episode"] for r in curve] == [0, 1, 2]
        spec_mlp = next(s for s in fig7.cells(False, 1) if s["variant"] == "no-action-semantics")
        fig7.run_cell({**spec_mlp, "episodes": 3})
        assert len(calls) == 2 and calls[1].actor == "mlp"
        df = pd.DataFrame(curve + fig7.run_cell({**spec_mlp, "episodes": 3}))
        assert "Without action semantics actor" in fig7.summary(df)
        assert fig7.plot(df, tmp_path)[0].exists()
    finally:
        methods.set_cache_dir(None)


def test_learned_method_without_agents_fails_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "agents.train", None)  # import raises ImportError
    with pytest.raises(methods.AgentsUnavailableError, match="--methods trimcaching"):
        methods.run_method("qmix-da", "small", {}, 0, episodes=1)


def test_fig7_claims_compare_variants_over_their_common_seeds() -> None:
    from benchmarks.figures import fig07_learning as fig7

    # MAASN-DA has seeds 0-1, no-da only seed 0; MAASN-DA's seed 1 is easy (return -1)
    rows = [
        {"variant": v, "seed": s, "episode": e, "return": r}
        for v, s, r in (("maasn-da", 0, -10.0), ("maasn-da", 1, -1.0), ("no-da", 0, -8.0))
        for e in range(10)
    ]
    df = pd.DataFrame(rows)
    assert fig7.final_returns(df) == {"maasn-da": -5.5, "no-da": -8.0}  # unpaired: looks better
    assert fig7.paired_final(df, "maasn-da", "no-da") == (-10.0, -8.0, 1, 0, 1)
    assert fig7.paired_final(df, "maasn-da", "qmix-da") is None
    text = fig7.summary(df)
    assert (
        "Without data augmentation is worse than MAASN-DA. Ours: disagree (-10.0 vs -8.0, 1 "
        "seed(s), higher on 0)" in text
    )
    assert "| Without data augmentation | -8.0 | 1 |" in text
    # both on seeds 0-1: MAASN-DA's mean is higher (-5.5 vs -6.0) on the strength of seed 1 only;
    # QMIX-DA beats it on both seeds and the claim's counts are QMIX-DA's
    more = [
        {"variant": v, "seed": s, "episode": e, "return": r}
        for v, s, r in (("no-da", 1, -4.0), ("qmix-da", 0, -9.0), ("qmix-da", 1, 0.0))
        for e in range(10)
    ]
    df = pd.concat([df, pd.DataFrame(more)], ignore_index=True)
    assert fig7.paired_final(df, "maasn-da", "no-da") == (-5.5, -6.0, 2, 1, 1)
    text = fig7.summary(df)
    assert "worse than MAASN-DA. Ours: agree (-5.5 vs -6.0, 2 seed(s), higher on 1)" in text
    assert "disagree (QMIX-DA ends higher: -4.5 vs -5.5, 2 seed(s), higher on 2)" in text


def test_import_puts_a_finished_training_where_the_bench_looks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A real tiny fgamcd-train run, imported: the bench's own lookup (same algo, point, seed,
    budget and switches) returns its rows without training; unfinished runs are refused."""
    pytest.importorskip("torch")
    from agents.train import TrainConfig, train

    opts = dict(
        batch_size=16,
        updates_per_episode=2,
        esn_reservoir=32,
        actor_hidden=(16, 8),
        critic_hidden=(16, 16),
        mixer_embed=8,
        hyper_hidden=8,
        aug_epochs=1,
    )
    run = tmp_path / "run"
    res = train(
        TrainConfig().replace(scenario="small", episodes=2, seed=1, out=run, progress=False, **opts)
    )
    cache = tmp_path / "bench"
    assert cli.main(["import", str(run), "--out", str(cache)]) == 0
    assert "_policies" in capsys.readouterr().out
    assert cli.main(["import", str(run), "--out", str(cache)]) == 0
    assert "already cached" in capsys.readouterr().out

    def no_training(cfg: Any) -> dict[str, Any]:
        raise AssertionError("the imported run should have been reused")

    monkeypatch.setattr(methods, "_agents", lambda: (TrainConfig, no_training))
    got = methods.train_cached("maasn-da", "small", {}, 1, 2, opts, cache=cache)
    assert got["eval_rows"] == json.loads(json.dumps(res["eval_rows"]))
    assert len(got["curve"]) == 2
    cached = Path(got["checkpoint"])
    weights = cached.read_bytes()
    assert weights == (run / "checkpoint.pt").read_bytes()
    # training replaces a checkpoint atomically: the cached one (maybe a hard link) keeps its bytes
    (run / "new.pt").write_bytes(b"later weights")
    os.replace(run / "new.pt", run / "checkpoint.pt")
    assert cached.read_bytes() == weights
    assert got["wall_s"] == pytest.approx(res["wall_time_s"] + res["eval_wall_s"])
    with pytest.raises(AssertionError, match="reused"):  # another seed is another training
        methods.train_cached("maasn-da", "small", {}, 0, 2, opts, cache=cache)

    result = json.loads((run / "result.json").read_text())
    (run / "result.json").write_text(json.dumps({**result, "curve": result["curve"][:1]}))
    with pytest.raises(ValueError, match="1 of 2 episodes"):
        methods.import_training(run, tmp_path / "other")
    (run / "result.json").write_text(json.dumps(result))
    cfg = json.loads((run / "config.json").read_text())
    cfg["run"]["eval_seeds"] = [1, 2]
    (run / "config.json").write_text(json.dumps(cfg))
    assert cli.main(["import", str(run), "--out", str(tmp_path / "other")]) == 2
    assert "training seed 1 only" in capsys.readouterr().err
    assert cli.main(["import", str(tmp_path), "--out", str(cache)]) == 2
    assert "not a finished fgamcd-train run" in capsys.readouterr().err


def test_learned_forms_of_the_papers_baselines_share_or_own_their_training(
    tmp_path: Path,
) -> None:
    """``tdma_maasn`` evaluates MAASN-DA's training (no second one) with TDMA delivery;
    ``trimcaching_maasn`` trains MAASN-DA with TrimCaching's placement fixed."""
    pytest.importorskip("torch")
    opts = {"batch_size": 8, "updates_per_episode": 1, "esn_reservoir": 16}
    kw = {"episodes": 2, "train_options": opts, "cache": tmp_path}
    own = methods.run_method("maasn-da", "small", {}, 0, **kw)
    tdma = methods.run_method("tdma_maasn", "small", {}, 0, **kw)
    assert len(list((tmp_path / "_policies").glob("*/bench_result.json"))) == 1
    assert own[0]["beamformer"] == "fast" and tdma[0]["beamformer"] == "mrt_tdma"
    assert tdma[0]["method"] == "tdma_maasn" and tdma[0]["episodes"] == 2
    trim = methods.run_method("trimcaching_maasn", "small", {}, 0, **kw)
    assert len(list((tmp_path / "_policies").glob("*/bench_result.json"))) == 2
    assert trim[0]["method"] == "trimcaching_maasn"


def test_no_train_leaves_out_cells_that_would_train(
    toy: types.ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``train=False`` (``--no-train``): cells with a training budget run only when they
    evaluate a shipped reference policy; every other cell runs as usual."""

    def cells(quick: bool, seeds: int | None) -> list[dict[str, Any]]:
        out = []
        for x in (1, 2):
            out.append({"figure": NAME, "x": x, "method": "coarse", "seed": 0})
            learned = {"figure": NAME, "x": x, "method": "tdma", "seed": 0, "episodes": 5}
            out.append({**learned, "policy": "reference"} if x == 2 else learned)
        return out

    monkeypatch.setattr(toy, "cells", cells)
    log = tmp_path / "runs.log"
    monkeypatch.setenv("TOY_LOG", str(log))
    rep = runner.run([NAME], out=tmp_path / "res", workers=0, progress=False, train=False)
    ran = sorted((r["x"], r["method"], "policy" in r) for r in _runs(log))
    assert ran == [(1, "coarse", False), (2, "coarse", False), (2, "tdma", True)]
    assert (rep.ran, rep.figures[NAME].done, rep.figures[NAME].total) == (3, 3, 4)
    assert cli.build_parser().parse_args(["run", NAME, "--no-train"]).no_train
