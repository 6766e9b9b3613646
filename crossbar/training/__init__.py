"""Training networks on crossbars and in float: the MLP, its two back ends, the loop, datasets, checkpoints.

`mlp` (the network as `crossbar.nn` dense layers: forward reads, `jax.grad` through transpose reads, pulsed
updates), `backends` (`FloatBackend`, `HWABackend`, `CrossbarBackend`: which layers it is built of), `loop`
(`train_compare`: epochs, evaluation, checkpoints, resume), `data` (digits and MNIST), `download` (MNIST from
mirrors, checked and resumable: `python -m crossbar.training.download mnist DIR`), `checkpoint` (atomic writes of
results and pytrees).
"""

from crossbar.training.loop import CHECKPOINT_NAME, RESULTS_NAME, RETENTION_TIMES, train_compare

__all__ = ["train_compare", "RETENTION_TIMES", "CHECKPOINT_NAME", "RESULTS_NAME"]
