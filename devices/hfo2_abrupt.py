"""Abrupt filamentary HfO2 RRAM: the conductance jumps between a high- and a low-resistance state.

Physics (a minimal stochastic model): a device is either in the high-resistance state (HRS, filament
ruptured, near G_min) or in the low-resistance state (LRS, filament formed, near G_max). Each pulse toward
the other state advances a countdown; when it runs out the filament forms (SET, v > 0) or ruptures
(RESET, v < 0) within one pulse, and the conductance jumps to a freshly drawn level near the other bound.
The countdown for the next event is redrawn at every switching event, so the switching pulse number varies
from cycle to cycle; between events the conductance only creeps by a tiny soft-bounded step.

Per-device state in `state.aux`:
    `lrs` [*shape] bool: True where the filament is formed (LRS).
    `remaining` [*shape] float: pulses (in nominal units) still needed before the next switching event.

Device-to-device spread comes from the engine's `Variation`: the bounds (`bounds_d2d`) and the step scales,
which here scale how much each pulse advances the countdown (`dg_d2d`, `up_down`): a device with
`scale_up = 2` needs half as many SET pulses on average. `Variation.c2c` is the noise of the creep steps.

References:
    Wong et al., "Metal-Oxide RRAM", Proc. IEEE 100(6), 1951-1970 (2012): abrupt SET, filamentary switching,
    cycle-to-cycle spread of switching and of the resistance levels. All numbers here are illustrative.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import jax
import jax.numpy as jnp

from devices.base import Array, DeviceState, Key
from devices.closed_form import MAX_RATE, geometric_decay
from devices.drift import RelaxationDrift
from devices.noise import ReadNoise, standard_normal, summed_step_noise
from devices.pulsed import PulsedDevice
from devices.pytree import pytree_dataclass
from devices.validation import check_in_range, check_nonnegative, check_probability

# Step scales are floored here so a device with zero scale needs ~1e9 pulses rather than dividing by zero.
_MIN_SCALE = 1e-9


def draw_switching_count(key: Key, shape: tuple[int, ...], mean: Array, std: Array) -> Array:
    """Pulses ([*shape], float, whole numbers >= 1) before the next switching event: round(N(mean, std)), >= 1."""
    return switching_count(jax.random.normal(key, shape), mean, std)


def switching_count(z: Array, mean: Array, std: Array) -> Array:
    """round(mean + std * z), at least 1 pulse, for standard normal `z` ([*shape])."""
    return jnp.maximum(jnp.round(mean + std * z), 1.0)


@pytree_dataclass
@dataclass(frozen=True)
class HfO2Abrupt(PulsedDevice):
    """Parameters of an abrupt (binary-like) filamentary HfO2 RRAM device.

    Defaults are illustrative (Wong et al. 2012 report HRS/LRS ratios of 10-100 and SET/RESET near 1 V):
    HRS 200 kOhm (5 uS), LRS 10 kOhm (100 uS). Of the shared `PulsedDevice` parameters, `g_min` and `g_max`
    are the nominal HRS and LRS, `v_threshold` and `v_reset` the SET and RESET thresholds (a pulse beyond them
    counts toward the next switching event), `variation.c2c` the relative noise of the creep steps; RRAM
    relaxation and 1% read noise by default.

    Attributes:
        n_set: Mean number of SET pulses (at nominal step scale) from HRS to the SET event (pulses).
        n_set_std: Cycle-to-cycle std of that number (pulses).
        n_reset: Mean number of RESET pulses from LRS to the RESET event (pulses).
        n_reset_std: Cycle-to-cycle std of that number (pulses).
        lrs_c2c: Spread of the reached LRS level: G = G_max - (G_max - G_min) * lrs_c2c * |xi| (1).
        hrs_c2c: Spread of the reached HRS level: G = G_min + (G_max - G_min) * hrs_c2c * |xi| (1).
        creep: Fraction of the distance to the bound covered per pulse between switching events (1).
    """

    g_min: float = 5e-6
    g_max: float = 100e-6
    v_reset: float = 1.0
    read_noise: ReadNoise = field(default_factory=lambda: ReadNoise(std=0.01))
    drift: RelaxationDrift = field(default_factory=lambda: RelaxationDrift(shift=0.02, spread=0.02))
    n_set: float = 30.0
    n_set_std: float = 8.0
    n_reset: float = 30.0
    n_reset_std: float = 8.0
    lrs_c2c: float = 0.05
    hrs_c2c: float = 0.02
    creep: float = 0.001

    def validate_model(self) -> None:
        check_in_range("n_set", self.n_set, 1.0, float("inf"))
        check_in_range("n_reset", self.n_reset, 1.0, float("inf"))
        check_nonnegative("n_set_std", self.n_set_std)
        check_nonnegative("n_reset_std", self.n_reset_std)
        check_probability("lrs_c2c", self.lrs_c2c)
        check_probability("hrs_c2c", self.hrs_c2c)
        check_in_range("creep", self.creep, 0.0, 0.5)

    def init_aux(self, key: Key, shape: tuple[int, ...]) -> dict:
        # Fresh devices start formed-but-reset (HRS) with a SET countdown already drawn.
        remaining = draw_switching_count(key, shape, self.n_set, self.n_set_std)
        return {"lrs": jnp.zeros(shape, bool), "remaining": remaining}

    def step_sizes(self, state: DeviceState) -> tuple[Array, Array]:
        """Mean creep step (S) between switching events; the abrupt jumps are in `respond`."""
        rate_up = jnp.minimum(self.creep * state.scale_up, 1.0)
        rate_down = jnp.minimum(self.creep * state.scale_down, 1.0)
        return rate_up * (state.g_max - state.g), rate_down * (state.g - state.g_min)

    def respond(self, state: DeviceState, n: Array, key: Key) -> DeviceState:
        """Apply `n` ([*shape] signed ints) full pulses in closed form: switch iff the pulses exhaust the countdown.

        At most one switching event happens per call, because pulses of one sign only drive toward one state.
        The pulses after the event creep in the new state.
        """
        k_switch, k_creep = jax.random.split(key)
        # Drawn for every device at every pulse although few switch: the fast generator keeps that cheap.
        z_count, z_level = standard_normal(k_switch, (2, *state.shape), state.g.dtype)
        lrs, remaining = state.aux["lrs"], state.aux["remaining"]
        count = jnp.abs(n).astype(state.g.dtype)
        scale = jnp.maximum(jnp.where(n > 0, state.scale_up, state.scale_down), _MIN_SCALE)
        toward_other = jnp.where(lrs, n < 0, n > 0)
        # Pulses needed to finish the countdown; the switching pulse itself is used up by the jump.
        needed = jnp.ceil(remaining / scale)
        switches = toward_other & (count >= needed)
        creep_count = jnp.where(switches, jnp.maximum(count - needed, 0.0), count)
        new_lrs = lrs ^ switches

        g_range = state.g_max - state.g_min
        xi = jnp.abs(z_level)
        level = jnp.where(new_lrs, state.g_max - g_range * self.lrs_c2c * xi, state.g_min + g_range * self.hrs_c2c * xi)
        g0 = jnp.where(switches, level, state.g)

        # A fresh countdown toward the state opposite to the one just reached.
        fresh = switching_count(z_count, jnp.where(new_lrs, self.n_reset, self.n_set),
                                jnp.where(new_lrs, self.n_reset_std, self.n_set_std))
        remaining = jnp.where(switches, fresh, jnp.where(toward_other, remaining - count * scale, remaining))

        # Creep: soft-bounds approach to the bound the pulses drive toward (one power per device, not two).
        target = jnp.where(n > 0, state.g_max, state.g_min)
        rate = jnp.minimum(self.creep * scale, MAX_RATE)
        mean = target - (target - g0) * geometric_decay(rate, creep_count)
        # The last of the creep steps is rate times the distance left before it (see `summed_step_noise`).
        last_step = (target - mean) * rate / (1.0 - rate)
        g = mean + summed_step_noise(last_step, creep_count, self.variation.c2c, k_creep)
        return replace(state, g=jnp.clip(g, state.g_min, state.g_max),
                       aux={**state.aux, "lrs": new_lrs, "remaining": remaining})
