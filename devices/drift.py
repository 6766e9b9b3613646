"""Retention drift: how a programmed conductance moves with the time elapsed since programming.

Each model is a frozen pytree with `init_aux(key, shape)` (per-device drift spread, drawn once) and
`apply(state, dt)` returning the drifted conductance. Drift is deterministic given the device state, so a
device read at growing times follows one trajectory; randomness at each read is the read noise.

Pulsing a drifted device: the class variable `relaxes` says whether the drift is a physical change of the
device's state. Where it is (every model here but `NoDrift`), a pulse acts on the drifted conductance and the
pulsed device's drift restarts from the new one (`devices.pulsed.PulsedDevice.drifted`); each model's docstring
says why. A device pulsed without a clock (`t=None`) starts from its programmed conductance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import jax
import jax.numpy as jnp

from devices.pytree import pytree_dataclass
from devices.validation import check_nonnegative, check_positive

Array = jax.Array


def draw_drift_z(key, shape) -> dict:
    """The per-device standard normal `drift_z` ([*shape]) that fixes each device's drift trajectory, drawn once."""
    return {"drift_z": jax.random.normal(key, shape)}


@pytree_dataclass
@dataclass(frozen=True)
class NoDrift:
    """Conductance does not move after programming (nothing to write in before a pulse)."""

    relaxes: ClassVar[bool] = False

    def validate(self) -> NoDrift:
        return self

    def init_aux(self, key, shape) -> dict:
        return {}

    def apply(self, state, dt: Array) -> Array:
        return state.g


@pytree_dataclass
@dataclass(frozen=True)
class PowerLawDrift:
    """PCM drift G(t) = G0 (t / t0)^-nu for t > t0, with nu larger at low conductance.

    nu of a device = nu + nu_low_g * (1 - u) + nu_d2d * z, where u = (G0 - G_min) / (G_max - G_min) in [0, 1]
    and z ~ N(0, 1) is drawn once per device.

    References:
        Le Gallo et al., "Collective structural relaxation in phase-change memory devices",
        Adv. Electron. Mater. 4, 1700627 (2018): t0 = 20 s, nu about 0.05 +- 0.01; larger nu at low G
        (Nandakumar et al., J. Appl. Phys. 124, 152135 (2018)).

    Pulsing: the drift is the structural relaxation of the amorphous phase (Le Gallo et al. 2018), a change of
    the material, so a SET pulse starts from the drifted conductance; the pulse re-initialises the relaxation, so
    the drift restarts at the pulse with t0 (aihwkit's PCM model counts drift "from the last programming pulse").

    Attributes:
        nu: Drift exponent at G_max (1).
        nu_low_g: Extra exponent at G_min (1).
        nu_d2d: Device-to-device std of nu (1).
        t0: Reference time (s); no drift before it.
    """

    relaxes: ClassVar[bool] = True

    nu: float = 0.05
    nu_low_g: float = 0.05
    nu_d2d: float = 0.01
    t0: float = 20.0

    def validate(self) -> PowerLawDrift:
        for name in ("nu", "nu_low_g", "nu_d2d"):
            check_nonnegative(f"drift.{name}", getattr(self, name))
        check_positive("drift.t0", self.t0)
        return self

    init_aux = staticmethod(draw_drift_z)  # (key, shape) -> {"drift_z": [*shape]}

    def exponent(self, state) -> Array:
        """Each device's drift exponent nu ([*shape], 1), never negative."""
        u = state.position
        return jnp.maximum(self.nu + self.nu_low_g * (1.0 - u) + self.nu_d2d * state.aux["drift_z"], 0.0)

    def apply(self, state, dt: Array) -> Array:
        ratio = jnp.maximum(dt, self.t0) / self.t0
        return state.g * ratio ** (-self.exponent(state))


@pytree_dataclass
@dataclass(frozen=True)
class RelaxationDrift:
    """RRAM conductance relaxation: a mean shift and a spread that both grow with log time.

    G(t) = clip(G0 - range * L * (shift - spread * z), G_min, G_max), L = log10(1 + dt / t0), z ~ N(0, 1)
    drawn once per device (so a device relaxes along one trajectory; a re-programmed device keeps its z,
    a simplification).

    References:
        Illustrative; the log-time growth of mean and spread follows the relaxation measured in HfO2 RRAM
        by Zhao et al., "Investigation of statistical retention of filamentary analog RRAM for neuromorphic
        computing", IEDM 2017.

    Pulsing: the relaxation is the filament's ions moving back, a change of the device's state, so a pulse starts
    from the relaxed conductance and the relaxation restarts from the new one.

    Attributes:
        shift: Mean loss of conductance per decade of time, as a fraction of the range (1).
        spread: Std growth per decade of time, as a fraction of the range (1).
        t0: Time scale (s) at which relaxation starts.
    """

    relaxes: ClassVar[bool] = True

    shift: float = 0.01
    spread: float = 0.02
    t0: float = 1.0

    def validate(self) -> RelaxationDrift:
        for name in ("shift", "spread"):
            check_nonnegative(f"drift.{name}", getattr(self, name))
        check_positive("drift.t0", self.t0)
        return self

    init_aux = staticmethod(draw_drift_z)  # (key, shape) -> {"drift_z": [*shape]}

    def apply(self, state, dt: Array) -> Array:
        decades = jnp.log10(1.0 + jnp.maximum(dt, 0.0) / self.t0)
        change = (state.g_max - state.g_min) * decades * (self.spread * state.aux["drift_z"] - self.shift)
        return jnp.clip(state.g + change, state.g_min, state.g_max)


@pytree_dataclass
@dataclass(frozen=True)
class ExponentialRelaxation:
    """Volatile relaxation: the conductance decays exponentially back to the device's rest state G_min.

    G(t) = G_min + (G0 - G_min) exp(-dt / tau), the behaviour of diffusive (e.g. Ag-based) memristors whose
    filament dissolves after the pulse. The decay is memoryless: relaxing for dt1 and then for dt2 equals
    relaxing for dt1 + dt2, so a device may be re-programmed from its relaxed conductance at any time
    (`crossbar.local.volatile.settle`) and continue on the same curve.

    References:
        Wang et al., "Memristors with diffusive dynamics as synaptic emulators for neuromorphic computing",
        Nat. Mater. 16, 101-108 (2017) (relaxation times of ~ms to ~s); the single exponential is illustrative.

    Pulsing: the filament has dissolved by as much as the decay says, so a pulse starts from the relaxed
    conductance; the decay being memoryless, this is the same curve continued.

    Attributes:
        tau: Relaxation time constant (s), > 0.
    """

    relaxes: ClassVar[bool] = True

    tau: float = 1.0

    def validate(self) -> ExponentialRelaxation:
        check_positive("drift.tau", self.tau)
        return self

    def init_aux(self, key, shape) -> dict:
        return {}

    def apply(self, state, dt: Array) -> Array:
        decay = jnp.exp(-jnp.maximum(dt, 0.0) / self.tau)
        return state.g_min + (state.g - state.g_min) * decay
