"""The training loop of Algorithm 1 as an importable function: ``train(TrainConfig) -> result``.

A run directory (``out``) holds ``config.json``, ``log.csv`` (one row per episode: return,
total delay, QoS-infeasible and undelivered PBs, synthetic samples, losses, wall time),
``checkpoint.pt`` (written atomically every ``checkpoint_every`` episodes and at the end: learner
networks, target networks, optimisers, replay buffer, predictor, every RNG state, the log) and
``result.json`` (curve, evaluation rows of the greedy policy in ``baselines.evaluate``'s
format). With ``select_every`` the checkpoint also holds the best greedy policy seen so far
(``"best"``), which the evaluation and :func:`agents.policy.load_policy` use. ``resume=True``
continues from ``checkpoint.pt`` exactly: the same seed gives the same
weights whether or not the run was interrupted. SIGINT (Ctrl-C) or SIGTERM during training
finishes the current episode, checkpoints it and raises :class:`TrainingInterrupted`; a second
Ctrl-C interrupts at once (losing the episodes since the last checkpoint).
"""

from __future__ import annotations

import contextlib
import csv
import json
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from agents.config import TrainConfig
from agents.learner import Dims, cache_permissions, fixed_placement
from agents.policy import (
    LearnedPolicy,
    build_learner,
    policy_snapshot,
    restore_policy,
    unpack_obs,
)
from fgamcd_env.atomic import atomic_write, atomic_write_text
from fgamcd_env.env import FGAMCDParallelEnv

CHECKPOINT = "checkpoint.pt"
# Seconds of each training episode by component (log.csv columns): env reset and steps, action
# selection, data augmentation, gradient steps (with replay sampling), the rest of the loop.
TIME_COLUMNS = ("time_env_s", "time_act_s", "time_aug_s", "time_update_s", "time_other_s")


class ResumeMismatchError(ValueError):
    """``resume=True`` with a configuration other than the checkpoint's."""


class TrainingInterrupted(KeyboardInterrupt):
    """A signal stopped training after a finished episode, which was checkpointed."""

    def __init__(self, signum: int, episodes: int, checkpoint: Path | None) -> None:
        where = (
            f"checkpoint {checkpoint}; resume=True (--resume) continues it"
            if checkpoint is not None
            else "no run directory, nothing saved"
        )
        super().__init__(f"{signal.Signals(signum).name} after episode {episodes}: {where}")
        self.signum, self.episodes, self.checkpoint = signum, episodes, checkpoint


@contextlib.contextmanager
def stop_after_episode() -> Iterator[dict[str, int | None]]:
    """Defer SIGINT/SIGTERM: the first sets ``flag["signal"]`` for the loop to act on at the end
    of an episode (checkpoints stay consistent); a second Ctrl-C raises KeyboardInterrupt at
    once. A repeated SIGTERM does not: a process pool whose sibling worker died terminates every
    worker again, which must not cost the checkpoint.

    Handlers can only be set in the main thread; elsewhere, and for a signal the process
    ignores (SIGINT in a background job), nothing changes. The old handlers come back on exit.
    """
    flag: dict[str, int | None] = {"signal": None}
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def defer(signum: int, frame: Any) -> None:
        if flag["signal"] is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        if flag["signal"] is None:
            flag["signal"] = signum

    old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s, h in old.items():
        if h is not signal.SIG_IGN:
            signal.signal(s, defer)
    try:
        yield flag
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def make_env(cfg: TrainConfig, seed: int | None = None) -> FGAMCDParallelEnv:
    """The env ``cfg`` trains in: its instance, the learners' reward and action restrictions."""
    return FGAMCDParallelEnv(
        scenario=cfg.run.scenario,
        seed=cfg.run.seed if seed is None else seed,
        beamformer=cfg.run.beamformer,
        **cfg.train_env_options,
        **cfg.run.overrides,
    )


def save_checkpoint(obj: Any, path: Path) -> None:
    """``torch.save`` of ``obj`` to ``path``, atomically."""
    with atomic_write(path, "wb") as fh:
        torch.save(obj, fh)


def write_json(obj: Any, path: Path) -> None:
    """``obj`` as JSON in ``path``, atomically (numpy scalars as floats)."""
    atomic_write_text(path, json.dumps(obj, indent=1, default=float))


def _write_log(rows: list[dict[str, Any]], path: Path) -> None:
    """``path`` holds exactly ``rows`` (none: no file), whatever an earlier run left there."""
    if not rows:
        path.unlink(missing_ok=True)
        return
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with atomic_write(path, newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)


def run_episode(
    env: FGAMCDParallelEnv,
    learner: Any,
    episode: int,
    explore: bool,
    seed: int,
    times: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Play one episode, recording real transitions into the learner; return its metrics.
    ``times``, if given, receives the seconds spent in the env (``time_env_s``: reset and
    steps) and in action selection (``time_act_s``)."""
    clock = time.perf_counter
    t_env = t_act = 0.0
    t0 = clock()
    obs_d, _ = env.reset(seed=seed)
    t_env += clock() - t0
    agents = env.possible_agents
    learner.begin_episode()
    obs = unpack_obs(obs_d, agents)
    masked = learner.cfg.env.mask_observed_demand
    plan = fixed_placement(learner.cfg.env.placement, env.scenario)
    ok = cache_permissions(env, masked, plan)
    ret = 0.0
    done = False
    while not done:
        t0 = clock()
        act = learner.act(obs, ok, explore, episode)
        t1 = clock()
        step = env.step_array(act)
        t_env += clock() - t1
        t_act += t1 - t0
        done = step.done
        nxt = obs if done else step.observations
        # the next step's permissions, also what the learner acts on next
        ok = np.zeros(len(agents), dtype=bool) if done else cache_permissions(env, masked, plan)
        ret += step.terms.reward  # (12), whatever reward the env pays
        learner.record(obs, step.applied, step.reward, nxt, done, ok)
        obs = nxt
    ep = env.episode_summary()
    if times is not None:
        times["time_env_s"], times["time_act_s"] = t_env, t_act
    return {
        "return": ret,
        "total_delay_s": ep["total_delay_s"],
        "qos_infeasible_pbs": ep["qos_infeasible"],
        "undelivered_pbs": ep["no_delivery"],
    }


def greedy_episode(env: FGAMCDParallelEnv, learner: Any, episode: int, seed: int) -> dict[str, Any]:
    """One greedy episode for policy selection; its transitions are not learned from."""
    out = run_episode(env, learner, episode, False, seed)
    learner.begin_episode()  # drop the recorded transitions
    return out


def _rng_state(rng: np.random.Generator) -> dict[str, Any]:
    return {"numpy": rng.bit_generator.state, "torch": torch.get_rng_state()}


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Train ``cfg.run.algo`` for ``cfg.run.episodes`` episodes; evaluate the greedy policy.

    Returns ``{"config", "curve", "eval_rows", "checkpoint", "wall_time_s", "eval_wall_s"}``;
    ``curve`` is the per-episode log, ``eval_rows`` the rows of ``baselines.evaluate`` for the
    greedy policy, ``wall_time_s`` the training episodes' seconds summed over every resumed
    session, ``eval_wall_s`` the seconds of that final evaluation.
    Raises :class:`TrainingInterrupted` (after checkpointing) on SIGINT/SIGTERM.
    """
    # Multi-threaded OpenBLAS on a loaded 2-core machine made a Cholesky 25x slower: numpy's
    # BLAS (env, ESN) gets one thread; torch_threads applies to torch (the gradient steps).
    with threadpool_limits(limits=1, user_api="blas"), stop_after_episode() as stop:
        return _train(cfg, stop)


def _train(cfg: TrainConfig, stop: dict[str, int | None]) -> dict[str, Any]:
    from baselines.evaluate import evaluate

    # torch_threads defaults to 1: on an idle 2-core machine two threads take a MAASN-DA step
    # on `paper` from 17.7 to 11.5 ms, but with one other busy process on the cores from 22 to
    # 34-77 ms (OpenMP threads wait for each other at every operation)
    torch.set_num_threads(cfg.run.torch_threads)
    out = cfg.output.out
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    env = make_env(cfg)
    dims = Dims.of(env)
    rng = np.random.default_rng(cfg.rng_seed)
    learner = build_learner(cfg, dims, rng)
    curve: list[dict[str, Any]] = []
    start, elapsed = 0, 0.0
    best: dict[str, Any] | None = None  # with select_every: episode, return, delay, modules
    ckpt = None if out is None else out / CHECKPOINT
    if cfg.output.resume:
        if ckpt is None or not ckpt.exists():
            raise FileNotFoundError(f"resume=True but there is no checkpoint at {ckpt}")
        state = torch.load(ckpt, map_location="cpu", weights_only=False)
        saved = TrainConfig.from_json(state["config"])
        if saved.digest() != cfg.digest():
            changed = sorted(
                k for k, v in cfg.to_json().items() if saved.to_json().get(k) != v and k != "output"
            )
            raise ResumeMismatchError(
                f"{ckpt} was written by a different configuration (groups that differ: "
                f"{', '.join(changed) or 'none outside output'}); resume with the same settings, "
                "or train into a new --out"
            )
        learner.load_state_dict(state["learner"])
        rng.bit_generator.state = state["rng"]["numpy"]
        torch.set_rng_state(state["rng"]["torch"])
        curve, start, elapsed = state["curve"], state["episode"], state["wall_time_s"]
        best = state.get("best")
        del state  # it holds a copy of the whole replay buffer
    if out is not None:
        write_json(cfg.to_json(), out / "config.json")
        _write_log(curve, out / "log.csv")  # drops rows of episodes a kill lost, or a fresh start's
    writer = None
    if cfg.output.tensorboard and out is not None:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(out / "tb"))

    def save(episode: int) -> None:
        if ckpt is None:
            return
        save_checkpoint(
            {
                "config": cfg.to_json(),
                "dims": dims.__dict__,
                "learner": learner.state_dict(),
                "rng": _rng_state(rng),
                "curve": curve,
                "episode": episode,
                "wall_time_s": elapsed,
                "best": best,
            },
            ckpt,
        )

    bar = None
    if cfg.output.progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.run.episodes, initial=start, desc=cfg.label, unit="ep")
    for e in range(start, cfg.run.episodes):
        t0 = time.perf_counter()
        times: dict[str, float] = {}
        row: dict[str, Any] = {
            "episode": e,
            **run_episode(env, learner, e, True, cfg.run.seed, times),
        }
        row.update(learner.end_episode(e))
        row.update(times)
        if cfg.run.select_every:
            row["greedy_return"] = row["greedy_delay_s"] = float("nan")
            if (e + 1) % cfg.run.select_every == 0 or e + 1 == cfg.run.episodes:
                g = greedy_episode(env, learner, e, cfg.run.seed)
                row["greedy_return"], row["greedy_delay_s"] = g["return"], g["total_delay_s"]
                if best is None or g["return"] >= best["return"]:
                    best = {
                        "episode": e + 1,
                        "return": g["return"],
                        "total_delay_s": g["total_delay_s"],
                        "modules": policy_snapshot(learner),
                    }
        row["wall_s"] = time.perf_counter() - t0
        row["time_other_s"] = row["wall_s"] - sum(row.get(k, 0.0) for k in TIME_COLUMNS[:-1])
        elapsed += row["wall_s"]
        curve.append(row)
        if out is not None:
            with (out / "log.csv").open("a", newline="") as f:
                w = csv.DictWriter(f, fieldnames=list(row))
                if f.tell() == 0:
                    w.writeheader()
                w.writerow(row)
        if writer is not None:
            for k, v in row.items():
                if k != "episode" and isinstance(v, (int, float)) and np.isfinite(v):
                    writer.add_scalar(k, v, e)
        if bar is not None:
            bar.set_postfix(ret=f"{row['return']:.1f}", delay=f"{row['total_delay_s']:.3f}s")
            bar.update()
        if (
            (e + 1) % cfg.output.checkpoint_every == 0
            or e + 1 == cfg.run.episodes
            or stop["signal"]
        ):
            save(e + 1)
        if stop["signal"] is not None:
            if bar is not None:
                bar.close()
            if writer is not None:
                writer.close()
            raise TrainingInterrupted(stop["signal"], e + 1, ckpt)
    if bar is not None:
        bar.close()
    if writer is not None:
        writer.close()

    if best is not None:
        restore_policy(learner, best["modules"])
    policy = LearnedPolicy(learner)
    t_eval = time.perf_counter()
    eval_rows = evaluate(
        policy,
        make_env_config(cfg),
        seeds=cfg.run.eval_seeds or (cfg.run.seed,),
        beamformer=cfg.run.beamformer,
        **cfg.env_options,
    )
    result = {
        "config": cfg.to_json(),
        "label": cfg.label,
        "curve": curve,
        "eval_rows": eval_rows,
        "checkpoint": None if ckpt is None else str(ckpt),
        "wall_time_s": elapsed,
        "eval_wall_s": time.perf_counter() - t_eval,
        "selected": None
        if best is None
        else {k: best[k] for k in ("episode", "return", "total_delay_s")},
    }
    if out is not None:
        write_json(result, out / "result.json")
    return result


def read_finished_run(run_dir: Path) -> tuple[TrainConfig, dict[str, Any]]:
    """The config and ``result.json`` of a finished ``fgamcd-train`` run: every episode logged
    and the greedy evaluation done (ValueError otherwise)."""
    try:
        cfg = TrainConfig.from_json(json.loads((run_dir / "config.json").read_text()))
        res = json.loads((run_dir / "result.json").read_text())
    except (OSError, ValueError, TypeError) as exc:
        raise ValueError(f"{run_dir}: not a finished fgamcd-train run ({exc})") from exc
    logged = len(res.get("curve") or [])
    if logged != cfg.run.episodes or not res.get("eval_rows"):
        raise ValueError(
            f"{run_dir}: {logged} of {cfg.run.episodes} episodes and "
            f"{len(res.get('eval_rows') or [])} evaluation rows; finish it first "
            "(fgamcd-train ... --resume)"
        )
    return cfg, res


def make_env_config(cfg: TrainConfig):  # -> ScenarioConfig
    """The scenario config a run trains on (preset + overrides), for evaluation."""
    from fgamcd_env.core.presets import get_config

    return get_config(cfg.run.scenario, **cfg.run.overrides)
