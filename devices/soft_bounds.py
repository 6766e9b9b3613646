"""Soft-bounds device: the step shrinks linearly to zero as the conductance approaches the bound it moves to.

step_up = dg * (G_max - G) / (G_max - G_min),  step_down = dg * (G - G_min) / (G_max - G_min).
n pulses in closed form (`closed_form.approach_bounds`): G_max - (G_max - G) (1 - dg / range)^n, and the
mirror image for depression.

References:
    Fusi & Abbott, "Limits on the memory storage capacity of bounded synapses", Nat. Neurosci. 10 (2007);
    aihwkit `SoftBoundsDevice` (Gokmen & Haensch, Front. Neurosci. 14:103, 2020).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from devices.closed_form import approach_bounds
from devices.pulsed import PulsedDevice
from devices.validation import check_step


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class SoftBounds(PulsedDevice):
    """Parameters of a soft-bounds device (the shared ones, bounds to drift, are `PulsedDevice`'s).

    Attributes:
        dg: Step at the lower bound for potentiation (and at the upper bound for depression) (S).
    """

    dg: float = 10e-6 / 300

    def validate_model(self) -> None:
        check_step("dg", self.dg, self.g_max - self.g_min)

    def _rates(self, state):
        g_range = state.g_max - state.g_min
        return (jnp.minimum(self.dg * state.scale_up / g_range, 1.0),
                jnp.minimum(self.dg * state.scale_down / g_range, 1.0))

    def step_sizes(self, state):
        rate_up, rate_down = self._rates(state)
        return rate_up * (state.g_max - state.g), rate_down * (state.g - state.g_min)

    def mean_after_n_pulses(self, state, n):
        return approach_bounds(state, n, *self._rates(state))
