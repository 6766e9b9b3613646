"""Kirchhoff nodal analysis of a crossbar with wire resistance (IR drop): numpy/scipy float64, with a jit bridge.

`wires` (the resistances), `network` (assembly of the nodal equations), `linalg` (sparse LU / CG and Newton),
`solver` (`CircuitSolver`, the physics reference checked against ngspice) and `bridge` (the solver inside
`jax.jit` through host callbacks, for the crossbar's reads).
"""

from crossbar.circuit.bridge import forward_currents, transpose_currents
from crossbar.circuit.linalg import ConvergenceError, SolveInfo
from crossbar.circuit.solver import LU_MAX_UNKNOWNS, CircuitSolution, CircuitSolver, solve_forward, solve_transpose
from crossbar.circuit.wires import WireResistance

__all__ = ["WireResistance", "CircuitSolver", "CircuitSolution", "ConvergenceError", "SolveInfo", "LU_MAX_UNKNOWNS",
           "solve_forward", "solve_transpose", "forward_currents", "transpose_currents"]
