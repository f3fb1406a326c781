"""Independent DQN learners (tianshou 2.x) on FGAMCD, one Q-network per edge node.

Every agent acts with one ``Discrete(2**N)`` index (``fgamcd_env.wrappers.DiscreteActions``) under
the flat action mask of ``action_masks=True``; the ``small`` preset (N = 3) gives 8 indices.

Transitions come from :class:`fgamcd_env.adapters.AgentSlotsVectorEnv` (each agent one slot of
a tianshou vector env, one replay sub-buffer per agent), not from tianshou's AEC
``PettingZooEnv``, whose stored transitions mix agents (see the adapter's docstring).
``tests/test_examples.py`` replays the stored actions on a fresh environment and checks every
reward and next observation.

Run ``python examples/tianshou_dqn.py`` (10 epochs of 1,920 agent transitions: 4 min here, on two
shared cores).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from typing import Any

import gymnasium
import numpy as np
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


def mean_team_return(collector: Collector, episodes: int) -> float:
    """Mean return of ``episodes`` episodes per slot, averaged over agents.

    With FGAMCD's team reward every entry is the same: the team return (rewards summed over k).
    """
    stats = collector.collect(n_episode=episodes * collector.env_num, reset_before_collect=True)
    return float(np.mean(stats.returns))  # returns: one reward vector (N,) per slot episode


def quiet_vector_return_warning() -> None:
    """Drop tianshou's per-collect warning that episode returns are vectors (one per agent)."""

    class _Filter(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            return "only 1D sequences are supported" not in record.getMessage()

    logger = logging.getLogger("tianshou.data.stats")
    if not any(type(f).__name__ == "_Filter" for f in logger.filters):
        logger.addFilter(_Filter())


def main(
    epochs: int = 10,
    epoch_steps: int = 1920,
    num_envs: int = 2,
    scenario: str = "small",
    seed: int = 0,
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
    **env_kwargs: Any,
) -> dict[str, Any]:
    """Train independent DQNs for ``epochs`` x ``epoch_steps`` agent transitions; return metrics.

    ``random_return`` (masked uniform actions) and ``greedy_return`` are team returns of one
    episode on the training instance; ``algorithm`` is the trained multi-agent algorithm.
    """
    if epochs < 1 or epoch_steps < 1 or num_envs < 1:
        raise ValueError("epochs, epoch_steps and num_envs must be positive")
    np.random.seed(seed)  # noqa: NPY002 - tianshou's epsilon-greedy uses numpy's global RNG
    torch.manual_seed(seed)
    torch.set_num_threads(torch_threads)  # tiny MLPs: extra threads only add overhead
    quiet_vector_return_warning()
    train_envs = make_venv(num_envs, scenario, seed, **env_kwargs)
    test_envs = make_venv(1, scenario, seed, **env_kwargs)
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

    set_eps(algorithm, agents, inference=1.0)
    random_return = mean_team_return(test_collector, 1)
    set_eps(algorithm, agents, inference=0.0)

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
    greedy_return = mean_team_return(test_collector, 1)
    return {
        "random_return": random_return,
        "greedy_return": greedy_return,
        "best_test_return": float(result.best_reward),
        "agent_transitions": int(result.train_step),
        "training_steps": int(result.update_step),  # collect + gradient updates, each
        "algorithm": algorithm,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument(
        "--epoch-steps",
        type=int,
        default=1920,
        help="agent transitions per epoch (N per environment step)",
    )
    parser.add_argument("--num-envs", type=int, default=2)
    parser.add_argument("--scenario", default="small")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    out = main(args.epochs, args.epoch_steps, args.num_envs, args.scenario, args.seed)
    print(
        f"team return of one episode: random {out['random_return']:.2f}, "
        f"trained greedy {out['greedy_return']:.2f} (best test {out['best_test_return']:.2f}); "
        f"{out['agent_transitions']} agent transitions, {out['training_steps']} training steps"
    )
