"""PPO with one policy shared by every edge node (RLlib, new API stack) on FGAMCD.

RLlib takes PettingZoo's parallel API through ``ParallelPettingZooEnv``; all agents map to the
module ``"shared"`` (parameter sharing: identical spaces, one network). Actions stay
``MultiDiscrete([2] * N)``, which RLlib's PPO handles natively. By default the agents train on
the learners' shaped reward (``reward="learning"``) under the observed-demand restriction
(``observed_demand_only=True``, enforced by the env: a cache bit the rule forbids is cleared);
the trained policy, acting deterministically, is then scored by the paper's reward (12) over
one episode of the same instance.

RLlib pins its own gymnasium (1.2.x for ray 2.60), so it lives in its own virtual environment:
``make venv-rllib`` builds ``.venv-rllib`` from ``interop/requirements-rllib.txt`` and
``make test-interop`` runs ``interop/test_rllib.py``. Then
``PYTHONHASHSEED=0 .venv-rllib/bin/python examples/rllib_ppo.py`` trains for 75 iterations of
256 env steps (600 episodes of ``small``, about 1 min on one core); ``--reward paper`` trains
on (12) instead, ``--out`` writes the result as JSON. ``docs/interop.md`` has what it reaches
next to the heuristics.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

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
    gamma: float = 0.95,
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
            gamma=gamma,
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


def run_episode(act: Callable[[dict[str, np.ndarray]], dict], env_config: dict[str, Any]) -> dict:
    """One episode of ``act(observations) -> actions`` on a fresh copy of the instance.

    Returns the env's episode summary: ``return`` (reward (12)), ``total_delay_s``,
    ``qos_infeasible``, ``no_delivery`` and, with a shaped reward, ``shaped_return``.
    """
    env = env_creator(env_config).par_env
    obs, _ = env.reset()
    while env.agents:
        obs, _, _, _, infos = env.step(act(obs))
    return next(iter(infos.values()))["episode"]


def greedy_actor(module) -> Callable[[dict[str, np.ndarray]], dict]:
    """The shared module's deterministic action (per bit, the likelier value) for every agent."""
    import torch

    dist_cls = module.get_inference_action_dist_cls()

    def act(obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        agents = list(obs)
        with torch.no_grad():
            out = module.forward_inference({"obs": torch.as_tensor(np.stack(list(obs.values())))})
        dist = dist_cls.from_logits(out["action_dist_inputs"]).to_deterministic()
        return dict(zip(agents, dist.sample().numpy().astype(np.int64), strict=True))

    return act


def random_actor(seed: int = 0) -> Callable[[dict[str, np.ndarray]], dict]:
    """Uniform random bits for every agent (N bits each, N = the number of agents)."""
    rng = np.random.default_rng(seed)
    return lambda obs: {a: rng.integers(0, 2, len(obs)) for a in obs}


def main(
    iterations: int = 75,
    scenario: str = "small",
    seed: int = 0,
    train_batch_size: int = 256,
    instance_seed: int = 0,
    reward: str = "learning",
    observed_demand_only: bool = True,
    torch_threads: int = 1,
    **env_kwargs: Any,
) -> dict[str, Any]:
    """Train for ``iterations`` PPO iterations on ``reward`` (``"learning"`` or ``"paper"``).

    The env is instance ``instance_seed`` of ``scenario``; ``seed`` seeds the network and the
    sampling (RLlib's ``debugging(seed=...)``).

    Returns ``rows`` (one summary per iteration), ``greedy`` and ``random`` (uniform bits), the
    env's summaries of one episode on the training instance (see :func:`run_episode`;
    ``return`` is reward (12)), and the trained shared RLModule as ``module``. Rows hold the
    env steps sampled so far, the mean episode return in the training reward (the sum over
    agents, as RLlib counts multi-agent returns; NaN until an episode has finished) and the mean
    return of each agent, which must equal each other here (FGAMCD's reward is a team reward).
    """
    import ray
    import torch

    if iterations < 1:
        raise ValueError(f"iterations={iterations}: must be >= 1")
    torch.set_num_threads(torch_threads)  # learning runs in this process; tiny MLPs
    env_config = {
        "scenario": scenario,
        "seed": instance_seed,
        "reward": reward,
        "observed_demand_only": observed_demand_only,
        **env_kwargs,
    }
    started_ray = not ray.is_initialized()
    if started_ray:  # a small local cluster; sampling and learning run in this process
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    config = build_config(env_config, train_batch_size=train_batch_size, seed=seed)
    rows = []
    algo = None
    try:
        algo = config.build_algo() if hasattr(config, "build_algo") else config.build()
        for it in range(1, iterations + 1):
            rows.append(_summary(it, algo.train()))
        module = algo.get_module("shared")
        greedy = run_episode(greedy_actor(module), env_config)
    finally:
        if algo is not None:
            algo.stop()
        if started_ray:
            ray.shutdown()
    random = run_episode(random_actor(seed), env_config)
    return {"rows": rows, "greedy": greedy, "random": random, "module": module}


def summary(episode: dict[str, float]) -> str:
    """One line of an episode summary: reward (12) return, delay, QoS-infeasible, undelivered."""
    return (
        f"return (12) {episode['return']:.3f}, delay {episode['total_delay_s']:.4f} s, "
        f"QoS-infeasible {episode['qos_infeasible']}, undelivered {episode['no_delivery']}"
    )


def cli(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """The command line: train, print the greedy and random episodes, write ``--out`` (JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=75, help="training budget: iterations")
    parser.add_argument("--train-batch-size", type=int, default=256, help="env steps per iteration")
    parser.add_argument("--scenario", default="small")
    parser.add_argument("--seed", type=int, default=0, help="network and sampling")
    parser.add_argument("--instance-seed", type=int, default=0, help="the scenario's instance")
    parser.add_argument(
        "--reward", choices=("learning", "paper"), default="learning", help="reward trained on"
    )
    parser.add_argument("--out", help="write the budget and both episodes to this JSON file")
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    out = main(
        args.iterations,
        args.scenario,
        args.seed,
        args.train_batch_size,
        instance_seed=args.instance_seed,
        reward=args.reward,
    )
    seconds = time.perf_counter() - started
    for row in out["rows"][:: max(1, len(out["rows"]) // 10)]:
        print({k: v for k, v in row.items() if k != "agent_return_mean"})
    last = out["rows"][-1]
    print(
        f"{last['env_steps']} env steps, {last['episodes']} episodes, {seconds:.0f} s; "
        f"last mean team return ({args.reward} reward, summed over agents) "
        f"{last['episode_return_mean']:.3f}"
    )
    print(f"random policy: {summary(out['random'])}")
    print(f"trained greedy policy: {summary(out['greedy'])}")
    if args.out:
        import ray

        # Runs with the same --seed repeat only under the same PYTHONHASHSEED (RLlib's results
        # depend on string hashing), so it is part of the command.
        hash_seed = os.environ.get("PYTHONHASHSEED")
        prefix = "" if hash_seed is None else f"PYTHONHASHSEED={hash_seed} "
        command = prefix + ".venv-rllib/bin/python examples/rllib_ppo.py " + shlex.join(argv)
        record = {
            "library": "RLlib",
            "version": ray.__version__,
            "algorithm": "PPO, one policy shared by all agents",
            "command": command,
            "scenario": args.scenario,
            "instance_seed": args.instance_seed,
            "seed": args.seed,
            "reward": args.reward,
            "observed_demand_only": True,
            "env_steps": last["env_steps"],
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
