"""Exponential-step device: the step changes exponentially (decays, or grows) as the conductance nears its bound.

step_up = dg * scale_up * exp(-beta_up * u),  step_down = dg * scale_down * exp(-beta_down * (1 - u)),
u = (G - G_min) / (G_max - G_min). beta = 0 is the constant-step device; a negative beta makes the step *grow*
toward the bound it moves to (then stopped by the hard bound), as the SET steps of some filamentary RRAM do
(the CrossSim v2 measurement, `experiments.fit_device`). No closed form for n pulses is used: the shared engine
applies them pulse by pulse.

References:
    Illustrative; a one-parameter simplification of aihwkit's `ExpStepDevice`
    (dw = dw_min * max(1 - A exp(gamma z), 0), fitted to ECRAM/RRAM pulse responses; aihwkit documentation,
    "Device models"), keeping its exponential dependence of the step on the conductance.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp

from devices.pulsed import PulsedDevice
from devices.pytree import pytree_dataclass
from devices.validation import check_in_range, check_step

MAX_BETA = 30.0  # the largest |beta_up|, |beta_down|


@pytree_dataclass
@dataclass(frozen=True)
class ExpStep(PulsedDevice):
    """Parameters of an exponential-step device (the shared ones, bounds to drift, are `PulsedDevice`'s).

    Defaults are illustrative: a 0-10 uS device whose potentiation step shrinks by e^-2 from G_min to G_max.

    Attributes:
        dg: Step per pulse at the bound the pulse moves away from (S), before d2d scaling and asymmetry.
        beta_up: Exponential decay rate of the potentiation step over the range (1, |beta| <= 30; negative:
            growth).
        beta_down: Exponential decay rate of the depression step over the range (1, |beta| <= 30).
    """

    dg: float = 10e-6 / 100
    beta_up: float = 2.0
    beta_down: float = 2.0

    def validate_model(self) -> None:
        check_step("dg", self.dg, self.g_max - self.g_min)
        # |beta| <= 30 keeps exp(|beta|) (the largest step over the smallest) far from float32 overflow.
        check_in_range("beta_up", self.beta_up, -MAX_BETA, MAX_BETA)
        check_in_range("beta_down", self.beta_down, -MAX_BETA, MAX_BETA)

    def step_sizes(self, state):
        u = state.position
        return (self.dg * state.scale_up * jnp.exp(-self.beta_up * u),
                self.dg * state.scale_down * jnp.exp(-self.beta_down * (1.0 - u)))
