"""Reads of a wired array through cached effective matrices, refreshed after every N writes (opt-in).

A linear wired array's read is a matrix product: y = x W_eff(G) with W_eff = W + D, where D is what the wires do
to the ideal weights W (in weight units; a [rows, cols] matrix of the forward read, a [cols, rows] matrix of the
transpose read, whose geometry differs). `WireResistance.refresh_every = N > 0` keeps both D in the array's state
and reads y = x W + x D_fwd and z = d W^T + d D_bwd: one product more than an ideal read, instead of a Kirchhoff
solve per input vector.

D is solved exactly (`layout.wired_product` on unit vectors: one solve per output line by reciprocity, or one per
input line) from the noise-free conductances, when the array is made and after every N-th write (an update, a
transfer, a programming pulse). Between refreshes the reads take the conductances as they are now (read noise,
drift and the writes since the refresh included) with the wires' effect of the last refresh: an approximation of
first order in the change since then, whose error is |D(G) - D(G_refresh)|, a fraction of the IR drop's effect on
the weights that changed. Every refresh measures that error, the largest change of D it finds (weight units), and
keeps it in `WiredCache.staleness`; `refresh_every = 1` refreshes after every write, so every read is the exact
solve of the conductances it reads (up to their read noise and drift since the write).

The energy model prices these reads by their nominal drive (`solved_reads` stays 0), as reads through a
transfer matrix are. Costs: the refresh's `lax.cond` at every write makes a training step about twice an ideal one
(measured in `bench/kirchhoff.py`; 1.1x without it), and under `jax.vmap` over arrays the cond becomes a select, so
every write pays for a refresh there.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import jax
import jax.numpy as jnp

from devices.pytree import pytree_dataclass

Array = jax.Array
CHUNK = 32  # unit vectors solved at a time (bounds the memory: CHUNK x rows x cols values per field)


@pytree_dataclass
@dataclass(frozen=True)
class WiredCache:
    """The wires' effect on an array's reads, as of its last refresh.

    Attributes:
        forward: [rows, cols] D_fwd: the forward read is x (W + D_fwd) (weight units).
        backward: [cols, rows] D_bwd: the transpose read is d W^T + d D_bwd (weight units).
        writes: Writes since the last refresh (int32).
        staleness: The largest |change of D| the last refresh found (weight units): the error the reads carried
            just before it (float32; 0 after the first solve).
        refreshes: Refreshes so far (int32), the one at initialisation included.
    """

    forward: Array
    backward: Array
    writes: Array
    staleness: Array
    refreshes: Array


def _unit_reads(xb, g_plus, g_minus, n: int, transposed: bool) -> Array:
    """The wired read of every unit vector of n lines, [n, n_out] (weight units): in one batch when there are more
    of them than output lines (the read then goes through the transfer matrix, one solve per output line), else
    CHUNK vectors at a time (one solve each)."""
    from crossbar.circuit.layout import wired_product

    n_out = xb.rows if transposed else xb.cols + (1 if g_minus.shape[1] == 1 else 0)
    if n > n_out:
        return wired_product(xb, g_plus, g_minus, jnp.eye(n, dtype=g_plus.dtype), transposed)[0]
    n_pad = -(-n // CHUNK) * CHUNK
    units = jnp.eye(n_pad, n, dtype=g_plus.dtype).reshape(n_pad // CHUNK, CHUNK, n)
    out = jax.lax.map(lambda e: wired_product(xb, g_plus, g_minus, e, transposed)[0], units)
    return out.reshape(n_pad, -1)[:n]


def solve_corrections(xb, g_plus: Array, g_minus: Array) -> tuple[Array, Array]:
    """D_fwd [rows, cols] and D_bwd [cols, rows] of conductances g_plus and g_minus (a pair's G- [rows, cols], or
    the reference column [rows, 1]), in weight units."""
    ideal = (g_plus - g_minus) / xb.scale  # [rows, cols]
    forward = _unit_reads(xb, g_plus, g_minus, xb.rows, transposed=False) - ideal
    backward = _unit_reads(xb, g_plus, g_minus, xb.cols, transposed=True) - ideal.T
    return forward, backward


def fresh(xb, g_plus: Array, g_minus: Array) -> WiredCache:
    """The cache of an array whose noise-free conductances are g_plus and g_minus, solved now."""
    forward, backward = solve_corrections(xb, g_plus, g_minus)
    zero = jnp.zeros((), jnp.int32)
    return WiredCache(forward, backward, zero, jnp.zeros((), jnp.float32), zero + 1)


def after_write(xb, state):
    """The array's state after one more write: the cache refreshed when this is its `refresh_every`-th write.

    Args:
        xb: The array's configuration (`wires.refresh_every` > 0).
        state: Its `CrossbarState` after the write, with a `WiredCache` in `wired`.
    """
    from crossbar.array import conductances  # the array core imports this module lazily, as it does the solver

    cache = state.wired
    writes = cache.writes + 1

    def refresh(_):
        forward, backward = solve_corrections(xb, *conductances(xb, state))
        change = jnp.maximum(jnp.max(jnp.abs(forward - cache.forward)), jnp.max(jnp.abs(backward - cache.backward)))
        return WiredCache(forward, backward, jnp.zeros((), jnp.int32), change.astype(jnp.float32),
                          cache.refreshes + 1)

    def keep(_):
        return replace(cache, writes=writes)

    return replace(state, wired=jax.lax.cond(writes >= xb.wires.refresh_every, refresh, keep, None))


def with_wires(cache: WiredCache, ideal: Array, x: Array, transposed: bool) -> tuple[Array, dict]:
    """A cached wired read: the ideal product `ideal` [batch, n_out] of inputs x plus x times the cached effect of
    the wires, in weight units, with the per-vector reports of a wired read (none solved: the energy model prices
    these reads by their nominal drive)."""
    y = ideal + x @ (cache.backward if transposed else cache.forward)
    zeros = jnp.zeros(x.shape[:1], y.dtype)
    return y, {"unconverged_solves": zeros, "solved_reads": zeros, "device_power": zeros, "wire_power": zeros}
