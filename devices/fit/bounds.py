"""Each device's own bounds where the data show them: the level a curve's hidden conductance settles at.

A potentiation curve that flattens out has reached its device's upper bound, a depression curve its lower
bound; a curve still moving at its end says nothing about its bound. A curve counts as settled when its last
quarter moves less than `SETTLED` of its whole change; its bound is then the mean of that quarter. The spread of
the settled levels, relative to half the range (the simulator's `Variation.bounds_d2d` convention), is the
device-to-device spread of that bound, reported with the number of curves it rests on (none: not resolved).
Settled curves of noisy data are judged on the denoised conductance, so the spread includes what the smoother
leaves of the write noise (a small part of it over a quarter of a curve).
"""

from __future__ import annotations

import numpy as np

SETTLED = 0.05  # fraction of a curve's change its last quarter may move for the curve to count as settled


def settled_levels(hidden: np.ndarray) -> np.ndarray:
    """[n_curves] the level (same units) each curve settles at, NaN where it does not settle.

    Args:
        hidden: [n_rows, n_curves] (denoised) conductance, NaN after a curve ends.
    """
    out = np.full(hidden.shape[1], np.nan)
    for j in range(hidden.shape[1]):
        x = hidden[~np.isnan(hidden[:, j]), j]
        if x.size < 8:
            continue
        tail = x[-(x.size // 4):]
        whole = abs(x[-1] - x[0])
        if whole > 0 and abs(tail[-1] - tail[0]) < SETTLED * whole:
            out[j] = float(tail.mean())
    return out


def bound_spreads(hidden: np.ndarray, sign: np.ndarray, g_min: float, g_max: float) -> dict:
    """{"g_max": {...}, "g_min": {...}}: mean level (S), its d2d spread relative to half the range, and the
    number of settled curves, from the potentiation (upper bound) and depression (lower bound) curves; None
    where too few curves settle (none for the level, fewer than three for the spread).

    Args:
        hidden: [n_rows, n_curves] denoised conductance (S). sign: [n_curves] +1 / -1. g_min, g_max: The fitted
            device's bounds (S), for the half range.
    """
    levels = settled_levels(hidden)
    half = 0.5 * (g_max - g_min)
    out = {}
    for name, s in (("g_max", 1), ("g_min", -1)):
        v = levels[(sign == s) & ~np.isnan(levels)]
        out[name] = {"n_settled": int(v.size), "mean_S": float(v.mean()) if v.size else None,
                     "d2d": float(v.std(ddof=1) / half) if v.size >= 3 else None}
    return out


__all__ = ["settled_levels", "bound_spreads", "SETTLED"]
