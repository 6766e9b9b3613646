"""Soft-bounds device: the step shrinks linearly to zero as the conductance approaches the bound it moves to.

With the nominal symmetry point G_sym = G_min + s (G_max - G_min) (s = `symmetry`, 1/2 by default: mid-range) and
each device's own bounds G_min', G_max' (device-to-device spread):

    step_up = (dg / 2) * scale_up * (G_max' - G) / (G_max' - G_sym),
    step_down = (dg / 2) * scale_down * (G - G_min') / (G_sym - G_min').

Each slope is taken relative to that device's own bound measured from the symmetry point, as aihwkit's
`SoftBoundsDevice` does (`ls_mean_bound_reference` off): the step at the symmetry point is dg/2 x scale
whatever the device's bounds, so a spread of the bounds does not add to the spread of the steps there. With
the nominal bounds this is dg * (G_max - G) / (G_max - G_min): dg is the step at G_min (potentiation) and at
G_max (depression). n pulses in closed form (`closed_form.approach_bounds`): a geometric approach to each
device's bound. The mapping from aihwkit's parameters is `devices.aihwkit.soft_bounds_from_aihwkit`.

References:
    Fusi & Abbott, "Limits on the memory storage capacity of bounded synapses", Nat. Neurosci. 10 (2007);
    aihwkit `SoftBoundsDevice` (Gokmen & Haensch, Front. Neurosci. 14:103, 2020) and its C++ linear-step
    device (src/rpucuda/rpu_linearstep_device.cpp: slopes relative to each device's own bound).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp

from devices.closed_form import approach_bounds
from devices.pulsed import PulsedDevice
from devices.pytree import pytree_dataclass
from devices.validation import check_open_range, check_step


@pytree_dataclass
@dataclass(frozen=True)
class SoftBounds(PulsedDevice):
    """Parameters of a soft-bounds device (the shared ones, bounds to drift, are `PulsedDevice`'s).

    Attributes:
        dg: Twice the step at the nominal symmetry point (S); with `symmetry` = 1/2, the step at the nominal lower
            bound for potentiation (and at the upper bound for depression).
        symmetry: Where the nominal symmetry point sits in the nominal range (1): 0 at g_min, 1 at g_max; 1/2 (the
            mid-range) by default. aihwkit's asymmetric weight bounds (e.g. w_min = -0.75, w_max = 1.25, symmetry
            point at w = 0) give 0.375 (`devices.aihwkit.soft_bounds_from_aihwkit`).
    """

    dg: float = 10e-6 / 300
    symmetry: float = 0.5

    def validate_model(self) -> None:
        check_step("dg", self.dg, self.g_max - self.g_min)
        check_open_range("symmetry", self.symmetry, 0.0, 1.0)

    def nominal_symmetry_point(self):
        """The nominal device's symmetry point (S), where its up and down steps are equal."""
        return self.g_min + self.symmetry * (self.g_max - self.g_min)

    def _rates(self, state):
        # Relative to each device's own bound seen from the nominal symmetry point (see the module docstring).
        g_sym = self.nominal_symmetry_point()
        half = 0.5 * self.dg
        return (jnp.minimum(half * state.scale_up / jnp.maximum(state.g_max - g_sym, 1e-30), 1.0),
                jnp.minimum(half * state.scale_down / jnp.maximum(g_sym - state.g_min, 1e-30), 1.0))

    def step_sizes(self, state):
        rate_up, rate_down = self._rates(state)
        return rate_up * (state.g_max - state.g), rate_down * (state.g - state.g_min)

    def mean_after_n_pulses(self, state, n):
        return approach_bounds(state, n, *self._rates(state))
