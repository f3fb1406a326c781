"""Environment speed: steps/s of a random policy, cold (episode 1) and memoised (episodes 2-5).

Every episode replays the same random action sequence, so episode 1 solves every beamforming
problem of a new instance and episodes 2.. find them all in the memo (static instance, the
paper's setting).

Run: ``python -m benchmarks.env_speed --scenario paper`` (``--beamformer`` to pick another
delivery method). ``--compare-legacy`` adds cold episodes with ``beamformer="fast_legacy"`` (the
solver ``"fast"`` replaced), interleaved with cold episodes of ``"fast"`` on fresh env objects
(``--repeats`` pairs), and prints the median cold steps/s of both. The compiled kernel of
``"fast"`` is loaded before any timing and its one-off load time per process is printed apart.
Single-threaded BLAS (one core), as the target is stated per core; wall-clock and CPU
(process) time are both reported, as the machine may be shared.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import fgamcd_env  # noqa: E402


def run(scenario: str, beamformer: str, episodes: int, seed: int) -> list[dict[str, float]]:
    env = fgamcd_env.parallel_env(scenario, seed=seed, beamformer=beamformer)
    n = env.config.num_nodes
    rows = []
    for ep in range(episodes):
        # the same random action sequence every episode: episodes 2.. replay memoised solves
        rng = np.random.default_rng(seed)
        env.reset(seed=seed)
        steps, bf_time, solves_before = 0, 0.0, env.memo_size
        t0, c0 = time.perf_counter(), time.process_time()
        while env.agents:
            # random policy: cache with prob. 1/2, migrate with prob. 1/4 per link
            acts = {
                a: np.concatenate([[rng.integers(0, 2)], rng.random(n - 1) < 0.25]).astype(int)
                for a in env.agents
            }
            _, _, _, _, infos = env.step(acts)
            steps += 1
            bf_time += infos["edge_0"]["beamforming_time_s"]
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        solves = env.memo_size - solves_before
        rows.append(
            {
                "episode": ep + 1,
                "steps": steps,
                "wall_s": wall,
                "steps_per_s": steps / wall,
                "cpu_steps_per_s": steps / cpu,
                "new_solves": solves,
                "beamforming_share": bf_time / wall if solves else 0.0,
                "total_delay_s": env.total_delay_s,
            }
        )
    return rows


def warm_kernels() -> float:
    """Load the compiled kernel of ``"fast"`` (one-off per process); seconds taken."""
    from fgamcd_env.beamforming.fast import warm_up

    return warm_up()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenario", default="paper")
    ap.add_argument("--beamformer", default="fast")
    ap.add_argument("--episodes", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--compare-legacy",
        action="store_true",
        help="also time cold episodes of fast_legacy, interleaved with fast",
    )
    ap.add_argument("--repeats", type=int, default=3, help="cold-episode pairs for --compare")
    args = ap.parse_args(argv)
    load = warm_kernels()
    print(f"one-off kernel load of 'fast' in this process: {load:.2f} s (not in the timings)")
    rows = run(args.scenario, args.beamformer, args.episodes, args.seed)
    print(f"env speed: scenario={args.scenario} beamformer={args.beamformer} (1 BLAS thread)")
    print(
        f"{'episode':>7} {'steps':>6} {'wall [s]':>9} {'steps/s':>10} {'cpu st/s':>9} "
        f"{'new solves':>10} {'bf share':>8}"
    )
    for r in rows:
        print(
            f"{r['episode']:7d} {r['steps']:6d} {r['wall_s']:9.3f} {r['steps_per_s']:10.1f} "
            f"{r['cpu_steps_per_s']:9.1f} {r['new_solves']:10d} {r['beamforming_share']:8.1%}"
        )
    warm = rows[1:]
    if warm:
        rate = sum(r["steps"] for r in warm) / sum(r["wall_s"] for r in warm)
        print(
            f"cold: {rows[0]['steps_per_s']:.1f} steps/s; memoised episodes 2-{len(rows)}: "
            f"{rate:.1f} steps/s"
        )
    if args.compare_legacy:
        cold: dict[str, list[dict[str, float]]] = {"fast": [], "fast_legacy": []}
        for _ in range(args.repeats):
            for bf in ("fast", "fast_legacy"):
                cold[bf].append(run(args.scenario, bf, 1, args.seed)[0])
        print(f"\ncold episodes, {args.repeats} interleaved pairs (median; wall and CPU time):")
        for bf, rs in cold.items():
            print(
                f"  {bf:<12} {np.median([r['steps_per_s'] for r in rs]):8.1f} steps/s wall, "
                f"{np.median([r['cpu_steps_per_s'] for r in rs]):8.1f} CPU; total delay "
                f"{rs[0]['total_delay_s']:.6g} s"
            )
        pairs = zip(cold["fast_legacy"], cold["fast"], strict=True)
        ratio = [a["wall_s"] / b["wall_s"] for a, b in pairs]
        print(f"  speed-up fast / fast_legacy (per pair, median): {np.median(ratio):.1f}x")


if __name__ == "__main__":
    main()
