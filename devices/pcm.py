"""Phase-change memory (PCM) device: gradual, noisy, one-directional SET; abrupt RESET; power-law drift.

Positive pulses with v >= v_threshold partially crystallise the cell: the conductance grows by a step that
shrinks as it approaches G_max, step_up = dg * scale_up * (1 - u)^gamma, u = (G - G_min) / (G_max - G_min),
with a large cycle-to-cycle spread. PCM cannot be depressed gradually: negative pulses with
v_threshold <= |v| < v_reset do nothing, and negative pulses with |v| >= v_reset melt-quench the cell,
RESETting it abruptly to G_min. Accordingly `pulse_n` with n < 0 (n full depression pulses) does nothing;
a RESET is `pulse` with v <= -v_reset, or `reset(state, mask)`. On-crossbar training with PCM therefore uses
a differential pair that only potentiates each side, with occasional refresh (RESET and re-program).

After programming, the conductance drifts as G(t) = G0 (t / t0)^-nu (`drift.PowerLawDrift`, nu larger at low
G), and reads carry 1/f noise whose std grows with log time (`noise.ReadNoise` with `flicker` > 0).

References:
    S. R. Nandakumar et al., "A phase-change memory model for neuromorphic computing",
    J. Appl. Phys. 124, 152135 (2018), and "Phase-change memory models for deep learning training and
    inference", ICECS 2019 (the aihwkit PCM preset); M. Le Gallo et al., "Collective structural relaxation
    in phase-change memory devices", Adv. Electron. Mater. 4, 1700627 (2018). The numbers here are
    illustrative, of the order of those papers (a 0.1-25 uS device, about 20 SET pulses to saturate).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import jax.numpy as jnp

from devices.drift import PowerLawDrift
from devices.noise import ReadNoise, Variation
from devices.pulsed import PulsedDevice
from devices.pytree import pytree_dataclass
from devices.validation import check_less, check_nonnegative, check_step


@pytree_dataclass
@dataclass(frozen=True)
class PCM(PulsedDevice):
    """Parameters of a PCM device.

    Of the shared `PulsedDevice` parameters, `g_min` is the RESET (amorphous) state and `g_max` full
    crystallisation; `v_threshold` is the smallest SET amplitude and `v_reset` (> v_threshold) the smallest
    magnitude of a negative pulse that RESETs the cell to G_min. Defaults (illustrative): a large c2c (0.5 of
    each step), read noise with 1/f growth since programming, power-law drift.

    Attributes:
        dg: Mean SET step at G_min (S), before d2d scaling and asymmetry. Illustrative.
        gamma: Exponent of the SET step's fall-off toward G_max (1, >= 0). Illustrative.
    """

    g_min: float = 0.1e-6
    g_max: float = 25e-6
    v_reset: float = 2.0
    variation: Variation = field(default_factory=lambda: Variation(c2c=0.5))
    read_noise: ReadNoise = field(default_factory=lambda: ReadNoise(std=0.01, flicker=0.1))
    drift: PowerLawDrift = field(default_factory=PowerLawDrift)
    dg: float = 2.0e-6
    gamma: float = 1.0

    def validate_model(self) -> None:
        check_step("dg", self.dg, self.g_max - self.g_min)
        check_nonnegative("gamma", self.gamma)
        check_less("v_threshold", self.v_threshold, "v_reset", self.v_reset)

    def step_sizes(self, state):
        u = state.position
        return self.dg * state.scale_up * (1.0 - u) ** self.gamma, jnp.zeros_like(state.g)

    def pulse_n(self, state, n, key, t=None):
        """Apply `n` SET pulses where n > 0 ([*shape] ints); n <= 0 leaves the device (and its t_prog) alone."""
        return super().pulse_n(state, jnp.maximum(jnp.asarray(n), 0), key, t)

    def reset(self, state, mask, t=None):
        """RESET the non-stuck devices where `mask` ([*shape] bool, or scalar) is True to their G_min.

        The RESET level is exactly G_min (no RESET-level spread in this model). Where `t` (s) is given, the
        reset devices record it as their programming time.
        """
        mask = jnp.broadcast_to(jnp.asarray(mask, bool), state.shape) & ~state.stuck
        t_prog = state.t_prog if t is None else jnp.where(mask, t, state.t_prog)
        return replace(state, g=jnp.where(mask, state.g_min, state.g), t_prog=t_prog)

    def pulse(self, state, v, key, t=None):
        """One pulse of signed amplitude `v` (V): SET if v >= v_threshold, RESET if v <= -v_reset, else nothing."""
        v = jnp.broadcast_to(jnp.asarray(v), state.shape)
        state = self.pulse_n(state, (v >= self.v_threshold).astype(jnp.int32), key, t)
        return self.reset(state, v <= -self.v_reset, t)
