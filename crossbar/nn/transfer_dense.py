"""A dense layer trained by a transfer algorithm (`crossbar.transfer`): its weights on the slow array C, the
gradient on the fast array A, the digital buffers and choppers beside them.

The reads are `AnalogDense`'s (the forward read of C, `jax.grad` through C's transpose read, the batch's inputs
and errors handed back on the layer's `UpdateTape`): the layer builds an `AnalogDense` view of C for each read.
`apply_update` runs the algorithm's step on the tape (A's pulses, the transfer reads and writes) instead of
pulsing C directly, so `crossbar.nn.analog_sgd` (which calls every layer's `apply_update`) is the transfer
optimizer of any JAX model whose dense layers are `TransferDense`, and a checkpoint of the model's pytree holds
A, C, the buffers and the choppers. The learning rate given to `apply_update` is the algorithm's `lr` (aihwkit's
current SGD learning rate, scaled by fast_lr / transfer_lr as the algorithm says).

Only gamma = 0 (W = C, aihwkit's default) is available here: the reads of a `crossbar.nn` layer are C's
(`crossbar.transfer.forward` reads gamma A + C for other uses).

References:
    Gokmen & Haensch, Front. Neurosci. 14:103 (2020); Rasch et al., Nat. Commun. 15:7133 (2024); aihwkit
    `AnalogLinear` with a `UnitCellRPUConfig` of a transfer compound.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import jax

from crossbar import array
from crossbar import transfer as T
from crossbar.counters import Counters
from crossbar.nn.dense import AnalogDense, _filled_tape
from crossbar.nn.tape import UpdateTape
from devices.pytree import pytree_dataclass, strongly_typed
from devices.validation import check_bool, check_choice, check_instance, check_int

Array = jax.Array


@pytree_dataclass
@dataclass(frozen=True)
class TransferDense:
    """A dense layer trained by a transfer algorithm. Build it with `transfer_dense`.

    Attributes:
        cmp: The two arrays' configuration (`crossbar.transfer.Compound`).
        algorithm: The algorithm and its hyperparameters (`crossbar.transfer.ALGORITHMS`).
        state: A, C, buffers, choppers (`crossbar.transfer.TransferState`).
        tape: The update tape (see `AnalogDense`); None for a layer that is only read.
        bias_line: The last row of the arrays is an always-on input of 1 (static).
        loss_reduction: "mean" where the tape's errors are those of a batch-mean loss and `lr` is the optimizer's
            (as `analog_sgd` with a mean loss, and aihwkit); "sum" where they are a summed loss's and `lr` is per
            sample (lr / batch, as `crossbar.training.mlp`): the algorithm then gets lr x batch and d / batch, so
            that its learning rates mean what aihwkit's do either way (static).
        patches: Rank-one samples per input sample (static): 1 for a dense layer, the output positions H' W' of a
            convolution on these arrays (`crossbar.nn.transfer_conv2d`); each patch is one sample of the algorithm.
    """

    cmp: T.Compound
    algorithm: Any
    state: T.TransferState
    tape: UpdateTape | None
    bias_line: bool = field(default=False, metadata=dict(static=True))
    loss_reduction: str = field(default="mean", metadata=dict(static=True))
    patches: int = field(default=1, metadata=dict(static=True))

    @property
    def in_features(self) -> int:
        return self.cmp.rows - int(self.bias_line)

    @property
    def out_features(self) -> int:
        return self.cmp.cols

    @property
    def weights(self) -> Array:
        """[rows, cols] weights W = C (noise-free read)."""
        return T.weights(self.cmp, self.state)

    def _view(self) -> AnalogDense:
        return self.slow_view()

    def slow_view(self) -> AnalogDense:
        """C as an `AnalogDense` layer (its configuration, state and tape): what the reads use, and what an energy
        account takes as the layer's array (A is an array of the same devices and shape)."""
        return AnalogDense(xb=self.cmp.slow, state=self.state.c, tape=self.tape, bias_line=self.bias_line,
                           patches=self.patches)

    def __call__(self, x: Array, key) -> Array:
        return self.read(x, key)[0]

    def read(self, x: Array, key) -> tuple[Array, Counters]:
        """(y [..., out_features], forward-read counters) read on C; differentiable as `AnalogDense.read`."""
        return self._view().read(x, key)

    def with_batch(self, n: int | None) -> TransferDense:
        return replace(self, tape=self._view().with_batch(n).tape)

    def apply_update(self, grad: TransferDense, lr, key) -> tuple[TransferDense, Counters]:
        """The algorithm's step on the tape's inputs and errors at learning rate `lr`.

        Returns:
            (the updated layer, counters of A's pulses, the transfer reads and writes, and the backward read).
        """
        tape = _filled_tape(grad, "TransferDense")
        d = tape.d
        if self.loss_reduction == "sum":  # to the batch-mean convention: lr d is unchanged
            n = tape.x.shape[0]
            lr, d = lr * n, d / n
        state, counters = self.algorithm.update(self.cmp, self.state, tape.x, d, lr, key)
        return replace(self, state=state), counters + tape.counters()

    def advance(self, dt) -> TransferDense:
        """The same layer `dt` simulated seconds later (both arrays' clocks)."""
        st = self.state
        a = None if st.a is None else array.advance_time(st.a, dt)
        return replace(self, state=replace(st, a=a, c=array.advance_time(st.c, dt)))


def check_layer_algorithm(algorithm) -> None:
    """Raise unless `algorithm` is a valid algorithm of `crossbar.transfer.ALGORITHMS` with gamma = 0 (what a
    `crossbar.nn` layer, which reads C, can train with).

    Args:
        algorithm: The object to check.

    Raises:
        TypeError: Not an algorithm, naming its type.
        ValueError: A bad hyperparameter (gamma != 0 included), naming it.
    """
    if not isinstance(algorithm, tuple(T.ALGORITHMS.values())):
        raise TypeError(f"`algorithm` must be one of crossbar.transfer.ALGORITHMS ({', '.join(T.ALGORITHMS)}); "
                        f"got {type(algorithm).__name__}")
    algorithm.validate()
    if float(algorithm.gamma) != 0.0:
        raise ValueError(f"`gamma` must be 0 for a crossbar.nn layer (its reads are C's); got gamma={algorithm.gamma}")


def transfer_dense(cmp: T.Compound, algorithm, key, weights: Array | None = None, *, batch: int | None = None,
                   bias_line: bool = False, loss_reduction: str = "mean") -> TransferDense:
    """A validated `TransferDense` layer: C holding `weights` [rows, cols] (default zeros), A at zero.

    Args:
        cmp: From `crossbar.transfer.make_compound`; rows = in_features (+ 1 with `bias_line`).
        algorithm: From `crossbar.transfer.make_algorithm` (gamma must be 0).
        key: Random key of the devices' spread and the references.
        weights: Initial weights of C.
        batch: Samples per training step (the tape's size); None for a layer that is not trained.
        bias_line: The last row is an always-on input of 1.
        loss_reduction: "mean" or "sum" (see `TransferDense`).

    Raises:
        TypeError: An argument of the wrong type, naming it.
        ValueError: A bad value (gamma != 0, too few rows), naming it.
    """
    check_instance("cmp", cmp, T.Compound)
    check_layer_algorithm(algorithm)
    check_bool("bias_line", bias_line)
    check_choice("loss_reduction", loss_reduction, ("mean", "sum"))
    if bias_line and cmp.rows < 2:
        raise ValueError(f"`cmp.rows` must be at least 2 with `bias_line`; got {cmp.rows}")
    if batch is not None:
        check_int("batch", batch, 1)
    state, _ = T.init(cmp, key, weights, fast=algorithm.uses_fast)
    layer = TransferDense(cmp=strongly_typed(cmp), algorithm=strongly_typed(algorithm), state=state, tape=None,
                          bias_line=bias_line, loss_reduction=loss_reduction)
    return layer.with_batch(batch)
