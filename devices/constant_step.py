"""Constant-step device: every pulse moves the conductance by the same (noisy) step until a bound.

References:
    Gokmen & Vlasov, "Acceleration of deep neural network training with resistive cross-point devices:
    design considerations", Front. Neurosci. 10:333 (2016): the RPU baseline device.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

import jax.numpy as jnp

from devices.noise import standard_normal
from devices.pulsed import PulsedDevice
from devices.pytree import pytree_dataclass
from devices.validation import check_positive


@pytree_dataclass
@dataclass(frozen=True)
class ConstantStep(PulsedDevice):
    """Parameters of a constant-step device (the shared ones, bounds to drift, are `PulsedDevice`'s).

    Defaults are illustrative: a 0-10 uS device with 600 steps, so that a differential pair spans
    weights of +-0.6 in steps of 0.001 as in the GV2016 RPU baseline (see `presets.gokmen_vlasov`).

    Attributes:
        dg: Mean step per pulse (S), before device-to-device scaling and asymmetry.
    """

    dg: float = 10e-6 / 600

    steps_depend_on_state: ClassVar[bool] = False  # a constant step, until the bound clips it

    def validate_model(self) -> None:
        check_positive("dg", self.dg)

    def step_sizes(self, state):
        return self.dg * state.scale_up, self.dg * state.scale_down

    def mean_after_n_pulses(self, state, n):
        up, down = self.step_sizes(state)
        return state.g + jnp.where(n > 0, up, down) * n

    def respond_up_down(self, state, n_up, n_down, key):
        """n_up steps up and n_down steps down in one pass: the order of constant steps does not matter (until
        a bound clips them). Mean up n_up - down n_down, c2c variance c2c^2 (n_up up^2 + n_down down^2)."""
        n_up, n_down = n_up.astype(state.g.dtype), n_down.astype(state.g.dtype)
        up, down = self.step_sizes(state)
        std = self.variation.c2c * jnp.sqrt(n_up * up * up + n_down * down * down)
        g = state.g + up * n_up - down * n_down + std * standard_normal(key, state.shape, state.g.dtype)
        return replace(state, g=jnp.clip(g, state.g_min, state.g_max))
