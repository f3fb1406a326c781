"""``benchmarks.interop_small``: the results table of ``docs/interop.md`` and how it is made."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from benchmarks import interop_small as bench

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "docs" / "interop" / "results"
PAGE = ROOT / "docs" / "interop.md"


def _record(library: str = "TorchRL", seed: int = 0, ret: float = -80.0) -> dict:
    episode = {"return": ret, "total_delay_s": 0.1, "qos_infeasible": 8, "no_delivery": 0}
    episode["shaped_return"] = ret / 2
    return {
        "library": library,
        "version": "1.0",
        "algorithm": "PPO",
        "command": f"python examples/x.py --seed {seed}",
        "scenario": "small",
        "instance_seed": 0,
        "seed": seed,
        "reward": "learning",
        "observed_demand_only": True,
        "env_steps": 320,
        "train_seconds": 60.0,
        "greedy": episode,
        "random": {**episode, "return": -200.0},
    }


def test_committed_results_are_the_examples_on_small_with_the_learning_reward() -> None:
    records = bench.load_results(RESULTS)
    assert {r["library"] for r in records} == set(bench.LIBRARIES)
    for rec in records:
        assert (rec["scenario"], rec["instance_seed"]) == ("small", 0)
        assert rec["reward"] == "learning" and rec["observed_demand_only"] is True
        assert f"--seed {rec['seed']} " in rec["command"]
        assert set(rec["greedy"]) >= set(bench.EPISODE_KEYS)


def test_page_table_is_what_the_command_writes() -> None:
    """``python -m benchmarks.interop_small --results docs/interop/results --write
    docs/interop.md`` leaves the page as it is committed."""
    assert bench.generated(PAGE) == bench.section(bench.load_results(RESULTS))


def test_learner_rows_average_over_training_seeds(tmp_path) -> None:
    for seed, ret in ((1, -90.0), (0, -80.0)):
        (tmp_path / f"torchrl_seed{seed}.json").write_text(json.dumps(_record(seed=seed, ret=ret)))
    (tmp_path / "tianshou_seed0.json").write_text(json.dumps(_record("tianshou", ret=-100.0)))
    records = bench.load_results(tmp_path)
    assert [(r["library"], r["seed"]) for r in records] == [
        ("tianshou", 0),
        ("TorchRL", 0),
        ("TorchRL", 1),
    ]
    rows = bench.learner_rows(records)
    assert [(r["n"], r["return"]) for r in rows] == [(1, -100.0), (2, -85.0)]
    assert rows[1]["return_std"] == pytest.approx(50**0.5)
    text = bench.markdown(rows)
    row = "| TorchRL 1.0: PPO, greedy (mean ± std, 2 training seeds) | 320 | -85.000 ± 7.071 |"
    assert row in text
    runs = bench.runs(records).splitlines()
    assert len(runs) == 2 + 3
    assert runs[-1].startswith(
        "| TorchRL, seed 1 | -90.000 | 0.1000 | 8.0 | 0.0 | -45.000 | 320 (10) |"
    )
    assert runs[-1].endswith("| 1.0 min | `python examples/x.py --seed 1` |")


def test_section_refuses_results_of_another_instance() -> None:
    other = copy.deepcopy(_record())
    other["instance_seed"] = 1
    with pytest.raises(ValueError, match="trained on small seed 1"):
        bench.section([other])


def test_write_replaces_only_between_the_markers(tmp_path) -> None:
    page = tmp_path / "page.md"
    page.write_text(f"# Title\n\n{bench.BEGIN}\nold\n{bench.END}\n\nafter\n")
    bench.write(page, "new\ntable")
    assert page.read_text() == f"# Title\n\n{bench.BEGIN}\nnew\ntable\n{bench.END}\n\nafter\n"
    assert bench.generated(page) == "new\ntable"
    page.write_text(f"no markers\n{bench.END}\n")
    with pytest.raises(ValueError, match="needs one line"):
        bench.write(page, "x")
    with pytest.raises(FileNotFoundError, match=r"no \*\.json"):
        bench.load_results(tmp_path)
