"""Fitting a candidate's mean curve to measured curves: bounded least squares with exact JAX Jacobians.

The mean curve of a model is its noise-free response, pulse after pulse, from each measured curve's own first
reading: G_{k+1} = clip(G_k +- step(G_k)) with the model's own `step_sizes` (the law the simulator uses), run
as a `lax.scan` over all curves of both polarities at once. `scipy.optimize.least_squares` (trust-region
reflective, inside the candidate's bounds) minimises the squared distance to every measured reading, with the
Jacobian from `jax.jacfwd` through the scan; several fixed starting points, the best kept: deterministic, so
the same data give the same fit. With `c2c` > 0 the mean curve is that of noisy curves clipped at the bounds
(`noisy_mean`), each curve from its given start (for noisy readings, its denoised start: `Stacked.anchored`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

import jax
import jax.numpy as jnp
import numpy as np
from scipy.optimize import least_squares

from devices.base import DeviceState
from devices.fit.candidates import Candidate, build
from devices.fit.noisy_mean import noisy_mean_curves


@dataclass(frozen=True)
class Stacked:
    """Curves of both polarities side by side, in normalised units u = (G - lo) / span.

    Attributes:
        u: [n_rows, n_curves] readings (0 where a curve has ended). mask: [n_rows, n_curves] True where read.
        sign: [n_curves] +1 potentiation, -1 depression. lo, span: the normalisation (S).
    """

    u: np.ndarray
    mask: np.ndarray
    sign: np.ndarray
    lo: float
    span: float

    @property
    def n_points(self) -> int:
        """Readings after the first of each curve: the points a fit predicts."""
        return int(self.mask[1:].sum())

    def columns(self, index) -> Stacked:
        """The curves at `index` (same rows)."""
        index = np.asarray(index)
        return Stacked(self.u[:, index], self.mask[:, index], self.sign[index], self.lo, self.span)

    def anchored(self, path: np.ndarray) -> Stacked:
        """The same readings with each curve's first one replaced by `path`'s ([n_rows, n_curves], u): a mean
        curve then starts from the denoised conductance, not from a reading off by the read noise."""
        u = self.u.copy()
        u[0] = np.where(self.mask[0], np.nan_to_num(path[0]), 0.0)
        return Stacked(u, self.mask, self.sign, self.lo, self.span)

    def padded(self, n_curves: int) -> Stacked:
        """The same curves plus unread (masked) ones up to `n_curves`: one shape, so one compilation."""
        extra = n_curves - self.u.shape[1]
        pad = functools.partial(np.pad, pad_width=((0, 0), (0, extra)))
        return Stacked(pad(self.u), pad(self.mask, constant_values=False), np.pad(self.sign, (0, extra),
                       constant_values=1), self.lo, self.span)


def stack(curves_by_sign: dict, lo: float, span: float) -> Stacked:
    """`Stacked` of {sign: `data.Curves`} (potentiation first)."""
    blocks = [curves_by_sign[s] for s in (1, -1) if s in curves_by_sign]
    rows = max(c.g.shape[0] for c in blocks)
    g = np.concatenate([np.pad(c.g, ((0, rows - c.g.shape[0]), (0, 0)), constant_values=np.nan) for c in blocks], 1)
    sign = np.concatenate([np.full(c.n_curves, c.sign) for c in blocks])
    mask = ~np.isnan(g)
    return Stacked(np.where(mask, (g - lo) / span, 0.0), mask, sign, lo, span)


def mean_curves(model, up_down, u0, sign, n_rows: int, scale=1.0, c2c=None):
    """[n_rows, n_curves] mean response of `model` from `u0` ([n_curves]) to pulses of `sign` each.

    Args:
        model: Device model (any units; here normalised). up_down: Asymmetry (1): up steps x (1 + up_down),
            down steps x (1 - up_down). u0: [n_curves] start. sign: [n_curves] +1 / -1. n_rows: static length.
        scale: [n_curves] (or scalar) each curve's own step scale (device-to-device spread), 1 = the mean.
        c2c: Relative step noise (1): the mean of the noisy curves clipped at the bounds (`noisy_mean`); None:
            the noise-free curve (a cheaper program).
    """
    shape = u0.shape
    full = functools.partial(jnp.full, shape)
    scale = jnp.broadcast_to(jnp.asarray(scale, u0.dtype), shape)
    state = DeviceState(g=u0, g_min=full(model.g_min), g_max=full(model.g_max), scale_up=scale * (1.0 + up_down),
                        scale_down=scale * (1.0 - up_down), stuck=jnp.zeros(shape, bool), t_prog=jnp.zeros(shape),
                        aux={})

    def step(g):
        up, down = model.step_sizes(replace(state, g=g))
        return jnp.where(sign > 0, up, -down)

    if c2c is not None:
        return noisy_mean_curves(step, model.g_min, model.g_max, u0, n_rows, c2c)

    def one(g, _):
        g = jnp.clip(g + step(g), model.g_min, model.g_max)
        return g, g

    _, trace = jax.lax.scan(one, u0, None, length=n_rows - 1)
    return jnp.concatenate([u0[None], trace], axis=0)


@functools.lru_cache(maxsize=64)
def _functions(name: str, free: tuple[str, ...], n_rows: int, candidate: Candidate, noisy: bool):
    """Jitted (residuals, Jacobian, curves) of a candidate for curves of `n_rows` rows (compiled once per shape);
    `noisy`: the mean of noisy curves (their c2c an argument), else the noise-free curve (c2c ignored)."""

    def residuals(theta, u, mask, sign, scale, c2c):
        model, up_down = build(candidate, theta)
        mean = mean_curves(model, up_down, u[0], sign, n_rows, scale, c2c if noisy else None)
        return jnp.where(mask, mean - u, 0.0)[1:].ravel()

    def curves(theta, u0, sign, scale, c2c):
        model, up_down = build(candidate, theta)
        return mean_curves(model, up_down, u0, sign, n_rows, scale, c2c if noisy else None)

    return jax.jit(residuals), jax.jit(jax.jacfwd(residuals)), jax.jit(curves)


@dataclass(frozen=True)
class MeanFit:
    """A fitted mean curve.

    Attributes:
        candidate: The candidate model. theta: [n_params] fitted parameters (normalised units).
        rss: Residual sum of squares (u^2). n_points: Readings fitted. rmse: Root-mean-square residual (S).
        converged: Whether the solver reported convergence. curves: [n_rows, n_curves] fitted curves (u).
    """

    candidate: Candidate
    theta: np.ndarray
    rss: float
    n_points: int
    rmse: float
    converged: bool
    curves: np.ndarray

    def information_criteria(self) -> dict:
        """AIC and BIC of a Gaussian likelihood of the residuals (lower is better)."""
        n, k = self.n_points, self.candidate.n_params
        nll = n * np.log(max(self.rss, 1e-300) / n)
        return {"aic": float(nll + 2 * k), "bic": float(nll + k * np.log(n))}


def predict(candidate: Candidate, theta, data: Stacked, scale=1.0, c2c: float = 0.0) -> np.ndarray:
    """[n_rows, n_curves] mean curves (u) of `candidate` at `theta` from each curve's first reading."""
    curves = _functions(candidate.name, candidate.free, data.u.shape[0], candidate, bool(c2c > 0))[2]
    scale = jnp.broadcast_to(jnp.asarray(scale, jnp.float32), data.sign.shape)
    return np.asarray(curves(jnp.asarray(theta, jnp.float32), jnp.asarray(data.u[0], jnp.float32),
                             jnp.asarray(data.sign), scale, jnp.float32(c2c)))


def fit_mean(candidate: Candidate, data: Stacked, summary: dict | None = None, scale=None, start=None,
             c2c: float = 0.0) -> MeanFit:
    """Fit `candidate`'s mean curve to `data` from each of its fixed starting points; return the best fit.

    Args:
        candidate: The model. data: The curves. summary: Starting-point statistics (default: from `data`).
        scale: [n_curves] step scale of each curve (from `spread.estimate_spread`), so that the shared
            parameters are those of the typical curve rather than of the mean of curves spread around it;
            None: all 1.
        start: [n_params] one starting point (e.g. an earlier fit) instead of the candidate's own.
        c2c: Relative step noise: fit the mean of the noisy curves (`noisy_mean`), not the noise-free one.
    """
    n_rows = data.u.shape[0]
    res_fn, jac_fn, _ = _functions(candidate.name, candidate.free, n_rows, candidate, bool(c2c > 0))
    scale = np.ones(data.u.shape[1]) if scale is None else np.asarray(scale, float)
    args = (jnp.asarray(data.u, jnp.float32), jnp.asarray(data.mask), jnp.asarray(data.sign),
            jnp.asarray(scale, jnp.float32), jnp.float32(c2c))
    if summary is None:
        summary = _summary(data)
    lower, upper = np.asarray(candidate.lower, float), np.asarray(candidate.upper, float)
    best = None
    starts = [lambda _: start] if start is not None else candidate.starts
    for first in starts:
        x0 = np.clip(np.asarray(first(summary), float), lower + 1e-9 * (upper - lower), upper - 1e-9 * (upper - lower))
        result = least_squares(
            lambda x: np.asarray(res_fn(jnp.asarray(x, jnp.float32), *args), float),
            # An infinite slope (u^gamma at u = 0) is a kink, not a direction: take the zero subgradient there.
            x0, jac=lambda x: np.nan_to_num(np.asarray(jac_fn(jnp.asarray(x, jnp.float32), *args), float),
                                            nan=0.0, posinf=0.0, neginf=0.0),
            bounds=(lower, upper), method="trf", x_scale="jac", max_nfev=200,
            ftol=1e-7, xtol=1e-7)
        if best is None or result.cost < best.cost:
            best = result
    rss = float(2.0 * best.cost)
    return MeanFit(candidate, best.x, rss, data.n_points, float(np.sqrt(rss / data.n_points) * data.span),
                   bool(best.status > 0), predict(candidate, best.x, data, scale, c2c))


def _summary(data: Stacked) -> dict:
    """Starting-point statistics (normalised units): median |step|, up/down asymmetry, mean pulses per curve."""
    du = np.where(data.mask[1:] & data.mask[:-1], np.diff(data.u, axis=0), np.nan)
    up = float(np.nanmedian(np.abs(du[:, data.sign > 0]))) if np.any(data.sign > 0) else 0.0
    down = float(np.nanmedian(np.abs(du[:, data.sign < 0]))) if np.any(data.sign < 0) else up
    pulses = float(np.mean(data.mask.sum(0) - 1))
    return {"step": max(0.5 * (up + down), 1e-5), "asym": float(np.clip((up - down) / max(up + down, 1e-12), -.9, .9)),
            "pulses": pulses}


__all__ = ["Stacked", "stack", "mean_curves", "MeanFit", "fit_mean", "predict"]
