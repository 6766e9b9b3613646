"""The report of the GV2016 tolerance study: per-axis figures, a summary table (markdown and JSON), tolerances.

Reads each network's `results.json` under `OUT/runs/`; networks still training appear in the curves with the
epochs they finished and are left out of the final errors and tolerances (the table says how many seeds count).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from crossbar.sweep.tolerance import tolerance
from crossbar.training.checkpoint import atomic_write, save_json
from devices.io import save_figure


def _read(runs_dir: Path, name: str, epochs: int) -> tuple[list[float], float]:
    """(test error per finished epoch, final test error or NaN if the run has not finished)."""
    try:
        results = json.loads((runs_dir / name / "results.json").read_text())
    except (OSError, ValueError):
        return [], np.nan
    (backend,) = results["backends"].values()
    curve = [backend["initial_test_error"], *backend["test_error"]]
    finished = results["epochs_done"] >= epochs and "retention" in backend
    return curve, (curve[-1] if finished else np.nan)


def _fmt(x: float, digits: int = 3) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.{digits}g}"


def tolerance_label(t: dict | None) -> str:
    """A short form of the tolerance, for a figure title."""
    if t is None:
        return "runs unfinished"
    lo, hi = t["bracket"]
    if t["status"] == "not_reached":
        return f"beyond {_fmt(lo)}"
    if t["status"] == "baseline_exceeds":
        return f"below {_fmt(hi)}"
    return _fmt(t["tolerance"]) + ("" if not np.isfinite(t["std"]) else f" +- {_fmt(t['std'], 2)}")


def tolerance_text(t: dict | None) -> str:
    """The tolerance with what it means, for the table."""
    if t is None:
        return "n/a (runs unfinished)"
    lo, hi = t["bracket"]
    why = {"not_reached": "every value tried stays within the margin",
           "baseline_exceeds": "even the mildest value is outside the margin"}.get(t["status"])
    return f"{tolerance_label(t)} ({why or f'between {_fmt(lo)} and {_fmt(hi)}'})"


def axis_summary(runs_dir: Path, axis, rows: list, seeds: int, epochs: int, margin: float) -> dict:
    """Errors, curves and tolerance of one axis. `rows` is [(value, [run name per seed])]."""
    float_curves, float_final = zip(*[_read(runs_dir, f"float_seed{s}", epochs) for s in range(seeds)], strict=True)
    values = [v for v, _ in rows]
    finals = np.full((len(rows), seeds), np.nan)
    curves = []
    for i, (_, names) in enumerate(rows):
        per_seed = [_read(runs_dir, n, epochs) for n in names]
        finals[i] = [f for _, f in per_seed]
        curves.append([c for c, _ in per_seed])
    reference = np.asarray(float_final)
    complete = np.isfinite(reference) & np.all(np.isfinite(finals), axis=0)  # seeds with every run finished
    tol = None
    if complete.any():
        tol = tolerance(values, finals[:, complete], reference[complete], margin=margin, worse=axis.worse)
    n_done = np.sum(np.isfinite(finals), axis=1)
    mean = np.array([np.nanmean(r) if np.isfinite(r).any() else np.nan for r in finals])
    se = np.array([np.nanstd(r, ddof=1) / np.sqrt(np.sum(np.isfinite(r))) if np.sum(np.isfinite(r)) > 1 else np.nan
                   for r in finals])
    return {"label": axis.label, "baseline": axis.baseline, "worse": axis.worse, "rpu_spec": axis.paper,
            "values": values, "final_error": finals.tolist(), "final_error_mean": mean.tolist(),
            "final_error_se": se.tolist(), "seeds_finished": n_done.tolist(), "curves": curves,
            "float_final_error": list(float_final), "float_curves": list(float_curves),
            "tolerance": tol, "tolerance_text": tolerance_text(tol), "seeds_in_tolerance": int(complete.sum())}


def plot_axis(row: dict, path: Path, margin: float) -> Path:
    """Test error vs epoch per value (mean over seeds) and final error vs value, against float."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_e, ax_v) = plt.subplots(1, 2, figsize=(11, 4))
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(row["values"])))

    def mean_curve(curves):
        curves = [c for c in curves if c]
        if not curves:
            return None
        n = min(len(c) for c in curves)
        return 100 * np.mean([c[:n] for c in curves], axis=0)

    for value, curves, color in zip(row["values"], row["curves"], colors, strict=True):
        m = mean_curve(curves)
        if m is not None:
            tag = " (baseline)" if value == row["baseline"] else ""
            ax_e.plot(range(1, len(m)), m[1:], color=color, marker="o", ms=3, label=f"{value:g}{tag}")
    m_float = mean_curve(row["float_curves"])
    if m_float is not None:
        ax_e.plot(range(1, len(m_float)), m_float[1:], "k--", label="float")
    # From epoch 1: the untrained networks' ~90% would squeeze the curves that matter into the bottom.
    ax_e.set(xlabel="epoch", ylabel="test error (%)", yscale="log", title=row["label"])
    ax_e.grid(True, which="both", alpha=0.3)
    ax_e.legend(fontsize=8)
    values = np.asarray(row["values"], float)
    mean, se = 100 * np.asarray(row["final_error_mean"]), 100 * np.asarray(row["final_error_se"])
    ok = np.isfinite(mean)
    ax_v.errorbar(values[ok], mean[ok], yerr=np.nan_to_num(se[ok]), marker="o", capsize=3, label="crossbar")
    f = np.asarray(row["float_final_error"], float)
    if np.isfinite(f).any():
        f_mean = 100 * np.nanmean(f)
        ax_v.axhline(f_mean, color="k", ls="--", label="float")
        ax_v.axhline(f_mean + 100 * margin, color="r", ls=":", label=f"float + {100 * margin:.1f}%")
    t = row["tolerance"]
    if t is not None and t["status"] == "crossed":
        ax_v.axvline(t["tolerance"], color="g", alpha=0.6, label=f"tolerance {t['tolerance']:.3g}")
    if np.all(values > 0) and values.max() / values.min() >= 10:
        ax_v.set_xscale("log")
    ax_v.set(xlabel=row["label"], ylabel="final test error (%)", title=f"tolerance: {tolerance_label(t)}")
    ax_v.grid(True, which="both", alpha=0.3)
    ax_v.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)


def markdown(summary: dict) -> str:
    d = summary["description"]
    lines = [f"# GV2016 tolerance study ({'quick' if d['quick'] else 'full'} scale)", "",
             f"{d['dataset']}, network {'-'.join(map(str, d['sizes']))}, lr {d['lr']} (constant), "
             f"{d['scale']['epochs']} epochs on {d['scale']['limit_train'] or 'all'} training images, "
             f"{summary['seeds']} seed(s); tolerance = furthest value within {100 * summary['margin']:.1f}% of "
             "float's test error. Errors in %, mean over finished seeds (+- standard error).", "",
             "| axis | RPU baseline | values: test error (%) | float (%) | tolerance |", "|---|---|---|---|---|"]
    for name, row in summary["axes"].items():
        cells = []
        for v, m, se, n in zip(row["values"], row["final_error_mean"], row["final_error_se"],
                               row["seeds_finished"], strict=True):
            err = "running" if n == 0 else f"{100 * m:.2f}" + ("" if not np.isfinite(se) else f" +- {100 * se:.2f}")
            cells.append(f"{v:g}: {err}")
        f = np.asarray(row["float_final_error"], float)
        f_txt = f"{100 * np.nanmean(f):.2f}" if np.isfinite(f).any() else "running"
        lines.append(f"| {name} | {row['rpu_spec']} | {'; '.join(cells)} | {f_txt} | {row['tolerance_text']} |")
    return "\n".join(lines) + "\n"


def write_report(out: Path, layout: dict, axes: list, seeds: int, *, margin: float, description: dict) -> dict:
    """Write OUT/summary.json, OUT/summary.md and OUT/<axis>.png; return the summary."""
    out = Path(out)
    epochs = description["scale"]["epochs"]
    summary = {"description": description, "seeds": seeds, "margin": margin, "axes": {}}
    for axis in axes:
        row = axis_summary(out / "runs", axis, layout[axis.name], seeds, epochs, margin)
        summary["axes"][axis.name] = row
        if any(c for curves in row["curves"] for c in curves):
            plot_axis(row, out / f"{axis.name}.png", margin)
    save_json(out / "summary.json", summary)
    text = markdown(summary)
    atomic_write(out / "summary.md", lambda f: f.write(text.encode()))
    return summary
