"""Power-step device: the step falls off as a power of the distance to the bound it moves toward.

step_up = dg * scale_up * (1 - u)^gamma,  step_down = dg * scale_down * u^gamma,  u = (G - G_min) / (G_max - G_min).
gamma = 0 is the constant-step device, gamma = 1 the soft-bounds device; other gammas have no closed form for
n pulses, so the shared engine applies them pulse by pulse.

References:
    aihwkit `PowStepDevice` (aihwkit documentation, "Device models"; Gokmen & Haensch, Front. Neurosci.
    14:103, 2020): dw = dw_min * ((w_max - w) / range)^pow_gamma for up steps, mirrored for down steps.
"""

from __future__ import annotations

from dataclasses import dataclass

from devices.pulsed import PulsedDevice
from devices.pytree import pytree_dataclass
from devices.validation import check_nonnegative, check_step


@pytree_dataclass
@dataclass(frozen=True)
class PowerStep(PulsedDevice):
    """Parameters of a power-step device (the shared ones, bounds to drift, are `PulsedDevice`'s).

    Defaults are illustrative: a 0-10 uS device with a step of 1/100 of the range at the far bound, gamma 2.

    Attributes:
        dg: Step per pulse at the bound the pulse moves away from (S), before d2d scaling and asymmetry.
        gamma: Exponent of the step's fall-off toward the bound (1, >= 0).
    """

    dg: float = 10e-6 / 100
    gamma: float = 2.0

    def validate_model(self) -> None:
        check_step("dg", self.dg, self.g_max - self.g_min)
        check_nonnegative("gamma", self.gamma)

    def step_sizes(self, state):
        # `position` is clipped, so a power of a (rounding-)negative base never gives NaN.
        u = state.position
        return (self.dg * state.scale_up * (1.0 - u) ** self.gamma,
                self.dg * state.scale_down * u ** self.gamma)
