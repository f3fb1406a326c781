"""PPO with one policy shared by every edge node (RLlib, new API stack) on FGAMCD.

RLlib takes PettingZoo's parallel API through ``ParallelPettingZooEnv``; all agents map to the
module ``"shared"`` (parameter sharing: identical spaces, one network). Actions stay
``MultiDiscrete([2] * N)``, which RLlib's PPO handles natively.

RLlib pins its own gymnasium (1.2.x for ray 2.60), so it lives in its own virtual environment:
``make venv-rllib`` builds ``.venv-rllib`` from ``interop/requirements-rllib.txt`` and
``make test-interop`` runs ``interop/test_rllib.py``. Then
``.venv-rllib/bin/python examples/rllib_ppo.py --iterations 20``.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

import fgamcd_env

ENV_NAME = "fgamcd_parallel"


def env_creator(config: dict[str, Any]):
    """RLlib env factory: ``config`` holds ``parallel_env`` keywords (scenario, seed, ...)."""
    from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv

    kwargs = {"scenario": "small", "seed": 0, "beamformer": "fast", **dict(config)}
    return ParallelPettingZooEnv(fgamcd_env.parallel_env(**kwargs))


def build_config(
    env_config: dict[str, Any] | None = None,
    train_batch_size: int = 256,
    minibatch_size: int = 64,
    num_epochs: int = 2,
    seed: int = 0,
):
    """A PPOConfig: local sampling and learning (no extra Ray workers), one shared module."""
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.tune.registry import register_env

    register_env(ENV_NAME, env_creator)
    return (
        PPOConfig()
        .environment(ENV_NAME, env_config=dict(env_config or {}))
        .framework("torch")
        .env_runners(num_env_runners=0, num_envs_per_env_runner=1)
        .learners(num_learners=0)
        .multi_agent(
            policies={"shared"},
            policy_mapping_fn=lambda agent_id, episode, **kwargs: "shared",
        )
        .training(
            train_batch_size_per_learner=train_batch_size,
            minibatch_size=minibatch_size,
            num_epochs=num_epochs,
            lr=3e-4,
        )
        .debugging(seed=seed)
    )


def _summary(iteration: int, result: dict[str, Any]) -> dict[str, Any]:
    runners = result.get("env_runners", {})
    return {
        "iteration": iteration,
        "env_steps": int(runners.get("num_env_steps_sampled_lifetime", 0)),
        "episodes": int(runners.get("num_episodes_lifetime", 0)),
        "episode_return_mean": float(runners.get("episode_return_mean", math.nan)),
        "agent_return_mean": {
            str(a): float(v) for a, v in runners.get("agent_episode_returns_mean", {}).items()
        },
        "learned_modules": sorted(m for m in result.get("learners", {}) if not m.startswith("__")),
    }


def main(
    iterations: int = 2,
    scenario: str = "small",
    seed: int = 0,
    train_batch_size: int = 256,
    **env_kwargs: Any,
) -> list[dict[str, Any]]:
    """Train for ``iterations`` PPO iterations; one summary row per iteration.

    Rows hold the env steps sampled so far, the mean episode return (the sum over agents, as
    RLlib counts multi-agent returns; NaN until an episode has finished) and the mean return of
    each agent, which must equal each other here (FGAMCD's reward is a team reward).
    """
    import ray

    if iterations < 1:
        raise ValueError(f"iterations={iterations}: must be >= 1")
    started_ray = not ray.is_initialized()
    if started_ray:  # a small local cluster; sampling and learning run in this process
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    config = build_config(
        {"scenario": scenario, "seed": seed, **env_kwargs},
        train_batch_size=train_batch_size,
        seed=seed,
    )
    rows = []
    algo = None
    try:
        algo = config.build_algo() if hasattr(config, "build_algo") else config.build()
        for it in range(1, iterations + 1):
            rows.append(_summary(it, algo.train()))
    finally:
        if algo is not None:
            algo.stop()
        if started_ray:
            ray.shutdown()
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument("--scenario", default="small")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for row in main(args.iterations, args.scenario, args.seed):
        print(row)
