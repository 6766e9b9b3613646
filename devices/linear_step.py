"""Linear-step device: the step shrinks linearly with the conductance, by a tunable amount.

step_up = dg * scale_up * (1 - gamma_up * u),  step_down = dg * scale_down * (1 - gamma_down * (1 - u)),
u = (G - G_min) / (G_max - G_min). gamma = 0 is the constant-step device, gamma = 1 the soft-bounds device.

Each pulse is an affine map of the conductance, so n pulses have a closed form: the distance x from the
bound the device moves away from obeys x_{k+1} = rho x_k + a with rho = 1 - a gamma / range, hence
x_n = rho^n x_0 + a (1 - rho^n) / (1 - rho), a geometric approach to the fixed point x* = range / gamma
(outside the bounds unless gamma = 1; the device is clipped at the bound). (1 - rho^n) / (1 - rho) is
evaluated with expm1/log1p and tends to n as gamma -> 0, so the constant-step limit has no 0/0.

References:
    aihwkit `LinearStepDevice` (Gokmen & Haensch, Front. Neurosci. 14:103, 2020; aihwkit documentation,
    "Device models"): the linear dependence of the step on the weight with slopes gamma_up, gamma_down.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jax
import jax.numpy as jnp

from devices import validation as v
from devices.drift import NoDrift
from devices.noise import ReadNoise, Variation
from devices.pulsed import PulsedDevice


def geometric_sum(c, n):
    """sum_{k<n} (1 - c)^k = (1 - (1 - c)^n) / c, stable as c -> 0 (where it is n).

    Args:
        c: [*shape] contraction per pulse, in [0, 1].
        n: [*shape] number of pulses (>= 0).
    """
    n = jnp.asarray(n, jnp.result_type(c))
    positive = c > 0
    c_safe = jnp.where(positive, c, 1.0)  # keeps the unused branch (and its gradient) finite
    return jnp.where(positive, -jnp.expm1(n * jnp.log1p(-jnp.minimum(c_safe, 1.0))) / c_safe, n)


def affine_after_n(x0, a, c, n):
    """x_n of the map x -> (1 - c) x + a after n steps, from x0; exact, finite for c -> 0.

    Args:
        x0: [*shape] start (S). a: [*shape] step at x = 0 (S). c: [*shape] contraction in [0, 1].
        n: [*shape] number of pulses (>= 0).
    """
    rho_n = jnp.exp(jnp.asarray(n, jnp.result_type(c)) * jnp.log1p(-jnp.minimum(c, 1.0)))
    return x0 * rho_n + a * geometric_sum(c, n)


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class LinearStep(PulsedDevice):
    """Parameters of a linear-step device.

    Defaults are illustrative: a 0-10 uS device with 600 steps at the lower bound and a moderate slope.

    Attributes:
        g_min: Lower conductance bound (S).
        g_max: Upper conductance bound (S).
        dg: Step per pulse at the bound the pulse moves away from (S), before d2d scaling and asymmetry.
        gamma_up: Relative decrease of the potentiation step from G_min to G_max (1, in [0, 1]).
        gamma_down: Relative decrease of the depression step from G_max to G_min (1, in [0, 1]).
        v_threshold: Smallest pulse amplitude (V) that switches the device.
        variation: Device-to-device and cycle-to-cycle spread.
        read_noise: Read noise.
        drift: Retention drift model.
    """

    g_min: float = 0.0
    g_max: float = 10e-6
    dg: float = 10e-6 / 600
    gamma_up: float = 0.5
    gamma_down: float = 0.5
    v_threshold: float = 1.0
    variation: Variation = field(default_factory=Variation)
    read_noise: ReadNoise = field(default_factory=ReadNoise)
    drift: NoDrift = field(default_factory=NoDrift)

    def validate_model(self) -> None:
        v.check_positive("dg", self.dg)
        v.check_less("dg", self.dg, "g_max - g_min", self.g_max - self.g_min)
        v.check_probability("gamma_up", self.gamma_up)
        v.check_probability("gamma_down", self.gamma_down)

    def _affine(self, state):
        """Per-device (a_up, c_up, a_down, c_down): step at the far bound (S) and contraction per pulse (1)."""
        g_range = state.g_max - state.g_min
        a_up, a_down = self.dg * state.scale_up, self.dg * state.scale_down
        return a_up, a_up * self.gamma_up / g_range, a_down, a_down * self.gamma_down / g_range

    def step_sizes(self, state):
        u = (state.g - state.g_min) / (state.g_max - state.g_min)
        return (self.dg * state.scale_up * (1.0 - self.gamma_up * u),
                self.dg * state.scale_down * (1.0 - self.gamma_down * (1.0 - u)))

    def mean_after_n_pulses(self, state, n):
        a_up, c_up, a_down, c_down = self._affine(state)
        count = jnp.abs(n)
        # Potentiation moves x = G - G_min up; depression moves y = G_max - G down; both are the same map.
        up = state.g_min + affine_after_n(state.g - state.g_min, a_up, c_up, count)
        down = state.g_max - affine_after_n(state.g_max - state.g, a_down, c_down, count)
        return jnp.where(n > 0, up, jnp.where(n < 0, down, state.g))
