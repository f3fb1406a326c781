"""Independent DQN learners (tianshou 2.x) on FGAMCD, one Q-network per edge node.

Every agent acts with one ``Discrete(2**N)`` index (``fgamcd_env.wrappers.DiscreteActions``) under
the flat action mask of ``action_masks=True``; the ``small`` preset (N = 3) gives 8 indices.

Why not ``tianshou.env.PettingZooEnv``: that wrapper drives the AEC form one agent at a time and
stores, for agent i's move, the *next agent's* observation as ``obs_next`` and a reward vector
that ``parallel_to_aec`` has cleared to zero for every agent but the last to move (tianshou issues
#399, #671 and #1137), so independent learners would learn from wrong transitions. Here
:class:`AgentSlotsVectorEnv` presents each agent of a ``ParallelEnv`` as one slot of a tianshou
vector environment instead: one slot, one agent, one sub-buffer of the replay buffer, so every
stored transition is ``(o_n(k), d_n(k), r(k), o_n(k+1))`` of a single agent and tianshou's n-step
returns never mix agents. ``tests/test_examples.py`` replays the stored actions on a fresh
environment and checks every reward and next observation.

Run ``python examples/tianshou_dqn.py`` (10 epochs of 1,920 agent transitions: 4 min here, on two
shared cores).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Sequence
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
from fgamcd_env.wrappers import DiscreteActions


class AgentSlotsVectorEnv:
    """A tianshou vector environment whose slots are the agents of PettingZoo ``ParallelEnv``s.

    Slot ``c * N + j`` is agent ``possible_agents[j]`` of copy ``c``. A step must cover every slot
    of a copy (tianshou's ``Collector`` steps all ready slots together; collect test episodes in
    multiples of N). Each slot observes ``{"agent_id", "obs", "mask"}`` (the layout
    ``MultiAgentOffPolicyAlgorithm`` dispatches on) and receives the copy's reward vector in
    ``possible_agents`` order, from which the algorithm takes entry j for agent j. Agents of a
    copy must finish their episode together, as FGAMCD's do. Actions must be ``Discrete``.
    """

    is_async = False  # the Collector refuses asynchronous vector envs

    def __init__(self, env_fns: Sequence[Callable[[], ParallelEnv]]) -> None:
        if not env_fns:
            raise ValueError("env_fns: need at least one environment factory")
        self.envs: list[ParallelEnv] = [fn() for fn in env_fns]
        self.agents: list[str] = list(self.envs[0].possible_agents)
        for i, env in enumerate(self.envs):
            if list(env.possible_agents) != self.agents:
                raise ValueError(f"env copy {i}: possible_agents differ from copy 0's")
        self.agent_idx = {a: j for j, a in enumerate(self.agents)}
        self.num_agents = len(self.agents)
        self.env_num = len(self.envs) * self.num_agents
        for agent in self.agents:
            space = self.envs[0].action_space(agent)
            if not isinstance(space, gymnasium.spaces.Discrete):
                raise ValueError(
                    f"action space of {agent} is {space}; wrap the env in DiscreteActions first"
                )
        self._seeds: list[int | None] = [None] * len(self.envs)
        self.is_closed = False

    def __len__(self) -> int:
        return self.env_num

    # ---- spaces (one entry per slot, as tianshou's vector envs) --------------------------------
    def slot(self, slot: int) -> tuple[ParallelEnv, str]:
        """The env copy and the agent behind a slot."""
        return self.envs[slot // self.num_agents], self.agents[slot % self.num_agents]

    @property
    def action_space(self) -> list[gymnasium.spaces.Space]:
        return [env.action_space(a) for env, a in map(self.slot, range(self.env_num))]

    @property
    def observation_space(self) -> list[gymnasium.spaces.Space]:
        return [env.observation_space(a) for env, a in map(self.slot, range(self.env_num))]

    # ---- id bookkeeping ------------------------------------------------------------------------
    def _copies(self, ids: Any) -> tuple[list[int], list[int]]:
        """Slot ids as a list and the env copies they cover (every copy must be complete)."""
        if ids is None:
            ids = range(self.env_num)
        ids = [int(ids)] if np.isscalar(ids) else [int(i) for i in ids]
        if any(not 0 <= i < self.env_num for i in ids):
            raise ValueError(f"slot ids {ids} outside [0, {self.env_num})")
        copies = sorted({i // self.num_agents for i in ids})
        for c in copies:
            wanted = set(range(c * self.num_agents, (c + 1) * self.num_agents))
            if not wanted <= set(ids):
                raise ValueError(
                    f"slots {sorted(wanted - set(ids))} of env copy {c} are missing: all agents of "
                    f"a copy act together (collect n_step / n_episode in multiples of "
                    f"{self.num_agents})"
                )
        return ids, copies

    def _slot_obs(self, agent: str, obs: Any, space: gymnasium.spaces.Discrete) -> dict:
        if isinstance(obs, dict) and "action_mask" in obs:
            mask = np.asarray(obs["action_mask"]).astype(bool)
            obs = obs["observation"]
        else:
            mask = np.ones(int(space.n), dtype=bool)
        return {"agent_id": agent, "obs": np.asarray(obs), "mask": mask}

    # ---- tianshou vector-env API ---------------------------------------------------------------
    def seed(self, seed: int | None = None) -> list[int | None]:
        """Seed the next reset: copy c gets ``seed + c`` (None keeps each copy's generator)."""
        self._seeds = [None if seed is None else seed + c for c in range(len(self.envs))]
        return [self._seeds[i // self.num_agents] for i in range(self.env_num)]

    def reset(self, env_id: Any = None, **kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
        ids, copies = self._copies(env_id)
        seed = kwargs.pop("seed", None)  # an explicit seed: copy c is reset with seed + c
        per_slot: dict[int, tuple[dict, dict]] = {}
        for c in copies:
            copy_seed = self._seeds[c] if seed is None else seed + c
            self._seeds[c] = None
            obs, _infos = self.envs[c].reset(seed=copy_seed, **kwargs)
            for j, agent in enumerate(self.agents):
                slot = c * self.num_agents + j
                space = self.envs[c].action_space(agent)
                per_slot[slot] = (self._slot_obs(agent, obs[agent], space), {"env_id": slot})
        obs_arr = np.array([per_slot[i][0] for i in ids], dtype=object)
        info_arr = np.array([per_slot[i][1] for i in ids], dtype=object)
        return obs_arr, info_arr

    def step(self, action: np.ndarray, id: Any = None):  # `id`: tianshou's argument name
        ids, copies = self._copies(id)
        action = np.asarray(action)
        if len(action) != len(ids):
            raise ValueError(f"{len(action)} actions for {len(ids)} slots")
        act_of = {slot: action[pos] for pos, slot in enumerate(ids)}
        per_slot: dict[int, tuple] = {}
        for c in copies:
            env = self.envs[c]
            base = c * self.num_agents
            actions = {a: np.int64(act_of[base + j]) for j, a in enumerate(self.agents)}
            obs, rewards, terms, truncs, _infos = env.step(actions)
            rew_vec = np.array([float(rewards.get(a, 0.0)) for a in self.agents])
            done = [bool(terms[a] or truncs[a]) for a in self.agents]
            if any(done) and not all(done):
                raise ValueError(
                    f"env copy {c}: agents finished at different steps ({done}); "
                    "AgentSlotsVectorEnv needs them to finish together"
                )
            for j, agent in enumerate(self.agents):
                slot = base + j
                per_slot[slot] = (
                    self._slot_obs(agent, obs[agent], env.action_space(agent)),
                    rew_vec,
                    bool(terms[agent]),
                    bool(truncs[agent]),
                    {"env_id": slot},
                )
        rows = [per_slot[i] for i in ids]
        return (
            np.array([r[0] for r in rows], dtype=object),
            np.stack([r[1] for r in rows]),
            np.array([r[2] for r in rows]),
            np.array([r[3] for r in rows]),
            np.array([r[4] for r in rows], dtype=object),
        )

    def render(self, **kwargs: Any) -> list[Any]:
        return [env.render() for env in self.envs]

    def close(self) -> None:
        for env in self.envs:
            env.close()
        self.is_closed = True


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
