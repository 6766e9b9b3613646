"""Bilayer MO_x/HfO2 ReRAM (TaOx/HfO2, IBM-style): gradual, symmetric, stable analog switching.

The oxide capping layer on top of the HfO2 switching layer turns the abrupt filamentary SET into a gradual,
nearly symmetric change over hundreds of levels. We model it as a *weakly* soft-bounded step:

    step_up   = dg * scale_up   * (1 - gamma * (G - G_min) / (G_max - G_min))
    step_down = dg * scale_down * (1 - gamma * (G_max - G) / (G_max - G_min))

gamma = 0 is a constant step, gamma = 1 full soft bounds; with gamma < 1 the step never vanishes inside the
range, so 200 up pulses span most of the range and 200 down pulses retrace it nearly symmetrically. The
recursion is linear, so n pulses have the closed form of soft bounds (`soft_bounds.approach_bounds`) toward a
virtual bound at G_min + (G_max - G_min) / gamma (potentiation) or G_max - (G_max - G_min) / gamma
(depression), clipped to the real bounds.

Retention: intermediate states are taken to hold over 1000 s of reads at 0.2 V (the behaviour this stack is
known for), so the default drift is a tiny `RelaxationDrift` (0.05% of the range per decade in the mean);
reads at 0.2 V are far below the switching threshold and cannot disturb the state (`pulse` ignores
|v| < `v_threshold`).

References:
    Stecconi et al., "Filamentary TaOx/HfO2 ReRAM devices for neural networks training with analog in-memory
    computing", Adv. Electron. Mater. 8, 2200448 (2022).
    Gong et al., "Deep learning acceleration in 14nm CMOS compatible ReRAM array: device, material and
    algorithm co-optimization", Nat. Commun. (2022).
    All numbers here are illustrative, chosen to reproduce the qualitative behaviour (symmetric, gradual,
    ~200 pulses per direction, stable states), not fitted to those papers' data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jax
import jax.numpy as jnp

from devices import validation as v
from devices.base import Array, DeviceState
from devices.drift import RelaxationDrift
from devices.noise import ReadNoise, Variation
from devices.pulsed import PulsedDevice

# Keep the per-pulse rate strictly below 1 so that log(1 - rate) stays finite for any device scale.
_MAX_RATE = 0.999


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class Bilayer(PulsedDevice):
    """Parameters of a bilayer (MO_x capping layer + HfO2) analog ReRAM device.

    Attributes:
        g_min: Lower conductance bound (S).
        g_max: Upper conductance bound (S).
        dg: Step (S) at the start of a sweep: potentiation at G_min, depression at G_max.
        gamma: Softness of the bounds (1), in [0, 1]: the step at the far bound is dg * (1 - gamma).
        v_threshold: Smallest pulse amplitude (V) that switches the device.
        variation: Device-to-device and cycle-to-cycle spread.
        read_noise: Read noise.
        drift: Retention drift model (tiny relaxation by default).
    """

    g_min: float = 2e-6
    g_max: float = 20e-6
    dg: float = 18e-6 * 0.006
    gamma: float = 0.5
    v_threshold: float = 1.0
    variation: Variation = field(default_factory=Variation)
    read_noise: ReadNoise = field(default_factory=lambda: ReadNoise(std=0.005))
    drift: RelaxationDrift = field(default_factory=lambda: RelaxationDrift(shift=0.0005, spread=0.001))

    def validate_model(self) -> None:
        v.check_positive("dg", self.dg)
        v.check_less("dg", self.dg, "g_max - g_min", self.g_max - self.g_min)
        v.check_probability("gamma", self.gamma)

    def _relative_steps(self, state: DeviceState) -> tuple[Array, Array]:
        """Each device's step at the start of a sweep as a fraction of its range ([*shape], 1)."""
        g_range = state.g_max - state.g_min
        return self.dg * state.scale_up / g_range, self.dg * state.scale_down / g_range

    def step_sizes(self, state: DeviceState) -> tuple[Array, Array]:
        a_up, a_down = self._relative_steps(state)
        g_range = state.g_max - state.g_min
        u = (state.g - state.g_min) / g_range
        return (jnp.maximum(a_up * g_range * (1.0 - self.gamma * u), 0.0),
                jnp.maximum(a_down * g_range * (1.0 - self.gamma * (1.0 - u)), 0.0))

    def mean_after_n_pulses(self, state: DeviceState, n: Array) -> Array:
        a_up, a_down = self._relative_steps(state)
        g_range = state.g_max - state.g_min
        n_abs = jnp.abs(n).astype(state.g.dtype)
        # Total change of u = (G - G_min) / range after n pulses is (1 - gamma u0) * f(n) with
        # f(n) = (1 - (1 - a gamma)^n) / gamma, which tends to n * a as gamma -> 0 (a constant step).
        small = self.gamma < 1e-9
        gamma = jnp.where(small, 1.0, self.gamma)

        def total(a):
            rate = jnp.minimum(a * gamma, _MAX_RATE)
            return jnp.where(small, n_abs * a, -jnp.expm1(n_abs * jnp.log1p(-rate)) / gamma)

        def single(a):
            return n_abs * a  # f(0) = 0, f(1) = a exactly

        # Pulse trains give every device at most one pulse per call: skip the exp and log (most of the cost).
        # Under `vmap` the cond becomes a select of both branches, still correct.
        total_up, total_down = jax.lax.cond(jnp.max(n_abs, initial=0.0) <= 1.0,
                                            lambda: (single(a_up), single(a_down)),
                                            lambda: (total(a_up), total(a_down)))

        u = (state.g - state.g_min) / g_range
        up = state.g + g_range * (1.0 - self.gamma * u) * total_up
        down = state.g - g_range * (1.0 - self.gamma * (1.0 - u)) * total_down
        return jnp.where(n > 0, up, jnp.where(n < 0, down, state.g))

