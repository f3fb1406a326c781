"""Several FGAMCD copies stepping in parallel processes: SuperSuit and Gymnasium vector envs.

* SuperSuit: ``pettingzoo_env_to_vec_env_v1`` turns the parallel env into a vector env with one
  slot per agent (parameter-sharing learners such as Stable-Baselines3's PPO consume it), and
  ``concat_vec_envs_v1`` stacks ``num_copies`` copies of it, spread over ``num_cpus`` processes.
  Slot ``c * N + j`` is agent ``edge_j`` of copy c; episodes reset automatically.
* Gymnasium: ``AsyncVectorEnv`` over ``gymnasium.make("fgamcd/FGAMCD-Centralised-v0")``, the
  single-agent view (joint observation s(k), joint action of all N*N bits, team reward).

Both send the environment to worker processes by pickling it (SuperSuit copies the object with
cloudpickle, Gymnasium pickles the factory); FGAMCD pickles as it is, memo of solved beamforming
problems included. Run ``python examples/vector_envs.py --steps 200``.
"""

from __future__ import annotations

import argparse
import functools
import time
from typing import Any

import gymnasium
import numpy as np
import supersuit as ss

import fgamcd_env


def supersuit_vec_env(
    num_copies: int = 4,
    num_cpus: int = 2,
    scenario: str = "small",
    seed: int = 0,
    **env_kwargs: Any,
) -> gymnasium.vector.VectorEnv:
    """``num_copies`` x N agent slots; ``num_cpus`` > 1 steps the copies in worker processes."""
    if num_copies < 1 or num_cpus < 0:
        raise ValueError(f"num_copies={num_copies}, num_cpus={num_cpus}: need >= 1 and >= 0")
    par = fgamcd_env.parallel_env(scenario, seed=seed, beamformer="fast", **env_kwargs)
    per_agent = ss.pettingzoo_env_to_vec_env_v1(par)  # one vector slot per agent
    return ss.concat_vec_envs_v1(per_agent, num_copies, num_cpus=num_cpus, base_class="gymnasium")


def gymnasium_async_env(
    num_envs: int = 2, scenario: str = "small", seed: int = 0, **env_kwargs: Any
) -> gymnasium.vector.AsyncVectorEnv:
    """``num_envs`` centralised views, each in its own process (instance seeds seed + i)."""
    if num_envs < 1:
        raise ValueError(f"num_envs={num_envs}: need >= 1")
    fns = [
        functools.partial(
            gymnasium.make,
            "fgamcd/FGAMCD-Centralised-v0",
            scenario=scenario,
            seed=seed + i,
            beamformer="fast",
            **env_kwargs,
        )
        for i in range(num_envs)
    ]
    return gymnasium.vector.AsyncVectorEnv(fns)


def random_rollout(
    venv: gymnasium.vector.VectorEnv, steps: int, seed: int = 0
) -> dict[str, np.ndarray]:
    """Step ``venv`` with uniform random actions; return the actions, rewards and done flags."""
    rng = np.random.default_rng(seed)
    venv.reset(seed=seed)
    n = venv.num_envs
    nvec = _action_nvec(venv)
    acts, rews, dones = [], [], []
    for _ in range(steps):
        action = rng.integers(0, nvec, size=(n, len(nvec)))
        _obs, rew, term, trunc, _info = venv.step(action)
        acts.append(action)
        rews.append(np.asarray(rew, dtype=float))
        dones.append(np.logical_or(term, trunc))
    return {"actions": np.array(acts), "rewards": np.array(rews), "dones": np.array(dones)}


def _action_nvec(venv: gymnasium.vector.VectorEnv) -> np.ndarray:
    """Per-slot ``MultiDiscrete`` sizes (SuperSuit keeps the single space, Gymnasium batches)."""
    space = getattr(venv, "single_action_space", None)
    if space is None:
        space = venv.action_space
    return np.asarray(space.nvec)


def main(
    steps: int = 200,
    num_copies: int = 4,
    num_cpus: int = 2,
    scenario: str = "small",
    seed: int = 0,
) -> dict[str, Any]:
    """Random rollouts through both vector envs; wall times and episode counts per vector env."""
    out: dict[str, Any] = {}
    for name, make in (
        ("supersuit", lambda: supersuit_vec_env(num_copies, num_cpus, scenario, seed)),
        ("gymnasium_async", lambda: gymnasium_async_env(num_cpus, scenario, seed)),
    ):
        venv = make()
        try:
            t0 = time.perf_counter()
            roll = random_rollout(venv, steps, seed)
            wall = time.perf_counter() - t0
        finally:
            venv.close()
        out[name] = {
            "slots": int(venv.num_envs),
            "vector_steps": steps,
            "wall_s": wall,
            "slot_steps_per_s": steps * venv.num_envs / wall,
            "finished_episodes": int(roll["dones"].sum()),
            "mean_reward": float(roll["rewards"].mean()),
        }
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--num-copies", type=int, default=4)
    parser.add_argument("--num-cpus", type=int, default=2)
    parser.add_argument("--scenario", default="small")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for key, row in main(
        args.steps, args.num_copies, args.num_cpus, args.scenario, args.seed
    ).items():
        print(key, row)
