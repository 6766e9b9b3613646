"""Linear-step device: the step shrinks linearly with the conductance, by a tunable amount.

step_up = dg * scale_up * (1 - gamma_up * u),  step_down = dg * scale_down * (1 - gamma_down * (1 - u)),
u = (G - G_min) / (G_max - G_min). gamma = 0 is the constant-step device, gamma = 1 the soft-bounds device.

Each pulse is an affine map of the conductance, so n pulses have a closed form
(`closed_form.linear_step_mean`): the distance x from the bound the device moves away from obeys
x_{k+1} = rho x_k + a with rho = 1 - a gamma / range, a geometric approach to the fixed point
x* = range / gamma (outside the bounds unless gamma = 1; the device is clipped at the bound). It tends to
n steps of a as gamma -> 0, so the constant-step limit has no 0/0.

References:
    aihwkit `LinearStepDevice` (Gokmen & Haensch, Front. Neurosci. 14:103, 2020; aihwkit documentation,
    "Device models"): the linear dependence of the step on the weight with slopes gamma_up, gamma_down.
"""

from __future__ import annotations

from dataclasses import dataclass

from devices.closed_form import linear_step_mean, linear_step_sizes
from devices.pulsed import PulsedDevice
from devices.pytree import pytree_dataclass
from devices.validation import check_probability, check_step


@pytree_dataclass
@dataclass(frozen=True)
class LinearStep(PulsedDevice):
    """Parameters of a linear-step device (the shared ones, bounds to drift, are `PulsedDevice`'s).

    Defaults are illustrative: a 0-10 uS device with 600 steps at the lower bound and a moderate slope.

    Attributes:
        dg: Step per pulse at the bound the pulse moves away from (S), before d2d scaling and asymmetry.
        gamma_up: Relative decrease of the potentiation step from G_min to G_max (1, in [0, 1]).
        gamma_down: Relative decrease of the depression step from G_max to G_min (1, in [0, 1]).
    """

    dg: float = 10e-6 / 600
    gamma_up: float = 0.5
    gamma_down: float = 0.5

    def validate_model(self) -> None:
        check_step("dg", self.dg, self.g_max - self.g_min)
        check_probability("gamma_up", self.gamma_up)
        check_probability("gamma_down", self.gamma_down)

    def step_sizes(self, state):
        return linear_step_sizes(state, self.dg, self.gamma_up, self.gamma_down)

    def mean_after_n_pulses(self, state, n):
        return linear_step_mean(state, n, self.dg, self.gamma_up, self.gamma_down)
