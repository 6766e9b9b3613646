"""A two-state linear Kalman filter and Rauch-Tung-Striebel smoother for pulse-response curves (float64 numpy).

The state of curve c after pulse k is z = (x, b): x the hidden conductance, b a per-curve multiplier of the
step. The pulse moves it by

    x_{k+1} = x_k + s_k b_k + w_k,   w_k ~ N(0, q_k),        b_{k+1} = b_k + v_k,   v_k ~ N(0, q_b),

and the reading is y_k = x_k + n_k, n_k ~ N(0, r) white (read or write noise: not accumulated). Two uses:
    - the model's step law (`state_noise`): s_k the fitted model's mean step at the curve's state, b the curve's
      own step scale (prior N(1, d2d^2), q_b = 0) and q_k = c2c^2 (b s_k)^2 the step noise;
    - a model-free trend (`denoise`): s_k = 1, b the local slope (diffuse prior, slowly wandering: q_b > 0).
The model is linear and Gaussian given s, so the filter's innovations give the exact likelihood of the noise
parameters, and the smoother the posterior mean of the hidden conductance. Everything is vectorised over
curves and over a batch of parameter sets (one pass scores a finite-difference gradient), so a likelihood
costs one loop over the pulses.

References: Durbin & Koopman, "Time Series Analysis by State Space Methods", 2nd ed. (2012), ch. 4 (filter,
smoother, diffuse initialisation by a large prior variance) and ch. 7 (maximum likelihood).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DIFFUSE = 1e4  # prior variance of the first hidden state (u^2, readings are of order 1): no prior information


@dataclass(frozen=True)
class Params:
    """Noise parameters, each [n_sets] (one batch entry per set) or scalar.

    Attributes:
        r: Variance of the white reading noise (u^2). q_scale: Multiplier of the step-noise shape q_k (1).
        b_mean: Prior mean of the second state. b_var: Its prior variance. q_b: Its per-pulse variance.
    """

    r: np.ndarray
    q_scale: np.ndarray
    b_mean: float
    b_var: np.ndarray
    q_b: np.ndarray


def _filter(y, mask, s, q_shape, p: Params, keep: bool = False):
    """Run the filter; return the negative log-likelihood [n_sets] (and the stored moments when `keep`)."""
    r, qs, bv, qb = (np.asarray(v, float)[..., None] for v in (p.r, p.q_scale, p.b_var, p.q_b))
    shape = np.broadcast_shapes(r.shape, qs.shape, bv.shape, qb.shape, (1, y.shape[1]))
    mx, mb = np.broadcast_to(y[0], shape).copy(), np.full(shape, p.b_mean)
    pxx, pxb, pbb = np.full(shape, DIFFUSE), np.zeros(shape), np.broadcast_to(bv, shape).copy()
    nll = np.zeros(shape)
    stored = []
    for k in range(y.shape[0]):
        m = mask[k]
        # update with reading k where the curve has one
        S = pxx + r
        v = y[k] - mx
        kx, kb = pxx / S, pxb / S
        term = 0.5 * (np.log(S) + v * v / S)
        nll += np.where(m, term if k else 0.0, 0.0)  # the first reading only sets the start (diffuse prior)
        mx, mb = np.where(m, mx + kx * v, mx), np.where(m, mb + kb * v, mb)
        pxx, pxb, pbb = (np.where(m, pxx - kx * kx * S, pxx), np.where(m, pxb - kx * kb * S, pxb),
                         np.where(m, pbb - kb * kb * S, pbb))
        if keep:
            stored.append((mx, mb, pxx, pxb, pbb))
        if k + 1 == y.shape[0]:
            break
        sk, qk = s[k], qs * q_shape[k]
        mx = mx + sk * mb
        pxx, pxb, pbb = pxx + 2 * sk * pxb + sk * sk * pbb + qk, pxb + sk * pbb, pbb + qb
    total = nll.sum(-1)
    return (total, stored) if keep else total


def negative_log_likelihood(y, mask, s, q_shape, p: Params) -> np.ndarray:
    """[n_sets] negative log-likelihood (up to a constant) of the curves under each parameter set.

    Args:
        y: [n_rows, n_curves] readings (u; anything where `mask` is False). mask: [n_rows, n_curves] True where
            read (each curve a run from row 0). s: [n_rows - 1, n_curves] step coefficients. q_shape:
            [n_rows - 1, n_curves] step-noise variance per unit `q_scale` (u^2). p: Parameters, batched.
    """
    return _filter(y, mask, s, q_shape, p)


def smooth(y, mask, s, q_shape, p: Params) -> tuple[np.ndarray, np.ndarray]:
    """(x, b) smoothed means, each [n_rows, n_curves] (one parameter set, scalars in `p`); NaN after a curve ends."""
    _, stored = _filter(y, mask, s, q_shape, p, keep=True)
    mx, mb, pxx, pxb, pbb = (np.stack([st[i] for st in stored]).reshape(y.shape) for i in range(5))
    qb = float(np.asarray(p.q_b))
    qs = float(np.asarray(p.q_scale))
    xs, bs = mx.copy(), mb.copy()
    for k in range(y.shape[0] - 2, -1, -1):
        live = mask[k + 1]
        sk, qk = s[k], qs * q_shape[k]
        # one-step prediction from k (F = [[1, s], [0, 1]]) and the smoother gain G = P_k F^T P_{k+1|k}^-1
        px, pb = mx[k] + sk * mb[k], mb[k]
        axx = pxx[k] + 2 * sk * pxb[k] + sk * sk * pbb[k] + qk
        axb, abb = pxb[k] + sk * pbb[k], pbb[k] + qb
        det = np.maximum(axx * abb - axb * axb, 1e-300)
        cxx, cxb = pxx[k] + sk * pxb[k], pxb[k]  # (P_k F^T) first row
        cbx, cbb = pxb[k] + sk * pbb[k], pbb[k]  # second row
        ixx, ixb, ibb = abb / det, -axb / det, axx / det
        gxx, gxb = cxx * ixx + cxb * ixb, cxx * ixb + cxb * ibb
        gbx, gbb = cbx * ixx + cbb * ixb, cbx * ixb + cbb * ibb
        dx, db = xs[k + 1] - px, bs[k + 1] - pb
        xs[k] = np.where(live, mx[k] + gxx * dx + gxb * db, mx[k])
        bs[k] = np.where(live, mb[k] + gbx * dx + gbb * db, mb[k])
    return np.where(mask, xs, np.nan), np.where(mask, bs, np.nan)


def maximise(nll, x0, lower, upper, step: float = 1e-4) -> tuple[np.ndarray, float]:
    """(argmin, min) of `nll` (a function of [n_sets, n_params] returning [n_sets]) within bounds, by L-BFGS-B.

    The gradient comes from central differences scored in the same batched call as the value (one filter
    pass per iteration). Parameters are in log units, so `step` is relative.
    """
    from scipy.optimize import minimize

    x0 = np.asarray(x0, float)
    n = x0.size
    offsets = np.concatenate([np.zeros((1, n)), step * np.eye(n), -step * np.eye(n)])

    def value_and_grad(x):
        f = nll(x[None] + offsets)
        return float(f[0]), (f[1:n + 1] - f[n + 1:]) / (2 * step)

    res = minimize(value_and_grad, x0, jac=True, method="L-BFGS-B", bounds=list(zip(lower, upper, strict=True)),
                   options={"maxiter": 200, "ftol": 1e-10, "gtol": 1e-6})
    return res.x, float(res.fun)


__all__ = ["Params", "negative_log_likelihood", "smooth", "maximise", "DIFFUSE"]
