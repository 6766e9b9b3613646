"""Programming a network by pulses through the training device models (closed-loop write-verify), the other way
to program besides an inference noise model.

Each dense layer's weights, scaled so that max |W| of the layer maps to the array's w_max (the scale comes back as a
digital gain), are written into a fresh array of `array_of(rows, cols)` by `crossbar.programming.write_verify`;
the array's own mapping (a pair centred on mid-range, or the reference column), device-to-device spread,
cycle-to-cycle noise, drift model and read noise then decide what is read at time t. A device's drift counts
from its last pulse.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp

from crossbar import array
from crossbar.inference.layer import InferenceDense
from crossbar.programming import ProgramReport, write_verify
from devices.pytree import pytree_dataclass
from devices.validation import check_instance

Array = jax.Array


@pytree_dataclass
@dataclass(frozen=True)
class PulseProgrammedDense:
    """A dense layer written into an array by write-verify. Build with `program_by_pulses`; read with `at`.

    Attributes:
        xb: The array's configuration (device model, mapping, periphery).
        state: Its devices as programmed; its clock is the end of programming.
        gain: [cols] digital output factor (max |W| of the layer over xb.w_max).
        baseline: [cols] compensation readout right after programming.
        report: The write-verify `ProgramReport`.
        bias_line: (static) as the layer programmed.
        patches: (static) as the layer programmed.
    """

    xb: array.Crossbar
    state: array.CrossbarState
    gain: Array
    baseline: Array
    report: ProgramReport
    bias_line: bool = field(default=False, metadata=dict(static=True))
    patches: int = field(default=1, metadata=dict(static=True))

    def at(self, t, key) -> InferenceDense:
        """The layer as read `t` seconds after programming: the device model's drift and (with `key`) read noise."""
        g_plus, g_minus = array.conductances(self.xb, array.advance_time(self.state, t), key)
        return InferenceDense(periphery=self.xb.periphery, g_plus=g_plus, g_minus=g_minus,
                              g_unit=jnp.asarray(self.xb.scale, g_plus.dtype), gain=self.gain,
                              bias_line=self.bias_line, patches=self.patches)

    def with_batch(self, n: int | None) -> PulseProgrammedDense:
        return self

    def advance(self, dt) -> PulseProgrammedDense:
        return self


def program_layer_by_pulses(layer, xb: array.Crossbar, key, *, tolerance=None, max_pulses: int = 1000,
                            pulses_per_iteration: int = 10) -> PulseProgrammedDense:
    """Write one dense layer's weights (`layer.weights` [rows, cols]) into a fresh array `xb` by write-verify.

    Args:
        layer: An `AnalogDense`, `FloatDense` or `HWADense`.
        xb: The array's configuration (`crossbar.array.make_crossbar`, rows x cols of the layer).
        key: Random key of the devices' spread, the pulses' noise and the baseline readout.
        tolerance: Largest accepted |W - W_target| in the array's weight units (`crossbar.programming.write_verify`).
        max_pulses: Pulse budget of each weight (as `write_verify`).
        pulses_per_iteration: Most pulses a weight receives per iteration (as `write_verify`).

    Raises:
        TypeError: `xb` is not a `Crossbar`.
        ValueError: `xb`'s shape differs from the weights', or a bad write-verify option (naming it).
    """
    check_instance("xb", xb, array.Crossbar)
    w = jnp.asarray(layer.weights, jnp.float32)
    if w.shape != (xb.rows, xb.cols):
        raise ValueError(f"`xb` must have the layer's shape {w.shape}; got xb rows x cols = {(xb.rows, xb.cols)}")
    k_init, k_prog, k_base = jax.random.split(key, 3)
    gain = jnp.full(w.shape[1], jnp.maximum(jnp.max(jnp.abs(w)), 1e-30) / xb.w_max)
    state, report = write_verify(xb, array.init(xb, k_init), w / gain[None, :], k_prog, tolerance, max_pulses,
                                 pulses_per_iteration=pulses_per_iteration)
    programmed = PulseProgrammedDense(xb=xb, state=state, gain=gain, baseline=jnp.ones_like(gain), report=report,
                                      bias_line=layer.bias_line, patches=layer.patches)
    baseline = programmed.at(0.0, None).readout(k_base)
    return PulseProgrammedDense(xb=xb, state=state, gain=gain, baseline=baseline, report=report,
                                bias_line=layer.bias_line, patches=layer.patches)


def program_by_pulses(params, array_of: Callable[[int, int], array.Crossbar], key, **options):
    """Write every dense layer of `params` (as `crossbar.inference.program` finds them) into arrays
    `array_of(rows, cols)` by write-verify; `options` are those of `program_layer_by_pulses`. Read the result with
    `crossbar.inference.at_time`."""
    from crossbar.inference.network import _is_programmable  # one definition of what a dense layer is

    leaves, treedef = jax.tree_util.tree_flatten(params, is_leaf=_is_programmable)
    if not any(_is_programmable(leaf) for leaf in leaves):
        raise ValueError("`params` holds no dense layer (AnalogDense, FloatDense, HWADense) to program")
    out = []
    for i, leaf in enumerate(leaves):
        if _is_programmable(leaf):
            rows, cols = jnp.shape(leaf.weights)
            leaf = program_layer_by_pulses(leaf, array_of(rows, cols), jax.random.fold_in(key, i), **options)
        out.append(leaf)
    return jax.tree_util.tree_unflatten(treedef, out)
