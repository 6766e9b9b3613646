"""Parameter sweeps and studies: grids of device parameters under `vmap` or executors, many resumable runs.

`grid` (`sweep`, `grid_points`: the grid, its vectorised evaluation and the executors), `metrics` (pulse-curve
figures of merit and on-crossbar training as metrics), `result` (`SweepResult`: labelled axes, atomic files), `runs`
(`run_all`: many resumable training runs, here, in local processes or on any executor), `cluster`
(`executor_from_scheduler`: a dask cluster's executor for either; dask imported only when called), `tolerance`.
"""

from crossbar.sweep.cluster import executor_from_scheduler
from crossbar.sweep.grid import GridPoint, evaluate_point, grid_points, run_chunk, sweep, sweep_keys
from crossbar.sweep.result import SweepResult

__all__ = ["sweep", "grid_points", "sweep_keys", "evaluate_point", "run_chunk", "GridPoint", "SweepResult",
           "executor_from_scheduler"]
