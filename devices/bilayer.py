"""Bilayer MO_x/HfO2 ReRAM (TaOx/HfO2, IBM-style): gradual, symmetric, stable analog switching.

The oxide capping layer on top of the HfO2 switching layer turns the abrupt filamentary SET into a gradual,
nearly symmetric change over hundreds of levels. We model it as a *weakly* soft-bounded step:

    step_up   = dg * scale_up   * (1 - gamma * (G - G_min) / (G_max - G_min))
    step_down = dg * scale_down * (1 - gamma * (G_max - G) / (G_max - G_min))

gamma = 0 is a constant step, gamma = 1 full soft bounds; with gamma < 1 the step never vanishes inside the
range, so 200 up pulses span most of the range and 200 down pulses retrace it nearly symmetrically. This is
the linear-step law with one slope for both directions, so n pulses have its closed form
(`closed_form.linear_step_mean`): a geometric approach to a virtual bound at G_min + (G_max - G_min) / gamma
(potentiation) or G_max - (G_max - G_min) / gamma (depression), clipped to the real bounds.

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

from devices.base import Array, DeviceState
from devices.closed_form import linear_step_mean, linear_step_sizes
from devices.drift import RelaxationDrift
from devices.noise import ReadNoise
from devices.pulsed import PulsedDevice
from devices.pytree import pytree_dataclass
from devices.validation import check_probability, check_step


@pytree_dataclass
@dataclass(frozen=True)
class Bilayer(PulsedDevice):
    """Parameters of a bilayer (MO_x capping layer + HfO2) analog ReRAM device.

    The shared parameters are `PulsedDevice`'s; here a 2-20 uS range, 0.5% read noise and a tiny relaxation
    by default.

    Attributes:
        dg: Step (S) at the start of a sweep: potentiation at G_min, depression at G_max.
        gamma: Softness of the bounds (1), in [0, 1]: the step at the far bound is dg * (1 - gamma).
    """

    g_min: float = 2e-6
    g_max: float = 20e-6
    read_noise: ReadNoise = field(default_factory=lambda: ReadNoise(std=0.005))
    drift: RelaxationDrift = field(default_factory=lambda: RelaxationDrift(shift=0.0005, spread=0.001))
    dg: float = 18e-6 * 0.006
    gamma: float = 0.5

    def validate_model(self) -> None:
        check_step("dg", self.dg, self.g_max - self.g_min)
        check_probability("gamma", self.gamma)

    def step_sizes(self, state: DeviceState) -> tuple[Array, Array]:
        return linear_step_sizes(state, self.dg, self.gamma, self.gamma)

    def mean_after_n_pulses(self, state: DeviceState, n: Array) -> Array:
        return linear_step_mean(state, n, self.dg, self.gamma, self.gamma)
