"""Agents: networks against hand computations, augmentation rules (17)-(18), the ESN, replay,
training smoke runs of every variant, exact resume, the CLI and policy loading."""

from __future__ import annotations

import copy
import csv
import dataclasses
import json
import math
import signal
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from agents.augment import ESN, accept, select_synthetic, spectral_norm, synthetic_budget
from agents.cli import main as train_main
from agents.config import TrainConfig
from agents.learner import Dims
from agents.networks import ActionSemanticsActor, GroupLinear, QMixer, gumbel_binary, soft_update
from agents.policy import build_learner, load_policy, make_policy, unpack_obs
from agents.qmix import index_to_bits, joint_masks
from agents.replay import ReplayBuffer
from agents.train import TrainingInterrupted, make_env, train
from baselines.evaluate import evaluate
from baselines.methods import BASELINES
from fgamcd_env.core.observation import observed_demand
from fgamcd_env.core.reward import LEARNING_REWARD
from fgamcd_env.env import FGAMCDParallelEnv

# Tiny learners so a training run takes a second or two.
TINY = dict(
    scenario="small",
    episodes=3,
    progress=False,
    batch_size=16,
    updates_per_episode=2,
    esn_reservoir=32,
    actor_hidden=(16, 8),
    mlp_actor_hidden=(16, 16),
    critic_hidden=(16, 16),
    mixer_embed=8,
    hyper_hidden=8,
    qmix_hidden=8,
    aug_epochs=1,
    checkpoint_every=1,
)


# ---- config ---------------------------------------------------------------------------------
def test_config_rejects_unknown_and_bad_values():
    with pytest.raises(ValueError, match="unknown TrainConfig field"):
        TrainConfig().replace(tau_0=0.5)
    with pytest.raises(ValueError, match="unknown TrainConfig field"):
        TrainConfig().replace(**{"optim.tau0": 0.5})  # tau0 is in "paper"
    with pytest.raises(ValueError, match="augmentation"):
        TrainConfig().replace(augmentation="vae")
    with pytest.raises(ValueError, match="esn_spectral_radius"):
        TrainConfig().replace(esn_spectral_radius=0.6)
    with pytest.raises(ValueError, match="switches apply to maasn-da only"):
        TrainConfig().replace(algo="qmix-da", actor="mlp")
    with pytest.raises(ValueError, match="switches apply to maasn-da only"):
        TrainConfig().replace(algo="qmix-da", exploration="node")  # QMIX-DA explores by node
    with pytest.raises(ValueError, match="exploration"):
        TrainConfig().replace(exploration="gaussian")
    with pytest.raises(ValueError, match="given twice"):
        TrainConfig().replace(seed=1, **{"run.seed": 2})
    with pytest.raises(ValueError, match="unknown OptimConfig field"):
        TrainConfig().replace(optim={"batch": 3})
    with pytest.raises(ValueError, match=r"RewardConfig\.clip"):
        TrainConfig().replace(clip=-1.0)
    with pytest.raises(ValueError, match="select_every"):
        TrainConfig().replace(select_every=-1)
    with pytest.raises(ValueError, match="learner_seed"):
        TrainConfig().replace(learner_seed=-1)
    with pytest.raises(ValueError, match="migration_weight"):
        TrainConfig().replace(migration_weight=0.0)
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig().replace(batch_size=2.5)
    with pytest.raises(ValueError, match="episodes"):
        TrainConfig().replace(episodes=float("inf"))
    with pytest.raises(ValueError, match="seed"):
        TrainConfig().replace(seed=-1)
    with pytest.raises(ValueError, match="placement"):
        TrainConfig().replace(placement="lru")


def test_config_fields_by_own_or_dotted_name():
    from agents.config import FLAT_NAMES, GROUPS, OptimConfig

    cfg = TrainConfig()
    assert cfg.replace(batch_size=64) == cfg.replace(**{"optim.batch_size": 64})
    assert cfg.replace(batch_size=64).optim == OptimConfig(batch_size=64)
    assert cfg.replace(optim={"batch_size": 64}) == cfg.replace(batch_size=64)
    # a reward term by its own name, or under env.reward
    a = cfg.replace(storage_cost=0.5, clip=3.0)
    assert a == cfg.replace(**{"env.reward.storage_cost": 0.5, "reward.clip": 3.0})
    assert a.env.reward == LEARNING_REWARD.replace(storage_cost=0.5, clip=3.0)
    assert cfg.replace(reward="paper").env.reward.is_paper
    assert cfg.replace(reward={"clip": 3.0}).env.reward == LEARNING_REWARD.replace(clip=3.0)
    # every leaf has exactly one own name
    flat = cfg.flat()
    assert set(flat) == set(FLAT_NAMES) - {"reward"}
    n_fields = sum(len(dataclasses.fields(g)) for g in GROUPS.values())
    assert len(FLAT_NAMES) == n_fields + len(dataclasses.fields(LEARNING_REWARD))
    b = cfg.replace(algo="qmix-da", episodes=50, storage_cost=1.0, actor_hidden=[8, 4])
    assert b.changes() == {
        "algo": "qmix-da",
        "episodes": 50,
        "storage_cost": 1.0,
        "actor_hidden": (8, 4),
    }
    assert cfg.replace(**b.changes()) == b
    assert b.rng_seed == 0 and b.replace(learner_seed=3).rng_seed == 3


def test_config_label_and_digest():
    assert TrainConfig().label == "maasn-da"
    assert TrainConfig().replace(actor="mlp", augmentation="none").label == (
        "maasn-da[actor=mlp;augmentation=none]"
    )
    assert TrainConfig().replace(tau0=0.9, xi=1.2).label == "maasn-da[tau0=0.9,xi=1.2]"
    assert TrainConfig().replace(placement="trimcaching").label == (
        "maasn-da[placement=trimcaching]"
    )
    a = TrainConfig().replace(out="x", progress=False, resume=True, checkpoint_every=3)
    assert a.digest() == TrainConfig().replace(out="y").digest()  # output is not hashed
    for change in (
        {"seed": 1},
        {"select_every": 5},
        {"learner_seed": 1},
        {"exploration": "node"},
        {"migration_weight": 2.0},
        {"torch_threads": 2},
        {"compile": True},
        {"placement": "trimcaching"},
    ):
        assert TrainConfig().replace(**change).digest() != a.digest(), change
    # an int where the field is a float is the same config (e.g. --hp delay_weight=300)
    b = TrainConfig().replace(delay_weight=300, discount=1 - 0.5)
    assert b.digest() == TrainConfig().replace(delay_weight=300.0, discount=0.5).digest()
    assert b.env.reward.delay_weight == 300.0 and isinstance(b.paper.discount, float)
    c = TrainConfig().replace(episodes=30.0, batch_size=64.0)  # and an integral float an int
    assert c.digest() == TrainConfig().replace(episodes=30, batch_size=64).digest()
    assert isinstance(c.run.episodes, int) and isinstance(c.optim.batch_size, int)
    assert TrainConfig.from_json(json.loads(json.dumps(a.to_json()))) == a
    assert a.output.out == Path("x")


def test_schema_version_is_hashed_and_older_configs_convert(monkeypatch):
    import agents.config as config_mod

    cfg = TrainConfig().replace(seed=3)
    assert cfg.to_json()["schema"] == config_mod.SCHEMA_VERSION == 2
    digest = cfg.digest()
    monkeypatch.setattr(config_mod, "SCHEMA_VERSION", 3)
    assert cfg.digest() != digest  # a new layout never reuses an old cache entry
    monkeypatch.undo()
    newer = {**cfg.to_json(), "schema": 3}
    with pytest.raises(ValueError, match="schema 3"):
        TrainConfig.from_json(newer)
    with pytest.raises(ValueError, match="unknown TrainConfig group"):
        TrainConfig.from_json({**cfg.to_json(), "rewards": {}})
    # schema 1: the flat layout, as fgamcd-train wrote it before the groups
    old = dict(SCHEMA1_QMIX)
    got = TrainConfig.from_json(old)
    assert got == TrainConfig().replace(
        algo="qmix-da", scenario="small", seed=3, out="runs/x", learner_seed=None
    )
    # fields the oldest configs lack get the values those runs trained with
    for name in ("select_every", "migration_weight", "exploration", "cache_observed_demand_only"):
        del old[name]
    got = TrainConfig.from_json({**old, "algo": "maasn-da"})
    assert (got.run.select_every, got.env.reward.migration_weight) == (0, 1.0)
    assert (got.explore.exploration, got.env.observed_demand_only) == ("bit", False)
    with pytest.raises(ValueError, match="unknown TrainConfig field"):
        TrainConfig.from_json({**old, "reward_sclae": 0.1})


# as TrainConfig(algo="qmix-da", scenario="small", seed=3, out="runs/x").to_json() of schema 1
SCHEMA1_QMIX = json.loads(
    '{"algo": "qmix-da", "scenario": "small", "overrides": {}, "env_kwargs": {}, "beamformer": '
    '"fast", "episodes": 600, "seed": 3, "eval_seeds": null, "out": "runs/x", "progress": true, '
    '"resume": false, "checkpoint_every": 50, "tensorboard": false, "actor": "action_semantics", '
    '"critic": "value_decomposition", "augmentation": "esn", "discount": 0.95, "tau0": 0.8, "xi": '
    '1.12, "budget_decay": 0.8, "budget_period": 10, "actor_hidden": [128, 64], '
    '"mlp_actor_hidden": [256, 256], "critic_hidden": [256, 256], "mixer_embed": 32, '
    '"hyper_hidden": 64, "esn_reservoir": 1024, "esn_spectral_radius": 0.45, "esn_input_scale": '
    '0.45, "esn_ridge": 0.01, "qmix_hidden": 64, "lr_actor": 0.0001, "lr_critic": 0.001, '
    '"batch_size": 128, "buffer_size": 100000, "updates_per_episode": 40, "target_tau": 0.005, '
    '"reward_scale": 0.1, "storage_cost": 10.0, "storage_cost_unrequested_only": false, '
    '"cache_observed_demand_only": true, "charge_all_migrations": true, "delay_weight": 1000.0, '
    '"migration_weight": 5.0, "reward_clip": 5.0, "undelivered_at_floor": true, "clip_target": '
    'true, "prune_migrations": false, "temperature_start": 1.0, "temperature_end": 0.1, '
    '"semantic_logit_scale": 5.0, "epsilon_start": 1.0, "epsilon_end": 0.05, "exploration": '
    '"bit", "grad_clip": 10.0, "logit_l2": 0.001, "cgan_noise": 16, "aug_epochs": 2, '
    '"torch_threads": 1, "select_every": 0}'
)


def test_prune_migrations_switch_reaches_training_and_evaluation_envs():
    from agents.policy import LearnedPolicy

    with pytest.raises(ValueError, match="prune_migrations"):
        TrainConfig().replace(prune_migrations="yes")
    for prune in (False, True):
        env = make_env(TrainConfig().replace(**{**TINY, "prune_migrations": prune}))
        assert env.prune_migrations is prune
        policy = make_policy("maasn-da", env, **{**TINY, "prune_migrations": prune})
        assert isinstance(policy, LearnedPolicy)
        assert policy.env_kwargs["prune_migrations"] is prune
    # an explicit env keyword wins over the switch
    cfg = TrainConfig().replace(prune_migrations=True, env_kwargs={"prune_migrations": False})
    assert make_env(cfg.replace(scenario="small")).prune_migrations is False


# ---- networks -------------------------------------------------------------------------------
def test_group_linear_is_one_linear_layer_per_agent():
    torch.manual_seed(0)
    layer = GroupLinear(3, 4, 2)
    x = torch.randn(5, 3, 4)
    y = layer(x)
    for g in range(3):
        expect = x[:, g] @ layer.weight[g] + layer.bias[g]
        torch.testing.assert_close(y[:, g], expect)


def test_soft_update_by_hand():
    target, source = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    with torch.no_grad():
        target.weight.fill_(2.0), target.bias.fill_(-1.0)
        source.weight.fill_(6.0), source.bias.fill_(3.0)
    soft_update(target, source, 0.25)  # (1 - tau) target + tau source
    assert torch.all(target.weight == 3.0) and torch.all(target.bias == 0.0)
    assert torch.all(source.weight == 6.0)
    with pytest.raises(ValueError, match="different parameter lists"):
        soft_update(target, torch.nn.Sequential(source, torch.nn.Linear(2, 1)), 0.5)


def test_action_semantics_logits_by_hand():
    torch.manual_seed(1)
    n, block = 3, 4  # o_n = 3 blocks of 4: own block, then m != n in increasing order
    actor = ActionSemanticsActor(n, n * block, block, (6, 5), scale=2.0)
    obs = torch.rand(2, n, n * block)
    out = actor(obs)
    assert out.shape == (2, n, n)

    def mlp(seq, g, x):  # agent g's slice of a group MLP, applied by hand
        h = torch.relu(x @ seq[0].weight[g] + seq[0].bias[g])
        return h @ seq[2].weight[g] + seq[2].bias[g]

    for i in range(n):
        e_own = mlp(actor.own, i, obs[:, i])
        a_logit = e_own @ actor.own_head.weight[i] + actor.own_head.bias[i]
        torch.testing.assert_close(out[:, i, 0], a_logit[:, 0])
        for j in range(n - 1):
            o_oth = obs[:, i, block * (j + 1) : block * (j + 2)]
            e_oth = mlp(actor.other, i, o_oth)
            expect = 2.0 * torch.tanh((e_own * e_oth).sum(-1))
            torch.testing.assert_close(out[:, i, 1 + j], expect)
    assert (out[:, :, 1:] < 0).any()  # migration logits can say "no" (signed embeddings)


def test_group_mlp_matches_per_agent_layers_with_gradients():
    """The group-major MLP (and its width-1 last layer, an element-wise product) is N separate
    MLPs: outputs and every parameter's gradient match agent-by-agent torch.nn.functional."""
    from agents.networks import LocalCritics

    torch.manual_seed(3)
    n, obs_dim = 3, 5
    critic = LocalCritics(n, obs_dim, (7, 4))
    obs, act = torch.rand(6, n, obs_dim), (torch.rand(6, n, n) < 0.5).float()
    q = critic(obs, act)
    assert q.shape == (6, n)
    grads = torch.autograd.grad((q * torch.arange(1.0, 7.0)[:, None]).sum(), critic.parameters())
    layers = [m for m in critic.net if isinstance(m, GroupLinear)]
    for g in range(n):
        w = [layer.weight[g].detach().clone().requires_grad_() for layer in layers]
        b = [layer.bias[g].detach().clone().requires_grad_() for layer in layers]
        x = torch.cat([obs[:, g], act[:, g]], dim=-1)
        h = torch.relu(x @ w[0] + b[0])
        h = torch.relu(h @ w[1] + b[1])
        expect = (h @ w[2] + b[2])[:, 0]
        torch.testing.assert_close(q[:, g], expect)
        ref = torch.autograd.grad((expect * torch.arange(1.0, 7.0)).sum(), w + b)
        got = [grads[2 * i][g] for i in range(3)] + [grads[2 * i + 1][g] for i in range(3)]
        for a, e in zip(got, ref, strict=True):
            torch.testing.assert_close(a, e)


@pytest.mark.parametrize("actor_kind", ["action_semantics", "mlp"])
def test_numpy_acting_path_matches_the_torch_forward(actor_kind):
    """MAASN-DA and QMIX-DA act through numpy copies of their forward passes (one step):
    the same logits / Q-values / GRU states as the torch modules they train."""
    from agents.networks import DRQN, MLPActor

    torch.manual_seed(4)
    n, block = 4, 3
    actor = (
        ActionSemanticsActor(n, n * block, block, (6, 5), scale=2.0)
        if actor_kind == "action_semantics"
        else MLPActor(n, n * block, (6, 5))
    )
    obs = torch.rand(n, n * block)
    np.testing.assert_allclose(
        actor.logits_numpy(obs.numpy()), actor(obs[None])[0].detach().numpy(), atol=1e-5
    )
    # the numpy path follows the weights after in-place updates, loads and copies
    opt = torch.optim.Adam(actor.parameters(), lr=0.1)
    actor(obs[None]).square().sum().backward()
    opt.step()
    twin = copy.deepcopy(actor)
    for p in twin.parameters():
        p.data.mul_(-0.5)
    actor.load_state_dict(twin.state_dict())
    for net in (actor, twin):
        np.testing.assert_allclose(
            net.logits_numpy(obs.numpy()), net(obs[None])[0].detach().numpy(), atol=1e-5
        )
    drqn = DRQN(n, n * block, 8)
    h = torch.randn(n, 8)
    q_ref, h_ref = drqn(obs[None], h[None])
    q, h_next = drqn.step_numpy(obs.numpy(), h.numpy())
    np.testing.assert_allclose(q, q_ref[0].detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(h_next, h_ref[0].detach().numpy(), atol=1e-5)


def test_gumbel_bits_are_the_hard_gumbel_sample():
    """Same generator state: the numpy decisions equal gumbel_binary's, at any temperature."""
    from agents.networks import gumbel_bits

    logits = torch.randn(500, 6, generator=torch.Generator().manual_seed(5)) * 3
    for temperature in (1.0, 0.1):
        ref = gumbel_binary(logits, temperature, torch.Generator().manual_seed(6)) > 0.5
        bits = gumbel_bits(logits.numpy(), torch.Generator().manual_seed(6))
        np.testing.assert_array_equal(bits, ref.numpy())


def test_mixer_is_monotone_in_every_local_q():
    torch.manual_seed(2)
    mixer = QMixer(4, 10, 8, 6)
    qs = torch.randn(64, 4, requires_grad=True)
    mixer(qs, torch.randn(64, 10)).sum().backward()
    assert (qs.grad >= 0).all()


def test_gumbel_binary_is_binary_with_sigmoid_probability_and_gradient():
    logits = torch.tensor([-2.0, 0.0, 1.5]).repeat(20000, 1).requires_grad_()
    gen = torch.Generator().manual_seed(0)
    d = gumbel_binary(logits, 0.5, gen)
    torch.testing.assert_close(d.detach(), d.detach().round())  # 0/1 up to float rounding
    freq = d.detach().round().mean(0).numpy()
    np.testing.assert_allclose(freq, 1 / (1 + np.exp(-np.array([-2.0, 0.0, 1.5]))), atol=0.015)
    d.sum().backward()
    assert logits.grad.abs().sum() > 0


# ---- data augmentation ----------------------------------------------------------------------
def test_learners_train_on_the_envs_reward_and_restrictions():
    """The training env pays the learners' reward (TrainConfig's reward config) and applies
    their observed-demand restriction; each recorded reward is the env's reward of the step."""
    from agents.train import run_episode

    cfg = TrainConfig().replace(**TINY, storage_cost=0.5, observed_demand_only=True)
    env = make_env(cfg)
    assert env.reward_config == cfg.env.reward and env.observed_demand_only
    assert cfg.env.reward.storage_cost == 0.5 and not cfg.env.reward.is_paper
    learner = build_learner(cfg, Dims.of(env), np.random.default_rng(0))
    run_episode(env, learner, 0, True, cfg.run.seed)
    replay = make_env(cfg)
    replay.reset(seed=cfg.run.seed)
    for t in learner._episode:
        act = t["act"].astype(int)
        _, rew, _, _, infos = replay.step({a: act[i] for i, a in enumerate(replay.agents)})
        assert t["rew"] == np.float32(rew["edge_0"])
        assert infos["edge_0"]["shaped"]["reward"] == rew["edge_0"]
    plain = make_env(cfg.replace(observed_demand_only=False))
    assert not plain.observed_demand_only


def test_cache_permissions_apply_the_restriction_in_any_env():
    """A policy with the observed-demand restriction keeps it in an env built without it."""
    from agents.learner import cache_permissions

    bare = FGAMCDParallelEnv("paper", seed=1, max_cycles=30)
    masked = FGAMCDParallelEnv("paper", seed=1, max_cycles=30, observed_demand_only=True)
    bare.reset(seed=0)
    masked.reset(seed=0)
    differ = False
    while bare.agents:
        np.testing.assert_array_equal(cache_permissions(bare, True), masked.cache_allowed())
        np.testing.assert_array_equal(cache_permissions(bare, False), bare.cache_allowed())
        differ |= bool((bare.cache_allowed() != masked.cache_allowed()).any())
        act = {a: np.ones(6, dtype=int) for a in bare.agents}
        bare.step(act)
        masked.step(act)
    assert differ


def test_synthetic_budget_closed_form():
    assert synthetic_budget(0, 450, 0.8, 0.8, 10) == 360
    assert synthetic_budget(9, 450, 0.8, 0.8, 10) == 360
    assert synthetic_budget(10, 450, 0.8, 0.8, 10) == 288
    assert synthetic_budget(25, 450, 0.8, 0.8, 10) == math.floor(360 * 0.64)  # 230
    assert synthetic_budget(3, 32, 0.0, 0.8, 10) == 0


def test_acceptance_and_selection():
    real = np.zeros((5, 2))
    # error norms 0.5, 1, 5, 1.2, 1
    pred = np.array([[0.3, 0.4], [1.0, 0.0], [3.0, 4.0], [0.0, 1.2], [0.6, 0.8]])
    np.testing.assert_array_equal(accept(pred, real, 1.12), [True, True, False, False, True])
    rng = np.random.default_rng(0)
    picked = select_synthetic(pred, real, 1.12, 2, rng)
    assert len(picked) == 2 and set(picked) <= {0, 1, 4}
    assert len(select_synthetic(pred, real, 1.12, 10, rng)) == 3


def test_esn_echo_state_property_and_exact_incremental_ridge():
    rng = np.random.default_rng(3)
    esn = ESN(6, 2, 40, rng, spectral_radius=0.45, input_scale=0.45, ridge=1e-6)
    assert spectral_norm(esn.eta_re) == pytest.approx(0.45, rel=1e-6)
    assert np.linalg.norm(esn.eta_re, 2) < 0.5 and np.linalg.norm(esn.eta_in, 2) < 0.5
    v = rng.standard_normal((60, 6))
    # echo state: the state forgets where it started (contraction, ||eta_re|| < 1)
    q_a, q_b = np.zeros(40), rng.standard_normal(40)
    for x in v:
        q_a = np.tanh(esn.eta_in @ x + esn.eta_re @ q_a)
        q_b = np.tanh(esn.eta_in @ x + esn.eta_re @ q_b)
    assert np.linalg.norm(q_a - q_b) < 1e-12
    # labels that are a linear readout of the reservoir: ridge over two episodes recovers it
    true_out = rng.standard_normal((2, 41))
    v1, v2 = v[:30], v[30:]
    y1, y2 = esn.states(v1) @ true_out.T, esn.states(v2) @ true_out.T
    assert np.abs(esn.predict(v1)).max() == 0.0  # untrained readout
    esn.tune(v1, y1)
    esn.tune(v2, y2)
    assert esn.samples == 60
    np.testing.assert_allclose(esn.predict(v2), y2, atol=2e-3)
    np.testing.assert_allclose(esn.predict(v1), y1, atol=2e-3)


@pytest.mark.parametrize("augmentation", ["esn", "rnn"])
def test_predictor_rests_once_the_synthetic_budget_is_zero(augmentation, monkeypatch):
    """tau_e (18) never grows again once it is 0, so from then on the predictor is neither
    consulted nor tuned, and the learner's rng moves on exactly as the selection of (17)-(18)
    at budget 0 moves it: what is learned is the same."""
    from agents.train import run_episode

    # tau_e = floor(0.8 K 0.001**e): 0.8 K at episode 0, 0 from episode 1 on
    cfg = (
        TrainConfig()
        .replace(**TINY, augmentation=augmentation, budget_decay=0.001, budget_period=1)
        .replace(updates_per_episode=0)
    )
    env = make_env(cfg)
    learner = build_learner(cfg, Dims.of(env), np.random.default_rng(0))
    calls: list[tuple[int, str]] = []
    episode = 0
    for name in ("predict", "tune"):
        real = getattr(learner.predictor, name)

        def counted(*args, _real=real, _name=name):
            calls.append((episode, _name))
            return _real(*args)

        monkeypatch.setattr(learner.predictor, name, counted)
    for episode in range(3):
        run_episode(env, learner, episode, True, cfg.run.seed)
        steps = len(learner._episode)
        before = copy.deepcopy(learner.rng)
        stats = learner.end_episode(episode)
        if episode == 0:
            assert stats["synthetic_budget"] == synthetic_budget(0, steps, 0.8, 0.001, 1) > 0
            assert np.isfinite(stats["prediction_error"])
            continue
        assert stats["synthetic_budget"] == stats["synthetic_samples"] == 0
        assert np.isnan(stats["prediction_error"])
        # the selection at budget 0 on any predictions: its draws are the learner's
        select_synthetic(np.zeros((steps, 1)), np.zeros((steps, 1)), 1.0, 0, before)
        assert before.bit_generator.state == learner.rng.bit_generator.state
    assert calls == [(0, "predict"), (0, "tune")]


def test_replay_ring_buffer_overwrites_oldest():
    buf = ReplayBuffer(4, {"x": ((2,), np.float32)})
    buf.add(x=np.arange(6, dtype=np.float32).reshape(3, 2))
    buf.add(x=np.array([[6, 7], [8, 9]], dtype=np.float32))
    assert len(buf) == 4
    assert sorted(buf.data["x"][:, 0].tolist()) == [2, 4, 6, 8]
    with pytest.raises(KeyError):
        buf.add(y=np.zeros((1, 2)))
    state = buf.state_dict()
    # tensors, which torch.save writes as they are (it pickles numpy arrays through copies)
    assert isinstance(state["data"]["x"], torch.Tensor)
    other = ReplayBuffer(4, {"x": ((2,), np.float32)})
    other.load_state_dict(state)
    np.testing.assert_array_equal(other.data["x"], buf.data["x"])
    older = ReplayBuffer(4, {"x": ((2,), np.float32)})  # checkpoints that stored numpy arrays
    older.load_state_dict({**state, "data": {"x": state["data"]["x"].numpy().copy()}})
    np.testing.assert_array_equal(older.data["x"], buf.data["x"])
    with pytest.raises(ValueError, match=r"fields \['x'\], this buffer \['z'\]"):
        ReplayBuffer(4, {"z": ((2,), np.float32)}).load_state_dict(state)


def test_joint_masks_by_hand_and_batched():
    """N = 2: indices 0..3 = (a, b) bits (0,0) (1,0) (0,1) (1,1); a migration needs the cache
    bit, so 2 is never valid, and a node that may not cache has only 0."""
    np.testing.assert_array_equal(
        joint_masks(np.array([True, False])), [[1, 1, 0, 1], [1, 0, 0, 0]]
    )
    ok = np.random.default_rng(0).random((5, 3)) < 0.5
    np.testing.assert_array_equal(joint_masks(ok), np.stack([joint_masks(r) for r in ok]))


def test_qmix_replay_sample_does_not_grow_as_two_to_the_n():
    """The QMIX-DA replay stores each next step's (N,) cache permissions, not its (N, 2**N)
    mask: at N = 12 the mask was 49,152 bytes a sample, 4.9 GB of a 100,000-sample buffer."""
    n, obs, hid = 12, 60, 64
    cfg = TrainConfig().replace(**{**TINY, "qmix_hidden": hid}, algo="qmix-da", buffer_size=10)
    learner = build_learner(
        cfg, Dims(agents=n, obs=obs, block=obs // n, steps=3), np.random.default_rng(0)
    )
    per_sample = sum(a[0].nbytes for a in learner.buffer.data.values())
    # obs, next_obs, h (float32), act (N x N float32), act_idx (int64), next_ok, 3 scalars
    assert per_sample == 4 * (2 * n * obs + n * hid + n * n) + 8 * n + n + 4 + 4 + 1


def test_qmix_loads_a_checkpoint_that_stored_next_step_masks():
    """Older checkpoints stored the (N, 2**N) mask; its column 1 ("cache only") is next_ok."""
    cfg = TrainConfig().replace(**TINY, algo="qmix-da")
    env = make_env(cfg)
    learner = build_learner(cfg, Dims.of(env), np.random.default_rng(0))
    from agents.train import run_episode

    run_episode(env, learner, 0, True, cfg.run.seed)
    learner.end_episode(0)
    state = learner.state_dict()
    ok = state["buffer"]["data"].pop("next_ok")
    assert ok.any() and not ok.all()
    state["buffer"]["data"]["next_mask"] = joint_masks(ok)
    other = build_learner(cfg, Dims.of(env), np.random.default_rng(1))
    other.load_state_dict(state)
    np.testing.assert_array_equal(other.buffer.data["next_ok"][: len(ok)], ok)


def test_observed_demand_reads_the_demand_bits_of_every_block():
    # N = 3 nodes, 2 user slots: blocks [size or R^bac, slot 0, slot 1, C~]; size, R^bac and
    # C~ are positive but are not demand
    obs = np.tile(np.array([0.7, 0.0, 0.0, 0.9], np.float32), (3, 3))
    obs[0, 2] = 1.0  # node 0: its own second slot
    obs[2, 4 + 1] = 1.0  # node 2: first slot of its first other (visible) block
    np.testing.assert_array_equal(observed_demand(obs, 3), [True, False, True])
    np.testing.assert_array_equal(
        observed_demand(np.stack([obs, 0 * obs]), 3),
        [[True, False, True], [False, False, False]],
    )


@pytest.mark.parametrize("algo", ["maasn-da", "qmix-da"])
def test_observed_demand_only_never_caches_unobserved_pbs(algo):
    from agents.train import run_episode

    cfg = TrainConfig().replace(**TINY, algo=algo, observed_demand_only=True)
    env = make_env(cfg)
    learner = build_learner(cfg, Dims.of(env), np.random.default_rng(0))
    for explore in (True, False):  # exploring bits are coin flips: many asked to cache
        run_episode(env, learner, 0, explore, cfg.run.seed)
        obs = np.stack([t["obs"] for t in learner._episode])
        act = np.stack([t["act"] for t in learner._episode])
        seen = observed_demand(obs, learner.dims.agents)
        assert (~seen).any()
        assert act[..., 0][~seen].sum() == 0 and act[~seen].sum() == 0  # no caching, no migration
        assert act[..., 0][seen].sum() > 0
        if algo == "qmix-da":  # the next-state masks follow the same rule
            nxt = np.stack([t["next_obs"] for t in learner._episode])
            mask = joint_masks(np.stack([t["next_ok"] for t in learner._episode]))
            assert not mask[~observed_demand(nxt, learner.dims.agents)][:, 1:].any()
        learner.begin_episode()


@pytest.mark.parametrize("exploration", ["bit", "node"])
def test_maasn_exploration_replaces_bits_or_whole_rows(exploration, monkeypatch):
    """epsilon = 0.3, N = 3, the Gumbel sample made all zero. "bit": each bit is 1 with
    probability 0.3 / 2 = 0.15, independently, so a row changes with 1 - 0.85^3 = 0.386.
    "node": a row is redrawn with 0.3 from the 2^2 + 1 = 5 joint actions (2) allows, so it
    changes with 0.3 * 4 / 5 = 0.24, and a changed row always caches, with uniform migrations."""
    import agents.maasn

    monkeypatch.setattr(
        agents.maasn, "gumbel_bits", lambda logits, gen: np.zeros(logits.shape, dtype=bool)
    )
    cfg = TrainConfig().replace(**TINY, exploration=exploration, observed_demand_only=False)
    env = make_env(cfg)
    learner = build_learner(cfg, Dims.of(env), np.random.default_rng(0))
    monkeypatch.setattr(learner, "epsilon", lambda episode: 0.3)
    obs = unpack_obs(env.reset(seed=0)[0], env.possible_agents)
    ok = np.ones(env.config.num_nodes, bool)
    draws = np.stack([learner.act(obs, ok, True, 0) for _ in range(4000)]).reshape(-1, 3)
    changed = draws.any(axis=1)
    if exploration == "bit":
        assert abs(changed.mean() - 0.386) < 0.02
        assert abs(draws.mean() - 0.15) < 0.01
        assert not draws[changed, 0].all()  # migration bits set without caching occur
    else:
        assert abs(changed.mean() - 0.24) < 0.02
        assert draws[changed, 0].all()
        assert abs(draws[changed, 1:].mean() - 0.5) < 0.03
        rows = agents.maasn.explore_rows(8000, 3, np.random.default_rng(1))
        patterns, counts = np.unique(rows, axis=0, return_counts=True)
        assert len(patterns) == 5 and abs(counts / 8000 - 0.2).max() < 0.02
        assert all(p[0] or not p.any() for p in patterns)


def test_joint_masks_follow_the_forcing_rules():
    masks = joint_masks(np.array([True, False, True]))
    assert masks.shape == (3, 8)
    assert masks[1].tolist() == [True] + [False] * 7  # cannot cache: only "do nothing"
    allowed = np.flatnonzero(masks[0])
    assert allowed.tolist() == [0, 1, 3, 5, 7]  # migrate only with the cache bit set
    np.testing.assert_array_equal(
        index_to_bits(np.array([0, 5, 6]), 3), [[0, 0, 0], [1, 0, 1], [0, 1, 1]]
    )


@pytest.mark.parametrize("l2", [0.0, 0.1])
def test_logit_l2_pulls_saturated_logits_back(l2):
    """With a critic that ignores the action, only the logit penalty moves the actor: it shrinks
    saturated caching logits (where the Gumbel sample has no gradient), and nothing else does."""
    from agents.maasn import MAASNDA

    env = FGAMCDParallelEnv("small", seed=0)
    dims = Dims.of(env)
    cfg = TrainConfig().replace(**{**TINY, "logit_l2": l2, "lr_actor": 0.05})
    learner = MAASNDA(cfg, dims, np.random.default_rng(0))
    with torch.no_grad():
        for p in learner.critic.parameters():
            p.zero_()
        learner.actor.own_head.bias.fill_(20.0)  # cache logits around +20: saturated
    obs = np.random.default_rng(1).random((16, dims.agents, dims.obs)).astype(np.float32)
    batch = {
        "obs": obs,
        "act": np.zeros((16, dims.agents, dims.agents), np.float32),
        "rew": np.zeros(16, np.float32),
        "next_obs": obs,
        "done": np.zeros(16, np.float32),
    }
    before = learner.logits(obs[0])[:, 0].copy()
    for _ in range(20):
        learner.update(batch, episode=0)
    after = learner.logits(obs[0])[:, 0]
    if l2 == 0.0:
        np.testing.assert_allclose(after, before, atol=1e-5)
    else:
        assert np.all(after < before - 0.5)


def test_value_range_and_clip_target_by_hand():
    from agents.learner import clip_target, value_range

    cfg = TrainConfig().replace(clip=3.0, storage_cost=0.5, discount=0.9)
    assert value_range(cfg, 4) == pytest.approx((-50.0, 0.0))  # -(3 + 4 * 0.5) / (1 - 0.9)
    t = torch.tensor([-80.0, -10.0, 5.0])
    torch.testing.assert_close(clip_target(cfg, 4, t), torch.tensor([-50.0, -10.0, 0.0]))
    torch.testing.assert_close(clip_target(cfg.replace(clip_target=False), 4, t), t)


@pytest.mark.parametrize("algo", ["maasn-da", "qmix-da"])
@pytest.mark.parametrize("bias", [1e5, -1e5])  # far outside value_range for any small N
def test_td_target_stays_in_the_value_range(algo, bias, monkeypatch):
    """A target mixer whose output runs away (as MAASN-DA's critic did) gives TD
    targets inside value_range with clip_target, and outside it without (+-1e5)."""
    import agents.maasn
    import agents.qmix
    from agents.learner import value_range
    from agents.policy import build_learner
    from agents.train import run_episode

    env = FGAMCDParallelEnv("small", seed=0)
    dims = Dims.of(env)
    for clip in (True, False):
        cfg = TrainConfig().replace(**{**TINY, "algo": algo, "clip_target": clip})
        learner = build_learner(cfg, dims, np.random.default_rng(0))
        run_episode(env, learner, 0, True, 0)
        learner.end_episode(0)
        with torch.no_grad():
            learner.mixer_t.hyper_b2[-1].bias.fill_(bias)
        seen = []
        module = agents.maasn if algo == "maasn-da" else agents.qmix
        real = module.F.smooth_l1_loss

        def spy(pred, target, _real=real, _seen=seen):
            _seen.append(target.detach().clone())
            return _real(pred, target)

        monkeypatch.setattr(module.F, "smooth_l1_loss", spy)
        learner.update(learner.buffer.sample(16, np.random.default_rng(1)), 0)
        monkeypatch.undo()
        lo, hi = value_range(cfg, dims.agents)
        inside = bool(((seen[0] >= lo) & (seen[0] <= hi)).all())
        assert inside == clip


# ---- training -------------------------------------------------------------------------------
VARIANTS = [
    dict(algo="maasn-da"),
    dict(algo="maasn-da", actor="mlp"),
    dict(algo="maasn-da", critic="independent"),
    dict(algo="maasn-da", augmentation="none"),
    dict(algo="maasn-da", augmentation="rnn"),
    dict(algo="maasn-da", augmentation="cgan"),
    dict(algo="qmix-da"),
]


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: TrainConfig().replace(**v).label)
def test_every_variant_trains_and_evaluates(variant):
    res = train(TrainConfig().replace(**TINY, **variant))
    assert [r["episode"] for r in res["curve"]] == [0, 1, 2]
    assert all(np.isfinite(r["return"]) and r["return"] <= 0 for r in res["curve"])
    assert "critic_loss" in res["curve"][-1]
    cols = set(evaluate(BASELINES["random"](), "small", seeds=[0])[0]) - {"policy"}
    assert cols <= set(res["eval_rows"][0])
    if variant.get("augmentation", "esn") != "none":
        # a predictor that has seen episodes 0-1 gets some samples past (17) with a loose xi
        res2 = train(TrainConfig().replace(**{**TINY, "xi": 50.0}, **variant))
        assert sum(r["synthetic_samples"] for r in res2["curve"][1:]) > 0
        assert res2["curve"][0]["synthetic_samples"] <= res2["curve"][0]["synthetic_budget"]


def _final_weights(path):
    return torch.load(path, weights_only=False)["learner"]["modules"]


@pytest.mark.parametrize(
    ("algo", "compiled"), [("maasn-da", False), ("qmix-da", False), ("maasn-da", True)]
)
def test_resume_continues_exactly(tmp_path, algo, compiled, monkeypatch):
    import agents.train as train_mod

    cfg = TrainConfig().replace(**{**TINY, "episodes": 4}, algo=algo, compile=compiled)
    full = train(cfg.replace(out=tmp_path / "full"))
    real_run = train_mod.run_episode

    def killed_in_episode_2(env, learner, episode, *args):
        if episode == 2:
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C mid-episode
        return real_run(env, learner, episode, *args)

    monkeypatch.setattr(train_mod, "run_episode", killed_in_episode_2)
    with pytest.raises(KeyboardInterrupt):
        train(cfg.replace(out=tmp_path / "part"))
    monkeypatch.setattr(train_mod, "run_episode", real_run)
    part = train(cfg.replace(out=tmp_path / "part", resume=True))
    assert [r["return"] for r in part["curve"]] == [r["return"] for r in full["curve"]]
    # the killed session's episodes count in the wall time too
    assert part["wall_time_s"] == pytest.approx(sum(r["wall_s"] for r in part["curve"]))
    assert part["eval_wall_s"] > 0
    a = _final_weights(tmp_path / "full" / "checkpoint.pt")
    b = _final_weights(tmp_path / "part" / "checkpoint.pt")
    for name in a:
        if name.startswith("opt"):
            continue
        for key, tensor in a[name].items():
            torch.testing.assert_close(tensor, b[name][key], rtol=0, atol=0)
    log = (tmp_path / "part" / "log.csv").read_text().strip().splitlines()
    assert len(log) == 1 + 4  # header + one row per episode, none duplicated
    # a fresh start in a directory left by a run killed before its first checkpoint
    (tmp_path / "part" / "checkpoint.pt").unlink()
    train(cfg.replace(out=tmp_path / "part", episodes=2))
    log = (tmp_path / "part" / "log.csv").read_text().strip().splitlines()
    assert len(log) == 1 + 2  # the killed run's rows are gone
    with pytest.raises(ValueError, match=r"different configuration \(groups that differ: run\)"):
        train(cfg.replace(out=tmp_path / "part", resume=True, seed=5))


@pytest.fixture
def terminal_sigint():
    """SIGINT handled as in a terminal's foreground process. A process started in the
    background (`make test &`) inherits SIGINT ignored, and train() leaves an ignored signal
    alone."""
    prev = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, prev)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_checkpoints_the_running_episode_and_resume_continues(
    tmp_path, monkeypatch, signum, terminal_sigint
):
    import agents.train as train_mod

    cfg = TrainConfig().replace(**{**TINY, "episodes": 4, "checkpoint_every": 50})
    full = train(cfg.replace(out=tmp_path / "full"))
    real_run = train_mod.run_episode
    times = {"n": 1}

    def signalled_in_episode_1(env, learner, episode, *args):
        if episode == 1:
            for _ in range(times["n"]):
                signal.raise_signal(signum)  # arrives mid-episode
        return real_run(env, learner, episode, *args)

    monkeypatch.setattr(train_mod, "run_episode", signalled_in_episode_1)
    before = signal.getsignal(signum)
    with pytest.raises(
        TrainingInterrupted, match=f"{signal.Signals(signum).name} after episode 2"
    ) as info:
        train(cfg.replace(out=tmp_path / "part"))
    assert info.value.episodes == 2 and info.value.signum == signum
    assert signal.getsignal(signum) is before
    state = torch.load(tmp_path / "part" / "checkpoint.pt", weights_only=False)
    assert state["episode"] == 2  # episode 1 finished and was saved, not lost
    monkeypatch.setattr(train_mod, "run_episode", real_run)
    part = train(cfg.replace(out=tmp_path / "part", resume=True))
    assert [r["return"] for r in part["curve"]] == [r["return"] for r in full["curve"]]

    # a second Ctrl-C does not wait for the episode (nothing saved: checkpoint_every 50); a
    # repeated SIGTERM still does
    times["n"] = 2
    monkeypatch.setattr(train_mod, "run_episode", signalled_in_episode_1)
    expected = KeyboardInterrupt if signum == signal.SIGINT else TrainingInterrupted
    with pytest.raises(expected) as info:
        train(cfg.replace(out=tmp_path / "twice"))
    assert isinstance(info.value, TrainingInterrupted) == (signum == signal.SIGTERM)
    assert (tmp_path / "twice" / "checkpoint.pt").exists() == (signum == signal.SIGTERM)
    assert signal.getsignal(signum) is before


@pytest.mark.parametrize("algo", ["maasn-da", "qmix-da"])
def test_select_every_keeps_the_best_greedy_policy(tmp_path, algo):
    cfg = TrainConfig().replace(**{**TINY, "episodes": 5}, algo=algo, seed=1)
    plain = train(cfg)
    res = train(cfg.replace(select_every=2, out=tmp_path / "run"))
    # greedy episodes do not touch the training RNGs or the replay buffer
    assert [r["return"] for r in res["curve"]] == [r["return"] for r in plain["curve"]]
    greedy = [r["greedy_return"] for r in res["curve"]]
    scored = [e for e, g in enumerate(greedy) if not math.isnan(g)]
    assert scored == [1, 3, 4]  # every 2nd episode and the last
    best = max(greedy[e] for e in scored)
    assert res["selected"]["return"] == best
    assert res["selected"]["episode"] == 1 + max(e for e in scored if greedy[e] == best)
    # the evaluated and the reloaded policy are the selected one (static instance, same seed)
    assert res["eval_rows"][0]["return"] == pytest.approx(best)
    rows = evaluate(load_policy(tmp_path / "run" / "checkpoint.pt"), "small", seeds=[1])
    assert rows[0]["return"] == pytest.approx(best)


def test_cli_trains_and_loads_policy(tmp_path, capsys):
    hp = [
        f"{'optim.' if k == 'batch_size' else ''}{k}={json.dumps(v)}"  # own or dotted names
        for k, v in TINY.items()
        if k not in ("scenario", "episodes", "progress")
    ] + ["reward.storage_cost=2.5"]
    argv = [
        "--algo",
        "maasn-da",
        "--scenario",
        "small",
        "--episodes",
        "2",
        "--quiet",
        "--out",
        str(tmp_path / "run"),
    ]
    for item in hp:
        argv += ["--hp", item]
    assert train_main(argv) == 0
    assert "greedy policy on instance 0" in capsys.readouterr().out
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["config"]["optim"]["batch_size"] == TINY["batch_size"]
    assert result["config"]["env"]["reward"]["storage_cost"] == 2.5
    policy = load_policy(tmp_path / "run" / "checkpoint.pt")
    rows = evaluate(policy, "small", seeds=[0])
    assert rows[0]["total_delay_s"] == pytest.approx(result["eval_rows"][0]["total_delay_s"])
    assert train_main(["--out", str(tmp_path / "bad"), "--hp", "nope=1"]) == 2
    # resuming with other settings is a usage error, not a traceback
    capsys.readouterr()
    more = [("3" if a == "2" and argv[i - 1] == "--episodes" else a) for i, a in enumerate(argv)]
    assert train_main([*more, "--resume"]) == 2
    assert "different configuration (groups that differ: run)" in capsys.readouterr().err

    # --evaluate re-runs the checkpoint's greedy policy, here with pruned migrations
    capsys.readouterr()
    assert train_main(["--out", str(tmp_path / "run"), "--evaluate"]) == 0
    assert f"total delay {result['eval_rows'][0]['total_delay_s']:.4f} s" in capsys.readouterr().out
    assert (
        train_main(["--out", str(tmp_path / "run"), "--evaluate", "--env", "prune_migrations=true"])
        == 0
    )
    assert "(0 redundant)" in capsys.readouterr().out
    assert train_main(["--out", str(tmp_path / "bad"), "--evaluate"]) == 2
    assert train_main(["--out", str(tmp_path / "run"), "--evaluate", "--seed", "3"]) == 2


def test_exploration_tax_replays_the_final_policy(tmp_path, capsys):
    """benchmarks.exploration_tax: its greedy episode is the run's own evaluation, and QMIX-DA at
    epsilon 0 explores nothing, so every exploring episode repeats the greedy one."""
    from benchmarks.exploration_tax import main as tax_main
    from benchmarks.exploration_tax import measure

    results = {}
    for algo in ("maasn-da", "qmix-da"):
        results[algo] = train(TrainConfig().replace(**TINY, algo=algo, out=tmp_path / algo))
    greedy_q = results["qmix-da"]["eval_rows"][0]["return"]
    rows = measure(tmp_path / "qmix-da", 3, epsilon=0.0, progress=False)
    assert [r["mode"] for r in rows] == ["greedy", "explore", "explore", "explore"]
    assert all(r["return"] == pytest.approx(greedy_q) for r in rows)
    rows = measure(tmp_path / "maasn-da", 4, epsilon=1.0, progress=False)  # all coins
    assert rows[0]["return"] == pytest.approx(results["maasn-da"]["eval_rows"][0]["return"])
    assert rows[1]["epsilon"] == 1.0
    assert len({round(r["return"], 6) for r in rows[1:]}) > 1
    with pytest.raises(ValueError, match="maasn-da only"):
        measure(tmp_path / "qmix-da", 1, exploration="node", progress=False)
    with pytest.raises(ValueError, match="at_episode"):
        measure(tmp_path / "qmix-da", 1, at_episode=3, progress=False)

    tax_main(
        [
            str(tmp_path / "maasn-da"),
            str(tmp_path / "qmix-da"),
            "--episodes",
            "2",
            "--out",
            str(tmp_path / "res"),
            "--no-progress",
        ]
    )
    assert "| qmix-da | qmix-da |" in capsys.readouterr().out
    with (tmp_path / "res" / "exploration_tax.csv").open() as f:
        written = list(csv.DictReader(f))
    assert [(r["algo"], r["mode"]) for r in written] == [
        ("maasn-da", "greedy"),
        ("maasn-da", "explore"),
        ("maasn-da", "explore"),
        ("qmix-da", "greedy"),
        ("qmix-da", "explore"),
        ("qmix-da", "explore"),
    ]
    assert float(written[1]["epsilon"]) == pytest.approx(0.05)  # the last episode's epsilon
    with pytest.raises(SystemExit):
        tax_main([str(tmp_path / "nothing"), "--out", str(tmp_path / "res")])


def test_make_policy_checks_the_env_size():
    env = FGAMCDParallelEnv("small", seed=0)
    policy = make_policy("qmix-da", env, **{k: v for k, v in TINY.items() if k != "scenario"})
    rows = evaluate(policy, "small", seeds=[0])
    assert rows[0]["steps"] == env.num_steps
    big = FGAMCDParallelEnv("small", seed=0, num_nodes=4, num_users=8)
    with pytest.raises(ValueError, match="was built for N=3"):
        policy.reset(big)
    assert Dims.of(big).agents == 4


@pytest.mark.parametrize("algo", ["maasn-da", "qmix-da"])
def test_train_speed_benchmark_runs_real_updates(algo):
    from benchmarks.train_speed import time_updates

    ts = time_updates(algo, "small", repeats=2, steps=1)
    assert len(ts) == 2 and all(t > 0 for t in ts)
    # variants: one learner each, timed in turns (here two batch sizes, no compiling)
    timed = time_updates(
        algo, "small", repeats=2, steps=1, variants={"a": {}, "b": {"batch_size": 16}}
    )
    assert set(timed) == {"a", "b"} and all(len(v) == 2 and min(v) > 0 for v in timed.values())
    with pytest.raises(ValueError, match="unknown TrainConfig field"):
        time_updates(algo, "small", repeats=1, steps=1, variants={"a": {"batchsize": 16}})


@pytest.mark.parametrize("algo", ["maasn-da", "qmix-da"])
def test_train_speed_records_every_matrix_product_of_a_step(algo):
    """benchmarks.train_speed --products: each recorded product's FLOPs are torch's formula's;
    they carry all of a MAASN-DA step's FLOPs (torch's FLOP counter over the same step agrees;
    its module tracker fails on QMIX-DA's step); they replay on operands of the recorded shapes
    and strides."""
    from torch.utils.flop_counter import FlopCounterMode, flop_registry

    from agents.policy import build_learner
    from benchmarks.train_speed import _RecordProducts, step_products, time_products
    from benchmarks.train_speed_worker import random_replay

    products = step_products(algo, "small")
    assert {p.op for p in products} <= {"mm", "bmm", "addmm", "baddbmm"}
    assert any(p.op in ("bmm", "baddbmm") for p in products)  # the per-agent layers
    for p in products:
        shapes = [v[0] for kind, v in p.args if kind == "tensor"]
        assert p.flops == flop_registry[getattr(torch.ops.aten, p.op)](*shapes) > 0
    if algo == "maasn-da":
        cfg = TrainConfig().replace(algo=algo, scenario="small", progress=False)
        dims = Dims.of(make_env(cfg))
        rng = np.random.default_rng(0)
        learner = build_learner(cfg, dims, rng)
        random_replay(learner, dims, rng, 4 * cfg.optim.batch_size)
        with FlopCounterMode(display=False) as counter:
            learner.update(learner.buffer.sample(cfg.optim.batch_size, rng), 0)
        assert sum(p.flops for p in products) == counter.get_total_flops()
    for p in products:
        args, _ = p.materialise(torch.Generator().manual_seed(0))
        shapes = [(tuple(a.shape), a.stride()) for a in args if isinstance(a, torch.Tensor)]
        assert shapes == [v for kind, v in p.args if kind == "tensor"]
    with _RecordProducts() as seen:  # one recorded step, then 3 rounds of a step and a replay
        r = time_products(algo, "small", repeats=2, steps=1)
    assert len(r["steps"]) == len(r["products"]) == 2 and min(r["products"]) > 0
    assert len(seen.products) == 7 * len(products)
    assert r["count"] == len(products) and r["flops"] == sum(p.flops for p in products)


def test_train_speed_splits_real_training_episodes_by_component(tmp_path):
    """benchmarks.train_speed: worker processes play real training episodes (two checkouts,
    here this one twice, in turns) and split each one's wall time into env, action selection,
    augmentation, gradient steps and the rest; the training log has the same columns."""
    from agents.train import TIME_COLUMNS
    from benchmarks.train_speed import (
        COMPONENTS,
        REPO,
        compare,
        component_table,
        step_table,
        summarize_logs,
    )

    hp = {k: v for k, v in TINY.items() if k not in ("scenario", "episodes", "progress")}
    res = compare(
        "maasn-da",
        {"a": REPO, "b": REPO},
        episodes=2,
        rounds=1,
        steps=2,
        scenario="small",
        hp=hp,
        progress=False,
    )
    for label in ("a", "b"):
        rows = res[label]["episodes"]
        assert [r["episode"] for r in rows] == [0, 1]
        for r in rows:
            parts = [r[f"{k}_s"] for k in COMPONENTS]
            assert min(parts) >= 0 and r["update_s"] > 0 and r["env_s"] > 0
            assert r["act_s"] > 0 and r["aug_s"] > 0
            assert sum(parts) == pytest.approx(r["wall_s"])
        assert res[label]["steps"][0]["wall_s"] > 0
    table = component_table(res)
    assert "| update |" in table and "| total |" in table
    assert step_table(res, 2).startswith("a: ")

    result = train(TrainConfig().replace(**TINY, out=tmp_path / "run"))
    with (tmp_path / "run" / "log.csv").open() as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        parts = [float(r[k]) for k in TIME_COLUMNS]
        assert min(parts[:-1]) >= 0
        assert sum(parts) == pytest.approx(float(r["wall_s"]))
    summary = summarize_logs([tmp_path / "run"])
    cfg = TrainConfig().replace(**TINY)
    steps = cfg.optim.updates_per_episode
    assert f"| run | {cfg.run.torch_threads} | no | {steps} | 3 |" in summary
    row = result["eval_rows"][0]
    assert summary.endswith(f"| {row['return']:.2f} | {row['total_delay_s']:.4f} |")


def test_checkpoint_memory_benchmark_saves_the_filled_buffer():
    from benchmarks.train_speed import checkpoint_memory

    small, large = (
        checkpoint_memory("qmix-da", "small", {"num_nodes": 2}, size=s) for s in (2000, 6000)
    )
    assert small["samples"] == 2000 and large["samples"] == 6000
    # the file holds the filled rows only, not the buffer's 100,000-sample capacity
    per_sample = large["buffer_mib"] / TrainConfig().optim.buffer_size
    assert large["file_mib"] - small["file_mib"] == pytest.approx(4000 * per_sample, rel=0.02)
    assert large["save_extra_mib"] >= 0 and large["rss_before_mib"] > 0


# ---- fixed placement ------------------------------------------------------------------------
@pytest.mark.parametrize("algo", ["maasn-da", "qmix-da"])
@pytest.mark.parametrize("scenario", ["small", "paper"])
def test_fixed_placement_does_the_caching_in_training_and_evaluation(tmp_path, algo, scenario):
    """With ``placement="trimcaching"`` every applied caching bit, in the training episodes
    (exploring) and in the evaluated policy, is TrimCaching's plan (which fits in storage); the
    learner only chooses migrations, and a migration from a node that does not cache is
    dropped."""
    from baselines.placement import expected_hit_placement

    kw = {"env_kwargs": {"max_cycles": 40}} if scenario == "paper" else {}
    cfg = TrainConfig().replace(
        **{**TINY, "scenario": scenario, "episodes": 2, **kw},
        algo=algo,
        placement="trimcaching",
        out=tmp_path / "run",
    )
    assert cfg.env_options["observed_demand_only"] is False  # the plan places unobserved PBs
    res = train(cfg)
    env = make_env(cfg)
    plan = expected_hit_placement(env.scenario, "visible")
    steps = env.num_steps
    # training: the replay buffer holds the applied actions of both (exploring) episodes
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)
    data = state["learner"]["buffer"]["data"]
    real = ~data["synthetic"].numpy()
    act = data["act"].numpy()[real]
    assert len(act) == 2 * steps
    expect = np.tile(plan[:, :steps].T, (2, 1))  # (2 K, N)
    np.testing.assert_array_equal(act[..., 0] > 0, expect)
    assert not act[~expect][:, 1:].any()  # no migration from a node that does not cache
    assert act[..., 1:].any()  # migrations from caching nodes were chosen
    nxt = data["next_ok"].numpy()[real]  # the next step's plan bits (none at the end)
    np.testing.assert_array_equal(nxt[: steps - 1], plan[:, 1:steps].T)
    assert not nxt[steps - 1].any()
    # evaluation: the policy loaded from the checkpoint acts in an env without the mask
    policy = load_policy(tmp_path / "run" / "checkpoint.pt")
    assert policy.env_kwargs == cfg.env_options
    env = FGAMCDParallelEnv(scenario, seed=0, **policy.env_kwargs)
    obs, _ = env.reset(seed=0)
    policy.reset(env)
    while env.agents:
        k = env.current_pb
        obs, _, _, _, infos = env.step(policy.act(obs, env))
        np.testing.assert_array_equal(infos["edge_0"]["cache"], plan[:, k])
    assert (env.storage_used_bytes <= env.config.storage_bytes).all()
    assert res["eval_rows"][0]["return"] == evaluate(policy, env.config, seeds=[0])[0]["return"]


def test_fixed_placement_trains_migration_only(monkeypatch):
    """MAASN-DA's actor loss and TD target see the placement's caching bits, not the actor's."""
    import agents.maasn as maasn
    from agents.learner import executed_actions

    bits = torch.tensor([[[0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 1.0]]])
    cache = torch.tensor([[True, False, True]])
    np.testing.assert_array_equal(
        executed_actions(bits, cache).numpy(), [[[1, 1, 1], [0, 0, 0], [1, 1, 1]]]
    )
    env = FGAMCDParallelEnv("small", seed=0)
    dims = Dims.of(env)
    cfg = TrainConfig().replace(**TINY, placement="trimcaching")
    learner = maasn.MAASNDA(cfg, dims, np.random.default_rng(0))
    assert learner.extra_fields == {"next_ok": ((3,), bool)}
    seen = []
    for critic in (learner.critic, learner.critic_t):

        def spy(obs, act, _real=critic.forward):
            seen.append(act.detach().clone())
            return _real(obs, act)

        monkeypatch.setattr(critic, "forward", spy)
    b = 8
    rng = np.random.default_rng(1)
    act = np.zeros((b, 3, 3), np.float32)
    act[:, 0, 0] = 1.0  # node 0 cached, the others did not
    batch = {
        "obs": rng.random((b, 3, dims.obs)).astype(np.float32),
        "act": act,
        "rew": np.zeros(b, np.float32),
        "next_obs": rng.random((b, 3, dims.obs)).astype(np.float32),
        "done": np.zeros(b, np.float32),
        "next_ok": np.tile([False, True, False], (b, 1)),
    }
    learner.update(batch, 0)
    target_act, taken_act, actor_act = seen  # target critic, critic, actor loss
    assert (target_act[..., 0] == torch.tensor([0.0, 1.0, 0.0])).all()
    assert not target_act[:, [0, 2], 1:].any()
    assert (actor_act[..., 0] == torch.tensor([1.0, 0.0, 0.0])).all()
    assert not actor_act[:, 1:, 1:].any()
    torch.testing.assert_close(taken_act, torch.as_tensor(act))


# ---- compiled gradient steps ----------------------------------------------------------------
@pytest.mark.parametrize("algo", ["maasn-da", "qmix-da"])
def test_compiled_gradient_steps_match_eager_ones(algo):
    """compile=True takes the same gradient steps as eager ones, up to float rounding: the
    same weights, target weights and Adam state after one step, and the same losses over three
    (later weights may differ more: a rounding difference can flip a hard Gumbel decision)."""
    from benchmarks.train_speed_worker import random_replay

    runs = []
    for compiled in (False, True):
        cfg = TrainConfig().replace(**TINY, algo=algo, compile=compiled)
        dims = Dims.of(make_env(cfg))
        learner = build_learner(cfg, dims, np.random.default_rng(0))
        random_replay(learner, dims, np.random.default_rng(1), 64)
        batches = [learner.buffer.sample(16, np.random.default_rng(s)) for s in range(3)]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RuntimeWarning)
            losses = [learner.update(batches[0], 1)]
        if compiled and any("torch.compile failed" in str(w.message) for w in caught):
            pytest.skip(f"torch.compile does not work here: {caught[0].message}")
        state = {k: copy.deepcopy(m.state_dict()) for k, m in learner.modules().items()}
        losses += [learner.update(b, 1) for b in batches[1:]]
        runs.append((state, losses))
    (eager, eager_losses), (comp, comp_losses) = runs
    for a, b in zip(eager_losses, comp_losses, strict=True):
        assert a.keys() == b.keys()
        for key in a:
            assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-6), key
    assert eager.keys() == comp.keys()
    for name in eager:
        torch.testing.assert_close(comp[name], eager[name], rtol=1e-4, atol=1e-6, msg=name)


@pytest.mark.parametrize("algo", ["maasn-da", "qmix-da"])
def test_optimisers_see_gradients_laid_out_like_their_parameters(algo):
    """torch's fused Adam reads a gradient's memory in its parameter's order: a transposed
    gradient (the action-semantics actor's last layer enters a product transposed) would move
    each weight by another weight's gradient. After one eager step every gradient has its
    parameter's strides and Adam's first moment is (1 - beta1) times that (clipped) gradient,
    element by element."""
    from benchmarks.train_speed_worker import random_replay

    cfg = TrainConfig().replace(**TINY, algo=algo)
    dims = Dims.of(make_env(cfg))
    learner = build_learner(cfg, dims, np.random.default_rng(0))
    random_replay(learner, dims, np.random.default_rng(1), 64)
    learner.update(learner.buffer.sample(16, np.random.default_rng(0)), 1)
    opts = [m for m in learner.modules().values() if isinstance(m, torch.optim.Adam)]
    assert opts
    for opt in opts:
        beta1 = opt.param_groups[0]["betas"][0]
        for p in opt.param_groups[0]["params"]:
            assert p.grad.stride() == p.stride()
            torch.testing.assert_close(opt.state[p]["exp_avg"], (1 - beta1) * p.grad)


def test_a_failing_compile_falls_back_to_eager_with_a_warning(monkeypatch):
    from agents.learner import MaybeCompiled

    def broken(fn, **kwargs):
        def run(*args):
            raise RuntimeError("no C++ compiler\nmore detail")

        return run

    monkeypatch.setattr(torch, "compile", broken)
    step = MaybeCompiled(lambda x: x + 1, enabled=True)
    with pytest.warns(RuntimeWarning, match=r"torch.compile failed \(RuntimeError: no C\+\+"):
        assert step(1) == 2
    assert step(2) == 3 and step.fn is step.eager  # eager from then on, no second warning

    def wrong(x):
        raise ValueError("a bug in the step itself")

    with pytest.raises(ValueError, match="a bug in the step"):  # not hidden by the fallback
        MaybeCompiled(wrong, enabled=True)(1)
