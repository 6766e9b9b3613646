"""Building a lookup-table device (`devices.lookup_table.LookupTable`) from measured curves (CrossSim v2's method).

Every measured pulse gives a pair (G before the pulse, dG). The measured range [G_lo, G_hi] is cut into
`n_bins` equal bins; in each bin, per polarity, the mean and std of dG are the table's entries at the bin's
centre (the mean G of its readings). Bins with fewer than `min_count` pulses take their neighbours' values
(nearest filled bin), so the table is defined over the whole range; the counts are returned for the report.
"""

from __future__ import annotations

import numpy as np

from devices.fit.data import PulseData
from devices.lookup_table import LookupTable


def binned_steps(g_before: np.ndarray, dg: np.ndarray, edges: np.ndarray, min_count: int) -> dict:
    """Per-bin statistics of measured steps.

    Args:
        g_before: [n] conductance before each pulse (S). dg: [n] its change (S, signed). edges: [n_bins + 1] (S).
        min_count: Fewest pulses for a bin to stand on its own.

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
        mean[b], std[b] = dg[sel].mean(), dg[sel].std(ddof=1)
        centre[b] = g_before[index == b].mean() if count[b] else 0.5 * (edges[b] + edges[b + 1])
    # A copied bin keeps its own centre; keep the centres increasing (an empty bin sits at its midpoint).
    centre = np.maximum.accumulate(np.where(count > 0, centre, 0.5 * (edges[:-1] + edges[1:])))
    return {"centre": centre, "mean": mean, "std": std, "count": count, "se": std / np.sqrt(np.maximum(count, 1))}


def lookup_table_from_curves(data: PulseData, n_bins: int = 20, min_count: int = 20) -> tuple[LookupTable, dict]:
    """(the validated `LookupTable` device of `data`, the per-bin statistics by polarity).

    The device's bounds are the measured range, its table the binned steps of both polarities (a polarity that
    was not measured gets zero steps: such pulses do nothing).
    """
    from devices.validation import check_int

    check_int("n_bins", n_bins, 2)
    check_int("min_count", min_count, 2)
    lo, hi = data.g_range()
    edges = np.linspace(lo, hi, n_bins + 1)
    stats = {}
    for name, curves in (("up", data.up), ("down", data.down)):
        if curves is None:
            continue
        g_before, dg = curves.steps()
        ok = ~np.isnan(dg)
        stats[name] = binned_steps(g_before[ok], curves.sign * dg[ok], edges, min_count)
    ref = stats.get("up", stats.get("down"))
    centres = ref["centre"]
    if "up" in stats and "down" in stats:  # one set of centres: the bins' midpoints between the two
        centres = 0.5 * (stats["up"]["centre"] + stats["down"]["centre"])
    zeros = np.zeros(n_bins)

    def col(name, key):
        return tuple(float(x) for x in (stats[name][key] if name in stats else zeros))

    device = LookupTable(g_min=lo, g_max=hi, g_centres=tuple(float(c) for c in centres), up_mean=col("up", "mean"),
                         up_std=col("up", "std"), down_mean=col("down", "mean"), down_std=col("down", "std"))
    return device.validate(), stats
