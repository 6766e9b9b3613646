"""The RPU baseline of Gokmen & Vlasov 2016 and the parameters its tolerance study varies, one at a time.

Each `Axis` names a non-ideality, the values to try (the baseline's value among them), which direction is
worse, the RPU baseline's specification of it, and how a value changes the `Setting` (device, weight bound,
converters, pulse trains). Everything else stays at the baseline: one parameter at a time, as in the paper.

References:
    Gokmen & Vlasov, "Acceleration of deep neural network training with resistive cross-point devices: design
    considerations", Front. Neurosci. 10:333 (2016): the RPU baseline (Table 1: dw_min 0.001, weight bound
    0.6 with 30% spread, 30% device-to-device and cycle-to-cycle step variation, 2% up/down asymmetry spread;
    output noise 0.06, output bound 12, BL 10) and the tolerance criterion (test error within 0.3% of float).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from crossbar.periphery import Periphery
from crossbar.training.backends import CrossbarBackend
from crossbar.update import PulseUpdate
from devices.params import replace_parameters
from devices.presets import gokmen_vlasov


@dataclass(frozen=True)
class Setting:
    """What one network of the study is trained on. `backend()` builds its crossbar back end."""

    device: Any = field(default_factory=gokmen_vlasov)
    w_max: float = 0.6
    dw_min: float = 0.001
    periphery: Periphery = field(default_factory=lambda: Periphery(output_noise=0.06, output_bound=12.0))
    bl: int = 10

    def backend(self) -> CrossbarBackend:
        # The device step follows dw_min and the weight bound: one coincidence moves a weight by dw_min
        # (2 dg w_max / range = dw_min, see `crossbar.mapping`), so the bound axis does not change dw_min.
        device = replace(self.device, dg=self.dw_min * (self.device.g_max - self.device.g_min) / (2 * self.w_max))
        return CrossbarBackend(device=device.validate(), w_max=self.w_max, pair="reference",
                               periphery=self.periphery, update_scheme=PulseUpdate(scheme="stochastic", bl=self.bl))


def _device(name: str) -> Callable[[Setting, float], Setting]:
    return lambda s, v: replace(s, device=replace_parameters(s.device, **{name: v}))


def _periphery(name: str, kind=float) -> Callable[[Setting, float], Setting]:
    def apply(s: Setting, v: float) -> Setting:
        # Both directions of read (forward and transpose) share these converters, as in the paper.
        return replace(s, periphery=replace(s.periphery, **{name: kind(v)}))
    return apply


@dataclass(frozen=True)
class Axis:
    """One parameter of the study.

    Attributes:
        name: Short name (directory and table key).
        label: Axis label of the figure, with units.
        values: Values tried; `baseline` among them.
        baseline: The RPU baseline's value.
        worse: "increasing" or "decreasing": which way the non-ideality grows.
        apply: (Setting, value) -> Setting.
        paper: The RPU baseline's specification of this parameter (GV2016 Table 1), for the table.
        quick_values: Values of a `--quick` run (default: `values`).
    """

    name: str
    label: str
    values: tuple[float, ...]
    baseline: float
    worse: str
    apply: Callable[[Setting, float], Setting]
    paper: str
    quick_values: tuple[float, ...] | None = None

    def __post_init__(self):
        if self.baseline not in self.values or (self.quick_values and self.baseline not in self.quick_values):
            raise ValueError(f"axis {self.name}: the baseline {self.baseline} must be among its values")

    def setting(self, value: float) -> Setting:
        return self.apply(Setting(), value)


AXES: dict[str, Axis] = {a.name: a for a in (
    Axis("dw_min", "dw_min (weight change per coincidence)", (0.001, 0.002, 0.005, 0.01), 0.001, "increasing",
         lambda s, v: replace(s, dw_min=float(v)), "0.001 (about 1000 states over the weight range)"),
    Axis("asymmetry", "global up/down asymmetry (dw+ - dw-)/(dw+ + dw-)", (0.0, 0.02, 0.05, 0.1), 0.0,
         "increasing", _device("variation.up_down"), "2% (imbalance of up and down steps)"),
    Axis("asymmetry_d2d", "device-to-device spread of the asymmetry", (0.02, 0.05, 0.1, 0.2), 0.02, "increasing",
         _device("variation.up_down_d2d"), "2%", quick_values=(0.02, 0.1, 0.2)),
    Axis("step_d2d", "device-to-device spread of dw_min", (0.3, 0.6, 1.0), 0.3, "increasing",
         _device("variation.dg_d2d"), "30%"),
    Axis("c2c", "cycle-to-cycle step noise (relative std)", (0.3, 1.0, 3.0), 0.3, "increasing",
         _device("variation.c2c"), "30%"),
    Axis("w_bound", "weight bound |w| <= w_max", (0.6, 0.3, 0.15), 0.6, "decreasing",
         lambda s, v: replace(s, w_max=float(v)), "0.6"),
    Axis("bound_d2d", "device-to-device spread of the weight bound", (0.3, 0.6, 0.9), 0.3, "increasing",
         _device("variation.bounds_d2d"), "30%"),
    Axis("bl", "pulse train length BL", (10, 5, 2, 1), 10, "decreasing", lambda s, v: replace(s, bl=int(v)),
         "10", quick_values=(10, 2, 1)),
    Axis("output_noise", "output noise std (weight units)", (0.06, 0.12, 0.3, 0.6), 0.06, "increasing",
         _periphery("output_noise"), "0.06", quick_values=(0.06, 0.3, 0.6)),
    Axis("output_bound", "output bound (weight units)", (12.0, 4.0, 1.0), 12.0, "decreasing",
         _periphery("output_bound"), "12 (with noise and bound management)"),
    Axis("adc_bits", "ADC resolution (bits)", (9, 7, 5), 9, "decreasing", _periphery("adc_bits", int),
         "not varied in the paper (9 bits: aihwkit's default)"),
    Axis("dac_bits", "DAC resolution (bits)", (7, 5, 3), 7, "decreasing", _periphery("dac_bits", int),
         "not varied in the paper (7 bits: aihwkit's default)"),
)}
