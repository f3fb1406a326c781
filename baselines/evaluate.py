"""Run a policy through the environment and report per-episode metrics as tidy rows."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from baselines.placement import served_users
from baselines.policy import Policy
from fgamcd_env.core import system
from fgamcd_env.core.config import ScenarioConfig
from fgamcd_env.env import FGAMCDParallelEnv


def episode_seed(seed: int, episode: int) -> int:
    """The ``reset`` seed of evaluation episode ``episode`` of run seed ``seed``."""
    return int(seed) + 1000 * int(episode)


def episode_metrics(env: FGAMCDParallelEnv) -> dict[str, Any]:
    """Metrics of the episode the env has just finished (or the steps taken so far).

    ``migrations`` counts the applied b_{n,m}; ``redundant_migrations`` those that changed no
    participation (:func:`fgamcd_env.core.system.redundant_migrations`).
    """
    hist = env.history
    used = env.storage_used_bytes
    row: dict[str, Any] = {
        "steps": len(hist),
        "total_delay_s": sum(t.delay_s for t in hist),
        "migration_delay_s": sum(t.migration_delay_s for t in hist),
        "broadcast_delay_s": sum(t.broadcast_delay_s for t in hist),
        "qos_infeasible_pbs": sum(t.qos_infeasible for t in hist),
        "undelivered_pbs": sum(t.no_delivery for t in hist),
        "requested_pbs": sum(t.requested for t in hist),
        "migrations": sum(int(m.sum()) for m in env.migrations),
        "redundant_migrations": sum(
            system.redundant_migrations(cache, m)
            for cache, m in zip(env.cache_state.T, env.migrations, strict=False)
        ),
        "return": sum(t.reward for t in hist),
        "hit_ratio": float(served_users(env.scenario, env.cache_state, "visible").mean()),
        "storage_max_fraction": float(used.max() / env.config.storage_bytes),
    }
    for n, b in enumerate(used):
        row[f"storage_used_bytes_{n}"] = float(b)
    return row


def evaluate(
    policy: Policy,
    scenario: str | ScenarioConfig = "paper",
    seeds: Iterable[int] = (0,),
    beamformer: str = "fast",
    episodes: int = 1,
    progress: bool = False,
    **env_kwargs: Any,
) -> list[dict[str, Any]]:
    """One row per (seed, episode): delays, QoS-infeasible and undelivered PBs, hit ratio, storage.

    The policy's own ``env_kwargs`` (e.g. TDMA delivery) take precedence over ``env_kwargs``.
    """
    seeds = list(seeds)
    kwargs = {"beamformer": beamformer, **env_kwargs, **policy.env_kwargs}
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(seeds) * episodes, desc=policy.name, unit="episode")
    rows = []
    for seed in seeds:
        env = FGAMCDParallelEnv(scenario=scenario, seed=seed, **kwargs)
        for episode in range(episodes):
            obs, _ = env.reset(seed=episode_seed(seed, episode))
            policy.reset(env)
            while env.agents:
                obs, *_ = env.step(policy.act(obs, env))
            rows.append(
                {
                    "policy": policy.name,
                    "scenario": env.config.name,
                    "seed": seed,
                    "episode": episode,
                    "beamformer": env.beamformer,
                    **episode_metrics(env),
                }
            )
            if bar is not None:
                bar.update()
    if bar is not None:
        bar.close()
    return rows
