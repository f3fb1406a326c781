"""Fig. 6: the Theorem 1 bound on the Q-value error over (tau0, xi), and where its minimum lands.

The paper (section V-C) evaluates (34) with B_s = B_d = B_r = 1, psi_in = psi_re = psi_out = 0.5,
varsigma = 0.1, phi_in = 0.5, phi_out = 10, U = 201, L = 46.2 (gamma = 0.95, E = 600, K = 450)
and picks tau0 = 0.8, xi = 1.12. One cell is one reading of the OCR'd formula (see
``agents/theorem.py``) evaluated on a (tau0, xi) grid; the bound is closed form, so a cell takes
milliseconds and there is nothing random (``seeds`` is ignored).

Rows: one per grid point where K' > 0 (points with K' <= 0, where the bound is undefined, are
left out and shown grey in the plots), with the bound, K', nu_max and the two error terms.

Run: ``fgamcd-bench run fig6`` (or ``--quick`` for coarser grids).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from agents.theorem import (
    PAPER_POINT,
    BoundConstants,
    effective_samples,
    error_terms,
    grid,
    infimum,
    optimal_samples,
    q_error_bound,
    search,
    valley_xi,
)

NAME = "fig6"
TITLE = "Upper bound of the Q-value error (Theorem 1) versus tau0 and xi"
NEEDS_AGENTS = False

_XI_MIN, _XI_MAX = 0.01, 2.5


def cells(quick: bool, seeds: int | None) -> list[dict]:
    """One cell per reading of (34)/(35)/(47); the printed reading on the finest grid."""
    del seeds  # deterministic closed form
    steps = {  # reading -> (tau0 step, xi step)
        "printed": (0.05, 0.02) if quick else (0.01, 0.01),
        "clipped": (0.1, 0.05) if quick else (0.02, 0.02),
        "linear_d": (0.1, 0.05) if quick else (0.02, 0.02),
    }
    out = []
    for reading, (t_step, x_step) in steps.items():
        out.append(
            {
                "figure": NAME,
                "reading": reading,
                "tau0_step": t_step,
                "xi_min": max(x_step, _XI_MIN),
                "xi_max": _XI_MAX,
                "xi_step": x_step,
            }
        )
    return out


def run_cell(spec: dict) -> list[dict]:
    """Evaluate the bound of one reading on the cell's grid; rows for points with K' > 0."""
    c = BoundConstants(reading=spec["reading"])
    taus = grid(0.0, 1.0, float(spec["tau0_step"]))
    xis = grid(float(spec["xi_min"]), float(spec["xi_max"]), float(spec["xi_step"]))
    terms = error_terms(taus[:, None], xis[None, :], c)
    rows = []
    for i, j in zip(*np.nonzero(np.isfinite(terms["bound"])), strict=True):
        rows.append(
            {
                **spec,
                "tau0": float(taus[i]),
                "xi": float(xis[j]),
                "bound": float(terms["bound"][i, j]),
                "k_prime": float(terms["k_prime"][i, j]),
                "nu_max": float(terms["nu_max"][i, j]),
                "statistical": float(terms["statistical"][i, j]),
                "algorithmic": float(terms["algorithmic"][i, j]),
                "grid_points": int(taus.size * xis.size),
            }
        )
    return rows


# ----------------------------------------------------------------------------- analysis


def _argmin(df: Any) -> Any:
    return df.loc[df["bound"].idxmin()]


def _paper_style(xi_floor: float) -> tuple[float, float]:
    """Argmin of the printed bound over tau0 in {0.1, ..., 1.0}, xi in {xi_floor, +0.01, ..., 2.5}.

    Evaluated directly (closed form) so it does not depend on the cell's grid.
    """
    s = search(grid(0.1, 1.0, 0.1), grid(xi_floor, _XI_MAX, 0.01))
    return s.best_tau0, s.best_xi


def _analysis(df: Any) -> list[dict[str, Any]]:
    out = []
    for reading, sub in df.groupby("reading", sort=False):
        c = BoundConstants(reading=reading)
        best = _argmin(sub)
        paper_bound = float(q_error_bound(*PAPER_POINT, c))
        out.append(
            {
                "reading": reading,
                "grid": f"tau0 0:{sub['tau0_step'].iloc[0]}:1, xi {sub['xi_min'].iloc[0]}:"
                f"{sub['xi_step'].iloc[0]}:{sub['xi_max'].iloc[0]}",
                "best": best,
                "paper_bound": paper_bound,
                "paper_k": float(effective_samples(*PAPER_POINT, c)),
                "k_star": optimal_samples(c),
            }
        )
    return out


def summary(df: Any) -> str:
    """Where the minimum lands for each reading, against the paper's (0.8, 1.12)."""
    if df.empty:
        return "No rows."
    lines = [
        "| reading | grid | argmin (tau0, xi) | min bound | K' there | bound at (0.8, 1.12) "
        "| excess | K' at (0.8, 1.12) | K'* |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    info = _analysis(df)
    for a in info:
        b = a["best"]
        excess = (a["paper_bound"] - b["bound"]) / b["bound"]
        lines.append(
            f"| {a['reading']} | {a['grid']} | ({b['tau0']:.2f}, {b['xi']:.2f}) | "
            f"{b['bound']:.2f} | {b['k_prime']:.1f} | {a['paper_bound']:.2f} | "
            f"{excess:+.2e} | {a['paper_k']:.1f} | {a['k_star']:.2f} |"
        )
    lines.append("")
    printed = next((a for a in info if a["reading"] == "printed"), None)
    if printed is None:
        return "\n".join(lines)
    b = printed["best"]
    c = BoundConstants()
    r11, r10 = _paper_style(1.1), _paper_style(1.0)
    agree_grid = (round(float(b["tau0"]), 2), round(float(b["xi"]), 2)) == PAPER_POINT
    excess = printed["paper_bound"] - b["bound"]
    paragraphs = [
        f"**Paper: (tau0, xi) = {PAPER_POINT}. Ours (printed formula, whole grid of this run): "
        f"({b['tau0']:.2f}, {b['xi']:.2f}) -> "
        f"{'agree' if agree_grid else 'disagree as a strict argmin'}.**",
        f"Why: (tau0, xi) enter the bound only through K' = K(1 + tau0 - tau0 A / xi) "
        f"(A = {c.markov_mass:.4f}) and the linear term {c.xi_slope:.2f} xi. The one-step "
        f"error (35) has an interior optimum K'* = {printed['k_star']:.2f} (its D2 = "
        "4 sqrt(2K') + 52 term grows with K'), so the bound has a flat valley "
        "xi = tau0 A / (1 + tau0 - K'*/K) along which only the linear term changes; it has no "
        f"minimiser (infimum {infimum(c):.2f}, approached as (tau0, xi) -> (0, 0)), and a grid "
        "search returns the valley point the grid happens to favour.",
        f"The paper's point lies on that valley: K'(0.8, 1.12) = {printed['paper_k']:.2f} vs "
        f"K'* = {printed['k_star']:.2f}, valley xi at tau0 = 0.8 is {float(valley_xi(0.8)):.4f}, "
        f"and its bound exceeds our grid minimum by {excess:.2f} ({excess / b['bound']:.1e} "
        "relative): consistent with the formula, and indistinguishable on a plot of the surface.",
        f"On a paper-style grid tau0 in {{0.1, ..., 1.0}}, xi in [1.1, 2.5] in 0.01 steps the "
        f"argmin is ({r11[0]:.2f}, {r11[1]:.2f}); with xi in [1.0, 2.5] it is "
        f"({r10[0]:.2f}, {r10[1]:.2f}). The paper does not state its grid, so which restriction "
        "(if any) produced its pick cannot be told from the text.",
        f"Side effect worth knowing: at (0.8, 1.12) K' = {printed['paper_k'] / c.steps:.2f} K < K, "
        "because xi < A makes the Markov bound of (43) negative; the printed bound rewards "
        "*fewer* effective samples there, the opposite of the paper's reading that augmentation "
        "enlarges K'. The 'clipped' reading (probability clipped at 0) never penalises "
        "augmentation and puts the minimum at tau0 = 0 / smallest xi; 'linear_d' "
        "(D1 = 8 sqrt(2) K' + 256/V) has K'* = "
        f"{optimal_samples(c.replace(reading='linear_d')):.2f} and leaves the paper's point far "
        "off its valley.",
    ]
    return "\n".join(lines) + "\n" + "\n\n".join(paragraphs)


# ----------------------------------------------------------------------------- plots


def _surface(sub: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(tau0, xi, Z) with Z[i, j] the bound, NaN where K' <= 0 (rows left out)."""
    piv = sub.pivot_table(index="tau0", columns="xi", values="bound", aggfunc="first")
    taus = grid(0.0, 1.0, float(sub["tau0_step"].iloc[0]))
    xis = grid(
        float(sub["xi_min"].iloc[0]), float(sub["xi_max"].iloc[0]), float(sub["xi_step"].iloc[0])
    )
    piv = piv.reindex(index=taus, columns=xis)
    return taus, xis, piv.to_numpy(dtype=float)


def _heat(ax: Any, sub: Any, reading: str, fig: Any) -> None:
    c = BoundConstants(reading=reading)
    taus, xis, z = _surface(sub)
    best = _argmin(sub)
    floor = infimum(c) if reading != "clipped" else float(best["bound"]) - 1.0
    excess = np.log10(np.maximum(z - floor, 1e-12))
    masked = np.ma.masked_invalid(excess)
    ax.set_facecolor("0.8")  # K' <= 0: undefined
    mesh = ax.pcolormesh(xis, taus, masked, shading="nearest", cmap="viridis")
    fig.colorbar(mesh, ax=ax, label="log10(bound - reference)")
    if reading != "clipped":
        tt = np.linspace(0.01, 1.0, 200)
        ax.plot(valley_xi(tt, c), tt, "w--", lw=1, label="valley K' = K'*")
    ax.axvline(c.markov_mass, color="w", ls=":", lw=1, label="xi = A (K' = K)")
    ax.plot(
        best["xi"],
        best["tau0"],
        "r*",
        ms=12,
        label=f"argmin ({best['tau0']:.2f}, {best['xi']:.2f})",
    )
    ax.plot(PAPER_POINT[1], PAPER_POINT[0], "kx", ms=10, mew=2, label="paper (0.8, 1.12)")
    ax.set_xlabel("xi")
    ax.set_ylabel("tau0")
    ax.set_title(f"reading: {reading}")
    ax.legend(loc="lower right", fontsize=7)


def plot(df: Any, out_dir: Path) -> list[Path]:
    """fig6_bound.png (surface and heat map, printed reading), fig6_readings.png (all)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    readings = list(dict.fromkeys(df["reading"]))
    if "printed" in readings:
        sub = df[df["reading"] == "printed"]
        taus, xis, z = _surface(sub)
        fig = plt.figure(figsize=(13, 5.2))
        ax3 = fig.add_subplot(1, 2, 1, projection="3d")
        x_mesh, t_mesh = np.meshgrid(xis, taus)
        cap = float(q_error_bound(0.0, _XI_MAX))  # no augmentation: the plateau K' = K
        zc = np.minimum(np.where(np.isfinite(z), z, cap), cap)  # flatten the steep K' -> 0 edge
        ax3.plot_surface(
            x_mesh,
            t_mesh,
            zc,
            cmap="viridis",
            linewidth=0,
            antialiased=True,
            rcount=100,
            ccount=125,
        )
        ax3.view_init(elev=28, azim=-60)
        best = _argmin(sub)
        ax3.scatter([best["xi"]], [best["tau0"]], [best["bound"]], color="r", s=40, label="argmin")
        ax3.scatter(
            [PAPER_POINT[1]],
            [PAPER_POINT[0]],
            [float(q_error_bound(*PAPER_POINT))],
            color="k",
            marker="x",
            s=50,
            label="paper",
        )
        ax3.set_xlabel("xi")
        ax3.set_ylabel("tau0")
        ax3.set_zlabel("bound (34)")
        ax3.set_title(f"bound surface (capped at {cap:.0f}, the tau0 = 0 value)")
        ax3.legend(loc="upper left", fontsize=7)
        _heat(fig.add_subplot(1, 2, 2), sub, "printed", fig)
        fig.suptitle(TITLE)
        fig.subplots_adjust(left=0.02, right=0.95, bottom=0.1, top=0.88, wspace=0.15)
        path = out_dir / "fig6_bound.png"
        fig.savefig(path, dpi=130)
        plt.close(fig)
        paths.append(path)
    fig, axes = plt.subplots(1, len(readings), figsize=(5.5 * len(readings), 4.6), squeeze=False)
    for ax, reading in zip(axes[0], readings, strict=True):
        _heat(ax, df[df["reading"] == reading], reading, fig)
    fig.suptitle("Fig. 6 under each reading of the OCR'd formula")
    fig.subplots_adjust(left=0.05, right=0.97, bottom=0.12, top=0.86, wspace=0.3)
    path = out_dir / "fig6_readings.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    paths.append(path)
    return paths
