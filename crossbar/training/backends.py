"""The two back ends of one training loop: layers as float matrices, or layers on crossbar arrays.

A back end provides, per layer, `init`, `forward`, `backward` (transpose), `update`, `advance` (simulated
time) and `weights`; the MLP in `crossbar.training.mlp` only talks to this interface, so float and analog training
share every other line. Each layer's weights are [rows, cols] with rows = fan_in + 1: the last input
line is the bias, an always-on input of 1 (Gokmen & Vlasov 2016).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import jax

from crossbar import array
from crossbar.counters import Counters
from crossbar.periphery import Periphery
from crossbar.update import PulseUpdate

Array = jax.Array


@dataclass(frozen=True)
class FloatBackend:
    """Floating-point layers: exact products and the exact SGD update."""

    name: str = "float"
    # Its jitted steps use nothing of the back end but the layers (see `training.loop._runner`).
    layers_carry_configuration: ClassVar[bool] = True

    def init(self, key, rows: int, cols: int, w0: Array) -> Array:
        return w0

    def forward(self, layer: Array, x: Array, key) -> tuple[Array, Counters]:
        return x @ layer, Counters.zeros()

    def backward(self, layer: Array, d: Array, key) -> tuple[Array, Counters]:
        return d @ layer.T, Counters.zeros()

    def update(self, layer: Array, x: Array, d: Array, lr, key) -> tuple[Array, Counters]:
        return layer - lr * (x.T @ d), Counters.zeros()

    def advance(self, layer: Array, dt) -> Array:
        return layer

    def weights(self, layer: Array) -> Array:
        return layer


@dataclass(frozen=True)
class CrossbarBackend:
    """Layers on crossbar arrays of one device model: every product and update goes through `crossbar.array`.

    Attributes:
        device: Device model of all arrays.
        w_max: Weight of one device's full range.
        pair: "differential" or "reference".
        periphery: Forward converters; `periphery_backward` those of the transpose pass (default: the same).
        update: Pulse update scheme.
        dw_min: Weight change per coincidence (default: from the device's step).
    """

    device: Any
    w_max: float = 0.6
    pair: str = "differential"
    periphery: Periphery = field(default_factory=Periphery)
    periphery_backward: Periphery | None = None
    update_scheme: PulseUpdate = field(default_factory=PulseUpdate)
    dw_min: float | None = None
    wires: Any = None
    name: str = "crossbar"
    # Each layer carries its `Crossbar` configuration (device parameters as pytree leaves), and the steps below
    # read only the layers: back ends that differ in parameter values share one compilation.
    layers_carry_configuration: ClassVar[bool] = True

    def crossbar(self, rows: int, cols: int) -> array.Crossbar:
        """The validated configuration of a rows x cols array of this back end."""
        return array.make_crossbar(self.device, rows, cols, w_max=self.w_max, dw_min=self.dw_min, pair=self.pair,
                                   periphery=self.periphery, periphery_backward=self.periphery_backward,
                                   update_scheme=self.update_scheme, wires=self.wires)

    def init(self, key, rows: int, cols: int, w0: Array) -> tuple:
        xb = self.crossbar(rows, cols)
        return xb, array.init(xb, key, w0)

    # A layer is the pair (Crossbar config, CrossbarState); the config is a pytree with static shape fields.
    def forward(self, layer, x, key):
        xb, st = layer
        return array.forward(xb, st, x, key)

    def backward(self, layer, d, key):
        xb, st = layer
        return array.transpose(xb, st, d, key)

    def update(self, layer, x, d, lr, key):
        xb, st = layer
        st, counters = array.update(xb, st, x, d, lr, key)
        return (xb, st), counters

    def advance(self, layer, dt):
        xb, st = layer
        return xb, array.advance_time(st, dt)

    def weights(self, layer):
        xb, st = layer
        return array.weights(xb, st)
