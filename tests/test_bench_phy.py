"""Benchmark modules of Figs. 15-17 and Table III: cell specs, one cheap cell each, plots."""

import json

import numpy as np
import pandas as pd
import pytest

from benchmarks.figures import fig15_rate_cdf, fig16_beampattern, fig17_hybrid, table3_runtime

MODULES = [fig15_rate_cdf, fig16_beampattern, fig17_hybrid, table3_runtime]


@pytest.mark.parametrize("mod", MODULES, ids=lambda m: m.NAME)
def test_cells_are_serialisable_specs(mod):
    quick = mod.cells(quick=True, seeds=None)
    assert quick and all(c["figure"] == mod.NAME for c in quick)
    assert json.loads(json.dumps(quick)) == quick
    full = mod.cells(quick=False, seeds=2)
    assert len(full) >= len(quick) and {c["seed"] for c in full} == {0, 1}
    assert isinstance(mod.TITLE, str) and isinstance(mod.NEEDS_AGENTS, bool)
    with pytest.raises(ValueError, match="seed"):
        mod.cells(quick=True, seeds=0)


def test_fig15_robust_holds_and_nonrobust_violates(tmp_path):
    # seed 0, PBs 5 and 9: four users at three nodes, the QoS of one user binds
    spec = {**fig15_rate_cdf.cells(quick=True, seeds=1)[0], "pbs": [5, 9]}
    assert spec["csi_error_shape"] == 1e10 and spec["draws"] == 200
    df = pd.DataFrame(fig15_rate_cdf.run_cell(spec))
    assert len(df) == 2 * 2 * 200 and set(df["k"]) == {5, 9}
    assert (df["figure"] == "fig15").all() and (df["csi_error_shape"] == 1e10).all()
    rob = df[df["method"] == "fast"]
    nr = df[df["method"] == "nonrobust"]
    assert rob["flagged_feasible"].all() and nr["flagged_feasible"].all()
    # robust: every draw meets every Q_u (the worst case is below every drawn rate)
    assert (rob["min_ratio"] >= 1.0).all() and (rob["users_below_qos"] == 0).all()
    assert (rob["min_ratio"] >= rob["worst_case_min_ratio"] - 1e-9).all()
    # non-robust: it flagged both PBs feasible on the estimate, yet the errors break QoS
    assert (nr["nominal_min_ratio"] >= 1.0 - 1e-9).all()
    assert (nr["users_below_qos"] > 0).sum() > 20
    paths = fig15_rate_cdf.plot(df, tmp_path)
    assert paths and all(p.suffix == ".png" and p.stat().st_size > 0 for p in paths)
    text = fig15_rate_cdf.summary(df)
    assert "robust" in text and "agree — no draw" in text and "agree — it violates" in text


def test_fig15_errors_stay_in_their_sets():
    import fgamcd_env
    from fgamcd_env.beamforming import problem_from_scenario

    sc = fgamcd_env.make_scenario("small", seed=0, csi_error_shape=5e9)
    prob = problem_from_scenario(sc, 0, np.ones(3, bool), [0, 1])
    e = fig15_rate_cdf.draw_errors(prob, 300, np.random.default_rng(0))
    quad = np.einsum("dnum,numk,dnuk->dnu", e.conj(), prob.error_shape, e).real
    assert quad.max() <= 1 + 1e-9 and np.isclose(quad, 1.0).mean() > 0.4  # half on the boundary


def test_fig16_patterns(tmp_path):
    rows = []
    for spec in fig16_beampattern.cells(quick=True, seeds=1):
        rows += fig16_beampattern.run_cell(spec)
    df = pd.DataFrame(rows)
    pat, usr = df[df["kind"] == "pattern"], df[df["kind"] == "user"]
    assert set(df["example"]) == {"a", "b"}
    for _, part in df.groupby("example"):
        assert part["node"].nunique() == 2  # two neighbouring nodes take part
    assert len(pat) == 2 * 2 * fig16_beampattern.GRID
    # normalised gain |z^H w|^2 / (M P_max) lies in [0, power share] (Cauchy-Schwarz)
    assert (pat["gain"] >= 0).all() and (pat["gain"] <= pat["power_fraction"] + 1e-9).all()
    a = usr[usr["example"] == "a"]
    assert a["user"].nunique() == 2 and a["user_node"].nunique() == 2
    paths = fig16_beampattern.plot(df, tmp_path)
    assert paths and paths[0].stat().st_size > 0
    assert "| 0 | a |" in fig16_beampattern.summary(df)


def test_fig17_hybrid_on_small(tmp_path):
    base = {**fig17_hybrid.cells(quick=True, seeds=1)[0], "scenario": "small", "num_antennas": 4}
    rows = []
    for eps in (0, "U"):
        out = fig17_hybrid.run_cell({**base, "eps_hot": eps})
        assert len(out) == 1 and out[0]["eps_hot"] == eps
        rows += out
    df = pd.DataFrame(rows)
    full_bc, full_uni = df.iloc[0], df.iloc[1]
    assert full_bc["unicast_share"] == 0.0 and full_uni["unicast_share"] == 1.0
    assert full_uni["full_unicast"] and full_uni["eps_hot_value"] == 6  # U of `small`
    assert (df["total_delay_s"] > 0).all() and (df["steps"] == 32).all()
    assert full_bc["total_delay_s"] != full_uni["total_delay_s"]
    assert fig17_hybrid.plot(df, tmp_path)[0].stat().st_size > 0
    assert "full unicast" in fig17_hybrid.summary(df)


def _small(spec: dict, **kw) -> dict:
    return {**spec, "scenario": "small", "num_nodes": 3, "num_antennas": 4, **kw}


def test_table3_beamforming_cells(tmp_path):
    cells = table3_runtime.cells(quick=True, seeds=1)
    sub = next(c for c in cells if c["stage"] == "subroutine" and c["method"] == "fast")
    rows = table3_runtime.run_cell(_small(sub, steps=2))
    full = next(c for c in cells if c["stage"] == "full_comp" and c["method"] == "fast")
    rows_full = table3_runtime.run_cell(_small(full, steps=2))
    assert len(rows) == len(rows_full) == 2
    assert [r["k"] for r in rows] == [r["k"] for r in rows_full]  # the same PBs
    assert all(r["num_participating"] == 3 for r in rows_full)
    assert all(1 <= r["num_participating"] <= 3 and r["time_s"] > 0 for r in rows)
    # sdp_dc under an impossible cap: reported as capped, never waited for
    sdp = next(c for c in cells if c["stage"] == "full_comp" and c["method"] == "sdp_dc")
    capped = table3_runtime.run_cell(_small(sdp, time_cap_s=1e-3))
    assert len(capped) == 1 and capped[0]["capped"] and capped[0]["time_s"] == 1e-3
    # a failed solve is reported as such, never as a timing
    failed = {
        **capped[0],
        "stage": "subroutine",
        "capped": False,
        "time_s": float("nan"),
        "status": "solver_failed: CLARABEL: MemoryError: Unable to allocate 62.7 GiB",
    }
    df = pd.DataFrame(rows + rows_full + capped + [failed])
    text = table3_runtime.summary(df)
    assert "(3, 4)" in text and "1 of 2 solves hit the time cap" in text
    assert "failed (1/1)" in text and "1 failed: MemoryError" in text and "nan" not in text
    assert table3_runtime.plot(df, tmp_path)[0].stat().st_size > 0


def test_table3_pick_steps():
    ks = list(range(10, 20))
    assert table3_runtime.pick_steps(ks, None, spread=True) == ks
    assert table3_runtime.pick_steps(ks, 3, spread=False) == [10, 11, 12]
    assert table3_runtime.pick_steps(ks, 3, spread=True) == [10, 14, 19]
    with pytest.raises(ValueError):
        table3_runtime.pick_steps(ks, 0, spread=True)


def test_table3_decision_cell():
    spec = next(c for c in table3_runtime.cells(quick=True, seeds=1) if c["stage"] == "decision")
    spec = _small(spec, decision_steps=3)
    try:
        from agents import make_policy  # noqa: F401
    except ImportError:
        with pytest.raises(RuntimeError, match="make_policy"):
            table3_runtime.run_cell(spec)
        return
    rows = table3_runtime.run_cell(spec)
    assert [r["k"] for r in rows] == [0, 1, 2]
    assert all(0 < r["time_s"] < 5 for r in rows)


def test_table3_capped_sdp_child_ends_even_under_a_raising_sigterm_handler(monkeypatch):
    """The runner turns SIGTERM into an exception; a forked sdp_dc child inherits that handler,
    and a Python handler waits until the native solver call returns (minutes). The cap's
    terminate() must end the child at once: here it is inside a long native call (an SVD that
    takes tens of seconds), and ``timed_sdp`` must return long before that call could end."""
    import multiprocessing as mp
    import signal
    import time

    import fgamcd_env
    from fgamcd_env.beamforming import problem_from_scenario
    from fgamcd_env.beamforming import sdp as sdp_mod

    class Stop(Exception):
        pass

    def raise_stop(signum, frame):
        raise Stop

    def native_build(*args):
        np.linalg.svd(np.random.default_rng(0).random((4000, 4000)))

    monkeypatch.setattr(sdp_mod, "_get_model", native_build)  # the forked child inherits it
    sc = fgamcd_env.make_scenario("small", seed=0)
    problem = problem_from_scenario(sc, 3, [0, 1, 2], [0, 1])
    old = signal.signal(signal.SIGTERM, raise_stop)
    try:
        t0 = time.perf_counter()
        out = table3_runtime.timed_sdp(problem, cap_s=0.3)
        elapsed = time.perf_counter() - t0
    finally:
        signal.signal(signal.SIGTERM, old)
    assert out["status"] == "capped" and out["capped"]
    assert not mp.active_children()
    assert elapsed < 5.0  # the SVD alone runs far longer; a deferred handler would wait for it
