"""Write noise, cycle-to-cycle step noise and device-to-device step spread around a fitted step law, by the
exact likelihood of a state-space model of the measurement (`kalman`).

A reading is the hidden conductance plus white noise (read or write noise, variance r; it does not
accumulate). The hidden conductance of curve c moves by its own scale a_c times the fitted model's mean step
s(x) at its state, with multiplicative step noise (c2c, accumulated):

    x_{k+1} = x_k + a_c s(x_k) (1 + c2c xi_k),   a_c ~ N(1, dg_d2d^2),   y_k = x_k + n_k,   n_k ~ N(0, r).

Given the steps s_k along the curve's denoised path, this is linear and Gaussian in (x, a_c), so the Kalman
filter scores (r, c2c, dg_d2d) exactly and the smoother returns each curve's hidden conductance and scale.
Why a likelihood: with write noise of tens of steps the noise of one step is a few percent of that of two
readings, so moment estimates (the variance of the steps less twice the read noise) drown; the likelihood
uses that step noise accumulates (it dominates the slow wander of a curve) and read noise does not. Two
passes: the second takes the steps at the first pass's smoothed states.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from devices.fit import kalman
from devices.fit.candidates import Candidate
from devices.fit.denoise import LOG_BOUNDS, lag_one_noise
from devices.fit.mean_fit import Stacked
from devices.fit.spread import Spread, one_step

PASSES = 2


@dataclass(frozen=True)
class StateNoise:
    """The state-space estimate.

    Attributes:
        spread: Per-curve scales (relative to their polarity's mean), dg_d2d, c2c, read noise (S).
        x: [n_rows, n_curves] smoothed hidden conductance (u; NaN after a curve ends).
        scale: [n_curves] each curve's smoothed step scale (1 = the fitted law).
        params: (r, c2c^2, dg_d2d^2), the maximum-likelihood variances (u^2, 1, 1).
    """

    spread: Spread
    x: np.ndarray
    scale: np.ndarray
    params: tuple


def _relative(scale: np.ndarray, sign: np.ndarray) -> np.ndarray:
    rel = np.ones_like(scale)
    for sg in (1, -1):
        c = sign == sg
        if c.any() and scale[c].mean() > 0:
            rel[c] = scale[c] / scale[c].mean()
    return rel


def _steps(candidate, theta, data: Stacked, path, scale):
    s = np.where(data.mask[1:], one_step(candidate, theta, data, path), 0.0)
    return s, (scale[None, :] * s) ** 2


def estimate_noise(candidate: Candidate, theta, data: Stacked, path: np.ndarray, start=None) -> StateNoise:
    """Maximum-likelihood (r, c2c, dg_d2d) of `candidate` at `theta`, starting from the denoised `path`.

    Args:
        candidate: The fitted model. theta: Its parameters (normalised units). data: The curves (u).
        path: [n_rows, n_curves] a first denoised conductance (u), e.g. `denoise.trend(...).x`.
        start: An earlier estimate to start from (its parameters and scales), or None.
    """
    y = np.where(data.mask, data.u, 0.0)
    if start is None:
        scale = np.ones(data.u.shape[1])
        x0 = np.log([max(lag_one_noise(data.u, data.mask), 1e-12), 0.04, 0.01])
    else:
        scale, x0 = start.scale, np.log(start.params)
    lower, upper = np.full(3, LOG_BOUNDS[0]), np.full(3, LOG_BOUNDS[1])
    for _ in range(PASSES if start is None else 1):
        s, q_shape = _steps(candidate, theta, data, path, scale)

        def nll(logs, s=s, q_shape=q_shape):
            r, c2, d2 = (np.exp(logs[:, i]) for i in range(3))
            return kalman.negative_log_likelihood(y, data.mask, s, q_shape, kalman.Params(r, c2, 1.0, d2, 0.0))

        best, _ = kalman.maximise(nll, np.clip(x0, lower, upper), lower, upper)
        x0 = best
        r, c2, d2 = (float(np.exp(v)) for v in best)
        path, b = kalman.smooth(y, data.mask, s, q_shape, kalman.Params(r, c2, 1.0, d2, 0.0))
        scale = np.maximum(b[0], 0.0)
    read_noise = float(np.sqrt(r) * data.span)
    g_mean = data.lo + data.span * float(np.sum(np.where(data.mask, data.u, 0.0)) / data.mask.sum())
    n = int(np.sum(data.mask[1:] & (np.abs(s) > 0)))
    spread = Spread(_relative(scale, data.sign), float(np.sqrt(d2)), float(np.sqrt(c2)), read_noise,
                    read_noise / g_mean, n)
    return StateNoise(spread, path, scale, (r, c2, d2))


def curve_scales(candidate: Candidate, theta, data: Stacked, path: np.ndarray, params) -> np.ndarray:
    """[n_curves] each curve's smoothed step scale, relative to its polarity's mean, at known noise `params`
    ((r, c2c^2, dg_d2d^2) of `StateNoise.params`): one smoother pass, no likelihood search (held-out curves)."""
    y = np.where(data.mask, data.u, 0.0)
    s, q_shape = _steps(candidate, theta, data, path, np.ones(data.u.shape[1]))
    _, b = kalman.smooth(y, data.mask, s, q_shape, kalman.Params(params[0], params[1], 1.0, params[2], 0.0))
    return _relative(np.maximum(np.nan_to_num(b[0], nan=1.0), 0.0), data.sign)


__all__ = ["StateNoise", "estimate_noise", "curve_scales"]
