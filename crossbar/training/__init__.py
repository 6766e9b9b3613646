"""Training networks on crossbars and in float: the MLP, its two back ends, the loop, datasets, checkpoints.

`mlp` (forward, backprop through transpose reads, SGD on a back end), `backends` (`FloatBackend`,
`CrossbarBackend`), `loop` (`train_compare`: epochs, evaluation, checkpoints, resume), `data` (digits and
MNIST), `checkpoint` (atomic writes of results and pytrees).
"""

from crossbar.training.loop import CHECKPOINT_NAME, RESULTS_NAME, RETENTION_TIMES, train_compare

__all__ = ["train_compare", "RETENTION_TIMES", "CHECKPOINT_NAME", "RESULTS_NAME"]
