"""How a crossbar's weight layout sits on the circuit: which arrays a wired read solves, and how their currents
combine into weights (the array core's reads call this when an array has wires)."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from crossbar.circuit import kirchhoff

Array = jax.Array

__all__ = ["wired_product"]


def wired_product(xb, g_plus, g_minus, x: Array, transposed: bool) -> tuple[Array, dict]:
    """A crossbar's (`crossbar.array.Crossbar`) array product read through its wires (a Kirchhoff solve per input
    vector), in weight units, and what the solve reports per vector (`kirchhoff.read_with_power`: unconverged
    solves, the devices' and the wires' power; a differential pair's two arrays summed).

    The reference column is one more column of the array, at the far end of the rows: the forward read solves the
    [rows, cols + 1] array and subtracts its current from every column. In the transpose read it is not driven
    (its term G_ref,i sum_j d_j is formed in the periphery, as in the ideal read). A differential pair's two
    arrays are solved side by side (vmap).
    """
    wires = xb.wires
    volts = x * xb.v_read
    read = partial(kirchhoff.read_with_power, wires=wires, transpose=transposed, tol=wires.tol,
                   max_iter=wires.max_iter)
    if g_minus.shape[1] == 1 and transposed:
        currents, reports = read(g_plus, volts)
        currents = currents - jnp.sum(volts, axis=1, keepdims=True) * g_minus[:, 0][None, :]
    elif g_minus.shape[1] == 1:
        g_all = jnp.concatenate([g_plus, g_minus], axis=1)
        currents, reports = read(g_all, volts, wires=kirchhoff.with_reference_column(wires, xb.cols))
        currents = currents[:, :-1] - currents[:, -1:]
    else:
        both, reports = jax.vmap(lambda g: read(g, volts))(jnp.stack([g_plus, g_minus]))
        currents = both[0] - both[1]
        reports = {name: jnp.max(r, 0) if name == "solved_reads" else jnp.sum(r, 0) for name, r in reports.items()}
    return currents / (xb.v_read * xb.scale), reports
