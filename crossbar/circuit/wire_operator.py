"""The wires of a crossbar as an operator on its device currents: the voltage drops along every row and column.

With the device currents I [..., rows, cols] known, each wire segment carries the sum of the currents beyond it,
so the drops are prefix sums along the wires (see `crossbar.circuit.kirchhoff`, eq. (1)):

    S(I) = Sr(I) + Sc(I)
    Sr(I)_ij = sum_{k <= j} rr_ik sum_{l >= k} I_il      (row drops: segment k carries the currents beyond it)
    Sc(I)_ij = sum_{k >= i} rc_kj sum_{l <= k} I_lj      (column drops, toward the sense end at row N-1)

with rr, rc the segments and the driver's and sense amplifier's resistances on the end segments
(`line_resistances`). Sr = P^T diag(rr) P with P a suffix sum, so S is symmetric positive semi-definite.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from crossbar.circuit.wires import WireResistance

Array = jax.Array

__all__ = ["prefix_sum", "line_resistances", "wire_operator"]

_BLOCK = 16  # prefix sums run as [.., n / 16, 16] @ [16, 16] triangular products plus a carry over the blocks


def prefix_sum(x: Array, axis: int, reverse: bool = False) -> Array:
    """Inclusive prefix sum of x along `axis` (from the end when `reverse`), by blocks of `_BLOCK`.

    Within a block, a product with a [16, 16] triangle; across blocks, a short cumulative sum of the block totals.
    The axis stays in place (no transposed copies). Measured 1.0-2.4x faster than `lax.cumsum` on CPU (785 x 257
    float32 fields, batch 1 and 8, either axis and direction).
    """
    n = x.shape[axis]
    pad = (-n) % _BLOCK
    if reverse:
        x = jnp.flip(x, axis)
    widths = [(0, 0)] * x.ndim
    widths[axis] = (0, pad)
    padded = jnp.pad(x, widths)
    shape = padded.shape
    blocks = padded.reshape(shape[:axis] + ((n + pad) // _BLOCK, _BLOCK) + shape[axis + 1:])
    triangle = jnp.tril(jnp.ones((_BLOCK, _BLOCK), x.dtype))  # out_k = sum_{l <= k} in_l
    if axis == x.ndim - 1:
        within = jnp.einsum("...nl,kl->...nk", blocks, triangle)
        totals = within[..., -1]
        out = within + (jnp.cumsum(totals, -1) - totals)[..., None]  # plus what the earlier blocks hold
    else:
        within = jnp.einsum("kl,...nlm->...nkm", triangle, blocks)
        totals = within[..., -1, :]
        out = within + (jnp.cumsum(totals, -2) - totals)[..., None, :]
    out = jax.lax.slice_in_dim(out.reshape(shape), 0, n, axis=axis)
    return jnp.flip(out, axis) if reverse else out


def line_resistances(wires: WireResistance, shape: tuple[int, int], transpose: bool, dtype) -> tuple[Array, Array]:
    """(rr, rc) [1, rows, cols] (ohm): the wire segments, with the driver's and sense's resistances on the ends
    (a leading axis to broadcast against a batch)."""
    r_row = jnp.broadcast_to(jnp.asarray(wires.r_row, dtype), shape)
    r_col = jnp.broadcast_to(jnp.asarray(wires.r_col, dtype), shape)
    row_end, col_end = (wires.r_sense, wires.r_source) if transpose else (wires.r_source, wires.r_sense)
    rr = r_row.at[:, 0].add(jnp.asarray(row_end, dtype))[None]
    rc = r_col.at[-1, :].add(jnp.asarray(col_end, dtype))[None]
    # Wires fixed at trace time would be constants, and XLA folds the prefix sums of constants slowly (seconds
    # for a 785 x 256 array): the barrier keeps them runtime values.
    return jax.lax.optimization_barrier((rr, rc))


def wire_operator(rr: Array, rc: Array):
    """S = Sr + Sc of eq. (1): the wires' voltage drops [..., rows, cols] (V) for device currents I (A)."""

    def apply(i: Array) -> Array:
        rows, cols = i.ndim - 2, i.ndim - 1
        along_rows = prefix_sum(rr * prefix_sum(i, cols, reverse=True), cols)
        along_cols = prefix_sum(rc * prefix_sum(i, rows), rows, reverse=True)
        return along_rows + along_cols

    # The diagonal of S: node (i, j)'s own current flows through every row segment left of it and every column
    # segment below it.
    diagonal = jnp.cumsum(rr, 2) + jnp.flip(jnp.cumsum(jnp.flip(rc, 1), 1), 1)
    return apply, diagonal
