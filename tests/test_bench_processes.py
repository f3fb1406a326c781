"""Processes of ``fgamcd-bench run``: no worker outlives a SIGKILLed driver (process pool,
embedded Ray, Ray cluster), and a grid spread over a two-node Ray cluster comes back whole.

This test module is itself a tiny figure module (``NAME = "toy_slow"``), which worker processes
and the ``fgamcd-bench`` subprocesses import by name (``FGAMCD_BENCH_FIGURES``). Its cells read
their behaviour from the directory ``$TOY_SLOW_CTRL``: ``settings.json`` lists the cells that
hang (``"hang"``, as ``"x:method"``, each with a forked helper process) and a sleep for the
others (``"sleep_s"``); every cell leaves ``started-<x>-<method>-<pid>`` there and a line in
``runs.log``, every helper ``helper-<pid>``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks import cli, figures, methods, orphans, runner

NAME = "toy_slow"
TITLE = "Toy figure with slow cells"
NEEDS_AGENTS = False
CTRL = "TOY_SLOW_CTRL"
HANG_S = 120.0  # a hanging cell's limit: far beyond any test's wait, so only a signal ends it


def cells(quick: bool, seeds: int | None) -> list[dict[str, Any]]:
    n = 1 if seeds is None else seeds
    return [
        {"figure": NAME, "x": x, "method": m, "seed": s}
        for x in (1, 2)
        for m in ("tdma", "coarse")
        for s in range(n)
    ]


def run_cell(spec: dict[str, Any]) -> list[dict[str, Any]]:
    ctrl = Path(os.environ[CTRL])
    settings = json.loads((ctrl / "settings.json").read_text())
    tag = f"{spec['x']}:{spec['method']}"
    (ctrl / f"started-{tag.replace(':', '-')}-{os.getpid()}").touch()
    with (ctrl / "runs.log").open("a") as fh:
        fh.write(json.dumps({"tag": tag, "seed": spec["seed"], "pid": os.getpid()}) + "\n")
    hang = tag in settings.get("hang", [])
    if hang:  # a forked helper, as Table III's time-capped SDP solves have
        import multiprocessing

        child = multiprocessing.get_context("fork").Process(
            target=time.sleep, args=(HANG_S,), daemon=True
        )
        child.start()
        (ctrl / f"helper-{child.pid}").touch()
    end = time.monotonic() + (HANG_S if hang else settings["sleep_s"])
    while time.monotonic() < end:
        time.sleep(0.05)
    return [{**spec, "total_delay_s": float(spec["x"]), "cache_dir": str(methods.cache_dir())}]


def plot(df: Any, out_dir: Path) -> list[Path]:
    return []


def summary(df: Any) -> str:
    return f"rows: {len(df)}\n"


# ----------------------------------------------------------------------------- helpers
@pytest.fixture
def toy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The toy figure registered here, and its control directory (no cell hangs or sleeps)."""
    ctrl = tmp_path / "ctrl"
    ctrl.mkdir()
    settle(ctrl)
    monkeypatch.setenv(CTRL, str(ctrl))
    figures.register(sys.modules[__name__])
    yield ctrl
    figures.unregister(NAME)


def settle(ctrl: Path, hang: tuple[str, ...] = (), sleep_s: float = 0.0) -> None:
    (ctrl / "settings.json").write_text(json.dumps({"hang": list(hang), "sleep_s": sleep_s}))


def started(ctrl: Path) -> dict[str, list[int]]:
    """{"x:method": [pids]} of the cells that started."""
    out: dict[str, list[int]] = {}
    for p in ctrl.glob("started-*"):
        _, x, method, pid = p.name.split("-")
        out.setdefault(f"{x}:{method}", []).append(int(pid))
    return out


def runs(ctrl: Path) -> list[str]:
    log = ctrl / "runs.log"
    return (
        [json.loads(line)["tag"] for line in log.read_text().splitlines()] if log.exists() else []
    )


def wait_for(what: str, cond: Any, proc: subprocess.Popen | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the driver exited ({proc.returncode}) before {what}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def survivors(procs: dict[int, int], timeout: float) -> dict[int, str]:
    """The processes of ``procs`` ({pid: start time}) still alive after up to ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        alive = {p: s for p, s in procs.items() if orphans._alive(p, s)}
        if not alive or time.monotonic() > deadline:
            return {p: _cmdline(p) for p in alive}
        time.sleep(0.1)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:200]
    except OSError:
        return "?"


def start_driver(out: Path, ctrl: Path, *options: str) -> subprocess.Popen:
    """``fgamcd-bench run toy_slow`` in a subprocess of its own session (so that a failed test
    can kill its whole group)."""
    root = runner.project_root()
    env = {
        **os.environ,
        figures.EXTRA_ENV: __name__,
        CTRL: str(ctrl),
        "PYTHONPATH": os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH")) if p),
    }
    cmd = [sys.executable, "-m", "benchmarks.cli", "run", NAME, "--out", str(out), "--no-progress"]
    return subprocess.Popen(
        [*cmd, *options],
        cwd=root,
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@contextlib.contextmanager
def killed_at_the_end(proc: subprocess.Popen) -> Iterator[None]:
    try:
        yield
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def kill_mid_grid(
    out: Path, ctrl: Path, timeout: float, stored: int, hung: int, *options: str
) -> tuple[dict[int, str], list[int]]:
    """Run the grid with its x = 2 cells hanging; once ``stored`` cells are stored and ``hung``
    cells hang, SIGKILL the driver. Returns the processes still alive 10 s later among the
    driver's descendants, the hanging cells' workers and their helpers, and the pids of those
    workers."""
    settle(ctrl, hang=("2:tdma", "2:coarse"))
    proc = start_driver(out, ctrl, *options)
    with killed_at_the_end(proc):
        cell_dir = out / NAME / "cells"

        def hanging() -> list[int]:
            return [p for t in ("2:tdma", "2:coarse") for p in started(ctrl).get(t, [])]

        def helpers() -> list[int]:  # a hanging cell's helper process announces itself later
            return [int(p.name.split("-")[1]) for p in ctrl.glob("helper-*")]

        wait_for(
            f"{stored} cells to be stored and {hung} to hang, each with its helper",
            lambda: (
                len(list(cell_dir.glob("*.json"))) == stored
                and len(hanging()) == hung
                and len(helpers()) == hung
            ),
            proc,
            timeout,
        )
        watch = orphans.descendants(proc.pid)
        for pid in [*hanging(), *helpers()]:
            if (st := orphans._stat(pid)) is not None:
                watch[pid] = st[1]
        proc.kill()  # SIGKILL: no handler runs
        proc.wait()
        return survivors(watch, timeout=10.0), hanging()


def assert_resumes(out: Path, ctrl: Path, seeds: int | None = None) -> None:
    """The next run runs the unfinished cells only, once each, and completes the grid."""

    def stored() -> list[tuple[str, int]]:
        specs = [runner.read_cell(p)["spec"] for p in (out / NAME / "cells").glob("*.json")]
        return [(f"{s['x']}:{s['method']}", s["seed"]) for s in specs]

    before, logged = stored(), len(runs(ctrl))
    settle(ctrl)
    rep = runner.run([NAME], out=out, seeds=seeds, workers=0, progress=False)
    assert rep.ok, runner.format_report(rep)
    grid = [(f"{s['x']}:{s['method']}", s["seed"]) for s in cells(False, seeds)]
    todo = [c for c in grid if c not in before]
    assert (rep.ran, rep.skipped) == (len(todo), len(before))
    assert sorted(runs(ctrl)[logged:]) == sorted(t for t, _ in todo)
    assert sorted(stored()) == sorted(grid) and rep.figures[NAME].done == len(grid)


# ----------------------------------------------------------------------------- parent death
_CHILD = """
import os, signal, sys, time
from benchmarks import orphans
mode = sys.argv[1]
if mode == "kernel":
    assert orphans.set_parent_death_signal(signal.SIGTERM)
else:  # the watchdog alone, in a process that ignores SIGTERM: it must exit after the grace
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    import threading
    threading.Thread(
        target=orphans._watch_parent, args=(os.getppid(), 0.5, 0.05), daemon=True
    ).start()
print(os.getpid(), flush=True)
time.sleep(60)
"""
_PARENT = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2]], stdout=subprocess.PIPE)
print(child.stdout.readline().decode().strip(), flush=True)
time.sleep(60)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and prctl are Linux's")
@pytest.mark.parametrize("mode", ["kernel", "watchdog"])
def test_a_child_ends_when_its_parent_is_killed(mode: str) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", _PARENT, _CHILD, mode],
        cwd=runner.project_root(),
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    with killed_at_the_end(parent):
        child = int(parent.stdout.readline())
        start = orphans._stat(child)[1]
        parent.kill()
        parent.wait()
        assert survivors({child: start}, timeout=5.0) == {}


# ----------------------------------------------------------------------------- SIGKILL
def test_sigkill_of_a_pool_run_leaves_no_worker_and_the_rerun_completes(
    toy: Path, tmp_path: Path
) -> None:
    out = tmp_path / "res"
    left, _ = kill_mid_grid(out, toy, 60.0, 2, 2, "--workers", "2")
    assert left == {}
    assert_resumes(out, toy)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the guardian reads /proc")
def test_sigkill_of_an_embedded_ray_run_leaves_no_process(toy: Path, tmp_path: Path) -> None:
    """gcs_server, raylet, Ray's agents and its workers all end with the driver."""
    pytest.importorskip("ray")
    out = tmp_path / "res"
    left, _ = kill_mid_grid(out, toy, 90.0, 2, 2, "--ray-address", "local")
    assert left == {}
    assert_resumes(out, toy)


# ----------------------------------------------------------------------------- Ray cluster
def test_a_ray_task_on_a_node_that_does_not_see_out_caches_locally(
    toy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    out = tmp_path / "res"
    out.mkdir()
    spec = cells(True, None)[0]
    try:
        # no marker holding the run's token: <out> here is another node's disk
        got = runner.execute(__name__, spec, str(out), token="abc")
        local = runner.node_cache(str(out))
        assert local.parent == tmp_path / "xdg" / "fgamcd-bench"
        assert got["ok"] and got["cache"] == str(local)
        assert got["rows"][0]["cache_dir"] == str(local)
        assert got["ran_on"]["pid"] == os.getpid() and got["ran_on"]["ray_node"] is None
        (out / f"{runner.SHARED_MARK}-abc").write_text("abc\n")
        got = runner.execute(__name__, spec, str(out), token="abc")
        assert "cache" not in got and got["rows"][0]["cache_dir"] == str(out)
    finally:
        methods.set_cache_dir(None)
    text = runner.format_report(runner.RunReport(node_caches={"node7": str(local)}))
    assert (
        f"node7 does not see the --out folder; its trained policies and evaluations are "
        f"cached in {local} there" in text
    )


def test_an_address_nobody_listens_on_is_an_error_at_once(
    toy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("ray")
    with socket.socket() as s:  # a port that was free a moment ago
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = ["run", NAME, "--out", str(tmp_path), "--no-progress"]
    assert cli.main([*args, "--ray-address", f"127.0.0.1:{port}"]) == 2
    assert f"cannot reach the Ray head at 127.0.0.1:{port}" in capsys.readouterr().err


@pytest.fixture
def cluster(toy: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A Ray head and a second Ray node on this machine, one CPU each (their raylets, and so
    their workers, inherit ``TOY_SLOW_CTRL``); always stopped."""
    pytest.importorskip("ray")
    import ray._common.utils
    import ray._private.utils
    from ray.cluster_utils import Cluster

    # Not this machine's "current cluster", which a plain ray.init() elsewhere would join.
    monkeypatch.setattr(ray._private.utils, "write_ray_address", lambda *a, **k: None)
    monkeypatch.setattr(ray._common.utils, "reset_ray_address", lambda *a, **k: None)
    auth = os.environ.get("RAY_AUTH_MODE")  # Ray sets it in this process for its cluster
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        c.add_node(num_cpus=1)
        yield c
    finally:
        c.shutdown()
        if auth is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = auth


def test_a_ray_cluster_of_two_nodes_runs_the_grid_and_drops_a_killed_drivers_tasks(
    cluster: Any, toy: Path, tmp_path: Path
) -> None:
    nodes = {cluster.head_node.node_id, *(n.node_id for n in cluster.worker_nodes)}
    assert len(nodes) == 2
    # 1. The grid spreads over both nodes; the driver writes every cell file.
    settle(toy, sleep_s=0.5)
    out = tmp_path / "res"
    rep = runner.run([NAME], out=out, seeds=2, ray_address=cluster.address, progress=False)
    assert rep.ok and rep.ran == 8, runner.format_report(rep)
    stored = [runner.read_cell(p) for p in (out / NAME / "cells").glob("*.json")]
    assert {s["ran_on"]["ray_node"] for s in stored} == nodes
    assert not rep.node_caches and not any("cache" in s for s in stored)  # <out> is shared
    assert not list(out.glob(f"{runner.SHARED_MARK}-*"))  # the run's marker is gone
    # 2. A SIGKILLed driver's tasks end (Ray ties them to it) and its queued ones never start:
    # the x = 1 cells finish, 2:tdma hangs on both nodes, 2:coarse waits.
    for p in [*toy.glob("started-*"), toy / "runs.log"]:
        p.unlink()
    out = tmp_path / "killed"
    left, hung = kill_mid_grid(
        out, toy, 90.0, 4, 2, "--seeds", "2", "--ray-address", cluster.address
    )
    assert left == {} and len(hung) == 2
    time.sleep(1.5)
    assert "2:coarse" not in started(toy)
    assert_resumes(out, toy, seeds=2)
