"""Kirchhoff nodal solver for a crossbar with wire resistance (IR drop): the physics reference, numpy/scipy float64.

Topology (DESIGN.md): device G[i, j] joins row node (i, j) to column node (i, j); every row wire has r_row between
neighbouring nodes and one segment to its left-end terminal, every column wire has r_col between neighbouring
nodes and one segment to its bottom-end terminal (row N-1 side). Forward: rows driven by ideal sources (behind
r_source), columns read by virtual-ground sense amplifiers (behind r_sense). Transpose: columns driven at their
bottom end, rows read at their left end, same segments (r_source now on the columns, r_sense on the rows).

Usage:
    solver = CircuitSolver(g, WireResistance(r_row=2.0, r_col=2.0))
    i_out = solver.forward(v)                  # v [batch, N] (V) -> [batch, M] (A)
    sol = solver.transpose(d, return_voltages=True)

Inside `jax.jit`, use `crossbar.circuit.bridge.forward_currents(g, v, wires)` / `transpose_currents(g, d, wires)`,
which run the solver in a `jax.pure_callback` and report any failure as NaN outputs.

Zero resistances are ideal wires (see `crossbar.circuit.network`), so zero wire resistance is exactly I = V @ G.
Devices are linear (I = G V) or, with `v0` set, follow the sinh characteristic I = G v0 sinh(V / v0), solved by
Newton iteration on the same sparse structure.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from crossbar.circuit.linalg import CHUNK_VALUES, LinearSolve, SolveInfo, newton
from crossbar.circuit.network import Assembler, Extended, build_network, nested_dissection
from crossbar.circuit.wires import WireResistance

# Above this many unknowns "auto" uses CG: sparse-LU fill grows faster than n, CG with the line preconditioner
# costs O(n) per iteration (measured crossover in bench/circuit.py).
LU_MAX_UNKNOWNS = 2 * 320 * 320


class CircuitSolution(NamedTuple):
    """Result of one batched circuit solve.

    Attributes:
        currents: [batch, M] (forward) or [batch, N] (transpose) currents (A) into the sense amplifiers.
        v_row: [batch, N, M] voltage (V) of every row node.
        v_col: [batch, N, M] voltage (V) of every column node.
        info: method, iterations (CG; Newton's are added) and worst relative residual.
    """

    currents: np.ndarray
    v_row: np.ndarray
    v_col: np.ndarray
    info: SolveInfo


def _check_conductance(g) -> np.ndarray:
    g = np.asarray(g, dtype=np.float64)
    if g.ndim != 2 or g.shape[0] < 1 or g.shape[1] < 1:
        raise ValueError(f"`g` must be a 2-D [rows, cols] conductance array (S); got shape {g.shape}")
    bad = ~np.isfinite(g) | (g <= 0)
    if np.any(bad):
        raise ValueError(f"`g` must be finite and > 0 S everywhere; got g[{tuple(np.argwhere(bad)[0])}]="
                         f"{g[bad][0]!r} ({bad.sum()} bad values)")
    return g


class _Side:
    """Everything for one assignment of end resistances: network, assembled matrix, lazy factorisation."""

    def __init__(self, g: np.ndarray, r_row: np.ndarray, r_col: np.ndarray, r_row_end: float, r_col_end: float,
                 method: str, tol: float, max_iter: int):
        self.net = build_network(r_row, r_col, r_row_end, r_col_end)
        self.ext = Extended(self.net)
        self.asm = Assembler(self.net)
        self.g_x = g.ravel()
        n = self.net.n_free
        self.method = method if method != "auto" else ("lu" if n <= LU_MAX_UNKNOWNS else "cg")
        self.tol, self.max_iter = tol, max_iter
        self._linear = None
        self._perm = None

    def linear(self, g_x: np.ndarray | None = None) -> LinearSolve:
        """The factorised solver for the devices' small-signal conductances g_x (default: G itself)."""
        if g_x is None:
            if self._linear is None:
                self._linear = self.linear(self.g_x)
            return self._linear
        tri = self.asm.tridiagonal(g_x) if self.method == "cg" else None
        if self.method == "lu" and self._perm is None:
            self._perm = nested_dissection(self.net)
        return LinearSolve(self.asm.matrix(g_x), tri, self.method, self.tol, self.max_iter, self._perm)


class CircuitSolver:
    """Kirchhoff solver for one conductance matrix; factorises once, then solves any batch of input vectors.

    Args:
        g: [N, M] device conductances (S), finite and > 0.
        wires: wire and periphery resistances (ohm).
        v0: None for linear devices, else the sinh voltage scale (V): I = G v0 sinh(V / v0), linear for |V| << v0.
        method: "lu" (sparse LU, one factorisation shared by the batch), "cg" (conjugate gradients with a
            per-wire tridiagonal preconditioner, O(n) memory), or "auto" (LU up to `LU_MAX_UNKNOWNS` unknowns).
        tol: CG tolerance on the relative residual ||A x - b|| / ||b|| per vector, and Newton tolerance on the
            Kirchhoff residual relative to the largest device current.
        max_iter: CG iteration limit.
        newton_max_iter: Newton iteration limit (nonlinear devices only).
        transfer: linear devices only. The circuit is linear in the inputs, so forward(v) = v @ W with an
            effective [N, M] conductance matrix W (S) that costs N solves (M for transpose) once per G. None
            (auto): build W when a batch has at least that many vectors, then reuse it for every later batch;
            True: always; False: never (always solve the nodal equations).

    Raises:
        ValueError: A bad parameter, naming it.
        TypeError: A parameter of the wrong type, naming it.
        ConvergenceError: (a ValueError) from a solve that does not reach its tolerance, with the residual and
            iteration count.
    """

    def __init__(self, g, wires: WireResistance, *, v0: float | None = None, method: str = "auto",
                 tol: float = 1e-10, max_iter: int = 2000, newton_max_iter: int = 50, transfer: bool | None = None):
        self.g = _check_conductance(g)
        if not isinstance(wires, WireResistance):
            raise TypeError(f"`wires` must be a WireResistance; got {type(wires).__name__}")
        wires.validate(self.g.shape)
        if v0 is not None and not (np.isscalar(v0) and np.isfinite(v0) and v0 > 0):
            raise ValueError(f"`v0` must be None (linear devices) or a finite scalar > 0 V; got v0={v0!r}")
        if method not in ("auto", "lu", "cg"):
            raise ValueError(f"`method` must be 'auto', 'lu' or 'cg'; got method={method!r}")
        if not (np.isfinite(tol) and 0 < tol < 1):
            raise ValueError(f"`tol` must lie in (0, 1); got tol={tol!r}")
        for name, val in (("max_iter", max_iter), ("newton_max_iter", newton_max_iter)):
            if not isinstance(val, (int, np.integer)) or val < 1:
                raise ValueError(f"`{name}` must be a positive int; got {name}={val!r}")
        self.wires, self.v0, self.method, self.tol = wires, v0, method, tol
        self.shape = self.g.shape
        self._r_row = np.broadcast_to(np.asarray(wires.r_row, np.float64), self.shape)
        self._r_col = np.broadcast_to(np.asarray(wires.r_col, np.float64), self.shape)
        self._max_iter, self._newton_max_iter = max_iter, newton_max_iter
        self._sides: dict[tuple[float, float], _Side] = {}
        self.transfer = transfer
        self._transfer: dict[bool, np.ndarray] = {}

    def _side(self, r_row_end: float, r_col_end: float) -> _Side:
        key = (float(r_row_end), float(r_col_end))
        if key not in self._sides:  # forward and transpose share one when r_source == r_sense
            self._sides[key] = _Side(self.g, self._r_row, self._r_col, *key, self.method, self.tol, self._max_iter)
        return self._sides[key]

    def forward(self, v, *, return_voltages: bool = False) -> np.ndarray | CircuitSolution:
        """Drive the rows with v ([batch, N] or [N], V); return the column currents (A), [batch, M] or [M]."""
        return self._solve(self._side(*self._ends(False)), v, drive_rows=True, return_voltages=return_voltages)

    def transpose(self, v, *, return_voltages: bool = False) -> np.ndarray | CircuitSolution:
        """Drive the columns with v ([batch, M] or [M], V); return the row currents (A), [batch, N] or [N]."""
        return self._solve(self._side(*self._ends(True)), v, drive_rows=False, return_voltages=return_voltages)

    def transfer_matrix(self, transpose: bool = False) -> np.ndarray:
        """Effective conductance matrix (S) of the linear circuit: forward(v) = v @ W, W [N, M].

        With `transpose=True`, the [M, N] matrix with transpose(v) = v @ W_t. By reciprocity W_t = W.T when
        r_source == r_sense. Computed by solving the nodal equations for each unit input, then cached.
        """
        if self.v0 is not None:
            raise ValueError(f"`transfer_matrix` needs linear devices (v0=None); got v0={self.v0!r}")
        if transpose not in self._transfer:
            width = self.shape[1] if transpose else self.shape[0]
            side = self._side(*self._ends(transpose))
            self._transfer[transpose] = self._solve(side, np.eye(width), not transpose, False, direct=True)
        return self._transfer[transpose]

    def _ends(self, transpose: bool) -> tuple[float, float]:
        """(row end, column end) resistances: the driver's r_source sits on the driven side."""
        w = self.wires
        return (w.r_sense, w.r_source) if transpose else (w.r_source, w.r_sense)

    def _device_current(self, g_x: np.ndarray, dv: np.ndarray) -> np.ndarray:
        if self.v0 is None:
            return g_x * dv
        return g_x * self.v0 * np.sinh(dv / self.v0)

    def _use_transfer(self, batch: int, drive_rows: bool, return_voltages: bool) -> bool:
        if self.v0 is not None or return_voltages or self.transfer is False:
            return False
        width = self.shape[0] if drive_rows else self.shape[1]
        return bool(self.transfer) or (not drive_rows) in self._transfer or batch >= width

    def _solve(self, side: _Side, v, drive_rows: bool, return_voltages: bool, direct: bool = False):
        n_rows, n_cols = self.shape
        width = n_rows if drive_rows else n_cols
        v = np.asarray(v, dtype=np.float64)
        single = v.ndim == 1
        v2 = v[None] if single else v
        name = "v" if drive_rows else "v (transpose)"
        if v2.ndim != 2 or v2.shape[1] != width:
            raise ValueError(f"`{name}` must have shape [batch, {width}] or [{width}]; got shape {v.shape}")
        if not np.all(np.isfinite(v2)):
            raise ValueError(f"`{name}` must be finite; got a non-finite value in {v!r}")
        if not direct and self._use_transfer(v2.shape[0], drive_rows, return_voltages):
            out = v2 @ self.transfer_matrix(transpose=not drive_rows)
            return out[0] if single else out
        # Bound the working memory (several [batch, n_free] arrays) by solving a few vectors at a time.
        step = max(1, CHUNK_VALUES // max(side.net.n_free, self.g.size, 1))
        parts = [self._solve_block(side, v2[s:s + step], drive_rows, return_voltages)
                 for s in range(0, v2.shape[0], step)]
        out = np.concatenate([p[0] for p in parts])
        out = out[0] if single else out
        if not return_voltages:
            return out
        v_row, v_col = (np.concatenate([p[k] for p in parts]) for k in (1, 2))
        infos = [p[3] for p in parts]
        info = SolveInfo(infos[0].method, max(i.iterations for i in infos), max(i.residual for i in infos))
        if single:
            v_row, v_col = v_row[0], v_col[0]
        return CircuitSolution(out, v_row, v_col, info)

    def _solve_block(self, side: _Side, v2: np.ndarray, drive_rows: bool, return_voltages: bool):
        """Currents [batch, M or N] (A), and node voltages [batch, N, M] (V) when asked, for v2 [batch, width]."""
        n_rows, n_cols = self.shape
        zeros = np.zeros((v2.shape[0], n_cols if drive_rows else n_rows))
        t_row, t_col = (v2, zeros) if drive_rows else (zeros, v2)
        x, info = self._node_solution(side, t_row, t_col)
        z = side.ext.stack(x, t_row, t_col)
        if side.net.n_free == 0:
            # All nodes sit on their terminals: the exact ideal crossbar.
            drive = v2 if self.v0 is None else self.v0 * np.sinh(v2 / self.v0)
            out = drive @ self.g if drive_rows else drive @ self.g.T
        else:
            k = side.ext.tied
            i_tied = self._device_current(side.g_x[k], side.ext.device_voltage(z, k))
            i_row, i_col = side.ext.terminal_currents(z, i_tied)
            out = i_col if drive_rows else i_row
        if not return_voltages:
            return out, None, None, info
        v_row = z[:, side.ext.row_z].reshape(-1, n_rows, n_cols)
        v_col = z[:, side.ext.col_z].reshape(-1, n_rows, n_cols)
        return out, v_row, v_col, info

    def _node_solution(self, side: _Side, t_row: np.ndarray, t_col: np.ndarray) -> tuple[np.ndarray, SolveInfo]:
        """Free-node voltages x [batch, n_free] (V): a shared linear solve, then Newton per vector if nonlinear."""
        t = np.concatenate([t_row, t_col], axis=1)
        rhs = (side.ext.linear_rhs(side.g_x) @ t.T).T
        # Solve for the deviation from the ideal crossbar (every node at its terminal's voltage): its right-hand
        # side is of the order of the device currents, so the relative tolerance applies at that scale and not
        # at the much larger scale of the wire currents in `rhs`.
        x_ideal = t[:, side.ext.free_term]
        lin = side.linear()
        dx, info = lin.solve(rhs - (lin.a @ x_ideal.T).T)
        x = x_ideal + dx
        if self.v0 is None or side.net.n_free == 0:
            return x, info
        iters, worst = 0, 0.0
        for b in range(x.shape[0]):
            x[b], it, res = self._newton_one(side, x[b], t_row[b:b + 1], t_col[b:b + 1])
            iters, worst = max(iters, it), max(worst, res)
        return x, SolveInfo(side.method + "+newton", iters, worst)

    def _newton_one(self, side: _Side, x0: np.ndarray, t_row: np.ndarray, t_col: np.ndarray):
        ext, g_x, v0 = side.ext, side.g_x, self.v0

        def residual(x):
            dv = ext.device_voltage(ext.stack(x[None], t_row, t_col))
            i_x = g_x * v0 * np.sinh(dv / v0)
            return ext.kcl(ext.stack(x[None], t_row, t_col), i_x)[0], float(np.max(np.abs(i_x), initial=0.0))

        def jacobian_solve(x, rhs):
            dv = ext.device_voltage(ext.stack(x[None], t_row, t_col))[0]
            return side.linear(g_x * np.cosh(dv / v0)).solve(rhs[None])[0][0]

        return newton(residual, jacobian_solve, x0, self.tol, self._newton_max_iter)


def solve_forward(g, v, wires: WireResistance, **options) -> np.ndarray:
    """One-shot forward solve: column currents (A) [batch, M] for row voltages v [batch, N] (V). See CircuitSolver."""
    return CircuitSolver(g, wires, **options).forward(v)


def solve_transpose(g, v, wires: WireResistance, **options) -> np.ndarray:
    """One-shot transpose solve: row currents (A) [batch, N] for column voltages v [batch, M] (V)."""
    return CircuitSolver(g, wires, **options).transpose(v)
