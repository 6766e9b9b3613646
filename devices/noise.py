"""Variability of devices: device-to-device spread (drawn once), cycle-to-cycle noise (every pulse),
stuck-at faults, and read noise (every read, growing 1/f-like with time since programming)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp

from devices.pytree import pytree_dataclass
from devices.validation import check_bool, check_in_range, check_nonnegative, check_positive, check_probability

Array = jax.Array

# Device bounds and step scales are floored so that a large spread never inverts a device.
_MIN_RELATIVE_RANGE = 0.05


@pytree_dataclass
@dataclass(frozen=True)
class Variation:
    """Device-to-device (`*_d2d`, drawn once at `init`) and cycle-to-cycle (`c2c`, every pulse) spread.

    Attributes:
        dg_d2d: Relative std of each device's step size (1). GV2016 RPU baseline: 0.3.
        up_down: Mean up/down asymmetry (1): up steps scale by (1 + up_down), down steps by (1 - up_down).
        up_down_d2d: Std of each device's own asymmetry (1). GV2016: 0.02 tolerated.
        bounds_d2d: Std of each device's bounds about the mid-range, relative to the half range (1).
            GV2016: 0.3. The upper bound's, and the lower one's unless `bounds_min_d2d` is given.
        c2c: Relative std of every single step (1), multiplicative: dg * (1 + c2c * xi). GV2016: 0.3. With
            `c2c_additive`, the std of an additive noise of every step relative to the device's own step at the
            symmetry point, whatever the step where it is: step(G) + c2c * step(G_sym) * xi.
        stuck_min_fraction: Fraction of devices stuck at their G_min (1).
        stuck_max_fraction: Fraction of devices stuck at their G_max (1).
        bounds_min_d2d: Std of each device's lower bound about the mid-range, relative to the half range (1);
            None: `bounds_d2d` (aihwkit's w_min_dtod where it differs from w_max_dtod).
        dg_d2d_log_normal: Each device's step scale is exp(dg_d2d xi) (log-normal, always positive, median 1)
            instead of 1 + dg_d2d xi (static; aihwkit's `dw_min_dtod_log_normal`).
        c2c_additive: `c2c` is additive (see above; static; aihwkit's `mult_noise = False`), not multiplicative.
            Honoured by the models of the shared step engine (`devices.pulsed`: constant, soft-bounds, linear,
            exponential, power, NeuroSim, bilayer, PCM steps); the abrupt HfO2 creep and the lookup table keep
            their own noise laws.
    """

    dg_d2d: float = 0.0
    up_down: float = 0.0
    up_down_d2d: float = 0.0
    bounds_d2d: float = 0.0
    c2c: float = 0.0
    stuck_min_fraction: float = 0.0
    stuck_max_fraction: float = 0.0
    bounds_min_d2d: float | None = None
    dg_d2d_log_normal: bool = field(default=False, metadata=dict(static=True))
    c2c_additive: bool = field(default=False, metadata=dict(static=True))

    def validate(self) -> Variation:
        for name in ("dg_d2d", "up_down_d2d", "bounds_d2d", "c2c"):
            check_nonnegative(name, getattr(self, name))
        if self.bounds_min_d2d is not None:
            check_nonnegative("bounds_min_d2d", self.bounds_min_d2d)
        for name in ("dg_d2d_log_normal", "c2c_additive"):
            check_bool(name, getattr(self, name))
        check_in_range("up_down", self.up_down, -1.0, 1.0)
        check_probability("stuck_min_fraction", self.stuck_min_fraction)
        check_probability("stuck_max_fraction", self.stuck_max_fraction)
        check_probability("stuck_min_fraction + stuck_max_fraction",
                            self.stuck_min_fraction + self.stuck_max_fraction)
        return self


def draw_device_spread(variation: Variation, key, shape, g_min, g_max) -> dict[str, Array]:
    """Draw each device's bounds, step scales and stuck-at faults once.

    Args:
        variation: The spread to draw.
        key: Random key.
        shape: Array shape.
        g_min: Nominal lower bound (S).
        g_max: Nominal upper bound (S).

    Returns:
        Dict with `g_min`, `g_max` (S), `scale_up`, `scale_down` (1), `stuck_low`, `stuck_high` (bool),
        each of shape `[*shape]`.
    """
    k_lo, k_hi, k_dg, k_ud, k_stuck = jax.random.split(key, 5)
    # Each bound spreads independently about the mid-range, by bounds_d2d of the half range, as the weight
    # bounds +-0.6 +- 30% of GV2016; the lower one never goes negative (a conductance is >= 0).
    mid, half = 0.5 * (g_min + g_max), 0.5 * (g_max - g_min)
    lo_d2d = variation.bounds_d2d if variation.bounds_min_d2d is None else variation.bounds_min_d2d
    lo = mid - half * jnp.maximum(1.0 + lo_d2d * jax.random.normal(k_lo, shape), _MIN_RELATIVE_RANGE)
    hi = mid + half * jnp.maximum(1.0 + variation.bounds_d2d * jax.random.normal(k_hi, shape), _MIN_RELATIVE_RANGE)
    lo = jnp.maximum(lo, 0.0)
    if variation.dg_d2d_log_normal:
        scale = jnp.exp(variation.dg_d2d * jax.random.normal(k_dg, shape))
    else:
        scale = jnp.maximum(1.0 + variation.dg_d2d * jax.random.normal(k_dg, shape), 0.0)
    asym = variation.up_down + variation.up_down_d2d * jax.random.normal(k_ud, shape)
    u = jax.random.uniform(k_stuck, shape)
    return {
        "g_min": lo,
        "g_max": hi,
        "scale_up": scale * jnp.maximum(1.0 + asym, 0.0),
        "scale_down": scale * jnp.maximum(1.0 - asym, 0.0),
        "stuck_low": u < variation.stuck_min_fraction,
        "stuck_high": (u >= variation.stuck_min_fraction)
        & (u < variation.stuck_min_fraction + variation.stuck_max_fraction),
    }


def _mix32(x: Array) -> Array:
    """A bijective 32-bit integer mixer ("lowbias32", C. Wellons 2018): every input bit flips each output bit
    with probability close to 1/2."""
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x7FEB352D)
    x = x ^ (x >> 15)
    x = x * jnp.uint32(0x846CA68B)
    return x ^ (x >> 16)


def _hashed_words(key, shape, n_words: int) -> list[Array]:
    """`n_words` arrays of 32 random bits per element of `shape`: the mixer over the element index, each word
    keyed by its own 32-bit seed drawn from `key` (one threefry call for all seeds)."""
    seeds = jax.random.bits(key, (n_words,), jnp.uint32)
    index = jax.lax.iota(jnp.uint32, math.prod(shape)).reshape(shape)
    return [_mix32(index ^ seeds[i]) for i in range(n_words)]


def uniform(key, shape) -> Array:
    """Uniform samples on [0, 1) of `shape` (float32, 24-bit resolution), from the fast generator below."""
    (bits,) = _hashed_words(key, shape, 1)
    return (bits >> 8).astype(jnp.float32) * (2.0**-24)


def standard_normal(key, shape, dtype=jnp.float32) -> Array:
    """Approximately N(0, 1) samples of `shape`: a fast counter-based generator for per-device, per-pulse noise.

    Why not `jax.random.normal`: on this CPU its threefry bits and inverse error function cost about 15 ns per
    sample, and these draws run for every device at every update, where they dominated the training time.
    Here two keyed words of a 32-bit mixer over the element index give 56 random bits and 8 dither bits per
    sample; the count of set bits is Binomial(56, 1/2) (mean 28, variance 14), and the uniform dither fills
    the gaps between its integers, so z = (count - 28 + u - 1/2) / sqrt(14 + 1/12) has mean 0, variance 1,
    kurtosis 2.96 (normal: 3) and a continuous density close to the normal one (tests/test_noise_drift.py
    bounds the Kolmogorov-Smirnov distance); |z| < 7.5. About 1.5 ns per sample. The same key gives the
    same samples.

    Args:
        key: Random key; the seeds of the words are drawn from it with threefry.
        shape: Output shape.
        dtype: Floating dtype of the output.
    """
    h1, h2 = _hashed_words(key, shape, 2)
    ones = jax.lax.population_count(h1) + jax.lax.population_count(h2 >> 8)
    dither = (h2 & jnp.uint32(0xFF)).astype(jnp.float32) * (1.0 / 256.0) + (1.0 / 512.0)
    z = ones.astype(jnp.float32) - 28.0 + dither - 0.5
    return (z * (1.0 / math.sqrt(14.0 + 1.0 / 12.0))).astype(dtype)


def noisy_steps(mean_change: Array, n_pulses: Array, c2c: float, key) -> Array:
    """Add the cycle-to-cycle noise of `n_pulses` steps to their summed mean change.

    Each step is dg * (1 + c2c * xi); for n independent steps of mean total D the std is
    c2c * |D| / sqrt(n), exact for constant steps and a close approximation for state-dependent ones.

    Args:
        mean_change: [*shape] summed mean conductance change (S).
        n_pulses: [*shape] number of pulses (>= 0).
        c2c: Relative cycle-to-cycle std per step.
        key: Random key.
    """
    n = jnp.maximum(jnp.abs(n_pulses), 1)
    xi = standard_normal(key, jnp.shape(mean_change), jnp.result_type(mean_change))
    return mean_change + c2c * jnp.abs(mean_change) / jnp.sqrt(n) * xi


def summed_step_noise(last_step: Array, n_pulses: Array, c2c: float, key) -> Array:
    """Cycle-to-cycle noise (S) of `n_pulses` state-dependent steps, to add to their closed-form mean.

    Each step is s_k (1 + c2c * xi_k). The noise of step k is carried to the end like any offset of G, i.e.
    multiplied by the later steps' map derivatives; to first order in the step that product times s_k is the
    last mean step s_{n-1}, so the sum has std c2c * sqrt(n) * |s_{n-1}|. Exact for affine per-pulse maps
    (constant, soft-bounds, linear steps, the NeuroSim curve); for constant steps it equals c2c * |D| / sqrt(n).

    Args:
        last_step: [*shape] mean size of the last of the n steps (S), signed or not.
        n_pulses: [*shape] number of pulses (signed; its magnitude counts).
        c2c: Relative cycle-to-cycle std per step.
        key: Random key.
    """
    xi = standard_normal(key, jnp.shape(last_step), jnp.result_type(last_step))
    return c2c * jnp.sqrt(jnp.abs(n_pulses).astype(xi.dtype)) * jnp.abs(last_step) * xi


@pytree_dataclass
@dataclass(frozen=True)
class NoReadNoise:
    """Reads return the programmed (drifted) conductance exactly and draw no random numbers.

    The default of models without read noise: a type, not a zero std, so that reads of large arrays skip the
    per-device draw. Setting a `ReadNoise` parameter by name (`--set read_noise.std=0.01`,
    `devices.params.replace_parameters`) turns it into a `ReadNoise` with the other parameters at default.
    """

    def validate(self) -> NoReadNoise:
        return self

    def apply(self, g: Array, dt: Array, key) -> Array:
        return g


@pytree_dataclass
@dataclass(frozen=True)
class ReadNoise:
    """Read noise of a device: relative Gaussian noise whose std grows 1/f-like with time since programming.

    std(dt) = std * sqrt(1 + flicker * ln(1 + dt / t_read)): 1/f noise integrated from the read time to dt
    (the form of the PCM read-noise model of Nandakumar et al. 2019, used by aihwkit's PCM preset).

    Attributes:
        std: Relative std of one read right after programming (1).
        flicker: Weight of the 1/f growth (1); 0 gives white read noise.
        t_read: Duration of one read (s), the lower cut-off of the 1/f integral.
    """

    std: float = 0.0
    flicker: float = 0.0
    t_read: float = 250e-9

    def validate(self) -> ReadNoise:
        check_nonnegative("read_noise.std", self.std)
        check_nonnegative("read_noise.flicker", self.flicker)
        check_positive("read_noise.t_read", self.t_read)
        return self

    def relative_std(self, dt: Array) -> Array:
        """Relative std (1) of a read `dt` seconds after programming."""
        return self.std * jnp.sqrt(1.0 + self.flicker * jnp.log1p(jnp.maximum(dt, 0.0) / self.t_read))

    def apply(self, g: Array, dt: Array, key) -> Array:
        """Noisy read of conductances `g` (S) programmed `dt` (s) ago."""
        xi = standard_normal(key, jnp.shape(g), jnp.result_type(g))
        return g * (1.0 + self.relative_std(dt) * xi)


# By-name parameter changes of a `NoReadNoise` are made on the `ReadNoise` it stands for (devices.params).
NoReadNoise.promotes_to = ReadNoise


@pytree_dataclass
@dataclass(frozen=True)
class NoWriteNoise:
    """Programming writes exactly the conductance the step law gives (the default: no state, no draw)."""

    def validate(self) -> NoWriteNoise:
        return self


@pytree_dataclass
@dataclass(frozen=True)
class WriteNoise:
    """Write noise: every programming leaves the device's apparent conductance off its internal state by a fresh
    Gaussian offset, which reads see until the next programming and the next pulse does not start from.

    G_read = G + offset, offset ~ N(0, std^2), redrawn on every device a pulse reaches (aihwkit's
    `write_noise_std`, there in units of dw_min: std = write_noise_std x dw_min / k with k the weight per
    siemens; see `devices.aihwkit`). Unlike the cycle-to-cycle step noise it does not accumulate.

    Attributes:
        std: Std of the offset (S).
    """

    std: float = 0.0

    def validate(self) -> WriteNoise:
        check_nonnegative("write_noise.std", self.std)
        return self


NoWriteNoise.promotes_to = WriteNoise
