"""RRAM for inference: aihwkit's CMO/HfOx model and its model of Wan et al. 2022 (NeuRRAM).

CMO/HfOx (aihwkit `ReRamCMONoiseModel`, conductances in uS in its fits; g here in S):

- programming: g_prog = g_T + (c0 + c1 g_T / 1 uS) eps (uS), a program-and-verify loop's error, linear in the
  target: (c0, c1) = (0.00081107, 0.00106879) uS for an acceptance range of 0.2 % of the target,
  (0.0112185391, 0.01129027418) uS for 2 % (`CMO_PROG_COEFFS_2PCT`);
- relaxation, independent of the conductance: g_drift(t) = g_prog + s (m ln t + (a ln t + b) z) (uS) for t >= 1 s,
  m = -0.08900206, (a, b) = (0.04201137, 0.41183342), z ~ N(0, 1), s the drift scale;
- read: g(t) = clip(g_drift + K |log10(g_drift / 1 uS)| sqrt(ln((t + t_read) / (2 t_read))) eps, g_min, g_max) (uS),
  K = 0.0277316483, t_read = 1 us.

Choices where aihwkit's code is loose: z is drawn once per device at programming (aihwkit draws it afresh at
each inference time), so a device relaxes along one trajectory; the fit's ln t starts at 1 s (before 1 s the
device holds g_prog; aihwkit evaluates ln t < 0 there); the read-noise term takes |log10 g| (aihwkit's signed log
turns negative below 1 uS, which flips only the sign of a Gaussian); aihwkit's default acceptance range (2e-2) is
not one of its table's keys (0.2, 2, in percent), so its code falls back to 0.2 %, which is the default here.
The range g_min = 9 uS, g_max = 88.19 uS is that of aihwkit's CMO examples.

Wan et al. 2022 (aihwkit `ReRamWan2022NoiseModel`): the spread of the conductance about its target, measured at
1 s, 1 day and 2 days after programming, is a 4th-order polynomial of x_T = g_T / g_max in uS at g_max = 40 uS
(`WAN2022_COEFFS`). The 1 s spread is the programming error; later spreads grow from it by independent
increments, sqrt(sigma(t)^2 - sigma(1 s)^2) z, with sigma(t) interpolated linearly in ln t between the measured
times and held at its 2-day value after (the data end there; aihwkit accepts only the three measured times). The
polynomials are scaled by g_max / 40 uS, as aihwkit's documentation says (its code sets the reference under
another attribute name and so never rescales). The paper reports no separate read noise; none is drawn.

References:
    aihwkit `aihwkit.inference.noise.reram` (CMO/HfOx: Falcone et al., in review, IBM Research Europe);
    Wan et al., "A compute-in-memory chip based on resistive random-access memory", Nature 608, 504-512 (2022).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from crossbar.inference.programmed import (
    ProgrammedState,
    check_coeffs,
    check_targets,
    check_time,
    draw_programmed,
    polynomial,
)
from devices.noise import standard_normal
from devices.pytree import pytree_dataclass
from devices.validation import check_less, check_nonnegative, check_positive, is_traced

Array = jax.Array

_US = 1e-6
CMO_PROG_COEFFS_2PCT = (0.0112185391, 0.01129027418)  # uS, uS per uS: 2 % acceptance range
# sigma(x_T) in uS at g_max = 40 uS, increasing order, at 1 s, 1 day and 2 days (aihwkit's table).
WAN2022_TIMES = (1.0, 86400.0, 172800.0)
WAN2022_COEFFS = ((0.348, 16.030, -43.853, 45.393, -16.815),
                  (0.701, 22.086, -50.773, 47.095, -16.458),
                  (0.782, 20.274, -43.507, 37.062, -11.934))


@pytree_dataclass
@dataclass(frozen=True)
class CMONoise:
    """aihwkit's CMO/HfOx RRAM inference model (equations and choices in the module docstring).

    Attributes:
        g_min: Lowest conductance (S); reads are clipped here.
        g_max: Highest conductance (S); reads are clipped here.
        prog_coeffs: (c0 in uS, c1 in uS per uS) of the programming error's std.
        drift_mean: m (uS per ln s).
        drift_std: (a uS per ln s, b uS) of the relaxation's std.
        read_k: K (uS per decade).
        t_read: Read pulse width (s).
        prog_noise_scale: Factor on the programming noise (1).
        read_noise_scale: Factor on the read noise (1); 0 turns it off.
        drift_scale: Factor on the relaxation's mean and std (1); 0 turns it off.
    """

    g_min: float = 9.0e-6
    g_max: float = 88.19e-6
    prog_coeffs: tuple = (0.00081107, 0.00106879)
    drift_mean: float = -0.08900206
    drift_std: tuple = (0.04201137, 0.41183342)
    read_k: float = 0.0277316483
    t_read: float = 1e-6
    prog_noise_scale: float = 1.0
    read_noise_scale: float = 1.0
    drift_scale: float = 1.0

    def validate(self) -> CMONoise:
        """Raise `ValueError`/`TypeError` naming any bad parameter; return self (traced values pass: checked at the
        boundary)."""
        if is_traced(self):
            return self
        check_nonnegative("g_min", self.g_min)
        check_less("g_min", self.g_min, "g_max", self.g_max)
        check_coeffs("prog_coeffs", self.prog_coeffs)
        check_coeffs("drift_std", self.drift_std)
        for name in ("read_k", "prog_noise_scale", "read_noise_scale", "drift_scale"):
            check_nonnegative(name, getattr(self, name))
        check_positive("t_read", self.t_read)
        return self

    def program_std(self, g_target: Array) -> Array:
        """Std (S) of the programming error at `g_target` (S)."""
        return self.prog_noise_scale * jnp.abs(polynomial(self.prog_coeffs, g_target / _US)) * _US

    def program(self, g_target: Array, key) -> ProgrammedState:
        """Program `g_target` (S, [*shape]): programmed conductances and each device's relaxation variable."""
        g_target = check_targets(g_target)
        return draw_programmed(g_target, self.program_std(g_target), key, floor=None)  # reads clip to the range

    def drift(self, state: ProgrammedState, t) -> Array:
        """Noise-free conductance (S, [*shape]) `t` seconds after programming (its own relaxation variable)."""
        log_t = jnp.log(jnp.maximum(t, 1.0))  # the fit starts at 1 s
        std = self.drift_std[0] * log_t + self.drift_std[1]
        change = self.drift_scale * (self.drift_mean * log_t + std * state.z) * _US
        return jnp.where(t >= 1.0, state.g_prog + change, state.g_prog)

    def read_std(self, g: Array, t) -> Array:
        """Std (S) of the read noise of conductances `g` (S) `t` seconds after programming."""
        decades = jnp.abs(jnp.log10(jnp.maximum(g, 1e-12) / _US))
        growth = jnp.sqrt(jnp.maximum(jnp.log((t + self.t_read) / (2.0 * self.t_read)), 0.0))
        return self.read_noise_scale * self.read_k * decades * growth * _US

    def read(self, state: ProgrammedState, t, key=None) -> Array:
        """Conductance (S) read `t` seconds after programming: relaxation, then (with a `key`) read noise,
        clipped to [g_min, g_max]."""
        if not isinstance(t, jax.core.Tracer):
            check_time(t)
        g = self.drift(state, t)
        if key is not None:
            g = g + self.read_std(g, t) * standard_normal(key, g.shape, g.dtype)
        return jnp.clip(g, self.g_min, self.g_max)


@pytree_dataclass
@dataclass(frozen=True)
class Wan2022Noise:
    """RRAM after Wan et al. 2022 as aihwkit fits it (equations and choices in the module docstring).

    Attributes:
        g_max: Largest programmed conductance (S). The paper's: 40 uS.
        g_min: Conductance of an unused device of a pair (S).
        coeffs: Spread polynomials in x_T (uS at `coeff_g_ref`), one per time of `times`.
        times: Times after programming (s) of the measured spreads, increasing; the first is the programming's.
        coeff_g_ref: g_max (S) of the fits.
        noise_scale: Factor on every spread (1).
    """

    g_max: float = 40e-6
    g_min: float = 0.0
    coeffs: tuple = WAN2022_COEFFS
    times: tuple = WAN2022_TIMES
    coeff_g_ref: float = 40e-6
    noise_scale: float = 1.0

    def validate(self) -> Wan2022Noise:
        """Raise `ValueError`/`TypeError` naming any bad parameter; return self (traced values pass: checked at the
        boundary)."""
        if is_traced(self):
            return self
        check_positive("g_max", self.g_max)
        check_nonnegative("g_min", self.g_min)
        check_less("g_min", self.g_min, "g_max", self.g_max)
        check_positive("coeff_g_ref", self.coeff_g_ref)
        check_nonnegative("noise_scale", self.noise_scale)
        check_coeffs("times", self.times)
        if len(self.coeffs) != len(self.times):
            raise ValueError(f"`coeffs` must hold one polynomial per time; got {len(self.coeffs)} for "
                             f"times={self.times}")
        for i, c in enumerate(self.coeffs):
            check_coeffs(f"coeffs[{i}]", c)
        check_positive("times[0]", self.times[0])
        if any(b <= a for a, b in zip(self.times[:-1], self.times[1:], strict=True)):
            raise ValueError(f"`times` must increase; got times={self.times}")
        return self

    def spread(self, g_target: Array, t) -> Array:
        """Std (S) of g about its target at time `t` (s) after programming; the first time's before it."""
        x = g_target / self.g_max
        scale = self.noise_scale * (self.g_max / self.coeff_g_ref) * _US
        sigmas = jnp.stack([jnp.abs(polynomial(c, x)) for c in self.coeffs]) * scale
        if len(self.times) == 1:
            return sigmas[0]
        log_t = jnp.log(jnp.clip(t, self.times[0], self.times[-1]))  # held at the ends: no extrapolation
        return _interp_rows(log_t, jnp.log(jnp.asarray(self.times, jnp.float32)), sigmas)

    def program(self, g_target: Array, key) -> ProgrammedState:
        """Program `g_target` (S): target plus the first time's spread; each device's relaxation variable."""
        g_target = check_targets(g_target)
        return draw_programmed(g_target, self.spread(g_target, self.times[0]), key, floor=0.0)

    def drift(self, state: ProgrammedState, t) -> Array:
        """Conductance (S) `t` seconds after programming: the spread's growth since the first time, added
        independently of the programming error."""
        s0 = self.spread(state.g_target, self.times[0])
        growth = jnp.sqrt(jnp.maximum(self.spread(state.g_target, t) ** 2 - s0**2, 0.0))
        return jnp.maximum(state.g_prog + growth * state.z, 0.0)

    def read(self, state: ProgrammedState, t, key=None) -> Array:
        """Conductance (S) read at `t`: no read noise of its own (see the module docstring); `key` is unused."""
        if not isinstance(t, jax.core.Tracer):
            check_time(t)
        return self.drift(state, t)


def _interp_rows(x, xp, fp: Array) -> Array:
    """Linear interpolation at scalar `x` between the rows of `fp` [len(xp), *shape] at increasing `xp`."""
    i = jnp.clip(jnp.searchsorted(xp, x, side="right") - 1, 0, xp.shape[0] - 2)
    frac = jnp.clip((x - xp[i]) / (xp[i + 1] - xp[i]), 0.0, 1.0)
    return fp[i] * (1.0 - frac) + fp[i + 1] * frac
