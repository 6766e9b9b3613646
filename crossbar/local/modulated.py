"""Success-modulated (three-factor) updates of a crossbar by pulse coincidence.

A three-factor rule changes a weight by the product of a presynaptic factor, a postsynaptic factor and a third
factor: a global success signal S (a reward, or the TD error of an actor-critic), or a modulator m_i of each
output neuron (a neuron-specific third factor, as Loihi 2's learning rule allows: e.g. the error a hidden neuron
receives by feedback alignment). With the array's layout (rows are the inputs j, columns the outputs i,
W [rows, cols]):

    dw_ji = lr * m_i * pre_j * post_i,   m_i = S for every i with a global signal

This is the SGD update W -= lr x d^T of `crossbar.update` with x = pre and d = -m * post, so the rank-one case is
sent as pulse coincidence: rows fire with probability C_x |pre_j| per slot, columns with C_d |m_i post_i|, and
the expected number of coincidences of device (j, i) is lr |m_i pre_j post_i| / dw_min, signed as
m_i pre_j post_i. Sign and magnitude of the third factor sit in the column trains (update management rebalances
the two sides), so a neuron-specific one costs nothing more than a global one.

A general matrix (an eligibility trace e [rows, cols]) is not a rank-one product; `transfer` sends it as pulse
counts n = stochastic_round(lr S e / dw_min), unbiased, capped at `max_pulses` per device (counted).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from crossbar import array
from crossbar.counters import Counters
from crossbar.delivery import apply_pulses, deliver
from crossbar.update import PulseCounts, PulseTrains, sample_pulses
from devices.noise import uniform
from devices.validation import check_finite, check_int, check_positive, check_scalar

Array = jax.Array


def devices_per_weight(xb: array.Crossbar) -> int:
    """Devices one coincidence pulses: 2 for a differential pair (G+ and G-), 1 against a reference column."""
    return 2 if xb.pair == "differential" else 1


def coincidences(pulses: PulseTrains | PulseCounts) -> Array:
    """Total number of coincidences (int32 scalar) of one sample's pulses, without forming the [rows, cols] counts.

    For trains, sum_ij popcount(row_i AND col_j) = sum over slots of (rows firing) x (columns firing): O(rows + cols).
    """
    if isinstance(pulses, PulseCounts):
        return jnp.sum(jnp.abs(pulses.n), dtype=jnp.int32)
    bits = jnp.arange(32, dtype=jnp.uint32)[:, None, None]
    rows_per_slot = jnp.sum((pulses.rows[None] >> bits) & 1, axis=2, dtype=jnp.int32)  # [32, n_words]
    cols_per_slot = jnp.sum((pulses.cols[None] >> bits) & 1, axis=2, dtype=jnp.int32)
    return jnp.sum(rows_per_slot * cols_per_slot, dtype=jnp.int32)


def _check_vector(name: str, v, n: int) -> Array:
    v = jnp.asarray(v)
    if v.shape != (n,):
        raise ValueError(f"`{name}` must have shape [{n}]; got {name}.shape={v.shape}")
    if not jnp.issubdtype(v.dtype, jnp.floating):
        raise TypeError(f"`{name}` must be a floating-point array; got dtype {v.dtype}")
    check_finite(name, v)
    return v


def modulated_update(xb: array.Crossbar, state: array.CrossbarState, pre: Array, post: Array, success, lr,
                     key) -> tuple[array.CrossbarState, Counters, Array]:
    """dw = lr pre (m * post)^T by pulse coincidence: row trains from `pre`, column trains from m * `post`.

    Args:
        xb: The array's configuration (its `update_scheme` sets BL, update management and the scheme).
        state: The array's state.
        pre: [rows] presynaptic factor (e.g. the input features x_j).
        post: [cols] postsynaptic factor (e.g. a_i - <a_i> for a softmax policy).
        success: The third factor m: a scalar success signal S (reward or TD error) for every output neuron, or
            a [cols] modulator, one per output neuron; any sign.
        lr: Learning rate (> 0).
        key: Random key (pulse trains, devices' cycle-to-cycle noise).

    Returns:
        (new state, counters, device pulses sent (int32 scalar)).
    """
    pre = _check_vector("pre", pre, xb.rows)
    post = _check_vector("post", post, xb.cols)
    if np.ndim(success) == 0:
        check_scalar("success", success)
    else:
        success = _check_vector("success", success, xb.cols)
    check_finite("success", success)
    check_positive("lr", lr)
    d = -jnp.asarray(success, jnp.float32) * post  # SGD's d: W -= lr pre d^T  <=>  W += lr S pre post^T
    if not xb.update_scheme.pulsed:
        new, counters = array.update(xb, state, pre, d, lr, key)
        return new, counters, jnp.zeros((), jnp.int32)
    k_pulses, k_devices = jax.random.split(key)
    pulses, counters = sample_pulses(xb.update_scheme, pre, d, lr, xb.dw_min, k_pulses)
    new = deliver(xb, state, pulses, k_devices)
    counters = counters.replace(events=array.pulse_events(xb, pulses, counters))
    return new, counters, coincidences(pulses) * devices_per_weight(xb)


def transfer_counts(xb: array.Crossbar, dw: Array, key, max_pulses: int) -> tuple[Array, Array]:
    """Signed pulse counts [rows, cols] int32 whose expected weight change is `dw` (stochastic rounding of
    dw / dw_min; plain rounding for the deterministic scheme), capped at +-`max_pulses`; and the number capped."""
    x = dw / xb.dw_min
    if xb.update_scheme.scheme == "deterministic":
        n = jnp.round(x)
    else:  # floor(x + u), u ~ U[0, 1): unbiased, E[n] = x
        n = jnp.floor(x + uniform(key, x.shape))
    capped = jnp.sum(jnp.abs(n) > max_pulses, dtype=jnp.int32)
    return jnp.clip(n, -max_pulses, max_pulses).astype(jnp.int32), capped


def transfer(xb: array.Crossbar, state: array.CrossbarState, e: Array, success, lr, key,
             max_pulses: int = 100) -> tuple[array.CrossbarState, Counters, Array]:
    """dw = lr S e for a trace matrix `e` [rows, cols]: pulse counts with expectation dw / dw_min sent to the devices.

    Args:
        xb: The (non-volatile) array's configuration.
        state: The array's state.
        e: [rows, cols] eligibility trace (weight units per unit of lr S).
        success: Scalar success signal S.
        lr: Learning rate (> 0).
        key: Random key (rounding, devices' noise).
        max_pulses: Most pulses per device and transfer (static); larger counts are capped and counted.

    Returns:
        (new state, counters (capped counts in `count_clipped`), device pulses sent (int32 scalar)).
    """
    e = jnp.asarray(e)
    if e.shape != (xb.rows, xb.cols):
        raise ValueError(f"`e` must have shape {(xb.rows, xb.cols)}; got e.shape={e.shape}")
    check_scalar("success", success)
    check_positive("lr", lr)
    max_pulses = check_int("max_pulses", max_pulses, 1)
    dw = lr * jnp.asarray(success, jnp.float32) * e
    if not xb.update_scheme.pulsed:
        # The ideal scheme writes dw itself. One outer product cannot hold a general matrix, so it goes as a batch
        # of rank-one writes, one per row: x = the unit vector of row r, d = -dw[r] / lr.
        eye = jnp.eye(xb.rows, dtype=jnp.float32)
        new, counters = array.update(xb, state, eye, -dw / lr, lr, key)
        return new, counters, jnp.zeros((), jnp.int32)
    k_round, k_devices = jax.random.split(key)
    n, capped = transfer_counts(xb, dw, k_round, max_pulses)
    new = apply_pulses(xb, state, n, k_devices)
    pulses = jnp.sum(jnp.abs(n), dtype=jnp.int32) * devices_per_weight(xb)
    # The counts go in as row-by-row writes (`array.pulse_events`): each row held while its columns fire.
    events = array.pulse_events(xb, PulseCounts(n), Counters.zeros())
    return new, Counters.zeros().replace(count_clipped=capped, events=events), pulses
