"""Delivering signed pulse counts to the devices of an array: event-driven, row block by row block.

Only the rows that receive pulses are visited: they are ordered by a cumulative sum (XLA's sort costs ~10x
more on CPU), gathered in blocks of `PulseUpdate.row_block` rows (a static capacity; as many blocks run as
the pulsed rows need, so no pulse is ever dropped), their counts are computed there only, the devices
respond, and the rows are written back. Devices that receive no pulse keep their state bit for bit.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp

from crossbar.update import PulseCounts
from devices.base import DeviceState

if TYPE_CHECKING:  # annotations only: the array module imports this one
    from crossbar.array import Crossbar, CrossbarState

Array = jax.Array


def apply_pulses(xb: Crossbar, state: CrossbarState, n: Array, key) -> CrossbarState:
    """Send `n` [rows, cols] signed pulse counts (sign = weight direction) to the devices at time state.t.

    A differential pair moves both devices, G+ by n and G- by -n; a reference column moves only G.
    """
    return deliver(xb, state, PulseCounts(n), key)


def apply_row_pulses(xb: Crossbar, state: CrossbarState, rows: Array, n: Array, key) -> CrossbarState:
    """Send `n` [m, cols] signed pulse counts to the m distinct rows `rows` [m] (int indices) and to no other.

    A row-by-row write of a few lines (a transfer algorithm's writes to its slow array): only those m rows'
    devices are visited, however large the array, where `apply_pulses` of the same counts in a [rows, cols]
    matrix would visit a row block or, for a small array, every device. Rows with no pulse keep their state.
    """
    k_plus, k_minus = jax.random.split(key)
    return written(xb, _pulse_rows(xb, state, jnp.asarray(n, jnp.int32), k_plus, k_minus, rows))


def deliver(xb: Crossbar, state: CrossbarState, pulses, key) -> CrossbarState:
    """Send `pulses` (`update.PulseTrains` or `update.PulseCounts`) to the devices, visiting only the rows that
    receive any; see `pulse_row_blocks`."""
    new = pulse_row_blocks(xb, state, pulses.pulsed_rows(), pulses.counts, key)
    return written(xb, new)


def written(xb: Crossbar, state: CrossbarState) -> CrossbarState:
    """The state after a write: an array with cached wired reads counts it, and refreshes them every
    `WireResistance.refresh_every` writes (`crossbar.circuit.cache`); any other array is returned as it is."""
    if state.wired is None:
        return state
    from crossbar.circuit.cache import after_write  # the circuit is needed only with wire resistance

    return after_write(xb, state)


def pulse_row_blocks(xb: Crossbar, state: CrossbarState, pulsed_rows: Array, counts_of, key) -> CrossbarState:
    """Pulse the devices row block by row block, visiting only the rows that receive pulses.

    Work is proportional to the pulsed rows, not to the array: inputs such as images leave most rows silent.
    The pulsed rows are gathered in blocks of `PulseUpdate.row_block` (a static capacity: as many blocks run
    as the pulsed rows need, so no pulse is ever dropped), `counts_of(rows)` gives their [block, cols] counts
    (the pulse trains count coincidences only there), the devices respond, and the rows are written back.

    Args:
        xb: The array's configuration.
        state: The array's state.
        pulsed_rows: [rows] bool, the rows with at least one pulse.
        counts_of: rows ([block] int indices, out-of-range ones padding; None: all rows) -> signed counts
            [block, cols] (zero for padding rows).
        key: Random key of the devices' cycle-to-cycle noise.
    """
    k_plus, k_minus = jax.random.split(key)
    block = min(xb.update_scheme.row_block, xb.rows)
    # Small arrays take one dense pass: gathering and scattering blocks costs more than it saves there (measured:
    # the 257x128 hidden layer of GV2016 updates in 44 us dense, 77 us in blocks; a branch chosen at run time
    # would copy the whole state under XLA's conditional).
    if block >= xb.rows or xb.rows * xb.cols < xb.update_scheme.dense_below:
        return _pulse_rows(xb, state, counts_of(None), k_plus, k_minus, None)
    # Pulsed rows first (in index order), then padding (index `rows`, out of range: reads fill, writes drop).
    # A cumulative sum and a scatter: XLA's sort (argsort, nonzero) costs ~10x more on CPU.
    n_padded = xb.rows + (-xb.rows) % block
    position = jnp.where(pulsed_rows, jnp.cumsum(pulsed_rows) - 1, n_padded)
    order = jnp.full(n_padded, xb.rows, jnp.int32).at[position].set(jnp.arange(xb.rows, dtype=jnp.int32), mode="drop")
    n_blocks = (jnp.sum(pulsed_rows) + block - 1) // block

    def one_block(b, st):
        rows = jax.lax.dynamic_slice(order, (b * block,), (block,))
        return _pulse_rows(xb, st, counts_of(rows), jax.random.fold_in(k_plus, b), jax.random.fold_in(k_minus, b),
                           rows)

    return jax.lax.fori_loop(0, n_blocks, one_block, state)


def _pulse_rows(xb: Crossbar, state: CrossbarState, n: Array, k_plus, k_minus, rows) -> CrossbarState:
    """Pulse the devices of `rows` ([block] indices, out-of-range ones ignored; None: all rows) by n [block, cols]."""
    plus = _pulse_device_rows(xb.device, state.plus, n, k_plus, state.t, rows)
    minus = state.minus
    if xb.pair == "differential":
        minus = _pulse_device_rows(xb.device, state.minus, -n, k_minus, state.t, rows)
    return replace(state, plus=plus, minus=minus)


def _pulse_device_rows(device, dev: DeviceState, n: Array, key, t, rows) -> DeviceState:
    if rows is None:
        return device.pulse_n(dev, n, key, t=t)
    # Out-of-range rows read a valid row (clip) with zero pulses, and their writes are dropped.
    sub = jax.tree_util.tree_map(lambda a: jnp.take(a, rows, axis=0, mode="clip"), dev)
    new = device.pulse_n(sub, n, key, t=t)
    return jax.tree_util.tree_map(lambda a, b, old: a if b is old else a.at[rows].set(b, mode="drop"),
                                  dev, new, sub)
