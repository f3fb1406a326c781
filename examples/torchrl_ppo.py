"""MAPPO (TorchRL) on FGAMCD: a shared masked-categorical actor, a centralised critic, GAE and
``ClipPPOLoss``, fed by a synchronous collector.

``PettingZooWrapper`` takes the env with masks and the global state. The N agents form one
TorchRL group ``"edge"``; each acts with a ``Discrete(2**N)`` index (``DiscreteActions``) under
the flat action mask, which TorchRL exposes as ``("edge", "action_mask")``; o_n(k) is
``("edge", "observation", "observation")`` and ``return_state=True`` adds s(k) as ``"state"``.
The actor is one MLP shared by all agents on o_n(k); the critic (one shared MLP, as in
TorchRL's multi-agent PPO tutorial) sees every agent's observation. By default the agents train
on the learners' shaped reward (``reward="learning"``) under the observed-demand restriction
(``observed_demand_only=True``); the trained policy, acting deterministically (each agent's
likeliest allowed index), is then scored by the paper's reward (12) over one episode of the
same instance.

TorchRL stacks per-agent ``info`` entries into tensors and builds their specs from the reset
infos, so every info must be numeric with the same keys at reset and at every step.
FGAMCD's step infos are nested (``"terms"`` is a dict, ``"participating"`` a list), so
:class:`fgamcd_env.adapters.NumericInfos` flattens them to fixed scalar fields first; the
(12) reward of each step is its ``paper_reward``.

TorchRL (and BenchMARL, which needs an older torchrl) lives in its own virtual environment:
``make venv-torchrl`` builds ``.venv-torchrl`` from ``interop/requirements-torchrl.txt`` and
``make test-interop`` runs ``interop/test_torchrl.py``. Then
``.venv-torchrl/bin/python examples/torchrl_ppo.py`` trains on 19,200 frames (600 episodes of
``small``, about 1 min on one core); ``--reward paper`` trains on (12) instead, ``--out`` writes
the result as JSON. ``docs/interop.md`` has what it reaches next to the heuristics.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torchrl
from tensordict.nn import TensorDictModule
from torchrl.data import LazyTensorStorage, ReplayBuffer, SamplerWithoutReplacement
from torchrl.envs import PettingZooWrapper
from torchrl.envs.utils import ExplorationType, check_env_specs, set_exploration_type
from torchrl.modules import MaskedCategorical, MultiAgentMLP, ProbabilisticActor
from torchrl.objectives import ClipPPOLoss, ValueEstimators

import fgamcd_env
from fgamcd_env.adapters import NumericInfos
from fgamcd_env.wrappers import DiscreteActions

try:  # torchrl >= 0.14 renamed SyncDataCollector to Collector
    from torchrl.collectors import Collector
except ImportError:  # older torchrl, e.g. next to BenchMARL
    from torchrl.collectors import SyncDataCollector as Collector

GROUP = "edge"  # TorchRL groups agents named "<group>_<int>" together
OBS = (GROUP, "observation", "observation")  # the Dict observation's "observation" entry


def make_env(scenario: str = "small", seed: int = 0, **kwargs: Any) -> PettingZooWrapper:
    """The TorchRL view of FGAMCD: masked ``Discrete(2**N)`` actions, global state, float infos."""
    par = fgamcd_env.parallel_env(
        scenario, seed=seed, beamformer="fast", action_masks=True, **kwargs
    )
    return PettingZooWrapper(
        NumericInfos(DiscreteActions(par)),
        categorical_actions=True,
        return_state=True,
        seed=seed,
    )


def make_policy(env: PettingZooWrapper, hidden: int = 64) -> ProbabilisticActor:
    """One MLP shared by all agents (decentralised inputs), sampling only unmasked actions."""
    obs_dim = env.observation_spec[OBS].shape[-1]
    n_agents = len(env.group_map[GROUP])
    n_actions = int(env.full_action_spec[GROUP, "action"].space.n)
    net = MultiAgentMLP(
        n_agent_inputs=obs_dim,
        n_agent_outputs=n_actions,
        n_agents=n_agents,
        centralised=False,  # the spelling every torchrl version accepts
        share_params=True,
        depth=2,
        num_cells=hidden,
    )
    module = TensorDictModule(net, in_keys=[OBS], out_keys=[(GROUP, "logits")])
    return ProbabilisticActor(
        module,
        in_keys={"logits": (GROUP, "logits"), "mask": (GROUP, "action_mask")},
        out_keys=[(GROUP, "action")],
        distribution_class=MaskedCategorical,
        spec=env.full_action_spec[GROUP, "action"],
        return_log_prob=True,
    )


def make_critic(env: PettingZooWrapper, hidden: int = 64) -> TensorDictModule:
    """One value per agent from all agents' observations (a centralised critic: MAPPO)."""
    net = MultiAgentMLP(
        n_agent_inputs=env.observation_spec[OBS].shape[-1],
        n_agent_outputs=1,
        n_agents=len(env.group_map[GROUP]),
        centralised=True,
        share_params=True,
        depth=2,
        num_cells=hidden,
    )
    return TensorDictModule(net, in_keys=[OBS], out_keys=[(GROUP, "state_value")])


def run_episode(
    policy: ProbabilisticActor | None, scenario: str = "small", seed: int = 0, **env_kwargs: Any
) -> dict[str, float]:
    """One episode on a fresh copy of the instance: ``policy`` acting deterministically, or
    uniform masked actions when ``policy`` is None.

    Returns ``return`` (reward (12)), ``shaped_return`` (the reward the agents receive),
    ``total_delay_s``, ``qos_infeasible`` and ``no_delivery``, summed from the step infos.
    """
    env = make_env(scenario, seed, **env_kwargs)
    with set_exploration_type(ExplorationType.DETERMINISTIC), torch.no_grad():
        data = env.rollout(max_steps=10**9, policy=policy)  # stops at the episode's end
    info = data["next", GROUP, "info"][:, 0]  # the team's terms: the same for every agent
    return {
        "return": info["paper_reward"].sum().item(),
        "shaped_return": data["next", GROUP, "reward"][:, 0].sum().item(),
        "total_delay_s": (info["migration_delay_s"] + info["broadcast_delay_s"]).sum().item(),
        "qos_infeasible": int(info["qos_infeasible"].sum()),
        "no_delivery": int(info["no_delivery"].sum()),
    }


def main(
    frames: int = 19_200,
    frames_per_batch: int = 64,
    minibatch_size: int = 32,
    epochs: int = 4,
    lr: float = 3e-4,
    gamma: float = 0.95,
    lmbda: float = 0.95,
    clip_epsilon: float = 0.2,
    entropy_coeff: float = 0.01,
    scenario: str = "small",
    seed: int = 0,
    instance_seed: int = 0,
    reward: str = "learning",
    observed_demand_only: bool = True,
    keep_data: bool = False,
    torch_threads: int = 1,
    **env_kwargs: Any,
) -> dict[str, Any]:
    """Check the specs, then train MAPPO on ``frames`` environment steps of ``reward``.

    The env is instance ``instance_seed`` of ``scenario``; ``seed`` seeds the networks and the
    sampling.

    Each batch of ``frames_per_batch`` steps gets GAE advantages and ``epochs`` passes of
    ``minibatch_size`` PPO updates. Returns ``rows`` (per batch: frames so far, the losses, the
    mean training reward per step), ``greedy`` and ``random`` (see :func:`run_episode`), the
    trained ``policy`` and, with ``keep_data``, every collected batch as ``data``.
    """
    if frames < 1 or frames_per_batch < 1 or minibatch_size < 1 or epochs < 1:
        raise ValueError(
            f"frames={frames}, frames_per_batch={frames_per_batch}, "
            f"minibatch_size={minibatch_size}, epochs={epochs}: need >= 1"
        )
    torch.manual_seed(seed)
    torch.set_num_threads(torch_threads)  # tiny MLPs: extra threads only add overhead
    env_kwargs = {"reward": reward, "observed_demand_only": observed_demand_only, **env_kwargs}
    env = make_env(scenario, instance_seed, **env_kwargs)
    check_env_specs(env, seed=seed)
    policy, critic = make_policy(env), make_critic(env)
    random = run_episode(None, scenario, instance_seed, **env_kwargs)

    loss = ClipPPOLoss(
        actor_network=policy,
        critic_network=critic,
        clip_epsilon=clip_epsilon,
        entropy_coeff=entropy_coeff,
        normalize_advantage=False,
    )
    loss.set_keys(  # per-agent keys of the group (the wrapper repeats done flags per agent)
        reward=(GROUP, "reward"),
        action=(GROUP, "action"),
        sample_log_prob=(GROUP, "action_log_prob"),
        value=(GROUP, "state_value"),
        done=(GROUP, "done"),
        terminated=(GROUP, "terminated"),
    )
    loss.make_value_estimator(ValueEstimators.GAE, gamma=gamma, lmbda=lmbda)
    optim = torch.optim.Adam(loss.parameters(), lr=lr)
    buffer = ReplayBuffer(
        storage=LazyTensorStorage(frames_per_batch),
        sampler=SamplerWithoutReplacement(),
        batch_size=minibatch_size,
    )
    collector = Collector(env, policy, frames_per_batch=frames_per_batch, total_frames=frames)
    rows, batches, seen = [], [], 0
    for batch in collector:
        if keep_data:
            batches.append(batch.clone())
        seen += batch.numel()
        with torch.no_grad():
            loss.value_estimator(
                batch,
                params=loss.critic_network_params,
                target_params=loss.target_critic_network_params,
            )
        buffer.extend(batch.reshape(-1))
        for _ in range(epochs):
            for _ in range(max(1, batch.numel() // minibatch_size)):
                parts = loss(buffer.sample())
                total = parts["loss_objective"] + parts["loss_critic"] + parts["loss_entropy"]
                optim.zero_grad()
                total.backward()
                torch.nn.utils.clip_grad_norm_(loss.parameters(), 1.0)
                optim.step()
        collector.update_policy_weights_()
        rows.append(
            {
                "frames": seen,
                "reward_per_step": batch["next", GROUP, "reward"].mean().item(),
                **{key: parts[key].item() for key in ("loss_objective", "loss_critic")},
            }
        )
    collector.shutdown()
    out = {
        "rows": rows,
        "greedy": run_episode(policy, scenario, instance_seed, **env_kwargs),
        "random": random,
        "policy": policy,
    }
    if keep_data:
        out["data"] = torch.cat(batches, dim=0)
    return out


def summary(episode: dict[str, float]) -> str:
    """One line of an episode summary: reward (12) return, delay, QoS-infeasible, undelivered."""
    return (
        f"return (12) {episode['return']:.3f}, delay {episode['total_delay_s']:.4f} s, "
        f"QoS-infeasible {episode['qos_infeasible']}, undelivered {episode['no_delivery']}"
    )


def cli(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """The command line: train, print the greedy and random episodes, write ``--out`` (JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--frames", type=int, default=19_200, help="training budget: environment steps"
    )
    parser.add_argument("--frames-per-batch", type=int, default=64)
    parser.add_argument("--scenario", default="small")
    parser.add_argument("--seed", type=int, default=0, help="networks and sampling")
    parser.add_argument("--instance-seed", type=int, default=0, help="the scenario's instance")
    parser.add_argument(
        "--reward", choices=("learning", "paper"), default="learning", help="reward trained on"
    )
    parser.add_argument("--out", help="write the budget and both episodes to this JSON file")
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    out = main(
        args.frames,
        args.frames_per_batch,
        scenario=args.scenario,
        seed=args.seed,
        instance_seed=args.instance_seed,
        reward=args.reward,
    )
    seconds = time.perf_counter() - started
    for row in out["rows"][:: max(1, len(out["rows"]) // 10)]:
        print({k: round(v, 4) for k, v in row.items()})
    print(f"{out['rows'][-1]['frames']} env steps, {seconds:.0f} s")
    print(f"random policy: {summary(out['random'])}")
    print(f"trained greedy policy: {summary(out['greedy'])}")
    if args.out:
        record = {
            "library": "TorchRL",
            "version": torchrl.__version__,
            "algorithm": "MAPPO (a shared masked actor, a centralised critic)",
            "command": ".venv-torchrl/bin/python examples/torchrl_ppo.py " + shlex.join(argv),
            "scenario": args.scenario,
            "instance_seed": args.instance_seed,
            "seed": args.seed,
            "reward": args.reward,
            "observed_demand_only": True,
            "env_steps": out["rows"][-1]["frames"],
            "train_seconds": round(seconds, 1),
            "greedy": out["greedy"],
            "random": out["random"],
        }
        path = Path(args.out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=2) + "\n")
    return out


if __name__ == "__main__":
    cli()
