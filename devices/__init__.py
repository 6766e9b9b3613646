"""Physical models of memristive devices: pulsed conductance updates, variability, read noise, drift.

Every model is a frozen parameter dataclass with `init(key, shape) -> DeviceState`,
`pulse(state, v, key)`, `pulse_n(state, n, key)` and `read(state, t, key)`; see `devices.base`.
"""

from devices.base import Device, DeviceState, set_conductance
from devices.constant_step import ConstantStep
from devices.drift import NoDrift, PowerLawDrift, RelaxationDrift
from devices.noise import ReadNoise, Variation
from devices.soft_bounds import SoftBounds

# Model classes by the name the CLI and the sweeps use.
MODELS = {
    "constant_step": ConstantStep,
    "soft_bounds": SoftBounds,
}

__all__ = ["Device", "DeviceState", "set_conductance", "ConstantStep", "SoftBounds", "NoDrift",
           "PowerLawDrift", "RelaxationDrift", "ReadNoise", "Variation", "MODELS"]
