"""Kirchhoff reads of a crossbar with wire resistance, in JAX: jit, vmap and grad, any backend, no host callback.

The unknowns are the device currents I [rows, cols] of each input vector (not the node voltages). The topology is
the reference solver's (`crossbar.circuit.network`): row wire i is driven at its left end (column 0 side), column
wire j is sensed at its bottom end (row N-1 side); r_row[i, k] is the segment left of row node (i, k), r_col[k, j]
the segment below column node (k, j), and the driver's and sense amplifier's resistances sit in series with the
end segments. With the device currents known, every node voltage is a sum along its wire:

    row node    u_ij = V_i - Sr(I)_ij,  Sr(I)_ij = sum_{k <= j} rr_ik  sum_{l >= k} I_il   (current of segment k)
    column node w_ij = Sc(I)_ij,        Sc(I)_ij = sum_{k >= i} rc_kj  sum_{l <= k} I_lj

(rr, rc: the segments with the end resistances added), and Ohm's law at every device, u - w = I / g, is

    (diag(1 / g) + Sr + Sc) I = V                                                              (1)

Sr = P^T diag(rr) P with P a suffix sum (likewise Sc), so the matrix is symmetric positive definite for any
resistances >= 0 and conductances > 0, and ideal wires are simply Sr = Sc = 0 (no merged nodes, no infinite
conductances). The transpose read (columns driven at their bottom end, rows sensed at their left end) is the same
equation with the end resistances swapped and V_j broadcast down the columns.

Method: the deviation from the ideal array, d = I - g V, solves (1) with right-hand side -S(g V), by conjugate
gradients batched over the vectors (each vector its own step lengths and its own stopping test), preconditioned by
the exact diagonal of (1). The condition number of the preconditioned system grows with the relative IR drop, so
few iterations reach the tolerance (measured on N x N arrays, `bench/kirchhoff.py`: 2-3 at drops up to 5%, 4 at
7-28%, 6 at 100%, 15 at 1100% of the ideal currents). Ideal wires give a zero right-hand side and return
g V exactly. Each iteration costs four prefix sums over each vector's field (`wire_operator`).

Gradients: `jax.lax.custom_linear_solve` (linear devices) and `jax.lax.custom_root` (sinh devices) differentiate
by the implicit function theorem: the backward pass is one more solve of the same symmetric system.

Nonlinear devices, I = g v0 sinh(V / v0): Newton on v0 asinh(I / (g v0)) + S(I) = V, whose Jacobian
diag(1 / sqrt(g^2 + (I / v0)^2)) + S is again symmetric positive definite (each step one CG solve).

Convergence is data, not an exception: `SolveStats.unconverged` counts the vectors whose relative residual stayed
above `tol` after `max_iter` iterations (their currents are the last iterate). The crossbar's reads add it to
their `Counters.unconverged_solves`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from crossbar.circuit.wire_operator import line_resistances, prefix_sum, wire_operator
from crossbar.circuit.wires import WireResistance
from devices.pytree import pytree_dataclass
from devices.validation import check_int, check_open_range, is_traced

Array = jax.Array

__all__ = ["read_currents", "transfer_matrix", "node_voltages", "read_with_power", "with_reference_column",
           "SolveStats", "DEFAULT_TOL", "DEFAULT_MAX_ITER"]

DEFAULT_TOL = 1e-6  # relative residual ||A d - b|| / ||b|| of each vector's correction to the ideal currents
DEFAULT_MAX_ITER = 200


@pytree_dataclass
@dataclass(frozen=True)
class SolveStats:
    """How a batched Kirchhoff solve went.

    Attributes:
        iterations: int32, conjugate-gradient iterations of the slowest vector (sinh devices: summed over the
            Newton steps).
        unconverged: int32, vectors whose relative residual is still above the tolerance at the iteration limit.
    """

    iterations: Array
    unconverged: Array


def _dot(a: Array, b: Array) -> Array:
    return jnp.sum(a * b, axis=(-2, -1))


def _pcg(matvec, b: Array, inverse_diagonal: Array, tol: float, max_iter: int):
    """Preconditioned conjugate gradients on b [batch, rows, cols], each vector with its own step lengths.

    A vector stops updating once ||r|| <= tol ||b|| (b = 0 is solved by x = 0 at once), so converged vectors keep
    their solution while the others iterate.

    Returns:
        x [batch, rows, cols], and (SolveStats, [batch] bool: the vectors still above the tolerance).
    """
    b_norm = jnp.sqrt(_dot(b, b))
    limit = tol * b_norm
    z = inverse_diagonal * b
    rz = _dot(b, z)
    zero = jnp.zeros((), jnp.int32)

    def active(r):
        return jnp.sqrt(_dot(r, r)) > limit

    def cond(carry):
        k, _, r, _, _ = carry
        return (k < max_iter) & jnp.any(active(r))

    def body(carry):
        k, x, r, p, rz = carry
        live = active(r)
        ap = matvec(p)
        pap = _dot(p, ap)
        alpha = jnp.where(live & (pap > 0), rz / jnp.where(pap > 0, pap, 1), 0)[:, None, None]
        x = x + alpha * p
        r = r - alpha * ap
        z = inverse_diagonal * r
        rz_new = _dot(r, z)
        beta = jnp.where(live & (rz > 0), rz_new / jnp.where(rz > 0, rz, 1), 0)[:, None, None]
        p = jnp.where(live[:, None, None], z + beta * p, p)
        return k + 1, x, r, p, rz_new

    k, x, r, _, _ = jax.lax.while_loop(cond, body, (zero, jnp.zeros_like(b), b, z, rz))
    unconverged = active(r)
    return x, (SolveStats(k, jnp.sum(unconverged, dtype=jnp.int32)), unconverged)


def _drive(v: Array, shape: tuple[int, int], transpose: bool) -> Array:
    """[batch, rows, cols] source voltage each device's loop sees: its row's (forward) or column's (transpose)."""
    return jnp.broadcast_to(v[:, None, :] if transpose else v[:, :, None], v.shape[:1] + shape)


def _sense(i: Array, transpose: bool) -> Array:
    """Currents into the sense amplifiers: column sums (forward) or row sums (transpose) of the device currents."""
    return jnp.sum(i, axis=-1 if transpose else -2)


def _linear_field(g, v, rr, rc, transpose, tol, max_iter):
    """[batch, rows, cols] correction d = I - g V of the device currents (A) for linear devices, and SolveStats."""
    g2, g = g, g[None]
    s, s_diag = wire_operator(rr, rc)
    inverse_diagonal = 1.0 / (1.0 / g + s_diag)
    i0 = g * _drive(v, g2.shape, transpose)

    def matvec(x):
        return x / g + s(x)

    def solve(mv, b):
        return _pcg(mv, b, inverse_diagonal, tol, max_iter)

    return jax.lax.custom_linear_solve(matvec, -s(i0), solve, symmetric=True, has_aux=True)


def _linear_currents(g, v, rr, rc, transpose, tol, max_iter):
    """[batch, out] sensed currents (A) for linear devices, and the SolveStats."""
    correction, (stats, _) = _linear_field(g, v, rr, rc, transpose, tol, max_iter)
    return _ideal(g, v, transpose) + _sense(correction, transpose), stats


def _ideal(g, v, transpose):
    """The ideal read v G (or v G^T), as `crossbar.array` forms it."""
    contract = (((1,), (1,)), ((), ())) if transpose else (((1,), (0,)), ((), ()))
    return jax.lax.dot_general(v, g, contract)


def _sinh_currents(g, v, rr, rc, transpose, v0, tol, max_iter, newton_max_iter):
    """[batch, out] sensed currents (A) for devices I = g v0 sinh(V / v0), by Newton; and the SolveStats."""
    drive = _drive(v, g.shape, transpose)
    g = g[None]
    s, s_diag = wire_operator(rr, rc)
    linear_inverse_diagonal = 1.0 / (1.0 / g + s_diag)

    def residual(i):  # volts: device voltage + wire drops - source, zero at the solution
        return v0 * jnp.arcsinh(i / (g * v0)) + s(i) - drive

    def newton(f, i_start):
        scale = jnp.max(jnp.abs(drive), axis=(-2, -1))  # V

        def cond(carry):
            step, _, f_i, _ = carry
            return (step < newton_max_iter) & jnp.any(jnp.max(jnp.abs(f_i), axis=(-2, -1)) > tol * scale)

        def body(carry):
            step, i, f_i, iters = carry
            resistance = 1.0 / jnp.sqrt(g**2 + (i / v0) ** 2)  # d(device voltage) / dI (ohm)
            di, (stats, _) = _pcg(lambda x: resistance * x + s(x), -f_i, 1.0 / (resistance + s_diag), tol * 0.1,
                                  max_iter)
            i = i + di
            return step + 1, i, f(i), iters + stats.iterations

        zero = jnp.zeros((), jnp.int32)
        steps, i, f_i, iters = jax.lax.while_loop(cond, body, (zero, i_start, f(i_start), zero))
        unconverged = jnp.sum(jnp.max(jnp.abs(f_i), axis=(-2, -1)) > tol * scale, dtype=jnp.int32)
        return i, SolveStats(iters, unconverged)

    def tangent_solve(linearised, y):
        return _pcg(linearised, y, linear_inverse_diagonal, tol * 0.1, max_iter)[0]

    i_start = g * v0 * jnp.sinh(drive / v0)  # the ideal array's currents
    currents, stats = jax.lax.custom_root(residual, i_start, newton, tangent_solve, has_aux=True)
    return _sense(currents, transpose), stats


def _check(g, v, wires, transpose, v0, tol, max_iter):
    if not isinstance(wires, WireResistance):
        raise TypeError(f"`wires` must be a crossbar.circuit.WireResistance; got {type(wires).__name__}")
    g, v = jnp.asarray(g), jnp.asarray(v)
    if g.ndim != 2:
        raise ValueError(f"`g` must be a [rows, cols] conductance array (S); got shape {g.shape}")
    width = g.shape[1] if transpose else g.shape[0]
    if v.ndim not in (1, 2) or v.shape[-1] != width:
        name = "v (transpose)" if transpose else "v"
        raise ValueError(f"`{name}` must have shape [batch, {width}] or [{width}]; got shape {v.shape}")
    if not jnp.issubdtype(v.dtype, jnp.floating):
        raise TypeError(f"`v` must be a floating-point array (V); got dtype {v.dtype}")
    check_open_range("tol", tol, 0.0, 1.0)
    check_int("max_iter", max_iter, 1)
    if v0 is not None:
        check_open_range("v0", v0, 0.0, np.inf)
    if not any(is_traced(a) for a in (g, wires.r_row, wires.r_col, wires.r_source, wires.r_sense)):
        wires.validate(g.shape)
        g_host = np.asarray(g)
        if np.any(~np.isfinite(g_host) | (g_host <= 0)):
            bad = np.argwhere(~np.isfinite(g_host) | (g_host <= 0))[0]
            raise ValueError(f"`g` must be finite and > 0 S everywhere; got g[{tuple(bad)}]={g_host[tuple(bad)]!r}")
    return g, v


def read_currents(g: Array, v: Array, wires: WireResistance, transpose: bool = False, *, v0: float | None = None,
                  tol: float = DEFAULT_TOL, max_iter: int = DEFAULT_MAX_ITER, newton_max_iter: int = 30,
                  return_stats: bool = False):
    """Sensed currents (A) of a crossbar read through its wires: a Kirchhoff solve in JAX.

    Args:
        g: [rows, cols] device conductances (S), finite and > 0.
        v: [batch, rows] row voltages (V), or [batch, cols] column voltages when `transpose`; [rows] / [cols]
            for one vector.
        wires: Wire, driver and sense resistances (ohm); scalars or per segment ([rows, cols]); may be traced.
        transpose: Drive the columns (at their bottom end) and sense the rows (at their left end); the driver's
            `r_source` then sits on the columns and `r_sense` on the rows.
        v0: None for linear devices, else the sinh voltage scale (V): I = g v0 sinh(V / v0). Static.
        tol: Relative residual at which a vector's solve stops (of the correction to the ideal currents, so the
            error of the currents is a fraction tol of the IR drop's effect). Static.
        max_iter: Conjugate-gradient iteration limit (per Newton step for sinh devices). Static.
        newton_max_iter: Newton step limit (sinh devices). Static.
        return_stats: Also return the `SolveStats` (iterations, vectors that did not converge).

    Returns:
        [batch, cols] column currents (forward) or [batch, rows] row currents (transpose), in v's batch shape;
        with `return_stats`, the tuple (currents, SolveStats). A batch of more vectors than output lines is read
        through the `transfer_matrix` (linear devices), which costs one solve per output line.

    Raises:
        ValueError, TypeError: A bad argument, named (values are checked when they are concrete).
    """
    g, v = _check(g, v, wires, transpose, v0, tol, max_iter)
    single = v.ndim == 1
    out, stats = _read(g, v[None] if single else v, wires, transpose, v0, tol, max_iter, newton_max_iter)
    out = out[0] if single else out
    return (out, stats) if return_stats else out


@partial(jax.jit, static_argnums=(3, 4, 5, 6, 7))
def _read(g, v, wires, transpose, v0, tol, max_iter, newton_max_iter):
    """`read_currents` of a [batch, width] v, compiled once per configuration (eager calls included)."""
    dtype = jnp.result_type(g.dtype, v.dtype)
    g, v = g.astype(dtype), v.astype(dtype)
    rr, rc = line_resistances(wires, g.shape, transpose, dtype)
    n_out = g.shape[0] if transpose else g.shape[1]
    if v0 is None and v.shape[0] > n_out:
        # More vectors than output lines: n_out solves give the whole transfer matrix, then one product.
        w, stats = transfer_matrix(g, wires, transpose, tol=tol, max_iter=max_iter)
        return v @ w, stats
    if v0 is None:
        return _linear_currents(g, v, rr, rc, transpose, tol, max_iter)
    return _sinh_currents(g, v, rr, rc, transpose, v0, tol, max_iter, newton_max_iter)


@partial(jax.jit, static_argnames=("transpose", "tol", "max_iter", "chunk"))
def transfer_matrix(g: Array, wires: WireResistance, transpose: bool = False, *, tol: float = DEFAULT_TOL,
                    max_iter: int = DEFAULT_MAX_ITER, chunk: int = 32) -> tuple[Array, SolveStats]:
    """The effective conductance matrix of a linear wired array: forward(v) = v @ W (S), and the SolveStats.

    By reciprocity (the nodal system is symmetric), W[p, j] is the current that column j's sense pattern drives
    into row p: one solve per output line (cols solves forward, rows solves transposed), independent of the
    batch it then serves. Worth it when a read has more vectors than the array has output lines.

    Args:
        g: [rows, cols] device conductances (S).
        wires: Resistances (ohm).
        transpose: The matrix of the transpose read, [cols, rows], with transpose_read(d) = d @ W.
        tol: As `read_currents`.
        max_iter: As `read_currents`.
        chunk: Output lines solved at a time (bounds the memory: chunk x rows x cols values).

    Returns:
        W: [rows, cols] (or [cols, rows] when transposed), in S; stats over every solve.
    """
    rr, rc = line_resistances(wires, g.shape, transpose, g.dtype)
    # The adjoint of a forward read's sensing of column j is a transpose-shaped drive of the unit vector e_j.
    n_out = g.shape[0] if transpose else g.shape[1]
    n_pad = -(-n_out // chunk) * chunk
    units = jnp.eye(n_pad, n_out, dtype=g.dtype).reshape(n_pad // chunk, chunk, n_out)
    s, s_diag = wire_operator(rr, rc)
    g3 = g[None]
    inverse_diagonal = 1.0 / (1.0 / g3 + s_diag)

    def block(e):
        i0 = g3 * _drive(e, g.shape, not transpose)
        corr, (stats, _) = jax.lax.custom_linear_solve(lambda x: x / g3 + s(x), -s(i0),
                                                       lambda mv, b: _pcg(mv, b, inverse_diagonal, tol, max_iter),
                                                       symmetric=True, has_aux=True)
        return _sense(corr, not transpose), stats  # [chunk, n_in]: the wires' change of W, one output line each

    corrections, stats = jax.lax.map(block, units)
    corrections = corrections.reshape(n_pad, -1)[:n_out]  # [n_out, n_in]
    base = g.T if transpose else g
    return base + corrections.T, SolveStats(jnp.max(stats.iterations), jnp.sum(stats.unconverged))


def with_reference_column(wires: WireResistance, cols: int) -> WireResistance:
    """The wires of a [rows, cols] array with its reference column added as column `cols` (the far end of the rows).

    Per-segment resistances of shape [rows, cols] or [1, cols] give the reference column the segments of the last
    column; scalars and per-row [rows, 1] values stay as they are.
    """

    def extend(r):
        r = jnp.asarray(r)
        if r.ndim == 2 and r.shape[1] == cols and cols > 1:
            return jnp.concatenate([r, r[:, -1:]], axis=1)
        return r

    return dataclasses.replace(wires, r_row=extend(wires.r_row), r_col=extend(wires.r_col))


def node_voltages(g: Array, v: Array, wires: WireResistance, transpose: bool = False, *, tol: float = DEFAULT_TOL,
                  max_iter: int = DEFAULT_MAX_ITER) -> tuple[Array, Array, Array, SolveStats]:
    """Every node voltage and device current of a read of a linear wired array.

    Args:
        g: [rows, cols] device conductances (S).
        v: [batch, rows] row voltages (V), or [batch, cols] column voltages when `transpose`.
        wires: Wire, driver and sense resistances (ohm).
        transpose: Drive the columns and sense the rows, as `read_currents`.
        tol: As `read_currents`.
        max_iter: As `read_currents`.

    Returns:
        v_row: [batch, rows, cols] voltage (V) of each row node, against the sense amplifiers' virtual ground.
        v_col: [batch, rows, cols] voltage (V) of each column node.
        current: [batch, rows, cols] device currents (A), positive from row to column node: g (v_row - v_col).
        stats: the solve's SolveStats.
    """
    g, v = _check(g, v, wires, transpose, None, tol, max_iter)
    return _nodes(g, v[None] if v.ndim == 1 else v, wires, transpose, tol, max_iter)


@partial(jax.jit, static_argnums=(3, 4, 5))
def _nodes(g, v, wires, transpose, tol, max_iter):
    dtype = jnp.result_type(g.dtype, v.dtype)
    g, v = g.astype(dtype), v.astype(dtype)
    rr, rc = line_resistances(wires, g.shape, transpose, dtype)
    correction, (stats, _) = _linear_field(g, v, rr, rc, transpose, tol, max_iter)
    drive = _drive(v, g.shape, transpose)
    i = g[None] * drive + correction  # flows from the driven line into the sensed one
    s_rows = prefix_sum(rr * prefix_sum(i, 2, reverse=True), 2)
    s_cols = prefix_sum(rc * prefix_sum(i, 1), 1, reverse=True)
    if transpose:  # columns driven: column nodes sit below the drive, row nodes above the rows' sense ends
        return s_rows, drive - s_cols, -i, stats
    return drive - s_rows, s_cols, i, stats


@partial(jax.jit, static_argnums=(3, 4, 5))
def read_with_power(g: Array, v: Array, wires: WireResistance, transpose: bool, tol: float, max_iter: int):
    """A crossbar read of a linear wired array, with what it reports per input vector (the array's reads use it).

    Args:
        g: [rows, cols] conductances (S). Not validated (the crossbar validated its inputs).
        v: [batch, rows] (or [batch, cols] transposed) voltages (V).
        wires: As `read_currents`.
        transpose: As `read_currents`.
        tol: As `read_currents`.
        max_iter: As `read_currents`.

    Returns:
        currents: [batch, cols] (or [batch, rows]) sensed currents (A).
        reports: {name: [batch]}: `unconverged_solves` (1 where the solve stopped above `tol`), `solved_reads`
            (1: the powers are the solved circuit's), `device_power` (sum of I^2 / g, W) and `wire_power` (sum of
            I^2 R over the wire segments and the end resistances, W). A batch of more vectors than output lines
            is read through the `transfer_matrix`: then `solved_reads` and the powers are 0 (the energy model
            prices those reads by their nominal drive) and every vector is marked unconverged if any of the
            matrix's solves was.
    """
    dtype = jnp.result_type(g.dtype, v.dtype)
    g, v = g.astype(dtype), v.astype(dtype)
    n_out = g.shape[0] if transpose else g.shape[1]
    zeros = jnp.zeros(v.shape[:1], dtype)
    if v.shape[0] > n_out:
        w, stats = transfer_matrix(g, wires, transpose, tol=tol, max_iter=max_iter)
        flag = jnp.broadcast_to((stats.unconverged > 0).astype(dtype), zeros.shape)
        return v @ w, {"unconverged_solves": flag, "solved_reads": zeros, "device_power": zeros,
                       "wire_power": zeros}
    rr, rc = line_resistances(wires, g.shape, transpose, dtype)
    correction, (_, unconverged) = _linear_field(g, v, rr, rc, transpose, tol, max_iter)
    i = g[None] * _drive(v, g.shape, transpose) + correction
    row_segments = prefix_sum(i, 2, reverse=True)  # current of each row segment (toward the row's far end)
    col_segments = prefix_sum(i, 1)  # current of each column segment (toward the column's bottom end)
    wire_power = jnp.sum(rr * row_segments**2 + rc * col_segments**2, axis=(1, 2))
    return _ideal(g, v, transpose) + _sense(correction, transpose), {
        "unconverged_solves": unconverged.astype(dtype), "solved_reads": jnp.ones_like(zeros),
        "device_power": jnp.sum(i * i / g[None], axis=(1, 2)), "wire_power": wire_power}
