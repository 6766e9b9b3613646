"""Closed-loop programming of a weight matrix into a crossbar by pulses (write and verify).

Each iteration reads the weights, computes the error to the target, and sends every device that is still
outside the tolerance a burst of pulses toward its target: round(|error| / dw_min) pulses, at least one and
at most `pulses_per_iteration`, and never more than what is left of its own pulse budget. The loop stops
when every device is within the tolerance or has spent its budget. It is a `lax.while_loop`, so
`write_verify` runs under `jax.jit` (with the crossbar and the integer options static) and `jax.vmap`.

References:
    Alibart, Gao, Hoskins & Strukov, "High precision tuning of state for memristive devices by adaptable
    variation-tolerant algorithm", Nanotechnology 23, 075201 (2012): the program-and-verify loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from crossbar.array import Crossbar, CrossbarState, apply_pulses, conductances, weights
from devices.pytree import pytree_dataclass
from devices.validation import check_finite, check_int, check_positive

Array = jax.Array


@pytree_dataclass
@dataclass(frozen=True)
class ProgramReport:
    """Outcome of `write_verify`.

    Attributes:
        pulses: [rows, cols] int32 number of pulses each weight received (both devices of a differential pair
            receive this many each).
        total_pulses: int32 scalar, the sum of `pulses`.
        iterations: int32 scalar, read-and-pulse iterations run.
        not_converged: int32 scalar, weights whose final noise-free error exceeds the tolerance.
        converged: [rows, cols] bool, True where the final noise-free error is within the tolerance.
        max_error: float scalar, the largest final |W - W_target| (weight units), noise-free read.
        error: [rows, cols] final W - W_target (weight units), noise-free read.
    """

    pulses: Array
    total_pulses: Array
    iterations: Array
    not_converged: Array
    converged: Array
    max_error: Array
    error: Array


def write_verify(xb: Crossbar, state: CrossbarState, w_target: Array, key, tolerance=None, max_pulses: int = 1000,
                 *, pulses_per_iteration: int = 10, max_iterations: int | None = None,
                 noisy_read: bool = False) -> tuple[CrossbarState, ProgramReport]:
    """Program `w_target` into the array by read-verify-pulse iterations.

    Args:
        xb: Crossbar configuration.
        state: Crossbar state; pulses are stamped with its time `state.t` (drift restarts there).
        w_target: [rows, cols] target weights (weight units, within +-`xb.w_max` to be reachable).
        key: Random key (cycle-to-cycle noise of the pulses, read noise of noisy reads).
        tolerance: Largest accepted |W - W_target| (weight units, > 0). Default: `xb.dw_min`, i.e. one
            nominal step; below dw_min / 2 a nominal device can only oscillate around its target.
        max_pulses: Pulse budget of each weight (int >= 1), summed over all iterations. May be traced, so
            that one compiled program serves several budgets.
        pulses_per_iteration: Most pulses a weight receives in one iteration (int >= 1, may be traced).
            Smaller values overshoot less on devices whose step differs from the nominal dw_min.
        max_iterations: Most iterations (int >= 1, may be traced); default `max_pulses`, which the budget
            reaches first because every unconverged weight spends at least one pulse per iteration.
        noisy_read: Verify with the devices' read noise (static). The report's errors are always noise-free.

    Returns:
        (state, report): the programmed state and a `ProgramReport`.

    Raises:
        ValueError: naming the argument, for a non-positive or non-finite `tolerance`, `max_pulses`,
            `pulses_per_iteration` or `max_iterations` below 1, or `w_target` of the wrong shape or non-finite.
    """
    if tolerance is None:
        tolerance = xb.dw_min
    check_positive("tolerance", tolerance)
    check_int("max_pulses", max_pulses, 1)
    check_int("pulses_per_iteration", pulses_per_iteration, 1)
    if max_iterations is None:
        max_iterations = max_pulses
    check_int("max_iterations", max_iterations, 1)
    w_target = jnp.asarray(w_target)
    if w_target.shape != (xb.rows, xb.cols):
        raise ValueError(f"`w_target` must have shape {(xb.rows, xb.cols)}; got w_target.shape={w_target.shape}")
    check_finite("w_target", w_target)
    w_target = w_target.astype(jnp.float32)

    def read(st, k):
        if not noisy_read:
            return weights(xb, st)
        g_plus, g_minus = conductances(xb, st, k)
        return (g_plus - g_minus) / xb.scale

    def pending(carry):
        i, _, used, done, _ = carry
        # A weight still needs work when it is outside the tolerance and has budget left.
        return (i < max_iterations) & jnp.any(~done & (used < max_pulses))

    def step(carry):
        i, st, used, _, k = carry
        k, k_read, k_pulse = jax.random.split(k, 3)
        err = w_target - read(st, k_read)
        done = jnp.abs(err) <= tolerance
        # At least one pulse where unconverged, else a tolerance below dw_min / 2 would stall the loop.
        n = jnp.clip(jnp.round(jnp.abs(err) / xb.dw_min), 1, pulses_per_iteration)
        n = jnp.minimum(n, max_pulses - used).astype(jnp.int32)
        n = jnp.where(done, 0, n)
        st = apply_pulses(xb, st, jnp.sign(err).astype(jnp.int32) * n, k_pulse)
        return i + 1, st, used + n, done, k

    zeros = jnp.zeros((xb.rows, xb.cols), jnp.int32)
    not_done = jnp.zeros((xb.rows, xb.cols), bool)
    iterations, state, used, _, _ = jax.lax.while_loop(
        pending, step, (jnp.zeros((), jnp.int32), state, zeros, not_done, key))
    # The loop's last iteration may have pulsed; the report judges the state it returns, noise-free.
    error = weights(xb, state) - w_target
    converged = jnp.abs(error) <= tolerance
    report = ProgramReport(pulses=used, total_pulses=jnp.sum(used), iterations=iterations,
                           not_converged=jnp.sum(~converged, dtype=jnp.int32), converged=converged,
                           max_error=jnp.max(jnp.abs(error)), error=error)
    return state, report
