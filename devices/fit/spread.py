"""The spreads around a fitted mean curve: per-curve step scales (device-to-device), per-pulse step noise
(cycle-to-cycle) and read noise, from the measured steps.

At every measured reading u_k the fitted model predicts the mean step s_k (`one_step`); the measured step is
du_k = u_{k+1} - u_k. Per curve c a one-parameter least-squares fit gives its step scale
a_c = sum du s / sum s^2 (unbiased: E[du | u] = a s under multiplicative step noise); the spread of a_c across
curves, less the variance of its estimate (a sandwich estimate from the curve's own residuals), is the relative
step spread `dg_d2d`. The residuals e_k = du_k - a_c s_k carry the step noise a_c s_k c2c xi_k plus the read
noise n_{k+1} - n_k of two readings: white read noise of std sigma gives E[e_k e_{k+1}] = -sigma^2 and adds
2 sigma^2 to E[e_k^2], so sigma^2 = -mean(e_k e_{k+1}) and c2c^2 = sum(e^2 - 2 sigma^2) / sum (a_c s_k)^2.
Whatever the model misses of the mean step law also lands in c2c: compare it across models with that in mind.

When the measurement is one device cycled many times, the spread between cycles stands in for the spread
between devices (the simulator draws it once per device).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from devices.base import DeviceState
from devices.fit.candidates import Candidate, build
from devices.fit.mean_fit import Stacked

MIN_RELATIVE_STEP = 0.05  # steps below this fraction of the largest (at a bound) say nothing about their noise
# Readings this many median steps from a curve's final level are left out: there a device sits at its bound and
# read noise moves the reading, not the state, so the clipped model step would be compared with noise.
EDGE_STEPS = 2.0


@functools.lru_cache(maxsize=64)
def _one_step_fn(name: str, free: tuple[str, ...], candidate: Candidate):
    def one(theta, u, sign):
        model, up_down = build(candidate, theta)
        full = jnp.ones_like(u)
        state = DeviceState(g=u, g_min=full * model.g_min, g_max=full * model.g_max, scale_up=full * (1.0 + up_down),
                            scale_down=full * (1.0 - up_down), stuck=jnp.zeros(u.shape, bool), t_prog=0 * full,
                            aux={})
        up, down = model.step_sizes(state)
        return jnp.clip(u + jnp.where(sign[None, :] > 0, up, -down), state.g_min, state.g_max) - u

    return jax.jit(one)


def one_step(candidate: Candidate, theta, data: Stacked, path=None) -> np.ndarray:
    """[n_rows - 1, n_curves] the model's signed mean step (u) from every state, bounds clipped.

    Args:
        candidate: The model. theta: Its parameters. data: The curves (their sign, and their readings).
        path: [n_rows, n_curves] states to take the steps from (e.g. the denoised conductance); None: the
            readings themselves.
    """
    fn = _one_step_fn(candidate.name, candidate.free, candidate)
    u = data.u if path is None else np.where(data.mask, np.nan_to_num(path), 0.0)
    return np.asarray(fn(jnp.asarray(theta, jnp.float32), jnp.asarray(u[:-1], jnp.float32),
                         jnp.asarray(data.sign)), float)


@dataclass(frozen=True)
class Spread:
    """Spreads estimated around a fitted mean curve.

    Attributes:
        scales: [n_curves] each curve's step scale relative to its polarity's mean (1).
        dg_d2d: Relative std of the step scale between curves, estimation noise removed (1).
        c2c: Relative std of one step (1). read_noise: Absolute read noise std (S).
        read_noise_rel: Read noise relative to the mean measured conductance (1).
        n_steps: Steps used.
    """

    scales: np.ndarray
    dg_d2d: float
    c2c: float
    read_noise: float
    read_noise_rel: float
    n_steps: int

    def as_dict(self) -> dict:
        return {"dg_d2d": self.dg_d2d, "c2c": self.c2c, "read_noise_S": self.read_noise,
                "read_noise_relative": self.read_noise_rel, "n_steps": self.n_steps,
                "curve_scale_min": float(self.scales.min()), "curve_scale_max": float(self.scales.max())}


def _usable(s, du, data: Stacked, edge: float) -> np.ndarray:
    """[n_rows - 1, n_curves] steps to use: read, before the curve's final plateau, not negligible."""
    valid = data.mask[1:] & data.mask[:-1]
    n = data.mask.sum(0)
    cols = np.arange(data.u.shape[1])
    final = np.array([np.median(data.u[max(k - 5, 0):k, j]) if k else 0.0 for j, k in zip(cols, n, strict=True)])
    ahead = np.where(data.sign > 0, final - edge - data.u[:-1], data.u[:-1] - final - edge)
    valid &= ahead > 0
    for sign in (1, -1):
        c = data.sign == sign
        if c.any():
            largest = np.max(np.abs(np.where(valid[:, c], s[:, c], 0.0)), initial=0.0)
            valid[:, c] &= np.abs(s[:, c]) > MIN_RELATIVE_STEP * largest
    if not valid.any():
        raise ValueError("no step left to estimate the spreads from (every reading sits at a bound)")
    return valid


def _stats(s, du, valid, sign):
    """(relative scales, d2d variance, c2c variance, read-noise variance (u^2), steps used)."""
    s0, du0 = np.where(valid, s, 0.0), np.where(valid, du, 0.0)
    ss = np.maximum(np.sum(s0 * s0, axis=0), 1e-30)
    scale = np.sum(du0 * s0, axis=0) / ss
    e = np.where(valid, du0 - scale * s0, 0.0)
    # Sandwich variance with the lag-1 term (Newey-West): read noise makes neighbouring residuals correlated.
    se = s0 * e
    scale_var = np.maximum(np.sum(se * se, axis=0) + 2.0 * np.sum(se[1:] * se[:-1], axis=0), 0.0) / ss**2
    rel, rel_var = np.ones_like(scale), np.zeros_like(scale)
    d2d_terms = []
    for sg in (1, -1):
        cols = (sign == sg) & (np.sum(valid, axis=0) > 0)
        if cols.sum() >= 2:
            m = scale[cols].mean()
            rel[cols], rel_var[cols] = scale[cols] / m, scale_var[cols] / m**2
            d2d_terms.append((np.var(rel[cols], ddof=1) - rel_var[cols].mean(), cols.sum()))
    d2d_var = sum(v * n for v, n in d2d_terms) / max(sum(n for _, n in d2d_terms), 1)
    pairs = valid[1:] & valid[:-1]
    cov1 = np.sum(np.where(pairs, e[1:] * e[:-1], 0.0)) / max(pairs.sum(), 1)
    read_var = max(-cov1, 0.0)
    n = int(valid.sum())
    c2c_var = max(np.sum(e * e) - 2 * read_var * n, 0.0) / max(np.sum((scale * s0) ** 2), 1e-30)
    return rel, d2d_var, c2c_var, read_var, n


def estimate_spread(candidate: Candidate, theta, data: Stacked) -> Spread:
    """Step scales per curve, `dg_d2d`, `c2c` and read noise around `candidate` at `theta` (see module docstring).

    Steps on a curve's final plateau (a device at its bound, where only read noise moves the reading) are left
    out: those within EDGE_STEPS median steps plus four read-noise stds of the curve's final level; the read
    noise comes from a first pass. For readings good to about a step; with noisier readings the moments drown
    and the spreads come from the state-space likelihood (`state_noise`).
    """
    s = one_step(candidate, theta, data)
    du = np.diff(data.u, axis=0)
    edge = EDGE_STEPS * np.median(np.abs(du[data.mask[1:] & data.mask[:-1]]))
    read_var = _stats(s, du, _usable(s, du, data, edge), data.sign)[3]
    valid = _usable(s, du, data, edge + 4.0 * np.sqrt(read_var))
    rel, d2d_var, c2c_var, read_var, n = _stats(s, du, valid, data.sign)
    g_mean = data.lo + data.span * float(np.sum(np.where(data.mask, data.u, 0.0)) / data.mask.sum())
    read_noise = float(np.sqrt(read_var) * data.span)
    return Spread(rel, float(np.sqrt(max(d2d_var, 0.0))), float(np.sqrt(c2c_var)), read_noise,
                  read_noise / g_mean, n)
