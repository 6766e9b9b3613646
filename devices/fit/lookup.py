"""Building a lookup-table device (`devices.lookup_table.LookupTable`) from measured curves (CrossSim v2's method).

Every measured pulse gives a pair (G before the pulse, dG). The range is cut into `n_bins` equal bins; in each
bin, per polarity, the mean and std of dG are the table's entries at the bin's centre (the mean G of its
pulses). Bins with fewer than `min_count` pulses take their neighbours' values (nearest filled bin), so the
table is defined over the whole range; the counts are returned for the report.

With noisy readings, binning dG on the reading before it regresses to the mean (a reading high by its noise is
followed by a fall, a low one by a rise, flattening the table), and the spread of dG is mostly that of two
readings, not of the step. There each pulse is binned on the denoised conductance before it (a Kalman
smoother's: the fitted model's state-space smoother, or the model-free `denoise.trend`), the mean step is the
denoised conductance's, and the step's spread is the estimated cycle-to-cycle fraction of it.
"""

from __future__ import annotations

import numpy as np

from devices.fit.data import PulseData
from devices.fit.denoise import is_noisy, trend
from devices.fit.mean_fit import stack
from devices.lookup_table import LookupTable


def binned_steps(g_before: np.ndarray, dg: np.ndarray, edges: np.ndarray, min_count: int,
                 read_var: float = 0.0) -> dict:
    """Per-bin statistics of measured steps.

    Args:
        g_before: [n] conductance before each pulse (S). dg: [n] its change (S, signed). edges: [n_bins + 1] (S).
        min_count: Fewest pulses for a bin to stand on its own.
        read_var: Variance of the white reading noise (S^2): a step between two readings carries twice it,
            which the step's own (accumulating) spread does not include; it is taken off the bin's variance.

    Returns:
        {"centre", "mean", "std", "count", "se"}: [n_bins] each (S, except count); bins below `min_count`
        copy the nearest filled bin (their count stays as measured).
    """
    n_bins = len(edges) - 1
    index = np.clip(np.searchsorted(edges, g_before, side="right") - 1, 0, n_bins - 1)
    count = np.bincount(index, minlength=n_bins)
    filled = np.flatnonzero(count >= min_count)
    if filled.size == 0:
        raise ValueError(f"no conductance bin has {min_count} or more pulses; use fewer bins")
    centre, mean, std = np.zeros(n_bins), np.zeros(n_bins), np.zeros(n_bins)
    for b in range(n_bins):
        source = b if count[b] >= min_count else filled[np.argmin(np.abs(filled - b))]
        sel = index == source
        mean[b], std[b] = dg[sel].mean(), np.sqrt(max(dg[sel].var(ddof=1) - 2.0 * read_var, 0.0))
        centre[b] = g_before[index == b].mean() if count[b] else 0.5 * (edges[b] + edges[b + 1])
    # A copied bin keeps its own centre; keep the centres increasing (an empty bin sits at its midpoint).
    centre = np.maximum.accumulate(np.where(count > 0, centre, 0.5 * (edges[:-1] + edges[1:])))
    return {"centre": centre, "mean": mean, "std": std, "count": count, "se": std / np.sqrt(np.maximum(count, 1))}


def lookup_table_from_curves(data: PulseData, n_bins: int = 20, min_count: int = 20, dg_d2d: float = 0.0,
                             hidden: np.ndarray | None = None, c2c: float | None = None,
                             scales: np.ndarray | None = None) -> tuple[LookupTable, dict]:
    """(the validated `LookupTable` device of `data`, the per-bin statistics by polarity).

    Args:
        data: The measured curves. n_bins: Conductance bins. min_count: Fewest pulses for a bin of its own.
        dg_d2d: Device-to-device spread of the step scale to give the device (e.g. a model fit's estimate).
        hidden: [n_rows, n_curves] the denoised conductance (S) of the curves of `data` side by side (potentiation
            first), e.g. a model fit's state-space smoother (`ModelFit.hidden`); None: the model-free
            `denoise.trend`.
        c2c: Relative step noise for noisy readings (e.g. the model fit's); None: the trend's (its step-noise
            variance over its mean squared step).
        scales: [n_curves] each curve's step scale relative to its polarity's mean (e.g. `ModelFit.spread.scales`)
            for noisy readings: each denoised step is divided by its curve's scale before binning, since a slow
            device spends more pulses in a bin than a fast one and would otherwise weigh the bin toward slow
            steps (the table's `dg_d2d` puts the spread back). None: all 1.

    With readings good to about a step (`denoise.is_noisy` false), each measured step is binned on the reading
    before it, as CrossSim does. With noisier readings a bin's mean of measured steps carries the noise of two
    readings per pulse (tens of steps, more than the step itself), so the table takes the steps of the denoised
    conductance, and the step noise as the fraction `c2c` of the mean step. The device's bounds are the range
    of the (denoised) conductance; a polarity that was not measured gets zero steps (such pulses do nothing).
    """
    from devices.noise import Variation
    from devices.validation import check_int, check_nonnegative

    check_int("n_bins", n_bins, 2)
    check_int("min_count", min_count, 2)
    check_nonnegative("dg_d2d", dg_d2d)
    lo, hi = data.g_range()
    raw = stack(data.by_sign(), lo, hi - lo)
    free = trend(raw.u, raw.mask)
    read_var = free.read_var * (hi - lo) ** 2
    noisy = is_noisy(free, raw.u, raw.mask)
    if not noisy:  # readings good to a fraction of a step: the readings are the state
        x = np.where(raw.mask, lo + (hi - lo) * raw.u, np.nan)
    elif hidden is None:
        x = lo + (hi - lo) * free.x  # [n_rows, n_curves] S, both polarities side by side (potentiation first)
    else:
        x = np.where(raw.mask, np.asarray(hidden, float), np.nan)
        if x.shape != raw.u.shape:
            raise ValueError(f"`hidden` must have the curves' shape {raw.u.shape}; got {x.shape}")
    if c2c is None:
        c2c = float(np.sqrt(free.step_var / np.nanmean(free.step ** 2)))
    lo, hi = max(float(np.nanmin(x)), 0.0), float(np.nanmax(x))
    edges = np.linspace(lo, hi, n_bins + 1)
    stats, first = {}, 0
    for name, curves in (("up", data.up), ("down", data.down)):
        if curves is None:
            continue
        cols = slice(first, first + curves.n_curves)
        first += curves.n_curves
        g_before = x[: curves.g.shape[0] - 1, cols]
        dg = np.diff(curves.g, axis=0)
        ok = ~np.isnan(dg)
        if not noisy:
            stats[name] = binned_steps(g_before[ok], curves.sign * dg[ok], edges, min_count, read_var)
            continue
        scale = np.ones(curves.n_curves) if scales is None else np.maximum(np.asarray(scales, float)[cols], 1e-3)
        steps = curves.sign * np.diff(x[:, cols], axis=0) / scale[None, :]
        denoised = binned_steps(g_before[ok], steps[ok], edges, min_count)
        stats[name] = {**denoised, "std": c2c * np.abs(denoised["mean"])}
    ref = stats.get("up", stats.get("down"))
    centres = ref["centre"]
    if "up" in stats and "down" in stats:  # one set of centres: the bins' midpoints between the two
        centres = 0.5 * (stats["up"]["centre"] + stats["down"]["centre"])
    zeros = np.zeros(n_bins)

    def col(name, key):
        return tuple(float(x) for x in (stats[name][key] if name in stats else zeros))

    device = LookupTable(g_min=lo, g_max=hi, g_centres=tuple(float(c) for c in centres), up_mean=col("up", "mean"),
                         up_std=col("up", "std"), down_mean=col("down", "mean"), down_std=col("down", "std"),
                         variation=Variation(dg_d2d=dg_d2d))
    return device.validate(), stats
