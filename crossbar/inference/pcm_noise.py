"""PCM for inference: programming noise, conductance-dependent drift exponents and 1/f read noise (aihwkit's
`PCMLikeNoiseModel`, fitted to a million-device PCM array).

With x = g / g_max (g_max the largest programmed conductance):

- programming: g_prog = max(g_T + sigma_prog eps, 0), sigma_prog = max(c0 + c1 x_T + c2 x_T^2, 0) (g_max / 25 uS),
  (c0, c1, c2) = (0.26348, 1.9650, -1.1731) uS fitted at g_max = 25 uS;
- drift: g_drift(t) = g_prog ((t + t0) / t0)^-nu, t the time since programming ended, t0 = 20 s; nu = |mu + sigma z|
  drawn once per device, mu = clip(-0.0155 ln x_T + 0.0244, 0.049, 0.1), sigma = clip(-0.0125 ln x_T - 0.0059,
  0.008, 0.045);
- read: g(t) = max(g_drift + |g_drift| Q sqrt(ln((t + t0 + t_read) / (2 t_read))) eps, 0), Q = min(0.0088 /
  max(x^0.65, 1e-3), 0.2), t_read = 250 ns: the 1/f noise integrated from the read pulse to t.

Where aihwkit's documentation and its code differ, this follows the code, for these reasons:

- Q is set by the programmed conductance g_prog, not the target g_T (the documentation writes g_T): the noise is a
  property of the device as it is, and the target is only a number in the programming controller.
- The drift clock is t + t0 with t counted from the end of programming (the documentation writes (t / t_c)): the
  first read happens t0 after the last pulse, so a read at t = 0 has drifted by nothing.
- nu is folded at zero (|N(mu, sigma)|), so no device's conductance grows by drift.
- The drift exponent depends on g_T, as both say.

References:
    Nandakumar et al., "Phase-change memory models for deep learning training and inference", ICECS 2019;
    Joshi et al., "Accurate deep neural network inference using computational phase-change memory",
    Nat. Commun. 11, 2473 (2020); aihwkit `aihwkit.inference.noise.pcm.PCMLikeNoiseModel` and its
    documentation page "Inference and PCM statistical model".
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

_US = 1e-6  # the fits are in microsiemens


@pytree_dataclass
@dataclass(frozen=True)
class PCMNoise:
    """aihwkit's PCM inference model (see the module docstring for the equations and the choices).

    Attributes:
        g_max: Largest programmed conductance (S); a weight of max |W| maps here. aihwkit: 25 uS.
        g_min: Conductance of an unused device of a pair (S); aihwkit: 0.
        prog_coeffs: Programming-noise std polynomial in x_T (S), increasing order, fitted at `prog_g_ref`.
        prog_g_ref: The g_max (S) at which `prog_coeffs` were fitted; the std scales by g_max / prog_g_ref.
        nu_mean: (slope, offset) of mu = slope ln x_T + offset (1).
        nu_mean_range: (min, max) clip of mu (1).
        nu_std: (slope, offset) of sigma = slope ln x_T + offset (1).
        nu_std_range: (min, max) clip of sigma (1).
        q_coeff: Q = q_coeff / x^q_exponent before its clip (1).
        q_exponent: (1).
        q_max: Largest Q (1).
        t0: Drift reference time (s): the first read after programming.
        t_read: Read pulse width (s), the lower cut-off of the 1/f integral.
        prog_noise_scale: Factor on the programming noise (1).
        read_noise_scale: Factor on the read noise (1); 0 turns it off.
        drift_scale: Factor on every drift exponent (1); 0 turns drift off.
    """

    g_max: float = 25e-6
    g_min: float = 0.0
    prog_coeffs: tuple = (0.26348 * _US, 1.9650 * _US, -1.1731 * _US)
    prog_g_ref: float = 25e-6
    nu_mean: tuple = (-0.0155, 0.0244)
    nu_mean_range: tuple = (0.049, 0.1)
    nu_std: tuple = (-0.0125, -0.0059)
    nu_std_range: tuple = (0.008, 0.045)
    q_coeff: float = 0.0088
    q_exponent: float = 0.65
    q_max: float = 0.2
    t0: float = 20.0
    t_read: float = 250e-9
    prog_noise_scale: float = 1.0
    read_noise_scale: float = 1.0
    drift_scale: float = 1.0

    def validate(self) -> PCMNoise:
        """Raise `ValueError`/`TypeError` naming any bad parameter; return self (traced values pass: checked at the
        boundary)."""
        if is_traced(self):
            return self
        check_positive("g_max", self.g_max)
        check_nonnegative("g_min", self.g_min)
        check_less("g_min", self.g_min, "g_max", self.g_max)
        check_positive("prog_g_ref", self.prog_g_ref)
        for name in ("prog_coeffs", "nu_mean", "nu_mean_range", "nu_std", "nu_std_range"):
            check_coeffs(name, getattr(self, name))
        for name in ("nu_mean_range", "nu_std_range"):
            low, high = getattr(self, name)
            check_nonnegative(f"{name}[0]", low)
            if low > high:
                raise ValueError(f"`{name}` must be (min, max) with min <= max; got {name}={getattr(self, name)}")
        for name in ("q_coeff", "q_exponent", "q_max", "prog_noise_scale", "read_noise_scale", "drift_scale"):
            check_nonnegative(name, getattr(self, name))
        check_positive("t0", self.t0)
        check_positive("t_read", self.t_read)
        return self

    def program_std(self, g_target: Array) -> Array:
        """Std (S) of the programming error at target conductances `g_target` (S, any shape)."""
        x = g_target / self.g_max
        sigma = jnp.maximum(polynomial(self.prog_coeffs, x), 0.0) * (self.g_max / self.prog_g_ref)
        return self.prog_noise_scale * sigma

    def drift_exponent_moments(self, g_target: Array) -> tuple[Array, Array]:
        """(mu, sigma) of the drift exponent's normal (1, shape of `g_target`), before the fold and the scale."""
        log_x = jnp.log(jnp.maximum(jnp.abs(g_target) / self.g_max, 1e-7))  # aihwkit's floor of x
        mu = jnp.clip(self.nu_mean[0] * log_x + self.nu_mean[1], *self.nu_mean_range)
        sigma = jnp.clip(self.nu_std[0] * log_x + self.nu_std[1], *self.nu_std_range)
        return mu, sigma

    def drift_exponent(self, state: ProgrammedState) -> Array:
        """Each device's nu = drift_scale |mu + sigma z| (1, [*shape])."""
        mu, sigma = self.drift_exponent_moments(state.g_target)
        return self.drift_scale * jnp.abs(mu + sigma * state.z)

    def program(self, g_target: Array, key) -> ProgrammedState:
        """Program `g_target` (S, [*shape], >= 0): the programmed conductances and each device's drift variable."""
        g_target = check_targets(g_target)
        return draw_programmed(g_target, self.program_std(g_target), key, floor=0.0)  # no negative conductance

    def drift(self, state: ProgrammedState, t) -> Array:
        """Noise-free conductance (S, [*shape]) `t` seconds after programming ended."""
        return state.g_prog * ((t + self.t0) / self.t0) ** (-self.drift_exponent(state))

    def read_std(self, state: ProgrammedState, t) -> Array:
        """Std (S, [*shape]) of the accumulated 1/f read noise `t` seconds after programming."""
        x = jnp.abs(state.g_prog) / self.g_max
        q = jnp.minimum(self.q_coeff / jnp.maximum(x ** self.q_exponent, 1e-3), self.q_max)
        growth = jnp.sqrt(jnp.log((t + self.t0 + self.t_read) / (2.0 * self.t_read)))
        return self.read_noise_scale * jnp.abs(self.drift(state, t)) * q * growth

    def read(self, state: ProgrammedState, t, key=None) -> Array:
        """Conductance (S, [*shape]) read `t` seconds after programming: drift, then (with a `key`) read noise."""
        if not isinstance(t, jax.core.Tracer):
            check_time(t)
        g = self.drift(state, t)
        if key is None:
            return g
        return jnp.maximum(g + self.read_std(state, t) * standard_normal(key, g.shape, g.dtype), 0.0)
