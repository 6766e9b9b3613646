"""The back ends of one training loop: they build the MLP's layers as float, hardware-aware float (`HWABackend`) or
crossbar `crossbar.nn` layers.

A back end is a layer factory: `init` returns a `crossbar.nn` layer (`FloatDense` or `AnalogDense`) with the
bias on an always-on input line (the last row, Gokmen & Vlasov 2016), and the MLP in `crossbar.training.mlp`
reads, differentiates and updates that layer through its own interface (`read`, `jax.grad` through its custom
VJP, `apply_update`, `advance`, `weights`), so float and analog training share every other line, and the MLP is
the same code as any other JAX model on crossbars. Each layer's weights are [rows, cols] with rows = fan_in + 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import jax

from crossbar import array, transfer
from crossbar.nn import AnalogDense, FloatDense, HWADense, HWANoise, TransferDense, analog_dense, transfer_dense
from crossbar.periphery import Periphery
from crossbar.update import PulseUpdate

Array = jax.Array


@dataclass(frozen=True)
class FloatBackend:
    """Floating-point layers: exact products and the exact SGD update."""

    name: str = "float"
    # Its jitted steps use nothing of the back end but the layers (see `training.loop._runner`).
    layers_carry_configuration: ClassVar[bool] = True

    def init(self, key, rows: int, cols: int, w0: Array) -> FloatDense:
        """A float layer holding w0 [rows, cols] (built directly: w0 may be traced inside a vmapped sweep)."""
        return FloatDense(w=w0, tape=None, bias_line=True)

    def weights(self, layer: FloatDense) -> Array:
        return layer.weights


@dataclass(frozen=True)
class HWABackend:
    """Float layers trained with the chip's noise in their forward pass (`crossbar.nn.HWADense`): hardware-aware
    training, whose weights are then programmed for inference (`crossbar.inference`).

    Attributes:
        noise: The injected noise (`crossbar.nn.HWANoise`).
    """

    noise: HWANoise = field(default_factory=HWANoise)
    name: str = "hwa"
    layers_carry_configuration: ClassVar[bool] = True  # the noise is a pytree leaf of every layer

    def init(self, key, rows: int, cols: int, w0: Array) -> HWADense:
        """A hardware-aware float layer holding w0 [rows, cols]."""
        return HWADense(dense=FloatDense(w=w0, tape=None, bias_line=True), noise=self.noise)

    def weights(self, layer: HWADense) -> Array:
        return layer.weights


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

    def init(self, key, rows: int, cols: int, w0: Array) -> AnalogDense:
        """A crossbar layer of rows x cols devices (`key`: their device-to-device spread) holding w0."""
        return analog_dense(self.crossbar(rows, cols), key, w0, bias_line=True)

    def weights(self, layer: AnalogDense) -> Array:
        """[rows, cols] weights the layer's array holds now (noise-free read)."""
        return layer.weights


@dataclass(frozen=True)
class TransferBackend:
    """Layers trained by a transfer algorithm (`crossbar.transfer`) on two arrays of one back end's configuration.

    Attributes:
        arrays: The `CrossbarBackend` whose configuration both arrays (A and C) take.
        algorithm: From `crossbar.transfer.make_algorithm`.
        reference: How each device's reference is set ("computed", "zero_shift", "nominal"; `Compound`).
        reference_std: Device-to-device reference offset (weight units).
        transfer_forward: Periphery of the transfer reads (default: the arrays' own without noise and bound
            management, as aihwkit's presets).
    """

    arrays: CrossbarBackend
    algorithm: Any
    reference: str = "computed"
    reference_std: float = 0.0
    transfer_forward: Periphery | None = None
    name: str = "crossbar"
    layers_carry_configuration: ClassVar[bool] = True

    def compound(self, rows: int, cols: int) -> transfer.Compound:
        """The validated compound of a rows x cols layer."""
        xb = self.arrays.crossbar(rows, cols)
        tf = self.transfer_forward
        if tf is None:
            tf = Periphery(**{**xb.periphery.__dict__, "noise_management": "none", "bound_management": "none"})
        return transfer.make_compound(xb, transfer_forward=tf, reference=self.reference,
                                      reference_std=self.reference_std)

    def crossbar(self, rows: int, cols: int) -> array.Crossbar:
        return self.compound(rows, cols).slow

    def init(self, key, rows: int, cols: int, w0: Array) -> TransferDense:
        """A transfer layer of rows x cols devices per array holding w0 on C."""
        # The MLP differentiates a summed loss and passes lr / batch (see `crossbar.nn.TransferDense`).
        return transfer_dense(self.compound(rows, cols), self.algorithm, key, w0, bias_line=True,
                              loss_reduction="sum")

    def weights(self, layer: TransferDense) -> Array:
        return layer.weights
