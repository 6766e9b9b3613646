"""The mean curve of a model with step noise and bounds: moments carried from pulse to pulse.

With step noise of a few mean steps, the mean of many noisy curves is not the noise-free curve: a device at a
bound cannot step beyond it, so the noise that would carry it out is cut off (a device starting at its lower
bound rises faster on average than its mean step says), and where the step depends on G the spread of states
changes the mean step (Jensen). A mean-curve fit that ignores this fits a wrong law. Here each curve's state is
carried as a normal distribution N(m, v): the step law is averaged over it by Gauss-Hermite quadrature, each
node's next state is the node plus its mean step with multiplicative step noise (std c2c x step), clipped to
the bounds (the exact mean and variance of a clipped normal), and the mixture's mean and variance are the next
(m, v). With c2c = 0 and v = 0 this is the noise-free curve exactly.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import ndtr

NODES, WEIGHTS = np.polynomial.hermite_e.hermegauss(5)
WEIGHTS = WEIGHTS / WEIGHTS.sum()
TINY = 1e-9  # std (u) below which a clipped normal is its clipped mean


def clipped_moments(mu, sd, lo, hi):
    """(E[Y], E[Y^2]) of Y = clip(X, lo, hi) with X ~ N(mu, sd^2) (elementwise)."""
    sd = jnp.maximum(sd, TINY)
    a, b = (lo - mu) / sd, (hi - mu) / sd
    pa, pb = ndtr(a), ndtr(b)
    fa, fb = jnp.exp(-0.5 * a * a) / jnp.sqrt(2 * jnp.pi), jnp.exp(-0.5 * b * b) / jnp.sqrt(2 * jnp.pi)
    inside = pb - pa
    ez = fa - fb  # E[Z 1{a < Z < b}]
    ez2 = inside + a * fa - b * fb  # E[Z^2 1{a < Z < b}]
    m1 = lo * pa + hi * (1 - pb) + mu * inside + sd * ez
    m2 = lo * lo * pa + hi * hi * (1 - pb) + mu * mu * inside + 2 * mu * sd * ez + sd * sd * ez2
    return m1, m2


def noisy_mean_curves(step_fn, g_min, g_max, u0, n_rows: int, c2c):
    """[n_rows, n_curves] mean of the noisy clipped curves from `u0` ([n_curves], known starts).

    Args:
        step_fn: Signed mean step (u) at states [n_curves] -> [n_curves] (scale and polarity included).
        g_min: Lower bound (u). g_max: Upper bound (u). u0: [n_curves] start. n_rows: Static length.
        c2c: Relative step noise (1).
    """
    nodes, weights = jnp.asarray(NODES, u0.dtype), jnp.asarray(WEIGHTS, u0.dtype)

    def one(carry, _):
        m, v = carry
        # the floor keeps the derivative of the square root finite at v = 0 (a known start)
        x = m[None] + jnp.sqrt(jnp.maximum(v, TINY**2))[None] * nodes[:, None]  # [n_nodes, n_curves]
        x = jnp.clip(x, g_min, g_max)
        s = jax.vmap(step_fn)(x)
        m1, m2 = clipped_moments(x + s, c2c * jnp.abs(s), g_min, g_max)
        m_new = weights @ m1
        v_new = jnp.maximum(weights @ m2 - m_new * m_new, 0.0)
        return (m_new, v_new), m_new

    _, trace = jax.lax.scan(one, (u0, jnp.zeros_like(u0)), None, length=n_rows - 1)
    return jnp.concatenate([u0[None], trace], axis=0)


__all__ = ["noisy_mean_curves", "clipped_moments"]
