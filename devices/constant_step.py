"""Constant-step device: every pulse moves the conductance by the same (noisy) step until a bound.

References:
    Gokmen & Vlasov, "Acceleration of deep neural network training with resistive cross-point devices:
    design considerations", Front. Neurosci. 10:333 (2016): the RPU baseline device.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from devices.pulsed import PulsedDevice
from devices.validation import check_positive


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class ConstantStep(PulsedDevice):
    """Parameters of a constant-step device (the shared ones, bounds to drift, are `PulsedDevice`'s).

    Defaults are illustrative: a 0-10 uS device with 600 steps, so that a differential pair spans
    weights of +-0.6 in steps of 0.001 as in the GV2016 RPU baseline (see `presets.gokmen_vlasov`).

    Attributes:
        dg: Mean step per pulse (S), before device-to-device scaling and asymmetry.
    """

    dg: float = 10e-6 / 600

    def validate_model(self) -> None:
        check_positive("dg", self.dg)

    def step_sizes(self, state):
        return self.dg * state.scale_up, self.dg * state.scale_down

    def mean_after_n_pulses(self, state, n):
        up, down = self.step_sizes(state)
        return state.g + jnp.where(n > 0, up, down) * n
