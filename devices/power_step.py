"""Power-step device: the step falls off as a power of the distance to the bound it moves toward.

step_up = dg * scale_up * (1 - u)^gamma_up,  step_down = dg * scale_down * u^gamma_down,
u = (G - G_min) / (G_max - G_min) in each device's own range. The exponents are drawn per device once:
gamma_up = gamma (1 + gamma_up_down + gamma_d2d xi + gamma_up_down_d2d xi'),
gamma_down = gamma (1 - gamma_up_down + gamma_d2d xi - gamma_up_down_d2d xi') (xi, xi' standard normal; floored
at 0). gamma = 0 is the constant-step device, gamma = 1 (no spread) the soft-bounds device; other gammas have no
closed form for n pulses, so the shared engine applies them pulse by pulse.

References:
    aihwkit `PowStepDevice` (aihwkit documentation, "Device models"; Gokmen & Haensch, Front. Neurosci.
    14:103, 2020): dw = dw_min * ((w_max - w) / range)^gamma_up for up steps, mirrored for down steps, with the
    exponents' device-to-device spread and up/down bias (`devices.aihwkit.power_step_from_aihwkit`); after the
    synapse model of Fusi & Abbott, Nat. Neurosci. 10, 485 (2007).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from devices.pulsed import PulsedDevice
from devices.pytree import pytree_dataclass
from devices.validation import check_in_range, check_nonnegative, check_step

# The per-device exponents in `DeviceState.aux`. States built by hand without them (the fitting code's) use
# the nominal exponents.
GAMMA_UP, GAMMA_DOWN = "gamma_up", "gamma_down"


@pytree_dataclass
@dataclass(frozen=True)
class PowerStep(PulsedDevice):
    """Parameters of a power-step device (the shared ones, bounds to drift, are `PulsedDevice`'s).

    Defaults are illustrative: a 0-10 uS device with a step of 1/100 of the range at the far bound, gamma 2.

    Attributes:
        dg: Step per pulse at the bound the pulse moves away from (S), before d2d scaling and asymmetry.
        gamma: Mean exponent of the step's fall-off toward the bound (1, >= 0).
        gamma_up_down: Up/down bias of the exponents (1): gamma_up = gamma (1 + it), gamma_down = gamma (1 - it).
        gamma_d2d: Device-to-device spread of both exponents together, relative to gamma (1, >= 0).
        gamma_up_down_d2d: Device-to-device spread of each device's own exponent bias, relative to gamma (1, >= 0).
    """

    dg: float = 10e-6 / 100
    gamma: float = 2.0
    gamma_up_down: float = 0.0
    gamma_d2d: float = 0.0
    gamma_up_down_d2d: float = 0.0

    def validate_model(self) -> None:
        check_step("dg", self.dg, self.g_max - self.g_min)
        check_nonnegative("gamma", self.gamma)
        check_nonnegative("gamma_d2d", self.gamma_d2d)
        check_nonnegative("gamma_up_down_d2d", self.gamma_up_down_d2d)
        check_in_range("gamma_up_down", self.gamma_up_down, -1.0, 1.0)  # both nominal exponents >= 0

    def init_aux(self, key, shape) -> dict:
        k_gain, k_bias = jax.random.split(key)
        gain = 1.0 + self.gamma_d2d * jax.random.normal(k_gain, shape)
        bias = self.gamma_up_down + self.gamma_up_down_d2d * jax.random.normal(k_bias, shape)
        # A negative exponent would make the step grow toward the bound; floored at 0 (constant step) instead.
        return {GAMMA_UP: jnp.maximum(self.gamma * (gain + bias), 0.0),
                GAMMA_DOWN: jnp.maximum(self.gamma * (gain - bias), 0.0)}

    def exponents(self, state):
        """(gamma_up, gamma_down): each device's exponents, or the nominal ones for a state without them."""
        if GAMMA_UP in state.aux:
            return state.aux[GAMMA_UP], state.aux[GAMMA_DOWN]
        return self.gamma * (1.0 + self.gamma_up_down), self.gamma * (1.0 - self.gamma_up_down)

    def step_sizes(self, state):
        # `position` is clipped, so a power of a (rounding-)negative base never gives NaN.
        u = state.position
        gamma_up, gamma_down = self.exponents(state)
        return (self.dg * state.scale_up * (1.0 - u) ** gamma_up,
                self.dg * state.scale_down * u ** gamma_down)
