"""Soft-bounds device: the step shrinks linearly to zero as the conductance approaches the bound it moves to.

step_up = dg * (G_max - G) / (G_max - G_min),  step_down = dg * (G - G_min) / (G_max - G_min).
n pulses in closed form: G_max - (G_max - G) (1 - dg / range)^n, and the mirror image for depression.

References:
    Fusi & Abbott, "Limits on the memory storage capacity of bounded synapses", Nat. Neurosci. 10 (2007);
    aihwkit `SoftBoundsDevice` (Gokmen & Haensch, Front. Neurosci. 14:103, 2020).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jax
import jax.numpy as jnp

from devices import validation as v
from devices.drift import NoDrift
from devices.noise import ReadNoise, Variation
from devices.pulsed import PulsedDevice


def approach_bounds(state, n, rate_up, rate_down):
    """Mean conductance after `n` signed pulses of a device relaxing geometrically toward its bounds.

    Args:
        state: Device state.
        n: [*shape] signed pulse counts.
        rate_up, rate_down: [*shape] fraction (0..1) of the distance to the bound covered per pulse.
    """
    up = state.g_max - (state.g_max - state.g) * (1.0 - rate_up) ** jnp.abs(n)
    down = state.g_min + (state.g - state.g_min) * (1.0 - rate_down) ** jnp.abs(n)
    return jnp.where(n > 0, up, jnp.where(n < 0, down, state.g))


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class SoftBounds(PulsedDevice):
    """Parameters of a soft-bounds device.

    Attributes:
        g_min: Lower conductance bound (S).
        g_max: Upper conductance bound (S).
        dg: Step at the lower bound for potentiation (and at the upper bound for depression) (S).
        v_threshold: Smallest pulse amplitude (V) that switches the device.
        variation: Device-to-device and cycle-to-cycle spread.
        read_noise: Read noise.
        drift: Retention drift model.
    """

    g_min: float = 0.0
    g_max: float = 10e-6
    dg: float = 10e-6 / 300
    v_threshold: float = 1.0
    variation: Variation = field(default_factory=Variation)
    read_noise: ReadNoise = field(default_factory=ReadNoise)
    drift: NoDrift = field(default_factory=NoDrift)

    def validate_model(self) -> None:
        v.check_positive("dg", self.dg)
        v.check_less("dg", self.dg, "g_max - g_min", self.g_max - self.g_min)

    def _rates(self, state):
        g_range = state.g_max - state.g_min
        return (jnp.minimum(self.dg * state.scale_up / g_range, 1.0),
                jnp.minimum(self.dg * state.scale_down / g_range, 1.0))

    def step_sizes(self, state):
        rate_up, rate_down = self._rates(state)
        return rate_up * (state.g_max - state.g), rate_down * (state.g - state.g_min)

    def mean_after_n_pulses(self, state, n):
        return approach_bounds(state, n, *self._rates(state))
