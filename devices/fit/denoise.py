"""The hidden conductance of measured curves without a device model: a Kalman smoother of a local linear trend.

Each curve is read as y_k = x_k + n_k (white reading noise of variance r) with a hidden conductance that moves
by a slowly wandering local step b_k: x_{k+1} = x_k + b_k + w_k (step noise, q_x), b_{k+1} = b_k + v_k (q_b).
The three variances are maximum-likelihood estimates (`kalman.maximise`, all curves pooled); the smoother then
gives the denoised conductance x and the local mean step b at every pulse. A model-free trend is what the
lookup table needs (it is for materials no formula fits) and what sets the normalisation and starting points
before any model is fitted: the extremes and first readings of noisy curves are off by several noise stds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from devices.fit import kalman

# Reading noise (std) above this fraction of the median |difference| of readings: readings are not states. Once
# the noise dominates, that median is 0.95 noise std; a noise of 0.3 steps stays well below.
NOISY_STEPS = 0.8
LOG_BOUNDS = (-40.0, 4.0)  # natural log of a variance in u^2 (readings of order 1): from none to far above the data


@dataclass(frozen=True)
class Trend:
    """Denoised curves (same units as the readings given).

    Attributes:
        x: [n_rows, n_curves] smoothed hidden conductance (NaN after a curve ends).
        step: [n_rows, n_curves] smoothed local mean step per pulse, signed (NaN after a curve ends).
        read_var: White reading-noise variance. step_var: Step-noise variance per pulse. drift_var: Per-pulse
            variance of the local step's wander.
    """

    x: np.ndarray
    step: np.ndarray
    read_var: float
    step_var: float
    drift_var: float


def lag_one_noise(u: np.ndarray, mask: np.ndarray) -> float:
    """White-noise variance from the lag-1 autocovariance of the first differences, -E[d_k d_{k+1}].

    Each curve's mean difference is removed first; white noise of variance r gives -r, accumulated step noise
    nothing, and the slow change of the mean step a negligible positive term.
    """
    d = np.where(mask[1:] & mask[:-1], np.diff(np.where(mask, u, 0.0), axis=0), np.nan)
    d = d - np.nanmean(d, axis=0, keepdims=True)
    prod = d[1:] * d[:-1]
    return float(max(-np.nanmean(prod), 0.0)) if np.isfinite(prod).any() else 0.0


def trend(u: np.ndarray, mask: np.ndarray) -> Trend:
    """The local-linear-trend smoother of curves `u` ([n_rows, n_curves], read where `mask`), its variances by ML."""
    y = np.where(mask, u, 0.0)
    ones = np.ones((u.shape[0] - 1, u.shape[1]))
    scale = float(np.nanvar(np.where(mask, u, np.nan))) or 1.0

    def nll(logs):
        r, qx, qb = (scale * np.exp(logs[:, i]) for i in range(3))
        return kalman.negative_log_likelihood(y, mask, ones, ones, kalman.Params(r, qx, 0.0, kalman.DIFFUSE, qb))

    r0 = max(lag_one_noise(u, mask), 1e-12 * scale)
    x0 = np.log([r0 / scale, 1e-3 * r0 / scale + 1e-12, 1e-5 * r0 / scale + 1e-14])
    lower, upper = np.full(3, LOG_BOUNDS[0]), np.full(3, LOG_BOUNDS[1])
    best, _ = kalman.maximise(nll, np.clip(x0, lower, upper), lower, upper)
    r, qx, qb = (float(scale * np.exp(v)) for v in best)
    x, step = kalman.smooth(y, mask, ones, ones, kalman.Params(r, qx, 0.0, kalman.DIFFUSE, qb))
    return Trend(x, step, r, qx, qb)


def is_noisy(smooth: Trend, u: np.ndarray, mask: np.ndarray) -> bool:
    """Whether the readings' white noise (std, from `smooth`) is comparable with the typical difference of two
    readings (NOISY_STEPS of the median |u_{k+1} - u_k|): then the readings are not the states."""
    d = np.abs(np.diff(np.where(mask, u, np.nan), axis=0))
    return bool(np.sqrt(smooth.read_var) > NOISY_STEPS * np.nanmedian(d))


__all__ = ["Trend", "trend", "lag_one_noise", "is_noisy"]
