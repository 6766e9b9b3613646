"""The report of `experiments.transfer_regression`: the clipping floor of the offset sweep, the markdown tables of a
summary, and its figures (final error against the swept value, mean trajectories at its easiest and hardest value).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from devices.io import save_figure


def clip_floor(offset: float, w_star: float, n: int = 1_000_000, seed: int = 0) -> float:
    """The relative error ||clip(W*) - W*|| / ||W*|| of W* ~ U(-w_star, w_star) clipped to what a device can hold
    against a reference offset o ~ N(0, offset^2): W in [-1 - o, 1 - o] (w_max = 1), by Monte Carlo. A floor no
    algorithm can go below (the devices' own spread of their symmetry points is ignored).

    Args:
        offset: Reference offset std (weight units).
        w_star: Half-width of W*'s distribution.
        n: Monte Carlo draws.
        seed: Seed of the draws.

    Returns:
        The floor.
    """
    rng = np.random.default_rng(seed)
    w = rng.uniform(-w_star, w_star, n)
    o = offset * rng.standard_normal(n)
    return float(np.linalg.norm(np.clip(w, -1.0 - o, 1.0 - o) - w) / np.linalg.norm(w))


def _table(rows: list[dict], column: str, label: str, floors: dict | None = None) -> list[str]:
    algorithms = list(dict.fromkeys(r["algorithm"] for r in rows))
    values = list(dict.fromkeys(r[column] for r in rows))
    cell = {(r["algorithm"], r[column]): r for r in rows}
    extra = " clipping floor |" if floors else ""
    lines = [f"| {label} | " + " | ".join(algorithms) + f" |{extra}",
             "|---|" + "---|" * (len(algorithms) + bool(floors))]
    for v in values:
        cells = [f"{cell[a, v]['mean']:.4f} +- {cell[a, v]['se']:.4f} (lr {cell[a, v]['lr']:g})"
                 if (a, v) in cell else "-" for a in algorithms]
        if floors:
            cells.append(f"{floors[f'{v:g}']:.4f}")
        lines.append(f"| {v:g} | " + " | ".join(cells) + " |")
    return lines


def tables(summary: dict) -> str:
    """The markdown of a summary: final error vs reference offset, and vs number of states."""
    s = summary["settings"]
    lines = ["# Transfer algorithms on a linear regression: final weight error ||W - W*|| / ||W*||", "",
             f"W* ~ U(-{s['w_star']:g}, {s['w_star']:g}) [{s['size']}, {s['size']}], x ~ U(-1, 1), label noise "
             f"{s['noise']:g}, {s['steps']} samples (batch 1), {s['seeds']} seeds (mean +- standard error); the final "
             f"error is each run's mean over the last {100 * s['final_window']:g}% of the steps; the best of the "
             f"learning rates {', '.join(f'{lr:g}' for lr in s['lrs'])} (shown) per cell.", "",
             f"## Error vs reference offset std (units of w_max, half the range), {summary['offset_states']} states",
             "", *_table(summary["offset_sweep"], "offset", "offset std", summary.get("clip_floor")), "",
             "Clipping floor: the error of W* clipped to the weights a device can hold against its offset reference "
             "(W in [-1 - o, 1 - o], o ~ N(0, std^2); Monte Carlo): no algorithm can go below it.", "",
             "## Error vs number of states (range / dw_min), zero reference offset", "",
             *_table(summary["states_sweep"], "n_states", "states"), ""]
    return "\n".join(lines)


def plot(summary: dict, sweep: str, path: Path) -> Path:
    """Final error (mean +- standard error over seeds) against the swept value, and the mean trajectories at the
    sweep's hardest value (the largest offset, the fewest states) and at its easiest.

    Args:
        summary: `run_study`'s summary.
        sweep: "offset" or "states".
        path: PNG to write.

    Returns:
        The path written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = summary[f"{sweep}_sweep"]
    column = "offset" if sweep == "offset" else "n_states"
    algorithms = list(dict.fromkeys(r["algorithm"] for r in rows))
    colors = dict(zip(algorithms, plt.cm.tab10(np.arange(len(algorithms))), strict=True))
    values = sorted({r[column] for r in rows})
    hard, easy = (values[-1], values[0]) if sweep == "offset" else (values[0], values[-1])
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for alg in algorithms:
        mine = sorted((r for r in rows if r["algorithm"] == alg), key=lambda r: r[column])
        axes[0].errorbar([r[column] for r in mine], [r["mean"] for r in mine], yerr=[r["se"] for r in mine],
                         marker="o", ms=4, capsize=3, color=colors[alg], label=alg)
        for ax, v in ((axes[1], easy), (axes[2], hard)):
            r = next((r for r in mine if r[column] == v), None)
            if r:
                ax.plot(r["steps"], r["trajectory_mean"], color=colors[alg], label=f"{alg} (lr {r['lr']:g})")
    if sweep == "offset" and summary.get("clip_floor"):
        floor = sorted((float(k), v) for k, v in summary["clip_floor"].items() if v > 0)
        if floor:
            axes[0].plot(*zip(*floor, strict=True), "k--", lw=1, label="clipping floor")
    if sweep == "offset":
        axes[0].set(xlabel="reference offset std (units of w_max)",
                    title=f"final error, {summary['offset_states']} states")
        titles = (f"offset std {easy:g}", f"offset std {hard:g}")
    else:
        axes[0].set(xlabel="number of states (range / dw_min)", xscale="log", title="final error, offset 0")
        titles = (f"{easy:g} states", f"{hard:g} states")
    axes[0].set(ylabel="||W - W*|| / ||W*||", yscale="log")
    for ax, title in zip(axes[1:], titles, strict=True):
        ax.set(xlabel="samples", ylabel="||W - W*|| / ||W*|| (mean over seeds)", yscale="log",
               title=f"trajectory, {title}")
    for ax in axes:
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path, dpi=100)
