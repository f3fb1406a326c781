"""``rgb_array`` rendering with matplotlib (imported lazily: only the render modes need it)."""

from __future__ import annotations

from typing import Any

import numpy as np

from fgamcd_env.core.scenario import Scenario

_FIGURES: list[Any] = []


def render_rgb(scenario: Scenario, last: dict[str, Any]) -> np.ndarray:
    """Area map: nodes (filled when they hold the current PB), users coloured by association,
    requesting users ringed, migration links as arrows. Returns (H, W, 3) uint8."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if not _FIGURES:
        _FIGURES.append(plt.figure(figsize=(5, 5), dpi=80))
    fig = _FIGURES[0]
    fig.clf()
    ax = fig.add_subplot(1, 1, 1)
    side = scenario.config.area_side_m
    colours = plt.get_cmap("tab10")(np.arange(scenario.num_nodes) % 10)
    users = scenario.user_pos_m
    ax.scatter(users[:, 0], users[:, 1], s=12, c=colours[scenario.user_node], zorder=2)
    k = last.get("k")
    if k is not None:
        req = scenario.demand[k]
        ax.scatter(
            users[req, 0],
            users[req, 1],
            s=60,
            facecolors="none",
            edgecolors="k",
            linewidths=0.8,
            zorder=3,
        )
    lam = last.get("lam", np.zeros(scenario.num_nodes, bool))
    cache = last.get("cache", np.zeros(scenario.num_nodes, bool))
    nodes = scenario.node_pos_m
    for n in range(scenario.num_nodes):
        face = colours[n] if lam[n] else "white"
        ax.scatter(
            *nodes[n], marker="^", s=160, c=[face], edgecolors=[colours[n]], linewidths=2, zorder=4
        )
        ax.annotate(
            f"{n}{'*' if cache[n] else ''}",
            nodes[n],
            textcoords="offset points",
            xytext=(6, 6),
            fontsize=8,
        )
    migrate = last.get("migrate")
    if migrate is not None:
        for src, dst in zip(*np.nonzero(migrate), strict=True):
            ax.annotate(
                "",
                xy=nodes[dst],
                xytext=nodes[src],
                arrowprops={"arrowstyle": "->", "color": "crimson", "lw": 1.5},
            )
    ax.set_xlim(0, side)
    ax.set_ylim(0, side)
    ax.set_aspect("equal")
    title = f"PB k={k}" if k is not None else "reset"
    ax.set_title(f"FGAMCD {scenario.config.name}: {title}", fontsize=9)
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())
    return np.ascontiguousarray(rgba[..., :3])


def close_figures() -> None:
    if _FIGURES:
        import matplotlib.pyplot as plt

        for fig in _FIGURES:
            plt.close(fig)
        _FIGURES.clear()
