"""Kirchhoff analysis of a crossbar with wire resistance (IR drop): a JAX solve for reads, a float64 reference.

`wires` (the resistances), `kirchhoff` (`read_currents`: the JAX solve every read of a wired crossbar uses, under
jit, vmap and grad), `cache` (the opt-in cached effect of the wires, `WireResistance.refresh_every`), `network`
(assembly of the nodal equations), `linalg` (sparse LU / CG and Newton), `solver` (`CircuitSolver`, the float64
physics reference checked against ngspice) and `bridge` (that reference inside `jax.jit` through host callbacks).
"""

from crossbar.circuit.bridge import forward_currents, transpose_currents
from crossbar.circuit.kirchhoff import SolveStats, read_currents, transfer_matrix
from crossbar.circuit.linalg import ConvergenceError, SolveInfo
from crossbar.circuit.solver import LU_MAX_UNKNOWNS, CircuitSolution, CircuitSolver, solve_forward, solve_transpose
from crossbar.circuit.wires import WireResistance

__all__ = ["WireResistance", "read_currents", "transfer_matrix", "SolveStats", "CircuitSolver", "CircuitSolution",
           "ConvergenceError", "SolveInfo", "LU_MAX_UNKNOWNS", "solve_forward", "solve_transpose", "forward_currents",
           "transpose_currents"]
