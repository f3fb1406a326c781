"""Drawing a problem instance (a ``Scenario``) from a ``ScenarioConfig`` and one generator.

Everything random comes from a single ``np.random.Generator`` in a fixed order (nodes, users,
requests, QoS, channels, backhaul), so the same seed gives the same instance bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from fgamcd_env.core.config import ScenarioConfig
from fgamcd_env.core.repository import Repository, build_repository

SeedLike = int | np.random.Generator | None


@dataclass(frozen=True, eq=False)
class Scenario:
    """One immutable FGAMCD instance. Shapes use N nodes, U users, M antennas, K PBs, J models."""

    config: ScenarioConfig
    seed: int | None  # the integer seed it was drawn from (None when drawn from a Generator)
    repository: Repository
    node_pos_m: np.ndarray  # (N, 2) [m]
    user_pos_m: np.ndarray  # (U, 2) [m]
    user_node: np.ndarray  # (U,) associated node of each user
    requests: np.ndarray  # (U,) requested model r_u
    qos_bps: np.ndarray  # (U,) Q_u [bit/s]
    distance_m: np.ndarray  # (N, U) node-user distances [m]
    channels: np.ndarray  # (K, N, U, M) complex estimated channels h~_{n,u}(k)
    error_shape: np.ndarray  # (N, U, M, M) C_{n,u} of the error ellipsoid e^H C e <= 1
    backhaul_bps: np.ndarray  # (K, N, N) R^bac_{n,m}(k) [bit/s]; +inf on the diagonal
    visibility: np.ndarray  # (N, N) bool varpi_{n,m}; True on the diagonal

    # ---- sizes -----------------------------------------------------------------------------
    @property
    def num_nodes(self) -> int:
        return self.config.num_nodes

    @property
    def num_users(self) -> int:
        return self.config.num_users

    @property
    def num_antennas(self) -> int:
        return self.config.num_antennas

    @property
    def num_pbs(self) -> int:
        return self.repository.num_pbs

    @property
    def num_models(self) -> int:
        return self.repository.num_models

    @property
    def pb_sizes_bytes(self) -> np.ndarray:
        return self.repository.pb_sizes_bytes

    # ---- derived quantities ----------------------------------------------------------------
    @cached_property
    def demand(self) -> np.ndarray:
        """(K, U) bool: 1{k in K_{r_u}}, user u needs PB k."""
        return _readonly(np.ascontiguousarray(self.repository.membership[self.requests].T))

    @cached_property
    def node_users(self) -> tuple[np.ndarray, ...]:
        """U_n for each node: the users associated with it, in increasing order."""
        return tuple(_readonly(np.flatnonzero(self.user_node == n)) for n in range(self.num_nodes))

    @cached_property
    def error_shape_inv(self) -> np.ndarray:
        """(N, U, M, M) C_{n,u}^{-1}, the matrices of the worst-case closed forms."""
        return _readonly(np.linalg.inv(self.error_shape))

    def summary(self) -> str:
        """A short human-readable description of the instance."""
        cfg, rep = self.config, self.repository
        demand = self.demand
        requested = demand.any(axis=1)
        sizes = rep.pb_sizes_bytes
        own_d = self.distance_m[self.user_node, np.arange(self.num_users)]
        lines = [
            f"scenario {cfg.name!r} seed={self.seed}",
            f"  nodes N={cfg.num_nodes}  users U={cfg.num_users}  antennas M={cfg.num_antennas}"
            f"  storage C_n={cfg.storage_bytes / 1e9:.3g} GB",
            f"  repository: {rep.config.kind} J={rep.num_models} models over K={rep.num_pbs} PBs,"
            f" {format_bytes(sizes.sum())} in all; PB sizes {format_bytes(sizes.min())}"
            f" .. {format_bytes(sizes.max())}",
            "  frozen blocks per base: "
            + ", ".join(
                f"{b} L={f} ({r:.2%})"
                for b, f, r in zip(
                    rep.config.bases, rep.frozen_blocks, rep.reuse_ratios, strict=True
                )
            ),
            f"  distinct requested models: {len(np.unique(self.requests))};"
            f" requested PBs: {int(requested.sum())}/{rep.num_pbs}"
            f" ({format_bytes(sizes[requested].sum())})",
            f"  user-to-own-node distance: {own_d.min():.1f} .. {own_d.max():.1f} m;"
            f" QoS {self.qos_bps.min() / 1e9:.2f} .. {self.qos_bps.max() / 1e9:.2f} Gbps",
            f"  visible node pairs (<= {cfg.visibility_radius_m:g} m): "
            f"{int((self.visibility.sum() - cfg.num_nodes) // 2)} of "
            f"{cfg.num_nodes * (cfg.num_nodes - 1) // 2}",
        ]
        return "\n".join(lines)


def format_bytes(size: float) -> str:
    """Decimal units, as the paper writes PB sizes (3.71 KB, 24.31 MB)."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if size >= scale:
            return f"{size / scale:.2f} {unit}"
    return f"{size:.0f} B"


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def zipf_probabilities(num_models: int, exponent: float) -> np.ndarray:
    """p_j = j^-iota / sum_i i^-iota for j = 1..J."""
    w = np.arange(1, num_models + 1, dtype=float) ** -exponent
    return w / w.sum()


def draw_node_positions(cfg: ScenarioConfig, rng: np.random.Generator) -> np.ndarray:
    """Uniform in the area (cells kept inside), rejecting draws closer than the min separation.

    Sequential draws can jam before N nodes fit (on ``paper`` with N = 12, two seeds in five do);
    the placement then starts over with the same generator, up to ``PLACEMENT_RESTARTS`` times.
    A placement that fits at once is unchanged by the restarts. N discs of diameter d = the min
    separation, centred in a square of side a, fit only if N pi d^2 / 4 <= 0.9069 (a + d)^2
    (the densest packing of the plane): beyond that it fails at once."""
    d = cfg.node_min_separation_m
    side = cfg.area_side_m - 2 * cfg.user_max_distance_m
    if cfg.num_nodes > 1 and cfg.num_nodes * np.pi * d**2 / 4 > 0.9069 * (side + d) ** 2:
        raise ValueError(
            f"ScenarioConfig.node_min_separation_m={d}: {cfg.num_nodes} nodes that far apart do "
            f"not fit in a {side} m square (the area less the cell radius on each side)"
        )
    for _ in range(PLACEMENT_RESTARTS):
        pos = _draw_node_positions_once(cfg, rng)
        if pos is not None:
            return pos
    raise ValueError(
        f"ScenarioConfig.node_min_separation_m={cfg.node_min_separation_m}: cannot place "
        f"{cfg.num_nodes} nodes that far apart in a {cfg.area_side_m} m square"
    )


PLACEMENT_RESTARTS = 200


def _draw_node_positions_once(
    cfg: ScenarioConfig, rng: np.random.Generator, tries: int = 10_000
) -> np.ndarray | None:
    """One sequential placement, None if a node finds no spot in ``tries`` draws."""
    lo, hi = cfg.user_max_distance_m, cfg.area_side_m - cfg.user_max_distance_m
    pos = np.empty((cfg.num_nodes, 2))
    for n in range(cfg.num_nodes):
        for _ in range(tries):
            p = rng.uniform(lo, hi, size=2)
            if n == 0 or np.min(np.hypot(*(pos[:n] - p).T)) >= cfg.node_min_separation_m:
                pos[n] = p
                break
        else:
            return None
    return pos


def steering_vectors(angles_rad: np.ndarray, num_antennas: int) -> np.ndarray:
    """Half-wavelength ULA response exp(j pi m sin(theta)), m = 0..M-1, shape angles + (M,)."""
    m = np.arange(num_antennas)
    return np.exp(1j * np.pi * np.sin(angles_rad)[..., None] * m)


def draw_channels(
    cfg: ScenarioConfig,
    num_pbs: int,
    node_pos: np.ndarray,
    user_pos: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """(K, N, U, M) estimated channels: sqrt(upsilon d^-alpha) * Rician(K-factor) per PB."""
    diff = user_pos[None, :, :] - node_pos[:, None, :]  # (N, U, 2)
    dist = np.hypot(diff[..., 0], diff[..., 1])
    los = steering_vectors(np.arctan2(diff[..., 1], diff[..., 0]), cfg.num_antennas)  # (N, U, M)
    kf = cfg.rician_factor
    shape = (num_pbs, cfg.num_nodes, cfg.num_users, cfg.num_antennas)
    nlos = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / np.sqrt(2.0)
    hbar = np.sqrt(kf / (kf + 1.0)) * los[None] + np.sqrt(1.0 / (kf + 1.0)) * nlos
    gain = np.sqrt(cfg.ref_gain * dist ** (-cfg.pathloss_exponent))  # (N, U)
    return hbar * gain[None, :, :, None]


def make_instance(cfg: ScenarioConfig, seed: SeedLike = None) -> Scenario:
    """Draw a full instance from ``cfg``; an int seed (or None for fresh entropy) or a Generator."""
    if isinstance(seed, np.random.Generator):
        rng, seed_int = seed, None
    else:
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % (2**63))
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed={seed!r}: must be a non-negative int, a Generator or None")
        seed_int = int(seed)
        rng = np.random.default_rng(seed_int)
    repo = build_repository(cfg.repository)
    n_nodes, n_users, n_ant = cfg.num_nodes, cfg.num_users, cfg.num_antennas

    node_pos = draw_node_positions(cfg, rng)
    user_node = np.arange(n_users) % n_nodes  # round robin: ceil(U/N) or floor(U/N) per node
    r = np.sqrt(rng.uniform(cfg.user_min_distance_m**2, cfg.user_max_distance_m**2, n_users))
    phi = rng.uniform(0.0, 2.0 * np.pi, n_users)
    user_pos = node_pos[user_node] + np.stack([r * np.cos(phi), r * np.sin(phi)], axis=1)
    requests = rng.choice(
        repo.num_models, size=n_users, p=zipf_probabilities(repo.num_models, cfg.zipf_exponent)
    )
    qos = rng.uniform(cfg.qos_min_bps, cfg.qos_max_bps, n_users)
    channels = draw_channels(cfg, repo.num_pbs, node_pos, user_pos, rng)
    backhaul = rng.uniform(
        cfg.backhaul_min_bps, cfg.backhaul_max_bps, (repo.num_pbs, n_nodes, n_nodes)
    )
    backhaul[:, np.arange(n_nodes), np.arange(n_nodes)] = np.inf

    diff = user_pos[None, :, :] - node_pos[:, None, :]
    distance = np.hypot(diff[..., 0], diff[..., 1])
    node_gap = np.hypot(*(node_pos[:, None, :] - node_pos[None, :, :]).transpose(2, 0, 1))
    error_shape = np.broadcast_to(
        cfg.csi_error_shape * np.eye(n_ant, dtype=complex), (n_nodes, n_users, n_ant, n_ant)
    ).copy()
    return Scenario(
        config=cfg,
        seed=seed_int,
        repository=repo,
        node_pos_m=_readonly(node_pos),
        user_pos_m=_readonly(user_pos),
        user_node=_readonly(user_node),
        requests=_readonly(requests),
        qos_bps=_readonly(qos),
        distance_m=_readonly(distance),
        channels=_readonly(channels),
        error_shape=_readonly(error_shape),
        backhaul_bps=_readonly(backhaul),
        visibility=_readonly(node_gap <= cfg.visibility_radius_m),
    )
