"""Parameter sweeps: grids of device parameters evaluated under `vmap` or spread over executors.

`grid` (`sweep`, `grid_points`: the grid, its vectorised evaluation and the executors), `metrics` (pulse-curve
figures of merit and on-crossbar training as metrics), `result` (`SweepResult`: labelled axes, atomic files).
"""

from crossbar.sweep.grid import GridPoint, evaluate_point, grid_points, run_chunk, sweep, sweep_keys
from crossbar.sweep.result import SweepResult

__all__ = ["sweep", "grid_points", "sweep_keys", "evaluate_point", "run_chunk", "GridPoint", "SweepResult"]
