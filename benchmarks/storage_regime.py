"""Where storage binds: for each point of a storage axis, does a placement change if C_n grows?

    python -m benchmarks.storage_regime --scenario llm --storage-gb 125,250,375,500,625 \
        --bytes-per-param 2,4 --seeds 3

A placement "binds" at C_n when it differs from the same algorithm's placement with unlimited
storage: the storage, not the algorithm's own stopping rule, decided what was cached. For the
probability-based placements of the paper's baselines (TrimCaching, coarse-grained caching)
and for the request-aware ones, the table gives, per storage point and bytes per parameter, the
share of seeds on which each binds, with the repository's size and the bytes its requested
models need. It tells which setting puts a figure's storage axis in the regime the paper
describes (delay falls as storage grows only where storage binds).
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np

from baselines.placement import (
    coarse_placement,
    expected_hit_placement,
    greedy_hit_placement,
    popularity_placement,
)
from fgamcd_env.core.presets import get_config
from fgamcd_env.core.scenario import make_instance

PLACEMENTS = {
    "trimcaching": expected_hit_placement,
    "coarse": popularity_placement,
    "trimcaching_known_requests": greedy_hit_placement,
    "coarse_known_requests": coarse_placement,
}
UNLIMITED_BYTES = 1e18


def binds(placement, scenario) -> bool:
    """Whether ``placement`` caches something else with unlimited storage."""
    free = dataclasses.replace(
        scenario, config=scenario.config.replace(storage_bytes=UNLIMITED_BYTES)
    )
    return not np.array_equal(placement(scenario), placement(free))


def table(scenario: str, storage_gb: list[float], bytes_per_param: list[int], seeds: int) -> str:
    """Markdown: per (bytes per parameter, storage point) the share of seeds each placement
    binds on, with the repository's size and the requested models' bytes."""
    lines = [
        f"Storage regime of `{scenario}` over seeds 0-{seeds - 1} (share of seeds on which the "
        "placement changes with unlimited storage):",
        "",
        "| bytes/param | repository (GB) | requested (GB) | C_n (GB) | "
        + " | ".join(PLACEMENTS)
        + " |",
        "|" + " --- |" * (4 + len(PLACEMENTS)),
    ]
    for bpp in bytes_per_param:
        for gb in storage_gb:
            cfg = get_config(
                scenario, storage_bytes=gb * 1e9, repository={"bytes_per_param": int(bpp)}
            )
            shares = dict.fromkeys(PLACEMENTS, 0)
            repo_gb = requested_gb = 0.0
            for seed in range(seeds):
                sc = make_instance(cfg, seed)
                sizes = sc.pb_sizes_bytes.astype(float)
                repo_gb = sizes.sum() / 1e9
                requested_gb += sizes[sc.demand.any(axis=1)].sum() / 1e9 / seeds
                for name, place in PLACEMENTS.items():
                    shares[name] += binds(place, sc)
            lines.append(
                f"| {bpp} | {repo_gb:.2f} | {requested_gb:.2f} | {gb:g} | "
                + " | ".join(f"{shares[n]}/{seeds}" for n in PLACEMENTS)
                + " |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="llm")
    ap.add_argument("--storage-gb", default="125,250,375,500,625")
    ap.add_argument("--bytes-per-param", default="2,4")
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args(argv)
    if args.seeds < 1:
        ap.error("--seeds must be >= 1")
    print(
        table(
            args.scenario,
            [float(v) for v in args.storage_gb.split(",")],
            [int(v) for v in args.bytes_per_param.split(",")],
            args.seeds,
        )
    )


if __name__ == "__main__":
    main()
