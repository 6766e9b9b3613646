"""Constant-step device: every pulse moves the conductance by the same (noisy) step until a bound.

References:
    Gokmen & Vlasov, "Acceleration of deep neural network training with resistive cross-point devices:
    design considerations", Front. Neurosci. 10:333 (2016): the RPU baseline device.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jax
import jax.numpy as jnp

from devices import validation as v
from devices.drift import NoDrift
from devices.noise import ReadNoise, Variation
from devices.pulsed import PulsedDevice


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class ConstantStep(PulsedDevice):
    """Parameters of a constant-step device.

    Defaults are illustrative: a 0-10 uS device with 600 steps, so that a differential pair spans
    weights of +-0.6 in steps of 0.001 as in the GV2016 RPU baseline (see `presets.gokmen_vlasov`).

    Attributes:
        g_min: Lower conductance bound (S).
        g_max: Upper conductance bound (S).
        dg: Mean step per pulse (S), before device-to-device scaling and asymmetry.
        v_threshold: Smallest pulse amplitude (V) that switches the device.
        variation: Device-to-device and cycle-to-cycle spread.
        read_noise: Read noise.
        drift: Retention drift model.
    """

    g_min: float = 0.0
    g_max: float = 10e-6
    dg: float = 10e-6 / 600
    v_threshold: float = 1.0
    variation: Variation = field(default_factory=Variation)
    read_noise: ReadNoise = field(default_factory=ReadNoise)
    drift: NoDrift = field(default_factory=NoDrift)

    def validate_model(self) -> None:
        v.check_positive("dg", self.dg)

    def step_sizes(self, state):
        return self.dg * state.scale_up, self.dg * state.scale_down

    def mean_after_n_pulses(self, state, n):
        up, down = self.step_sizes(state)
        return state.g + jnp.where(n > 0, up, down) * n
