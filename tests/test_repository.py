"""AI-model repository: published parameter counts, block granularity, sharing structure, K."""

import csv
from collections import Counter

import numpy as np
import pytest

import fgamcd_env
from fgamcd_env.core.repository import base_architecture, build_repository, frozen_blocks_for_ratio
from fgamcd_env.data import make_tables

PUBLISHED = {
    "resnet18": 11_689_512,
    "mobilenet_v2": 3_504_872,
    "inception_v3": 23_834_568,  # torchvision, without the auxiliary head
    "llama2_7b": 6_738_415_616,
    "llama2_13b": 13_015_864_320,
}


def _totals(path):
    out = Counter()
    with path.open() as fh:
        for row in csv.DictReader(fh):
            out[row["base"]] += int(row["params"])
    return out


def test_shipped_tables_match_published_totals():
    totals = _totals(make_tables.CNN_FILE) + _totals(make_tables.LLM_FILE)
    assert dict(totals) == PUBLISHED


def test_inception_with_aux_head_matches_published_total():
    assert sum(r[-1] for r in make_tables.inception_v3(aux_logits=True)) == 27_161_264


def test_shipped_tables_are_what_the_script_writes(tmp_path):
    for rows, shipped in (
        (make_tables.cnn_rows(), make_tables.CNN_FILE),
        (make_tables.llm_rows(), make_tables.LLM_FILE),
    ):
        out = tmp_path / shipped.name
        make_tables.write(out, rows)
        assert out.read_text() == shipped.read_text()


def test_block_granularity():
    counts = {
        b: len(base_architecture("cnn", b, 5).block_params)
        for b in ("inception_v3", "resnet18", "mobilenet_v2")
    }
    assert counts == {"inception_v3": 17, "resnet18": 10, "mobilenet_v2": 20}
    inc = base_architecture("cnn", "inception_v3", 5)
    assert inc.block_names[-2:] == ("Mixed_7c", "fc")
    assert (
        inc.block_params[-2] == 6_076_800
    )  # Mixed_7c: 24.31 MB in float32, the paper's largest PB
    assert inc.block_params[-1] == 2048 * 5 + 5  # 5-class head
    assert inc.block_params[0] == 928  # Conv2d_1a_3x3: 3.71 KB, the paper's smallest PB


def test_paper_repository_has_k_450_and_paper_size_range():
    rep = build_repository(fgamcd_env.get_config("paper").repository)
    assert rep.num_models == 60 and rep.num_pbs == 450
    assert rep.frozen_blocks == (12, 7, 16)
    assert 3.5e3 <= rep.pb_sizes_bytes.min() <= 3.8e3
    assert rep.pb_sizes_bytes.max() == 24_307_200
    # K = sum_b g*P + (m - g)*(P - L)
    expected = sum(6 * p + 14 * (p - f) for p, f in zip((17, 10, 20), (12, 7, 16), strict=True))
    assert expected == 450


def test_reuse_ratio_knob_picks_nearest_prefix():
    inc = base_architecture("cnn", "inception_v3", 5)
    assert frozen_blocks_for_ratio(inc, 0.3341) == 12  # 31.31 % is nearer than 41.14 %
    assert frozen_blocks_for_ratio(inc, 0.0) == 0
    assert frozen_blocks_for_ratio(inc, 0.99) == 16  # the head is never frozen
    rep = build_repository(fgamcd_env.get_config("paper").repository)
    assert rep.reuse_ratios[0] == pytest.approx(inc.reuse_share(12))


def test_sharing_structure():
    rep = build_repository(fgamcd_env.get_config("paper").repository)
    parent = rep.model_parent
    for j, pbs in enumerate(rep.model_pbs):
        b = rep.model_base[j]
        frozen = rep.frozen_blocks[b]
        assert len(pbs) == (17, 10, 20)[b]
        assert np.all(rep.pb_base[pbs] == b)
        sizes = rep.pb_sizes_bytes[pbs]
        arch = base_architecture("cnn", rep.config.bases[b], 5)
        np.testing.assert_array_equal(sizes, 4 * np.array(arch.block_params))
        if parent[j] >= 0:
            np.testing.assert_array_equal(pbs[:frozen], rep.model_pbs[parent[j]][:frozen])
            assert not set(pbs[frozen:]) & set(rep.model_pbs[parent[j]])
        else:
            assert rep.pb_share_count[pbs].min() >= 1
    # Every model has its own head; the first three models are Inception-v3 (the paper's Fig. 5)
    heads = [pbs[-1] for pbs in rep.model_pbs]
    assert len(set(heads)) == 60
    assert all(n.startswith("inception_v3/") for n in rep.model_names[:3])
    assert rep.model_parent[:3].tolist() == [-1, 0, 0]
    assert rep.model_sizes_bytes.sum() > rep.pb_sizes_bytes.sum()  # sharing saves storage


def test_zero_reuse_is_coarse_grained():
    cfg = fgamcd_env.get_config("paper").repository.replace(reuse_ratios=(0.0, 0.0, 0.0))
    rep = build_repository(cfg)
    assert rep.num_pbs == 20 * (17 + 10 + 20)
    assert np.all(rep.pb_share_count == 1)


def test_llm_repository():
    rep = build_repository(fgamcd_env.get_config("llm").repository)
    assert rep.num_models == 20 and rep.num_pbs == 285
    assert rep.frozen_blocks == (29, 36)  # embeddings + first 28 / 35 decoder layers
    # fp16 sizes: a Llama-2-7B decoder layer has 202,383,360 parameters
    layer = rep.model_pbs[0][1]
    assert rep.pb_sizes_bytes[layer] == 2 * 202_383_360
    assert rep.model_sizes_bytes[0] == 2 * 6_738_415_616
    # every 7B model shares the embedding and 28 layers of its stage-1 model
    seven = [j for j in range(20) if rep.model_base[j] == 0]
    assert len(seven) == 8
    assert len({tuple(rep.model_pbs[j][:29]) for j in seven}) == 1


def test_small_repository():
    rep = build_repository(fgamcd_env.get_config("small").repository)
    assert rep.num_models == 6 and rep.num_pbs == 2 * 10 + 4 * 3
