"""Learning curves of `experiments.three_factor_gridworld`: steps to goal and return vs episode, mean and a band
of one standard deviation over seeds (smoothed over a few episodes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from devices.io import save_figure

# (panel title, selector of runs) for the four columns of the figure.
PANELS = (
    ("REINFORCE + per-synapse trace, by device", lambda r: not r["spiking"] and r["algorithm"] == "reinforce"
     and r["trace"] == "digital"),
    ("REINFORCE on bilayer, by trace option", lambda r: not r["spiking"] and r["algorithm"] == "reinforce"
     and r["backend"] in ("bilayer_ibm", "float") and (r["backend"] == "bilayer_ibm" or r["trace"] == "digital")),
    ("actor-critic (no trace), by device", lambda r: not r["spiking"] and r["algorithm"] == "actor_critic"
     and r["trace"] == "none"),
    ("spiking (LIF + three-factor STDP)", lambda r: r["spiking"]),
)


def smooth(y: np.ndarray, width: int) -> np.ndarray:
    """Moving average over `width` episodes (shorter at the start)."""
    c = np.cumsum(np.insert(np.asarray(y, float), 0, 0.0))
    n = np.minimum(np.arange(1, len(y) + 1), width)
    return (c[1:] - c[np.arange(1, len(y) + 1) - n]) / n


def label(r: dict) -> str:
    parts = [r["backend"]] + ([r["algorithm"]] if r["spiking"] else []) + ([r["trace"]] if r["trace"] != "none" else [])
    return " / ".join(parts)


def plot(results: dict, path: Path, width: int = 10) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(PANELS), figsize=(5 * len(PANELS), 7.5), sharey="row")
    meta = results["meta"]
    for col, (title, select) in enumerate(PANELS):
        runs = [r for r in results["runs"].values() if select(r)]
        for r in runs:
            for row, what in enumerate(("steps", "return")):
                mean = smooth(r["curves"][f"{what}_mean"], width)
                std = smooth(r["curves"][f"{what}_std"], width)
                x = np.arange(1, len(mean) + 1)
                style = dict(ls="--", color="k") if r["backend"] == "float" and not r["spiking"] else {}
                (line,) = axes[row, col].plot(x, mean, lw=1.4, label=label(r), **style)
                axes[row, col].fill_between(x, mean - std, mean + std, alpha=0.12, color=line.get_color())
        axes[0, col].axhline(meta["shortest_path"], color="grey", lw=0.8, ls=":", label="shortest path")
        axes[1, col].axhline(meta["optimal_return"], color="grey", lw=0.8, ls=":", label="optimal")
        axes[0, col].set(title=title, yscale="log", ylabel="steps to goal" if col == 0 else None)
        axes[1, col].set(xlabel="episode", ylabel="return" if col == 0 else None)
        axes[0, col].legend(fontsize=7)
        for row in range(2):
            axes[row, col].grid(True, which="both", alpha=0.3)
    s = meta["settings"]
    fig.suptitle(f"{s['size']}x{s['size']} gridworld, {s['seeds']} seeds (mean +- std, {width}-episode average)")
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)
