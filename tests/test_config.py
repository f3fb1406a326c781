"""Configuration: validation names the field, overrides are checked, presets are consistent."""

import dataclasses

import pytest

import fgamcd_env
from fgamcd_env import RepositoryConfig, ScenarioConfig


def test_paper_preset_is_table_ii():
    c = fgamcd_env.get_config("paper")
    assert (c.num_nodes, c.num_users, c.num_antennas) == (6, 30, 20)
    assert c.repository.num_models == 60
    assert c.storage_bytes == 1.25e9
    assert (c.qos_min_bps, c.qos_max_bps) == (5e9, 7e9)
    assert (c.ref_gain_db, c.pathloss_exponent, c.noise_dbm) == (-30.0, 3.0, -80.0)
    assert (c.csi_error_shape, c.bandwidth_hz, c.p_max_dbm) == (1e10, 400e6, 43.0)
    assert (c.backhaul_min_bps, c.backhaul_max_bps) == (8e9, 12e9)
    assert (c.penalty_qos, c.penalty_no_delivery, c.rician_factor) == (10.0, 10.0, 3.0)
    assert (c.zipf_exponent, c.visibility_radius_m) == (0.5, 500.0)
    assert c.p_max_w == pytest.approx(19.9526, rel=1e-4)  # 43 dBm
    assert c.noise_w == pytest.approx(1e-11)  # -80 dBm
    assert c.ref_gain == pytest.approx(1e-3)
    from agents.config import TrainConfig  # Table II's learning values (no torch needed)

    tc = TrainConfig()
    assert (tc.paper.discount, tc.run.episodes, tc.paper.budget_period) == (0.95, 600, 10)
    assert (tc.paper.tau0, tc.paper.xi, tc.paper.budget_decay) == (0.8, 1.12, 0.8)


def test_configs_are_frozen():
    c = fgamcd_env.get_config("paper")
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.num_nodes = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("num_nodes", 0),
        ("num_users", -1),
        ("num_antennas", 2.5),
        ("storage_bytes", -1.0),
        ("bandwidth_hz", float("nan")),
        ("qos_min_bps", 8e9),  # above qos_max_bps
        ("backhaul_min_bps", 13e9),
        ("zipf_exponent", -0.1),
        ("user_max_distance_m", 600.0),  # cells no longer fit in the 1 km area
        ("user_min_distance_m", 100.0),  # not below the max distance
        ("noise_dbm", float("inf")),
        ("num_nodes", True),
    ],
)
def test_bad_value_names_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        fgamcd_env.get_config("paper", **{field: value})


def test_unknown_override_key_is_an_error():
    with pytest.raises(ValueError, match="num_nodez"):
        fgamcd_env.make_scenario("small", seed=0, num_nodez=4)
    with pytest.raises(ValueError, match=r"\['reuse_ratio'\]"):
        fgamcd_env.get_config("paper", repository={"reuse_ratio": (0.1, 0.1, 0.1)})


def test_unknown_preset_is_an_error():
    with pytest.raises(ValueError, match="presets"):
        fgamcd_env.get_config("papr")


def test_repository_override_by_dict():
    c = fgamcd_env.get_config("paper", repository={"reuse_ratios": (0.0, 0.0, 0.0)})
    assert c.repository.reuse_ratios == (0.0, 0.0, 0.0)
    assert c.repository.bases == fgamcd_env.get_config("paper").repository.bases


def test_json_lists_become_tuples_so_configs_hash():
    # `--set 'repository={"reuse_ratios": [0.2, 0.2, 0.2]}'` arrives as lists
    c = fgamcd_env.get_config("paper", repository={"reuse_ratios": [0.2, 0.2, 0.2]})
    assert c == fgamcd_env.get_config("paper", repository={"reuse_ratios": (0.2, 0.2, 0.2)})
    assert c.repository.reuse_ratios == (0.2, 0.2, 0.2) and hash(c) is not None
    assert fgamcd_env.make_scenario(c, seed=0).num_pbs > 0  # the repository cache hashes it


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"kind": "rnn"}, "kind"),
        ({"bases": ("vgg16", "resnet18", "mobilenet_v2")}, "bases"),
        ({"models_per_base": (20, 20)}, "models_per_base"),
        ({"stage1_models": (0, 6, 6)}, "stage1_models"),
        ({"stage1_models": (21, 6, 6)}, "stage1_models"),
        ({"reuse_ratios": (1.0, 0.2, 0.2)}, "reuse_ratios"),
        ({"frozen_blocks": (1, 1, 1)}, "reuse_ratios"),  # both knobs set
        ({"reuse_ratios": None}, "reuse_ratios"),  # neither set
        ({"num_classes": 1}, "num_classes"),
        ({"bytes_per_param": 3}, "bytes_per_param"),
    ],
)
def test_repository_validation(overrides, field):
    with pytest.raises(ValueError, match=field):
        RepositoryConfig().replace(**overrides)


def test_users_per_node_pads():
    assert ScenarioConfig(num_nodes=4, num_users=18).users_per_node == 5
    assert ScenarioConfig(num_nodes=6, num_users=30).users_per_node == 5


@pytest.mark.parametrize("name", sorted(fgamcd_env.PRESETS))
def test_every_preset_draws(name):
    sc = fgamcd_env.make_scenario(name, seed=3)
    assert sc.config.name == name
    assert sc.num_pbs == sc.repository.num_pbs > 0
