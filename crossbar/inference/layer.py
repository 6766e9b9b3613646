"""A dense layer programmed for inference (`ProgrammedDense`) and its read at one time (`InferenceDense`).

Weights become conductances as the array's mapping says (`crossbar.mapping`: a differential pair, or one device
against a reference column), with the one-sided split that inference chips use for the pair (Joshi et al. 2020;
aihwkit's single-pair converter): the device of a weight's sign holds g_min + |w| (g_max - g_min), the other
g_min, so a zero weight is two devices at g_min and drift, which scales conductances, leaves it at zero (a pair
centred on mid-range, as training uses, would drift its zero with the two devices' exponents). The reference
layout keeps its mid-range reference, which does not drift (`crossbar.mapping.ReferenceColumn`).

The layer's weights are first scaled so that max |W| (of the layer, or of each column) maps to g_max; the scale
comes back as a digital gain on the outputs, which is also where drift compensation acts (aihwkit applies both
after the ADC, in digital). `InferenceDense` is a `crossbar.nn` layer (`read`, `__call__`): a model built of
`crossbar.nn` layers (the MLP, a CNN of `Conv2d`) runs on it unchanged; it is not trainable.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import jax
import jax.numpy as jnp

from crossbar.counters import Counters
from crossbar.inference.programmed import ProgrammedState
from crossbar.mapping import conductance_scale, reference_conductance
from crossbar.nn.tape import flatten_samples, with_bias_line
from crossbar.periphery import Periphery, analog_read
from devices.pytree import pytree_dataclass

Array = jax.Array

WEIGHT_SCALINGS = ("layer", "column")
READOUT_FLOOR = 1e-4  # smallest readout a compensation divides by (aihwkit's clamp), normalised units


@pytree_dataclass
@dataclass(frozen=True)
class InferenceDense:
    """A dense layer read from fixed conductances: one time's snapshot of a `ProgrammedDense`.

    Attributes:
        periphery: Converters, output noise and management of the forward read.
        g_plus: [rows, cols] conductances (S) of the weights' devices (G+ of a pair).
        g_minus: [rows, cols] G- of a pair, or [rows, 1] the reference column (S).
        g_unit: Siemens per unit of normalised weight (S); the array holds W / gain in [-1, 1].
        gain: [cols] digital factor on the outputs: the weight scale times any drift compensation.
        bias_line: The last row is an always-on input of 1 (static).
        patches: Rank-one samples per input sample (static; see `crossbar.nn.AnalogDense`).
    """

    periphery: Periphery
    g_plus: Array
    g_minus: Array
    g_unit: Array
    gain: Array
    bias_line: bool = field(default=False, metadata=dict(static=True))
    patches: int = field(default=1, metadata=dict(static=True))

    @property
    def in_features(self) -> int:
        return self.g_plus.shape[0] - int(self.bias_line)

    @property
    def out_features(self) -> int:
        return self.g_plus.shape[1]

    @property
    def weights(self) -> Array:
        """[rows, cols] effective weights (noise-free product of the snapshot, gain included)."""
        return (self.g_plus - self.g_minus) / self.g_unit * self.gain[None, :]

    def array_read(self, x_in: Array, key) -> tuple[Array, Counters]:
        """The array's managed read of x_in [n, rows] (bias line included), before the gain: [n, cols]."""
        def product(u):
            return (u @ self.g_plus - u @ self.g_minus) / self.g_unit

        devices = 2 * self.out_features if self.g_minus.shape[1] > 1 else self.out_features + 1
        return analog_read(self.periphery, x_in, product, key, devices_per_input=devices, direction="forward")

    def read(self, x: Array, key) -> tuple[Array, Counters]:
        """(y [..., out_features], counters) from x [..., in_features]."""
        x2, lead = flatten_samples("x", x, self.in_features)
        y, counters = self.array_read(with_bias_line(x2) if self.bias_line else x2, key)
        return (y * self.gain[None, :]).reshape(*lead, self.out_features), counters

    def __call__(self, x: Array, key) -> Array:
        return self.read(x, key)[0]

    def with_batch(self, n: int | None) -> InferenceDense:
        """The same layer: an inference layer has no update tape (it is not trained)."""
        return self

    def advance(self, dt) -> InferenceDense:
        """The same snapshot; read a later one with `ProgrammedDense.at`."""
        return self

    def readout(self, key) -> Array:
        """[cols] mean |y| over the one-hot inputs of every row (aihwkit's compensation readout), before the gain,
        floored at `READOUT_FLOOR`."""
        y, _ = self.array_read(jnp.eye(self.g_plus.shape[0], dtype=self.g_plus.dtype), key)
        return jnp.maximum(jnp.mean(jnp.abs(y), axis=0), READOUT_FLOOR)


@pytree_dataclass
@dataclass(frozen=True)
class ProgrammedDense:
    """A dense layer's weights programmed onto devices of an inference noise model. Build with
    `crossbar.inference.program`; read at a time with `at`.

    Attributes:
        noise: The noise model (`PCMNoise`, `CMONoise`, `Wan2022Noise`).
        periphery: The forward read's periphery.
        plus: The weights' devices (G+ of a pair), [rows, cols].
        minus: G- of a pair ([rows, cols]), or None for the reference column.
        gain: [cols] digital output factor: max |W| of the layer or the column (weight units).
        baseline: [cols] compensation readout right after programming (`InferenceDense.readout`).
        bias_line: (static) as the layer programmed.
        patches: (static) as the layer programmed.
    """

    noise: Any
    periphery: Periphery
    plus: ProgrammedState
    minus: ProgrammedState | None
    gain: Array
    baseline: Array
    bias_line: bool = field(default=False, metadata=dict(static=True))
    patches: int = field(default=1, metadata=dict(static=True))

    @property
    def pair(self) -> str:
        return "reference" if self.minus is None else "differential"

    @property
    def g_unit(self):
        """Siemens per unit of normalised weight (`crossbar.mapping.conductance_scale` at w_max = 1)."""
        return conductance_scale(self.noise.g_min, self.noise.g_max, 1.0, self.pair)

    def conductances(self, t, key=None) -> tuple[Array, Array]:
        """(G+, G-) (S) read `t` seconds after programming, with read noise where `key` is given."""
        k_plus, k_minus = jax.random.split(key) if key is not None else (None, None)
        g_plus = self.noise.read(self.plus, t, k_plus)
        if self.minus is None:
            g_ref = reference_conductance(self.noise.g_min, self.noise.g_max)
            return g_plus, jnp.full((g_plus.shape[0], 1), g_ref, g_plus.dtype)
        return g_plus, self.noise.read(self.minus, t, k_minus)

    def at(self, t, key) -> InferenceDense:
        """The layer as read `t` seconds after programming (one draw of the read noise, kept for the snapshot)."""
        g_plus, g_minus = self.conductances(t, key)
        return InferenceDense(periphery=self.periphery, g_plus=g_plus, g_minus=g_minus,
                              g_unit=jnp.asarray(self.g_unit, g_plus.dtype), gain=self.gain,
                              bias_line=self.bias_line, patches=self.patches)

    def with_batch(self, n: int | None) -> ProgrammedDense:
        return self

    def advance(self, dt) -> ProgrammedDense:
        return self


def target_conductances(w_normalised: Array, g_min, g_max, pair: str) -> tuple[Array, Array | None]:
    """Targets (S) for weights in [-1, 1] ([rows, cols]): (G+, G-) one-sided for a pair (see the module
    docstring), (G, None) about the mid-range reference otherwise."""
    if pair == "differential":
        span = g_max - g_min
        return g_min + jnp.maximum(w_normalised, 0.0) * span, g_min + jnp.maximum(-w_normalised, 0.0) * span
    unit = conductance_scale(g_min, g_max, 1.0, pair)
    return reference_conductance(g_min, g_max) + w_normalised * unit, None


def weight_gain(w: Array, weight_scaling: str) -> Array:
    """[cols] scale mapping max |W| (of the layer, or of each column) to 1; 1 where the weights are all zero."""
    per = jnp.max(jnp.abs(w), axis=0) if weight_scaling == "column" else jnp.full(w.shape[1], jnp.max(jnp.abs(w)))
    return jnp.where(per > 0, per, 1.0)


def compensated(layer: InferenceDense, baseline: Array, kind: str, key) -> InferenceDense:
    """`layer` with its gain multiplied by the drift compensation `kind` ("none", "global", "column").

    Global: one factor, the mean readout right after programming over the mean readout now (both over every
    column). Per column: that ratio for each column. Readouts as `InferenceDense.readout`.
    """
    if kind == "none":
        return layer
    now = layer.readout(key)
    alpha = jnp.mean(baseline) / jnp.mean(now) if kind == "global" else baseline / now
    return replace(layer, gain=layer.gain * alpha)
