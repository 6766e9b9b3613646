"""NeuroSim nonlinear device: saturating exponential LTP and LTD curves over a fixed number of pulses.

G_LTP(P) = B (1 - exp(-P / A)) + G_min,   G_LTD(P) = -B (1 - exp((P - P_max) / A)) + G_max,
B = (G_max - G_min) / (1 - exp(-P_max / A)), with A = A_LTP or A_LTD (in pulses, its own B each).
The LTP curve runs from G_min at P = 0 to G_max at P = P_max; the LTD curve is traversed with P falling
from P_max to 0. Inverting a curve at the present G and stepping P by one pulse gives the state-dependent
step, and n pulses in closed form:

    g_n = g_inf + (g - g_inf) exp(-n / A),  g_inf = G_min + B_LTP (LTP) or G_max - B_LTD (LTD),

a geometric approach to an asymptote beyond the bound (the device is clipped at the bound). Each device's
device-to-device step scale multiplies its effective pulse count (n * scale_up, n * scale_down). A large A
tends to a linear device with step (G_max - G_min) / P_max; A is finite, so the formula never divides 0/0.

References:
    P.-Y. Chen, X. Peng, S. Yu, "NeuroSim+: An integrated device-to-algorithm framework for benchmarking
    synaptic devices and array architectures", IEDM 2017; S. Yu et al., MLP+NeuroSim V3.0 user manual
    (Arizona State University / Georgia Tech), "Nonlinear weight update" (the formulas above).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp

from devices.pulsed import PulsedDevice
from devices.pytree import pytree_dataclass
from devices.validation import check_positive


def neurosim_b(g_min, g_max, a, p_max):
    """NeuroSim's B = (G_max - G_min) / (1 - exp(-P_max / A)) (S), via expm1 for large A."""
    return (g_max - g_min) / -jnp.expm1(-p_max / a)


def neurosim_ltp_curve(p, g_min, g_max, a, p_max):
    """G_LTP(P) (S) after `p` potentiation pulses from G_min."""
    return g_min + neurosim_b(g_min, g_max, a, p_max) * -jnp.expm1(-p / a)


def neurosim_ltd_curve(p, g_min, g_max, a, p_max):
    """G_LTD(P) (S) at pulse index `p` (G_max at p = P_max); after k depression pulses from G_max, p = P_max - k."""
    return g_max - neurosim_b(g_min, g_max, a, p_max) * -jnp.expm1((p - p_max) / a)


@pytree_dataclass
@dataclass(frozen=True)
class NeuroSimNonlinear(PulsedDevice):
    """Parameters of a NeuroSim nonlinear device (the shared ones, bounds to drift, are `PulsedDevice`'s).

    Defaults are illustrative (a 0-10 uS device, 100 pulses, normalised A of 0.5 for LTP and 0.2 for LTD);
    see `presets.neurosim_ag_si` for the Ag:a-Si device of NeuroSim.

    `variation.c2c` is relative to each mean step.

    Attributes:
        a_ltp: Nonlinearity constant A of the LTP curve (pulses, > 0); smaller is more nonlinear.
        a_ltd: Nonlinearity constant A of the LTD curve (pulses, > 0).
        p_max: Number of pulses (pulses, > 0) that take the device across its whole range.
    """

    a_ltp: float = 50.0
    a_ltd: float = 20.0
    p_max: float = 100.0

    def validate_model(self) -> None:
        check_positive("a_ltp", self.a_ltp)
        check_positive("a_ltd", self.a_ltd)
        check_positive("p_max", self.p_max)

    @property
    def nominal_step(self):
        """The mean step (S) across the range, (g_max - g_min) / p_max (P_max pulses cross it); sets a crossbar's
        dw_min."""
        return (self.g_max - self.g_min) / self.p_max

    def asymptotes(self, state):
        """(g_inf_ltp, g_inf_ltd) per device (S): where LTP and LTD would saturate without the bounds."""
        return (state.g_min + neurosim_b(state.g_min, state.g_max, self.a_ltp, self.p_max),
                state.g_max - neurosim_b(state.g_min, state.g_max, self.a_ltd, self.p_max))

    def step_sizes(self, state):
        inf_up, inf_down = self.asymptotes(state)
        return ((inf_up - state.g) * -jnp.expm1(-state.scale_up / self.a_ltp),
                (state.g - inf_down) * -jnp.expm1(-state.scale_down / self.a_ltd))

    def mean_after_n_pulses(self, state, n):
        inf_up, inf_down = self.asymptotes(state)
        count = jnp.abs(n).astype(state.g.dtype)
        up = state.g + (inf_up - state.g) * -jnp.expm1(-count * state.scale_up / self.a_ltp)
        down = state.g - (state.g - inf_down) * -jnp.expm1(-count * state.scale_down / self.a_ltd)
        return jnp.where(n > 0, up, jnp.where(n < 0, down, state.g))
