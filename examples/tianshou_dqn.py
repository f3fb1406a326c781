"""Independent DQN learners (tianshou 2.x) on FGAMCD, one Q-network per edge node.

Every agent acts with one ``Discrete(2**N)`` index (``fgamcd_env.wrappers.DiscreteActions``) under
the flat action mask of ``action_masks=True``; the ``small`` preset (N = 3) gives 8 indices.
By default the agents train on the learners' shaped reward (``reward="learning"``) under the
observed-demand restriction (``observed_demand_only=True``); the trained greedy policy is then
scored by the paper's reward (12) over one episode of the same instance.

Transitions come from :class:`fgamcd_env.adapters.AgentSlotsVectorEnv` (each agent one slot of
a tianshou vector env, one replay sub-buffer per agent), not from tianshou's AEC
``PettingZooEnv``, whose stored transitions mix agents (see the adapter's docstring).
``tests/test_examples.py`` replays the stored actions on a fresh environment and checks every
reward and next observation.

Run ``python examples/tianshou_dqn.py`` (30 epochs of 1,920 agent transitions: 600 episodes of
``small``, about 4 min on one core); ``--reward paper`` trains on (12) instead, ``--out`` writes
the result as JSON. ``docs/interop.md`` has what it reaches next to the heuristics.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
import tianshou
import torch
from pettingzoo import ParallelEnv
from tianshou.algorithm import DQN, MultiAgentOffPolicyAlgorithm
from tianshou.algorithm.modelfree.dqn import DiscreteQLearningPolicy
from tianshou.algorithm.optim import AdamOptimizerFactory
from tianshou.data import Collector, CollectStats, VectorReplayBuffer
from tianshou.trainer import OffPolicyTrainerParams
from tianshou.utils.net.common import Net

import fgamcd_env
from fgamcd_env.adapters import AgentSlotsVectorEnv
from fgamcd_env.wrappers import DiscreteActions


def make_env(scenario: str = "small", seed: int = 0, **kwargs: Any) -> ParallelEnv:
    """FGAMCD with one ``Discrete(2**N)`` action per agent and its flat action mask."""
    return DiscreteActions(
        fgamcd_env.parallel_env(scenario, seed=seed, beamformer="fast", action_masks=True, **kwargs)
    )


def run_episode(
    act: Callable[[str, np.ndarray, np.ndarray], int],
    scenario: str = "small",
    seed: int = 0,
    **env_kwargs: Any,
) -> dict[str, float]:
    """One episode on a fresh copy of the instance; ``act(agent, obs, mask)`` gives an index.

    Returns the env's episode summary: ``return`` (reward (12)), ``total_delay_s``,
    ``qos_infeasible``, ``no_delivery`` and, with a shaped reward, ``shaped_return``.
    """
    env = make_env(scenario, seed, **env_kwargs)
    obs, _ = env.reset(seed=seed)
    while env.agents:
        actions = {a: act(a, o["observation"], o["action_mask"]) for a, o in obs.items()}
        obs, _, _, _, infos = env.step(actions)
    return next(iter(infos.values()))["episode"]


def greedy_actor(algorithm: MultiAgentOffPolicyAlgorithm) -> Callable:
    """Each agent's argmax of its Q-values over the actions its mask allows."""

    def act(agent: str, obs: np.ndarray, mask: np.ndarray) -> int:
        with torch.no_grad():
            q, _ = algorithm.get_algorithm(agent).policy.model(torch.as_tensor(obs[None]))
        return int(torch.where(torch.as_tensor(mask == 1), q[0], -torch.inf).argmax())

    return act


def random_actor(seed: int = 0) -> Callable:
    """Uniform over the actions each agent's mask allows."""
    rng = np.random.default_rng(seed)
    return lambda agent, obs, mask: int(rng.choice(np.flatnonzero(mask)))


def make_venv(num_envs: int = 1, scenario: str = "small", seed: int = 0, **kwargs: Any):
    """``num_envs`` copies of the same instance (FGAMCD's setting is one static instance)."""
    return AgentSlotsVectorEnv(
        [lambda: make_env(scenario, seed, **kwargs) for _ in range(num_envs)]
    )


def build_algorithm(
    venv: AgentSlotsVectorEnv,
    hidden_sizes: Sequence[int] = (64, 64),
    lr: float = 1e-3,
    gamma: float = 0.95,
    n_step: int = 1,
    target_update_freq: int = 100,
) -> MultiAgentOffPolicyAlgorithm:
    """One DQN (own network, optimiser, target network) per agent: independent learners."""
    algorithms = []
    for agent in venv.agents:
        env, _ = venv.slot(venv.agent_idx[agent])
        obs_space = env.observation_space(agent)
        obs_space = (
            obs_space["observation"] if isinstance(obs_space, gymnasium.spaces.Dict) else obs_space
        )
        act_space = env.action_space(agent)
        net = Net(
            state_shape=obs_space.shape,
            action_shape=int(act_space.n),
            hidden_sizes=list(hidden_sizes),
        )
        policy = DiscreteQLearningPolicy(
            model=net, action_space=act_space, eps_training=1.0, eps_inference=0.0
        )
        algorithms.append(
            DQN(
                policy=policy,
                optim=AdamOptimizerFactory(lr=lr),
                gamma=gamma,
                n_step_return_horizon=n_step,
                target_update_freq=target_update_freq,
            )
        )
    return MultiAgentOffPolicyAlgorithm(algorithms=algorithms, env=venv)


def set_eps(
    algorithm: MultiAgentOffPolicyAlgorithm,
    agents: Sequence[str],
    training: float | None = None,
    inference: float | None = None,
) -> None:
    """Set every agent's epsilon-greedy rate for training and / or inference (None: keep)."""
    for agent in agents:
        policy = algorithm.get_algorithm(agent).policy
        if training is not None:
            policy.set_eps_training(training)
        if inference is not None:
            policy.set_eps_inference(inference)


def quiet_vector_return_warning() -> None:
    """Drop tianshou's per-collect warning that episode returns are vectors (one per agent)."""

    class _Filter(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            return "only 1D sequences are supported" not in record.getMessage()

    logger = logging.getLogger("tianshou.data.stats")
    if not any(type(f).__name__ == "_Filter" for f in logger.filters):
        logger.addFilter(_Filter())


def main(
    epochs: int = 30,
    epoch_steps: int = 1920,
    num_envs: int = 2,
    scenario: str = "small",
    seed: int = 0,
    instance_seed: int = 0,
    batch_size: int = 64,
    buffer_size: int = 20_000,
    lr: float = 1e-3,
    gamma: float = 0.95,
    n_step: int = 1,
    updates_per_step: float = 0.25,
    eps_start: float = 1.0,
    eps_end: float = 0.05,
    progress: bool = True,
    torch_threads: int = 1,
    reward: str = "learning",
    observed_demand_only: bool = True,
    **env_kwargs: Any,
) -> dict[str, Any]:
    """Train independent DQNs for ``epochs`` x ``epoch_steps`` agent transitions; return metrics.

    The agents train on ``reward`` (``"learning"`` or ``"paper"``) on instance ``instance_seed``
    of ``scenario``; ``seed`` seeds the networks and the exploration. ``greedy`` and ``random``
    (masked uniform actions) are the env's summaries of one episode on the training instance
    (see :func:`run_episode`; ``return`` is reward (12)); ``best_test_return`` is the best
    team return, in the training reward, of the trainer's greedy test episodes; ``algorithm``
    is the trained multi-agent algorithm.
    """
    if epochs < 1 or epoch_steps < 1 or num_envs < 1:
        raise ValueError("epochs, epoch_steps and num_envs must be positive")
    np.random.seed(seed)  # noqa: NPY002 - tianshou's epsilon-greedy uses numpy's global RNG
    torch.manual_seed(seed)
    torch.set_num_threads(torch_threads)  # tiny MLPs: extra threads only add overhead
    quiet_vector_return_warning()
    env_kwargs = {"reward": reward, "observed_demand_only": observed_demand_only, **env_kwargs}
    train_envs = make_venv(num_envs, scenario, instance_seed, **env_kwargs)
    test_envs = make_venv(1, scenario, instance_seed, **env_kwargs)
    algorithm = build_algorithm(train_envs, lr=lr, gamma=gamma, n_step=n_step)
    agents = train_envs.agents
    n = len(agents)
    train_collector = Collector[CollectStats](
        algorithm,
        train_envs,
        VectorReplayBuffer(buffer_size, len(train_envs)),
        exploration_noise=True,
    )
    test_collector = Collector[CollectStats](algorithm, test_envs, exploration_noise=True)
    random = run_episode(random_actor(seed), scenario, instance_seed, **env_kwargs)

    train_collector.reset()
    train_collector.collect(n_step=batch_size * len(train_envs))  # warm-up with eps = eps_start
    total = epochs * epoch_steps

    def training_fn(epoch: int, env_step: int) -> None:  # linear epsilon decay over 80 % of budget
        frac = min(1.0, env_step / (0.8 * total))
        set_eps(algorithm, agents, training=eps_start + frac * (eps_end - eps_start))

    result = algorithm.run_training(
        OffPolicyTrainerParams(
            training_collector=train_collector,
            test_collector=test_collector,
            max_epochs=epochs,
            epoch_num_steps=epoch_steps,
            collection_step_num_env_steps=4 * len(train_envs),
            test_step_num_episodes=n,  # one episode per agent slot of the single test copy
            batch_size=batch_size,
            update_step_num_gradient_steps_per_sample=updates_per_step,
            training_fn=training_fn,
            multi_agent_return_reduction=lambda r: r.mean(axis=1),
            verbose=False,
            show_progress=progress,
        )
    )
    return {
        "random": random,
        "greedy": run_episode(greedy_actor(algorithm), scenario, instance_seed, **env_kwargs),
        "best_test_return": float(result.best_reward),
        "agent_transitions": int(result.train_step),
        "env_steps": int(result.train_step) // n,  # joint steps: N agent transitions each
        "training_steps": int(result.update_step),  # collect + gradient updates, each
        "algorithm": algorithm,
    }


def summary(episode: dict[str, float]) -> str:
    """One line of an episode summary: reward (12) return, delay, QoS-infeasible, undelivered."""
    return (
        f"return (12) {episode['return']:.3f}, delay {episode['total_delay_s']:.4f} s, "
        f"QoS-infeasible {episode['qos_infeasible']}, undelivered {episode['no_delivery']}"
    )


def cli(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """The command line: train, print the greedy and random episodes, write ``--out`` (JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30, help="training budget: epochs")
    parser.add_argument(
        "--epoch-steps",
        type=int,
        default=1920,
        help="agent transitions per epoch (N per environment step)",
    )
    parser.add_argument("--num-envs", type=int, default=2)
    parser.add_argument("--scenario", default="small")
    parser.add_argument("--seed", type=int, default=0, help="networks and exploration")
    parser.add_argument("--instance-seed", type=int, default=0, help="the scenario's instance")
    parser.add_argument(
        "--reward", choices=("learning", "paper"), default="learning", help="reward trained on"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--out", help="write the budget and both episodes to this JSON file")
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    out = main(
        args.epochs,
        args.epoch_steps,
        args.num_envs,
        args.scenario,
        args.seed,
        instance_seed=args.instance_seed,
        reward=args.reward,
        progress=not args.no_progress,
    )
    seconds = time.perf_counter() - started
    print(
        f"best test return ({args.reward} reward) {out['best_test_return']:.3f}; "
        f"{out['agent_transitions']} agent transitions, {out['training_steps']} training steps, "
        f"{seconds:.0f} s"
    )
    print(f"random policy: {summary(out['random'])}")
    print(f"trained greedy policy: {summary(out['greedy'])}")
    if args.out:
        record = {
            "library": "tianshou",
            "version": tianshou.__version__,
            "algorithm": "DQN, one independent learner per agent",
            "command": "python examples/tianshou_dqn.py " + shlex.join(argv),
            "scenario": args.scenario,
            "instance_seed": args.instance_seed,
            "seed": args.seed,
            "reward": args.reward,
            "observed_demand_only": True,
            "env_steps": out["env_steps"],
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
