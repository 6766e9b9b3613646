"""Closed forms of n pulses shared by the models whose per-pulse map is affine in the conductance.

A step that shrinks linearly with the distance travelled makes every pulse an affine map x -> (1 - c) x + a
of the distance x from the bound the device moves away from; n pulses then have the closed form
x_n = (1 - c)^n x_0 + a (1 - (1 - c)^n) / c (`affine_after_n`), a geometric approach to the fixed point a / c.
Soft bounds (`approach_bounds`), linear steps and the bilayer device (`linear_step_mean`) and the creep of
abrupt RRAM are special cases.

Pulse trains give every device at most one pulse per call, where (1 - c)^n is exactly 1 - c n: the helpers
skip the exp and the log (the largest cost of a pulse) with a `lax.cond` when no count exceeds one. Under
`vmap` the cond becomes a select of both branches, which is still correct.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from devices.base import Array, DeviceState

# The largest contraction per pulse: log(1 - c) stays finite (and so do gradients) for any device scale.
MAX_RATE = 0.999


def geometric_decay(rate: Array, count: Array) -> Array:
    """(1 - rate) ** count ([*shape]) for rates in [0, 1] and counts >= 0; exact for counts of 0 or 1."""
    count = jnp.asarray(count, jnp.result_type(rate))
    return jax.lax.cond(jnp.max(count, initial=0.0) <= 1.0, lambda: 1.0 - rate * count,
                        lambda: jnp.exp(count * jnp.log1p(-jnp.minimum(rate, 1.0))))


def geometric_sum(c: Array, n: Array) -> Array:
    """sum_{k<n} (1 - c)^k = (1 - (1 - c)^n) / c, stable as c -> 0 (where it is n).

    Args:
        c: [*shape] contraction per pulse, in [0, 1].
        n: [*shape] number of pulses (>= 0).
    """
    n = jnp.asarray(n, jnp.result_type(c))
    positive = c > 0
    c_safe = jnp.where(positive, c, 1.0)  # keeps the unused branch (and its gradient) finite
    return jnp.where(positive, -jnp.expm1(n * jnp.log1p(-jnp.minimum(c_safe, 1.0))) / c_safe, n)


def affine_after_n(x0: Array, a: Array, c: Array, n: Array) -> Array:
    """x_n of the map x -> (1 - c) x + a after n steps, from x0; exact, finite for c -> 0.

    Args:
        x0: [*shape] start (S). a: [*shape] step at x = 0 (S). c: [*shape] contraction in [0, 1].
        n: [*shape] number of pulses (>= 0).
    """
    n = jnp.asarray(n, jnp.result_type(c))
    c = jnp.minimum(c, MAX_RATE)
    # With at most one pulse per device x_1 = (1 - c n) x0 + a n exactly: no exp and log needed.
    return jax.lax.cond(jnp.max(n, initial=0.0) <= 1.0, lambda: x0 * (1.0 - c * n) + a * n,
                        lambda: x0 * geometric_decay(c, n) + a * geometric_sum(c, n))


def approach_bounds(state: DeviceState, n: Array, rate_up: Array, rate_down: Array) -> Array:
    """Mean conductance (S) after `n` signed pulses of a device relaxing geometrically toward its bounds.

    Args:
        state: Device state.
        n: [*shape] signed pulse counts.
        rate_up: [*shape] fraction (0..1) of the distance to the upper bound covered per potentiating pulse.
        rate_down: [*shape] fraction (0..1) of the distance to the lower bound covered per depressing pulse.
    """
    # One decay per device, in its pulses' direction (the exp and log are most of a pulse's cost).
    decay = geometric_decay(jnp.where(n > 0, rate_up, rate_down), jnp.abs(n))
    up = state.g_max - (state.g_max - state.g) * decay
    down = state.g_min + (state.g - state.g_min) * decay
    return jnp.where(n > 0, up, jnp.where(n < 0, down, state.g))


def linear_step_mean(state: DeviceState, n: Array, dg, gamma_up, gamma_down) -> Array:
    """Mean conductance (S) after `n` signed pulses of a step that shrinks linearly across the range.

    step_up = dg scale_up (1 - gamma_up u), step_down = dg scale_down (1 - gamma_down (1 - u)),
    u = (G - G_min) / (G_max - G_min): the distance from the bound the pulses move away from obeys
    `affine_after_n` with a = dg scale and c = a gamma / range.

    Args:
        state: Device state (bounds and step scales per device).
        n: [*shape] signed pulse counts.
        dg: Step at the bound the pulses move away from (S).
        gamma_up: Relative decrease of the potentiating step across the range (1, in [0, 1]).
        gamma_down: Relative decrease of the depressing step across the range (1, in [0, 1]).
    """
    g_range = state.g_max - state.g_min
    a_up, a_down = dg * state.scale_up, dg * state.scale_down
    count = jnp.abs(n)
    # Potentiation moves x = G - G_min up; depression moves y = G_max - G up; both are the same map.
    up = state.g_min + affine_after_n(state.g - state.g_min, a_up, a_up * gamma_up / g_range, count)
    down = state.g_max - affine_after_n(state.g_max - state.g, a_down, a_down * gamma_down / g_range, count)
    return jnp.where(n > 0, up, jnp.where(n < 0, down, state.g))


def linear_step_sizes(state: DeviceState, dg, gamma_up, gamma_down) -> tuple[Array, Array]:
    """Mean (up, down) step magnitudes (S, [*shape]) of the linear-step law at state.g (see `linear_step_mean`)."""
    u = (state.g - state.g_min) / (state.g_max - state.g_min)
    return (dg * state.scale_up * (1.0 - gamma_up * u),
            dg * state.scale_down * (1.0 - gamma_down * (1.0 - u)))
