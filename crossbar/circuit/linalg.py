"""Linear and nonlinear solvers for the crossbar nodal equations: sparse LU, line-preconditioned CG, Newton.

All work in float64 on [batch, n] right-hand sides; large batches are split into chunks to bound memory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.linalg import lapack

# Work arrays of one chunk hold at most this many float64 values (32 MB each).
CHUNK_VALUES = 1 << 22
CG_CHUNK_VALUES = 1 << 18


class ConvergenceError(ValueError):
    """An iterative solver stopped before reaching its tolerance; the message gives the residual and iterations."""


@dataclass(frozen=True)
class SolveInfo:
    """How a solve went. `residual` is the worst relative residual over the batch (||A x - b|| / ||b||)."""

    method: str
    iterations: int
    residual: float


def _chunks(batch: int, n: int, values: int):
    size = max(1, values // max(n, 1))
    for start in range(0, batch, size):
        yield slice(start, min(start + size, batch))


class LinearSolve:
    """Solves A x = b for one symmetric positive definite nodal matrix A and any batch of b.

    The factorisation (sparse LU, or the tridiagonal line preconditioner for CG) is computed once here and shared by
    every right-hand side.

    Args:
        a: [n, n] nodal conductance matrix (S), CSR with sorted indices, symmetric.
        tri: (diagonal [n], super-diagonal [n-1]) of the line preconditioner (S), needed for "cg".
        method: "lu" or "cg".
        tol: CG stopping rule, relative residual ||A x - b||_2 / ||b||_2 per vector.
        max_iter: CG iteration limit.
        perm: [n] fill-reducing elimination order for "lu" (None: SuperLU's minimum degree).
    """

    def __init__(self, a: sp.csr_matrix, tri: tuple[np.ndarray, np.ndarray] | None, method: str,
                 tol: float = 1e-10, max_iter: int = 1000, perm: np.ndarray | None = None):
        self.a, self.method, self.tol, self.max_iter = a, method, tol, max_iter
        self.n = a.shape[0]
        if self.n == 0:
            return
        if method == "lu":
            # A is SPD: no pivoting is needed, so the symmetric fill-reducing order `perm` is kept as given.
            self._perm = np.arange(self.n) if perm is None else perm
            self._inv = np.empty_like(self._perm)
            self._inv[self._perm] = np.arange(self.n)
            ap = a[self._perm][:, self._perm].tocsc()
            self._lu = spla.splu(ap, permc_spec="NATURAL" if perm is not None else "MMD_AT_PLUS_A",
                                 diag_pivot_thresh=0.0, options={"SymmetricMode": True})
        elif method == "cg":
            d, e = tri
            self._d, self._e, info = lapack.dpttrf(d, e)
            if info != 0:
                raise ValueError(f"line preconditioner is not positive definite (LAPACK dpttrf info={info})")
        else:
            raise ValueError(f"`method` must be 'lu' or 'cg'; got method={method!r}")

    def precondition(self, r: np.ndarray) -> np.ndarray:
        """Apply the inverse of the tridiagonal line preconditioner to r [n, k] (F-ordered avoids a copy)."""
        z, _ = lapack.dpttrs(self._d, self._e, r)
        return z

    def solve(self, b: np.ndarray) -> tuple[np.ndarray, SolveInfo]:
        """Solve A x = b for b [batch, n]; return x [batch, n] and the worst-case SolveInfo.

        Raises:
            ConvergenceError: when CG does not reach `tol` within `max_iter` iterations.
        """
        x = np.zeros_like(b)
        if self.n == 0:
            return x, SolveInfo(self.method, 0, 0.0)
        iters, resid = 0, 0.0
        # CG is memory-bound: a few vectors at a time stay in cache (measured faster than one big block).
        chunk_values = CHUNK_VALUES if self.method == "lu" else CG_CHUNK_VALUES
        for s in _chunks(b.shape[0], self.n, chunk_values):
            if self.method == "lu":
                x[s] = self._lu.solve(np.asfortranarray(b[s][:, self._perm].T)).T[:, self._inv]
                res = _relative_residual(self.a, x[s], b[s])
            else:
                x[s], it, res = self._pcg(np.ascontiguousarray(b[s]))
                iters = max(iters, it)
            resid = max(resid, res)
        return x, SolveInfo(self.method, iters, resid)

    def _pcg(self, b: np.ndarray) -> tuple[np.ndarray, int, float]:
        """Preconditioned conjugate gradients on the rows of b [k, n], all at once, starting from x = 0.

        Vectors are kept batch-major so that every per-vector operation is contiguous; converged vectors drop out
        of the iteration, so each one stops at its own tolerance.
        """
        a, tol = self.a, self.tol
        x = np.zeros_like(b)
        r = b.copy()
        b_norm = np.linalg.norm(b, axis=1)
        b_norm[b_norm == 0] = 1.0  # b = 0 has the exact solution x = 0
        res = np.linalg.norm(r, axis=1) / b_norm
        z = self.precondition(r.T).T
        p = z.copy()
        rz = np.einsum("ij,ij->i", r, z)
        active = np.nonzero(res > tol)[0]
        it = 0
        while active.size and it < self.max_iter:
            it += 1
            every = active.size == b.shape[0]  # plain slices avoid copying while no vector has converged
            sel = slice(None) if every else active
            pa = p[sel]
            ap = np.ascontiguousarray((a @ pa.T).T)
            alpha = (rz[sel] / np.einsum("ij,ij->i", pa, ap))[:, None]
            x[sel] += alpha * pa
            if every:
                r -= alpha * ap
                ra = r
            else:
                ra = r[sel] - alpha * ap
                r[sel] = ra
            res[sel] = np.linalg.norm(ra, axis=1) / b_norm[sel]
            za = self.precondition(ra.T).T
            rz_new = np.einsum("ij,ij->i", ra, za)
            p[sel] = za + (rz_new / rz[sel])[:, None] * pa
            rz[sel] = rz_new
            active = active[res[active] > tol]
        if active.size:
            raise ConvergenceError(
                f"CG did not converge: relative residual {res.max():.3e} > tol={tol:g} after max_iter={it} "
                f"iterations ({active.size} of {b.shape[0]} vectors unconverged); raise `max_iter`, loosen `tol`, "
                f"or use method='lu'")
        # Report the true residual, not the recurrence's estimate.
        return x, it, _relative_residual(a, x, b)


def _relative_residual(a: sp.csr_matrix, x: np.ndarray, b: np.ndarray) -> float:
    """max over the batch of ||A x - b||_2 / ||b||_2 for x, b [batch, n]."""
    r = np.linalg.norm((a @ x.T).T - b, axis=1)
    nb = np.linalg.norm(b, axis=1)
    return float(np.max(r / np.where(nb > 0, nb, 1.0), initial=0.0))


def newton(residual: Callable[[np.ndarray], tuple[np.ndarray, float]],
           jacobian_solve: Callable[[np.ndarray, np.ndarray], np.ndarray],
           x0: np.ndarray, tol: float, max_iter: int = 50) -> tuple[np.ndarray, int, float]:
    """Damped Newton iteration for one nonlinear nodal system F(x) = 0.

    The nodal equations of a network of wires and sinh devices are the gradient of a strictly convex energy, so
    Newton with backtracking on ||F|| converges from the linear solution used as the start.

    Args:
        residual: x [n] -> (F(x) [n] in A, scale in A); converged when ||F||_inf <= tol * scale.
        jacobian_solve: (x [n], rhs [n]) -> solution of J(x) dx = rhs.
        x0: [n] starting voltages (V).
        tol: relative tolerance on the Kirchhoff current residual.
        max_iter: Newton iteration limit.

    Returns:
        x [n], iterations, final relative residual.

    Raises:
        ConvergenceError: when the tolerance is not met within `max_iter` iterations.
    """
    x = x0.copy()
    f, scale = residual(x)
    norm = np.max(np.abs(f), initial=0.0)
    for it in range(max_iter + 1):
        if norm <= tol * scale or scale == 0.0:
            return x, it, norm / scale if scale else 0.0
        if it == max_iter:
            break
        dx = jacobian_solve(x, -f)
        step = 1.0
        while True:
            x_new = x + step * dx
            f_new, scale_new = residual(x_new)
            norm_new = np.max(np.abs(f_new), initial=0.0)
            if (np.isfinite(norm_new) and norm_new <= (1 - 1e-4 * step) * norm) or step < 1e-6:
                break
            step *= 0.5
        x, f, norm, scale = x_new, f_new, norm_new, scale_new
    raise ConvergenceError(
        f"Newton did not converge: relative KCL residual {norm / scale:.3e} > tol={tol:g} after "
        f"max_iter={max_iter} iterations; the device nonlinearity may be too strong (raise `v0`) or the "
        f"voltages too large")
