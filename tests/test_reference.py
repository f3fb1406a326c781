"""Reference policies (``agents.reference``): export of a trained run, loading it back, its
evaluation against the recorded numbers, staleness, the index without torch, and every shipped
policy reproducing its recorded return and delay.

Tolerances: a policy exported and evaluated on the same machine acts identically, so the counts
(QoS-infeasible, undelivered PBs) must be equal and the return and delays equal to 1e-9
relative. A shipped policy was recorded on another machine: the same weights give the same
greedy actions, and the env's float results (beamforming, delays) may differ in their last
digits across CPUs and BLAS builds, so its counts must be equal and its return and total delay
equal to 1e-6 relative.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import agents.reference as ref  # noqa: E402
from agents.config import OutputConfig, TrainConfig  # noqa: E402
from agents.reference.__main__ import main as ref_main  # noqa: E402
from agents.reference.__main__ import parse_seeds  # noqa: E402
from agents.reference.export import build, export_run  # noqa: E402
from agents.train import make_env_config, train  # noqa: E402
from baselines.evaluate import evaluate  # noqa: E402

TINY = dict(
    batch_size=16,
    updates_per_episode=2,
    esn_reservoir=32,
    actor_hidden=(16, 8),
    critic_hidden=(16, 16),
    mixer_embed=8,
    hyper_hidden=8,
    qmix_hidden=8,
    aug_epochs=1,
)
SHIPPED = ref.available()  # read before any test points REFERENCE_DIR elsewhere


@pytest.fixture
def ref_dir(tmp_path, monkeypatch):
    """An empty reference folder in place of the package's."""
    folder = tmp_path / "reference"
    monkeypatch.setattr(ref, "REFERENCE_DIR", folder)
    return folder


def _run(tmp_path: Path, algo: str, **kw) -> tuple[Path, dict]:
    out = tmp_path / f"run-{algo}"
    cfg = TrainConfig().replace(
        **TINY, algo=algo, scenario="small", episodes=3, progress=False, out=out, **kw
    )
    return out, train(cfg)


def _evaluate(entry: ref.ReferenceEntry, policy) -> dict:
    cfg = policy.learner.cfg
    (row,) = evaluate(
        policy,
        make_env_config(cfg),
        seeds=[entry.seed],
        beamformer=cfg.run.beamformer,
        **policy.env_kwargs,
    )
    return row


def _same_rows(a: list[dict], b: list[dict]) -> bool:
    def same(x, y):
        if isinstance(x, float) and isinstance(y, float) and math.isnan(x):
            return math.isnan(y)
        return x == y

    return len(a) == len(b) and all(
        r.keys() == s.keys() and all(same(r[k], s[k]) for k in r) for r, s in zip(a, b, strict=True)
    )


@pytest.mark.parametrize(("algo", "kw"), [("maasn-da", {"select_every": 2}), ("qmix-da", {})])
def test_export_load_and_evaluate_a_trained_run(tmp_path, ref_dir, algo, kw):
    run, res = _run(tmp_path, algo, **kw)
    entry = export_run(run)
    recorded = res["eval_rows"][0]
    assert (entry.algo, entry.scenario, entry.seed, entry.episodes) == (algo, "small", 0, 3)
    assert entry.options == {**TINY, "actor_hidden": [16, 8], "critic_hidden": [16, 16], **kw}
    assert entry.episode_return == recorded["return"]
    assert entry.total_delay_s == recorded["total_delay_s"]
    assert (entry.qos_infeasible_pbs, entry.undelivered_pbs) == (
        recorded["qos_infeasible_pbs"],
        recorded["undelivered_pbs"],
    )
    assert ref.available() == [entry] and ref.is_current(entry)
    assert sorted(p.name for p in entry.path.iterdir()) == sorted(
        [ref.POLICY, ref.CONFIG, ref.CURVE, ref.EVAL]
    )
    # the greedy policy's weights only: no optimiser, target network or replay buffer
    state = torch.load(entry.path / ref.POLICY, weights_only=True)
    assert set(state["modules"]) == ({"actor"} if algo == "maasn-da" else {"q"})
    assert (entry.path / ref.POLICY).stat().st_size < (run / "checkpoint.pt").stat().st_size / 5
    assert _same_rows(ref.curve(entry), res["curve"])
    assert ref.eval_rows(entry) == json.loads(json.dumps(res["eval_rows"]))
    trained = TrainConfig.from_json(res["config"])
    assert entry.config() == trained.replace(output=OutputConfig())
    # found by instance, also with an override equal to the preset's value
    assert ref.find(algo, "small", {"num_nodes": 3}, 0, options={**TINY, **kw}) == entry
    with pytest.raises(LookupError, match=f"{algo} small  seed 0"):
        ref.find(algo, "small", {}, 1, options=entry.options)
    with pytest.raises(LookupError, match="options"):
        ref.find(algo, "small", {}, 0)  # default options: not this tiny run
    policy = ref.load_reference(algo, "small", None, 0, options=entry.options)
    assert policy.learner.predictor is None and policy.learner.buffer.capacity == 1
    row = _evaluate(entry, policy)
    for key in ("qos_infeasible_pbs", "undelivered_pbs", "requested_pbs", "migrations"):
        assert row[key] == recorded[key]
    for key in ("return", "total_delay_s", "migration_delay_s", "broadcast_delay_s"):
        assert row[key] == pytest.approx(recorded[key], rel=1e-9)
    # exporting again replaces the entry
    assert export_run(run, check=False) == entry and ref.available() == [entry]


def test_stale_entries_are_detected_and_load_with_a_warning(tmp_path, ref_dir):
    run, _ = _run(tmp_path, "qmix-da")
    entry = export_run(run, check=False)
    assert ref.current_config(entry).digest() == entry.digest
    # as if a default had changed since the export: the recorded digest is another config's
    index = json.loads((ref_dir / ref.INDEX).read_text())
    index["entries"][0]["digest"] = TrainConfig().replace(storage_cost=1.0).digest()
    (ref_dir / ref.INDEX).write_text(json.dumps(index))
    (stale,) = ref.available()
    assert not ref.is_current(stale)
    with pytest.warns(ref.StaleReferenceWarning, match=stale.name):
        ref.load_reference("qmix-da", "small", {}, 0, options=entry.options)
    with pytest.raises(ValueError, match="another config"):
        ref.load_reference("qmix-da", "small", {}, 0, options=entry.options, strict=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ref.load_entry(stale)  # loading an entry as it is never warns


def test_export_refuses_unfinished_runs(tmp_path, ref_dir):
    run, res = _run(tmp_path, "maasn-da")
    (run / "result.json").write_text(json.dumps({**res, "curve": res["curve"][:2]}, default=str))
    with pytest.raises(ValueError, match="2 of 3 episodes"):
        export_run(run)
    with pytest.raises(ValueError, match="not a finished"):
        export_run(tmp_path / "nothing")
    assert ref.available() == []


def test_build_trains_resumes_and_exports(tmp_path, ref_dir, monkeypatch, capsys):
    import agents.reference.export as export_mod

    runs = tmp_path / "runs"
    argv = ["build", "--algos", "qmix-da", "--seeds", "0-1", "--scenario", "small"]
    argv += ["--episodes", "2", "--runs", str(runs), "--quiet"]
    argv += [x for k, v in TINY.items() for x in ("--hp", f"{k}={json.dumps(v)}")]
    assert ref_main(argv) == 0
    entries = ref.available()
    assert [(e.algo, e.seed, e.episodes) for e in entries] == [("qmix-da", 0, 2), ("qmix-da", 1, 2)]
    assert "[2/2] qmix-da seed 1" in capsys.readouterr().out

    def no_training(cfg):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(export_mod, "train", no_training)
    again = build(["qmix-da"], [1], "small", 2, runs, hp=TINY, progress=False)
    assert again == entries[1:]
    assert ref_main(["list"]) == 0
    listed = capsys.readouterr().out
    assert listed.count("current") == 2
    assert "qmix-da small seed 1, 2 episodes in " in listed  # the curve's wall time
    assert ref_main(["export", str(tmp_path / "nothing")]) == 2
    assert parse_seeds(["0-2", "5,7"]) == [0, 1, 2, 5, 7]


def test_the_index_needs_no_torch(tmp_path):
    """Benchmarks read the index while building grids: no torch import."""
    folder = tmp_path / "reference"
    folder.mkdir()
    entry = ref.ReferenceEntry(
        name="maasn-da-paper-seed0-x",
        algo="maasn-da",
        scenario="paper",
        overrides={},
        seed=0,
        episodes=600,
        options={},
        digest=TrainConfig().replace(seed=0).digest(),
        episode_return=-1.0,
        total_delay_s=1.0,
        qos_infeasible_pbs=0,
        undelivered_pbs=0,
    )
    (folder / ref.INDEX).write_text(json.dumps({"schema": 1, "entries": [entry.to_json()]}))
    code = (
        "import sys; import agents.reference as r; from pathlib import Path; "
        f"r.REFERENCE_DIR = Path({str(folder)!r}); (e,) = r.available(); "
        "assert r.find('maasn-da', 'paper', {'num_nodes': 6}, 0) == e and r.is_current(e); "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    root = Path(__file__).resolve().parent.parent
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)


@pytest.mark.parametrize("entry", SHIPPED, ids=lambda e: e.name)
def test_shipped_policy_reproduces_its_recorded_numbers(entry):
    row = _evaluate(entry, ref.load_entry(entry))
    assert (row["qos_infeasible_pbs"], row["undelivered_pbs"]) == (
        entry.qos_infeasible_pbs,
        entry.undelivered_pbs,
    )
    assert row["return"] == pytest.approx(entry.episode_return, rel=1e-6)
    assert row["total_delay_s"] == pytest.approx(entry.total_delay_s, rel=1e-6)


@pytest.mark.parametrize("entry", SHIPPED, ids=lambda e: e.name)
def test_shipped_policy_is_current(entry):
    """A changed default (or config schema) makes the shipped policies stale: retrain them
    (``python -m agents.reference build ...``)."""
    assert ref.is_current(entry), f"{entry.name} is stale"


def test_benchmarks_find_and_evaluate_reference_policies(tmp_path, ref_dir):
    """The bench's lookup (``reference_seeds``) and evaluation (``reference_rows``) through this
    API. The tiny run is listed as if trained with the defaults (its options dropped)."""
    from benchmarks import methods

    run, res = _run(tmp_path, "qmix-da")
    export_run(run, check=False)
    assert methods.reference_seeds("qmix-da", "small", {}) == ()  # tiny options: not defaults
    index = json.loads((ref_dir / ref.INDEX).read_text())
    index["entries"][0]["options"] = {}
    (ref_dir / ref.INDEX).write_text(json.dumps(index))
    assert methods.reference_seeds("qmix-da", "small", {"num_nodes": 3}) == (0,)
    assert methods.reference_seeds("maasn-da", "small", {}) == ()
    with pytest.warns(ref.StaleReferenceWarning):  # its config is not the defaults'
        (row,) = methods.reference_rows("qmix-da", "small", {}, 0, cache=tmp_path / "bench")
    recorded = res["eval_rows"][0]
    assert row["episodes"] == 3
    assert (row["qos_infeasible_pbs"], row["undelivered_pbs"]) == (
        recorded["qos_infeasible_pbs"],
        recorded["undelivered_pbs"],
    )
    assert row["total_delay_s"] == pytest.approx(recorded["total_delay_s"], rel=1e-9)

    # a retrained policy keeps its name and digest: the cached evaluation and the bench cell
    # key on its fingerprint, so neither serves the old policy's result
    from benchmarks.estimate import collect, work_of
    from benchmarks.runner import cell_key

    spec = {
        "figure": "fig8",
        "method": "qmix-da",
        "seed": 0,
        "scenario": "small",
        "overrides": {},
        "policy": "reference",
    }
    defaults = methods.train_defaults_digest()
    entry = ref.available()[0]
    before = (entry.fingerprint, cell_key(spec, defaults))
    evals = sorted((tmp_path / "bench" / "_evals").glob("ref-*.json"))
    saved = torch.load(entry.path / ref.POLICY, weights_only=False)
    for t in saved["modules"]["q"].values():
        t.add_(1.0)
    torch.save(saved, entry.path / ref.POLICY)
    after = (entry.fingerprint, cell_key(spec, defaults))
    assert before[0] != after[0] and before[1] != after[1]
    assert cell_key(spec, defaults) == after[1]  # stable
    with pytest.warns(ref.StaleReferenceWarning):
        methods.reference_rows("qmix-da", "small", {}, 0, cache=tmp_path / "bench")
    assert len(sorted((tmp_path / "bench" / "_evals").glob("ref-*.json"))) == len(evals) + 1
    # the estimate counts only the current policy's cell as done
    cells = tmp_path / "est" / "fig8" / "cells"
    cells.mkdir(parents=True)
    for key, wall in ((before[1], 1.0), (after[1], 2.0)):
        payload = {"figure": "fig8", "spec": spec, "key": key, "rows": [], "wall_s": wall}
        (cells / f"{key}.json").write_text(json.dumps(payload))
    work = work_of("fig8", spec, after[1])
    assert collect(tmp_path / "est", {work.key: work})[work.key].cost_s == 2.0
    (cells / f"{after[1]}.json").unlink()
    assert work.key not in collect(tmp_path / "est", {work.key: work})
    # no such policy: the key says so, and the cell fails only when it runs
    assert cell_key({**spec, "seed": 7}, defaults) != cell_key({**spec, "seed": 8}, defaults)
