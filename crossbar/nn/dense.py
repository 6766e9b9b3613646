"""An analog dense layer for any JAX code: y = x W read from a crossbar, `jax.grad` through its transpose read.

The forward pass is the crossbar's forward read (`crossbar.array.forward`: DAC, array, ADC, output and device
read noise, noise and bound management). A `jax.custom_vjp` makes the backward pass analog too: the input's
cotangent is the transpose read of the output's cotangent (`crossbar.array.transpose`, with the array's own
`periphery_backward`), and the layer's cotangent is an `UpdateTape` holding the batch's inputs and errors, from
which `AnalogDense.apply_update` applies the weight change as pulse coincidence (`crossbar.array.update`: any
scheme of `crossbar.update`, a batch sample by sample or summed as `PulseUpdate.batch_mode` says). Where the
input needs no gradient (a first layer, whose input is data) no transpose read is done or counted, as on the
chip: JAX tells the rule through `symbolic_zeros` (otherwise keeping the counters kept that read alive: the
GV2016 network trained 1.5x slower through these layers than through the MLP back end).

Differentiate with `jax.grad(loss, allow_int=True)` (or Equinox's `filter_grad`): the layer's pytree holds the
devices' integer/bool state (stuck faults), whose cotangents are float0.

References:
    Gokmen & Vlasov, Front. Neurosci. 10:333 (2016) (forward, backward and update cycles of a resistive
    processing unit array); Rasch et al., AICAS 2021 (aihwkit's `AnalogLinear`, the PyTorch counterpart).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import jax
import jax.numpy as jnp
from jax.custom_derivatives import CustomVJPPrimal, SymbolicZero

from crossbar import array
from crossbar.counters import Counters
from crossbar.nn.tape import UpdateTape, check_tape, flatten_samples, pack_counters, with_bias_line, zero_cotangent
from devices.pytree import pytree_dataclass, strongly_typed
from devices.validation import check_bool, check_instance, check_int

Array = jax.Array


@pytree_dataclass
@dataclass(frozen=True)
class AnalogDense:
    """A dense layer whose weights live on one crossbar. Build it with `analog_dense`.

    Attributes:
        xb: The array's configuration (device, periphery of both reads, update scheme).
        state: Its devices and clock.
        tape: Zeros sized for the training batch (`UpdateTape`), filled by `jax.grad`; None for a layer that is
            only read (gradients then reach the input but the layer gets none).
        bias_line: True where the last array row is an always-on input of 1, so the bias lives on devices and is
            trained by the same pulses (static). With False, add a float bias outside the layer if wanted.
        patches: Rank-one samples per input sample (static): 1 for a dense layer, the output positions H' W'
            of a convolution on this array (`crossbar.nn.conv`). The tape holds batch * patches samples.
    """

    xb: array.Crossbar
    state: array.CrossbarState
    tape: UpdateTape | None
    bias_line: bool = field(default=False, metadata=dict(static=True))
    patches: int = field(default=1, metadata=dict(static=True))

    @property
    def in_features(self) -> int:
        return self.xb.rows - int(self.bias_line)

    @property
    def out_features(self) -> int:
        return self.xb.cols

    @property
    def weights(self) -> Array:
        """[rows, cols] weights the array holds now (noise-free read); the bias row last with `bias_line`."""
        return array.weights(self.xb, self.state)

    def __call__(self, x: Array, key) -> Array:
        """y = x W (+ b) [..., out_features] read on the crossbar from x [..., in_features]; see `dense`."""
        return dense(self, x, key)

    def read(self, x: Array, key) -> tuple[Array, Counters]:
        """(y [..., out_features], forward-read counters); differentiable, see the module docstring."""
        x2, lead = flatten_samples("x", x, self.in_features)
        y2, counters = _analog_read(self, x2, key)
        return y2.reshape(*lead, self.out_features), counters

    def with_batch(self, n: int | None) -> AnalogDense:
        """The same layer with an empty tape for n input samples (n * patches rows; None: no tape)."""
        tape = None
        if n is not None:
            tape = UpdateTape.zeros(check_int("batch", n, 1) * self.patches, self.xb.rows, self.xb.cols)
        return replace(self, tape=tape)

    def apply_update(self, grad: AnalogDense, lr, key) -> tuple[AnalogDense, Counters]:
        """Apply W -= lr x^T d as pulses on the devices, from the tape `jax.grad` filled.

        Args:
            grad: This layer's cotangent from `jax.grad` (its `tape` holds the inputs and errors).
            lr: Learning rate (> 0; may be traced, e.g. from a schedule).
            key: Random key of the pulse trains and cycle-to-cycle noise.

        Returns:
            (the updated layer, the update's counters plus those of the backward read).
        """
        tape = _filled_tape(grad, "AnalogDense")
        state, counters = array.update(self.xb, self.state, tape.x, tape.d, lr, key)
        return replace(self, state=state), counters + tape.counters()

    def advance(self, dt) -> AnalogDense:
        """The same layer `dt` simulated seconds later (drift acts on later reads)."""
        return replace(self, state=array.advance_time(self.state, dt))


def analog_dense(xb: array.Crossbar, key, weights: Array | None = None, *, batch: int | None = None,
                 bias_line: bool = False) -> AnalogDense:
    """A validated analog dense layer on the crossbar `xb`, its devices initialised to `weights`.

    Args:
        xb: Array configuration from `crossbar.array.make_crossbar`; rows = in_features (+ 1 with `bias_line`),
            cols = out_features.
        key: Random key of the devices' device-to-device spread.
        weights: [rows, cols] initial weights (default zeros), clipped to the devices' range.
        batch: Samples per training step (the tape's size); None for a layer that is not trained.
        bias_line: The last row is an always-on input of 1 (the bias on the devices).

    Raises:
        TypeError: An argument of the wrong type, naming it.
        ValueError: A bad value, naming the argument.
    """
    check_instance("xb", xb, array.Crossbar)
    check_bool("bias_line", bias_line)
    if bias_line and xb.rows < 2:
        raise ValueError(f"`xb.rows` must be at least 2 with `bias_line` (one input line and the bias line); "
                         f"got xb.rows={xb.rows}")
    # The configuration's Python floats as strongly typed arrays, as a jitted step returns them: a training loop
    # that feeds a step its own output then compiles the step once, not twice.
    layer = AnalogDense(xb=strongly_typed(xb), state=array.init(xb, key, weights), tape=None, bias_line=bias_line)
    return layer.with_batch(batch)


def dense(layer, x: Array, key, *, return_counters: bool = False):
    """Apply a dense layer (analog or its float twin) to x [..., in_features].

    Args:
        layer: An `AnalogDense` or `FloatDense`.
        x: [..., in_features] inputs; every leading index is one sample of the pulsed update.
        key: Random key of this call's forward and backward reads (split by purpose inside).
        return_counters: Also return the forward read's `Counters`.

    Returns:
        y [..., out_features] (and the counters).
    """
    if not hasattr(layer, "read"):
        raise TypeError(f"`layer` must be a crossbar.nn layer (AnalogDense, FloatDense, ...); got {type(layer)}")
    y, counters = layer.read(x, key)
    return (y, counters) if return_counters else y


def _filled_tape(grad, what: str) -> UpdateTape:
    tape = getattr(grad, "tape", None)
    if tape is None:
        raise ValueError(f"`grad` of this {what} carries no update tape: build the layer with `batch=` (or "
                         f"`crossbar.nn.with_batch(params, batch)`) before `jax.grad`")
    return tape


def _forward(layer: AnalogDense, x2: Array, key):
    k_fwd, k_bwd = jax.random.split(key)
    x_in = with_bias_line(x2) if layer.bias_line else x2
    y, counters = array.forward(layer.xb, layer.state, x_in, k_fwd)
    return (y, counters), (x_in, k_bwd)


@jax.custom_vjp
def _analog_read(layer: AnalogDense, x2: Array, key):
    return _forward(layer, x2, key)[0]


def _primal_values(tree):
    return jax.tree_util.tree_map(lambda a: a.value, tree, is_leaf=lambda a: isinstance(a, CustomVJPPrimal))


def _analog_read_fwd(layer, x2, key):
    # With symbolic zeros, JAX says whether the input is differentiated at all (`perturbed`, static): the first
    # layer's input is data, and the hardware does not run a transpose read whose result nobody uses.
    x_needs_grad = x2.perturbed
    layer, x2, key = _primal_values(layer), x2.value, key.value
    out, (x_in, k_bwd) = _forward(layer, x2, key)
    return out, (layer, x_in, k_bwd, key, x_needs_grad)


def _analog_read_bwd(res, cotangents):
    layer, x_in, k_bwd, key, x_needs_grad = res
    d = cotangents[0]  # the counters' cotangents are symbolic zeros
    if isinstance(d, SymbolicZero):  # the output does not reach the loss
        d = jnp.zeros(d.shape, d.dtype)
    check_tape(layer.tape, x_in.shape[0], "AnalogDense", layer.patches)
    if x_needs_grad:
        # The analog backward pass: the error is driven into the columns and read on the rows.
        z, counters = array.transpose(layer.xb, layer.state, d, k_bwd)
        dx = (z[:, :-1] if layer.bias_line else z).astype(x_in.dtype)
        counts = pack_counters(counters)
    else:  # no transpose read is done, so none is counted
        dx = None
        counts = pack_counters(Counters.zeros())
    tape = None if layer.tape is None else UpdateTape(x=x_in, d=d, counts=counts)
    layer_ct = AnalogDense(xb=zero_cotangent(layer.xb), state=zero_cotangent(layer.state), tape=tape,
                           bias_line=layer.bias_line, patches=layer.patches)
    return layer_ct, dx, zero_cotangent(key)


_analog_read.defvjp(_analog_read_fwd, _analog_read_bwd, symbolic_zeros=True)
