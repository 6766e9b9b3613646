"""Physical models of memristive devices: pulsed conductance updates, variability, read noise, drift.

Every model is a frozen parameter dataclass with `init(key, shape) -> DeviceState`,
`pulse(state, v, key)`, `pulse_n(state, n, key)` and `read(state, t, key)`; see `devices.base`. The shared
parameters and behaviour live once in `devices.pulsed.PulsedDevice`; each model file adds its step law.
"""

from devices.aihwkit_exp_step import AihwkitExpStep
from devices.base import Device, DeviceState, set_conductance
from devices.bilayer import Bilayer
from devices.constant_step import ConstantStep
from devices.drift import ExponentialRelaxation, NoDrift, PowerLawDrift, RelaxationDrift
from devices.exp_step import ExpStep
from devices.hfo2_abrupt import HfO2Abrupt
from devices.linear_step import LinearStep
from devices.lookup_table import LookupTable
from devices.noise import NoReadNoise, ReadNoise, Variation
from devices.nonlinear import NeuroSimNonlinear
from devices.pcm import PCM
from devices.power_step import PowerStep
from devices.soft_bounds import SoftBounds

# Model classes by the name the CLI and the sweeps use.
MODELS = {
    "constant_step": ConstantStep,
    "soft_bounds": SoftBounds,
    "linear_step": LinearStep,
    "exp_step": ExpStep,
    "power_step": PowerStep,
    "aihwkit_exp_step": AihwkitExpStep,
    "neurosim_nonlinear": NeuroSimNonlinear,
    "pcm": PCM,
    "hfo2_abrupt": HfO2Abrupt,
    "bilayer": Bilayer,
    "lookup_table": LookupTable,
}

__all__ = ["Device", "DeviceState", "set_conductance", "ConstantStep", "SoftBounds", "LinearStep", "ExpStep",
           "PowerStep", "NeuroSimNonlinear", "PCM", "NoDrift", "PowerLawDrift", "RelaxationDrift", "ReadNoise",
           "ExponentialRelaxation", "NoReadNoise", "Variation", "MODELS", "HfO2Abrupt", "Bilayer",
           "LookupTable", "AihwkitExpStep"]
