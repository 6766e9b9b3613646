"""The diagnostic figure of a fit: measured vs fitted curves with spread bands, step size vs conductance for the
data and the models, the residuals of the best model, and the held-out ranking.

matplotlib is imported here only (Agg back end), so fitting never needs it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from devices.fit.mean_fit import predict
from devices.fit.select import FitReport
from devices.fit.spread import one_step
from devices.io import save_figure

UNIT = 1e6  # plotted in uS
COLOURS = ("C1", "C2", "C3", "C4")


def _band(ax, x, g, colour, label, z=2):
    """Median and 5-95% band over curves of g [n_rows, n_curves] (NaN after a curve's end)."""
    rows = np.sum(~np.isnan(g), axis=1) >= max(2, g.shape[1] // 2)  # where half of the curves still run
    lo, mid, hi = (np.nanpercentile(g[rows], q, axis=1) * UNIT for q in (5, 50, 95))
    ax.fill_between(x[rows], lo, hi, color=colour, alpha=0.25, lw=0, zorder=z)
    ax.plot(x[rows], mid, color=colour, lw=1.5, label=label, zorder=z + 0.5)


def plot_fit(report: FitReport, path, lookup=None, lookup_curves=None, n_models: int = 3) -> Path:
    """Write the figure to `path` (PNG).

    Args:
        report: The ranked fits. lookup: Optional (LookupTable device, its per-bin statistics).
        lookup_curves: Optional `PulseData` simulated with the lookup-table device on the measured protocol.
        n_models: How many of the best models to draw beside the data.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data, st = report.data, report.stacked
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5))
    ax_c, ax_s, ax_r, ax_k = axes.ravel()
    top = report.ranked[:n_models]
    # (a) curves: data band, lookup-table band, models from the median start
    offset = 0
    for sign, curves in data.by_sign().items():
        x = np.arange(curves.g.shape[0]) + offset
        if lookup_curves is not None:  # under the measurement, which is drawn on top
            sim = lookup_curves.by_sign()[sign]
            _band(ax_c, np.arange(sim.g.shape[0]) + offset, sim.g, "C0", "lookup table (replayed)" if offset == 0
                  else None, z=1)
        _band(ax_c, x, curves.g, "0.2", "measured (median, 5-95%)" if offset == 0 else None, z=3)
        offset = x[-1]
    for colour, fit in zip(COLOURS, top, strict=False):
        pred = predict(fit.candidate, fit.mean.theta, st) * st.span + st.lo
        offset = 0
        for sign in (1, -1):
            cols = st.sign == sign
            if not cols.any():
                continue
            g = np.where(st.mask[:, cols], pred[:, cols], np.nan)
            rows = np.sum(~np.isnan(g), axis=1) >= max(2, cols.sum() // 2)
            x = np.arange(g.shape[0]) + offset
            ax_c.plot(x[rows], np.nanmedian(g[rows], axis=1) * UNIT, color=colour, lw=1.2, ls="--",
                      label=f"{fit.candidate.name} (fit)" if sign == 1 else None)
            offset = x[rows][-1]
    ax_c.set(xlabel="pulse (potentiation, then depression)", ylabel="G (uS)", title="pulse response")
    ax_c.legend(fontsize=8)
    # (b) step vs G: binned data (lookup table statistics), models at the measured (or hidden) states
    if lookup is not None:
        _, stats = lookup
        for name, sign in (("up", 1), ("down", -1)):
            if name in stats:
                s = stats[name]
                ax_s.errorbar(s["centre"] * UNIT, sign * s["mean"] * UNIT, yerr=s["std"] * UNIT, fmt="o", ms=3,
                              color="0.3", capsize=2, label="measured (bin mean +- std)" if sign == 1 else None)
    for colour, fit in zip(COLOURS, top, strict=False):
        # at the states: the readings, or for noisy readings the hidden conductance (readings lie beyond the
        # bounds, where a clipped step means nothing)
        states = (fit.hidden - st.lo) / st.span if report.noisy and fit.hidden is not None else None
        steps = one_step(fit.candidate, fit.mean.theta, st, states) * st.span
        g = (st.u if states is None else np.nan_to_num(states))[:-1] * st.span + st.lo
        for sign in (1, -1):
            cols = st.sign == sign
            sel = st.mask[1:][:, cols] & st.mask[:-1][:, cols]
            order = np.argsort(g[:, cols][sel])
            ax_s.plot(g[:, cols][sel][order] * UNIT, steps[:, cols][sel][order] * UNIT, color=colour, lw=1.2,
                      label=fit.candidate.name if sign == 1 else None)
    ax_s.axhline(0, color="k", lw=0.5)
    ax_s.set(xlabel="G before the pulse (uS)", ylabel="dG per pulse (uS)", title="step size vs conductance")
    ax_s.legend(fontsize=8)
    # (c) residuals of the best model, per pulse, median and band over curves
    best = report.best
    res = np.where(st.mask, best.mean.curves - st.u, np.nan) * st.span
    offset = 0
    for sign, label in ((1, "potentiation"), (-1, "depression")):
        cols = st.sign == sign
        if cols.any():
            x = np.arange(res.shape[0]) + offset
            _band(ax_r, x, res[:, cols], "C1" if sign > 0 else "C2", label)
            offset = x[-1]
    ax_r.axhline(0, color="k", lw=0.5)
    ax_r.set(xlabel="pulse", ylabel="measured - fitted (uS)",
             title=f"residuals of {best.candidate.name}: RMSE {best.mean.rmse * UNIT:.2f} uS")
    ax_r.legend(fontsize=8)
    # (d) ranking
    names = [f.candidate.name for f in report.ranked]
    scores = np.array([f.heldout_rmse for f in report.ranked]) * UNIT
    errs = np.array([f.heldout_se for f in report.ranked]) * UNIT
    ax_k.barh(range(len(names)), scores, xerr=errs, color=["C1"] + ["0.6"] * (len(names) - 1), capsize=3)
    ax_k.set_yticks(range(len(names)), [f"{i + 1}. {n} ({f.candidate.n_params} p)" for i, (n, f)
                                        in enumerate(zip(names, report.ranked, strict=True))])
    ax_k.invert_yaxis()
    ax_k.set(xlabel="held-out RMSE per curve (uS), +- SE", title="model ranking (one-SE rule)")
    fig.suptitle(f"fit of {', '.join(data.files)}")
    fig.tight_layout()
    path = Path(path)
    return save_figure(fig, path, dpi=110)
