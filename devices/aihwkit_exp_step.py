"""aihwkit's exponential-step device: a near-constant step that collapses exponentially near a bound.

step_up = dg * scale_up * max(1 - a_up exp(gamma_up z), 0),
step_down = dg * scale_down * max(1 - a_down exp(-gamma_down z), 0),
z = 2 slope (G - G_sym) / (G_max_dev - G_min_dev) + offset, G_sym = (g_min + g_max) / 2 (the nominal mid-range,
aihwkit's weight 0; the denominator is each device's own range). With aihwkit's defaults (fitted by IBM to a
measured ReRAM) the up step is 0.98 dg at mid-range and 0.66 dg at the upper bound. No closed form for n pulses:
the shared engine applies them pulse by pulse.

This is aihwkit's `ExpStepDevice` in conductance units (`devices.aihwkit.exp_step_from_aihwkit` maps its
parameters), unlike `devices.exp_step.ExpStep`, a one-parameter-per-direction exponential decay of the step
used for fitting.

References:
    aihwkit `ExpStepDevice` (aihwkit documentation, "Device models"; `src/rpucuda/rpu_expstep_device.cpp`, read
    for the equation): w -= max(1 - A_down exp(-gamma_down z), 0) dw_down (1 + std xi),
    z = 2 a w / (b_max - b_min) + b; defaults A_up 0.00081, A_down 0.36833, gamma_up 12.44625, gamma_down
    12.78785, a 0.244, b 0.2425.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp

from devices.pulsed import PulsedDevice
from devices.pytree import pytree_dataclass
from devices.validation import check_nonnegative, check_step


@pytree_dataclass
@dataclass(frozen=True)
class AihwkitExpStep(PulsedDevice):
    """Parameters of aihwkit's exponential-step device (the shared ones, bounds to drift, are `PulsedDevice`'s).

    Defaults: aihwkit's fitted shape on an illustrative 0-10 uS device with a step scale of 1/100 of the range.

    Attributes:
        dg: Step scale per pulse (S), before d2d scaling and asymmetry (aihwkit's dw_min, in siemens).
        a_up: Prefactor A of the up step's exponential (1, >= 0).
        a_down: Prefactor A of the down step's exponential (1, >= 0).
        gamma_up: Exponent of the up step's collapse (1, >= 0).
        gamma_down: Exponent of the down step's collapse (1, >= 0).
        slope: aihwkit's `a`: how fast z moves across the range (1).
        offset: aihwkit's `b`: z at the symmetry point (1).
    """

    dg: float = 10e-6 / 100
    a_up: float = 0.00081
    a_down: float = 0.36833
    gamma_up: float = 12.44625
    gamma_down: float = 12.78785
    slope: float = 0.244
    offset: float = 0.2425

    def validate_model(self) -> None:
        check_step("dg", self.dg, self.g_max - self.g_min)
        for name in ("a_up", "a_down", "gamma_up", "gamma_down"):
            check_nonnegative(name, getattr(self, name))

    def step_sizes(self, state):
        g_sym = 0.5 * (self.g_min + self.g_max)
        z = 2.0 * self.slope * (state.g - g_sym) / (state.g_max - state.g_min) + self.offset
        # A exp(gamma z) as exp(log A + gamma z): an overflowing exponential with A = 0 gives 0, not 0 x inf = NaN.
        y_up = 1.0 - jnp.exp(jnp.log(self.a_up) + self.gamma_up * z)
        y_down = 1.0 - jnp.exp(jnp.log(self.a_down) - self.gamma_down * z)
        return (self.dg * state.scale_up * jnp.maximum(y_up, 0.0),
                self.dg * state.scale_down * jnp.maximum(y_down, 0.0))
