"""The circuit solver inside `jax.jit` and `jax.vmap`: host callbacks, with a cache of factorised arrays.

`forward_currents` / `transpose_currents` run `CircuitSolver` (numpy/scipy, float64) in a `jax.pure_callback`
and report any failure as NaN outputs, because raising inside a callback is undefined behaviour. Forward and
transpose reads of the same conductances within a training step reuse one factorisation (a small LRU cache
keyed by a hash of G and the wires).
"""

from __future__ import annotations

import collections
import hashlib

import jax
import jax.numpy as jnp
import numpy as np

from crossbar.circuit.solver import CircuitSolver
from crossbar.circuit.wires import WireResistance

Array = jax.Array

_CACHE: collections.OrderedDict = collections.OrderedDict()
_CACHE_SIZE = 4  # forward and transpose of the same G within a training step reuse one factorisation


def _cached_solver(g: np.ndarray, r: tuple[np.ndarray, ...], v0, method: str, tol: float) -> CircuitSolver:
    h = hashlib.blake2b(digest_size=16)
    for a in (g, *r):
        h.update(str(a.shape).encode())
        h.update(np.ascontiguousarray(a).tobytes())
    key = (h.hexdigest(), v0, method, tol)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    solver = CircuitSolver(g, WireResistance(*r), v0=v0, method=method, tol=tol)
    _CACHE[key] = solver
    if len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return solver


def _host_solve(drive_rows: bool, v0, method, tol, g, v, r_row, r_col, r_source, r_sense):
    """Host side of the callback: never raises; any failure (bad value, non-convergence) gives NaN outputs."""
    out_dtype = v.dtype
    n_out = g.shape[1] if drive_rows else g.shape[0]
    try:
        solver = _cached_solver(np.asarray(g, np.float64),
                                tuple(np.asarray(a, np.float64) for a in (r_row, r_col, r_source, r_sense)),
                                v0, method, tol)
        v = np.asarray(v, np.float64)
        out = solver.forward(v) if drive_rows else solver.transpose(v)
    except (ValueError, TypeError, ArithmeticError, np.linalg.LinAlgError, RuntimeError):
        out = np.full(v.shape[:-1] + (n_out,), np.nan)
    return np.asarray(out, dtype=out_dtype)


def _callback(drive_rows: bool, g, v, wires: WireResistance, v0, method: str, tol: float) -> Array:
    g, v = jnp.asarray(g), jnp.asarray(v)
    leaves = (g, v, wires.r_row, wires.r_col, wires.r_source, wires.r_sense)
    if not any(isinstance(a, jax.core.Tracer) for a in leaves):
        # Concrete inputs (eager call): validate here, where raising is allowed.
        CircuitSolver(np.asarray(g), WireResistance(*(np.asarray(a) for a in leaves[2:])),
                      v0=v0, method=method, tol=tol)
    width = g.shape[0] if drive_rows else g.shape[1]
    if v.ndim not in (1, 2) or v.shape[-1] != width:
        raise ValueError(f"`v` must have shape [batch, {width}] or [{width}]; got shape {v.shape}")
    n_out = g.shape[1] if drive_rows else g.shape[0]
    out_type = jax.ShapeDtypeStruct(v.shape[:-1] + (n_out,), v.dtype)
    fn = lambda *args: _host_solve(drive_rows, v0, method, tol, *args)
    return jax.pure_callback(fn, out_type, *leaves, vmap_method="sequential")


def forward_currents(g: Array, v: Array, wires: WireResistance, *, v0: float | None = None,
                     method: str = "auto", tol: float = 1e-10) -> Array:
    """Column currents (A) of the crossbar with wire resistance, callable inside `jax.jit` and `jax.vmap`.

    Args:
        g: [N, M] device conductances (S).
        v: [batch, N] or [N] row voltages (V).
        wires: wire resistances (ohm); its fields may be traced.
        v0: None (linear devices) or the sinh voltage scale (V); static.
        method: solver choice, see `CircuitSolver`; static.
        tol: solver tolerance, see `CircuitSolver`; static.

    Returns:
        [batch, M] or [M] currents in v's dtype. Inside a transformation a failed solve (invalid value,
        non-convergence) returns NaN instead of raising, so check `jnp.isfinite` outside; eager calls with
        concrete arrays validate first and raise. Not differentiable (a host callback).
    """
    return _callback(True, g, v, wires, v0, method, tol)


def transpose_currents(g: Array, v: Array, wires: WireResistance, *, v0: float | None = None,
                       method: str = "auto", tol: float = 1e-10) -> Array:
    """Row currents (A) [batch, N] for column voltages v ([batch, M] or [M], V); see `forward_currents`."""
    return _callback(False, g, v, wires, v0, method, tol)
