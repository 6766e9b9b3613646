"""The inference noise models against their equations: exact noise-free drift, and programming, drift-exponent,
relaxation and read-noise spreads against the cited polynomials (statistical, fixed keys, within 4 standard
errors), and parameter checks that name the parameter."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from crossbar.inference import CMONoise, PCMNoise, ProgrammedState, Wan2022Noise
from crossbar.inference.rram_noise import WAN2022_COEFFS

from helpers import std_within_se, within_se

N = 20000  # devices per level
US = 1e-6


def _levels(values, n=N):
    """[len(values), n] targets, one row per level."""
    return jnp.repeat(jnp.asarray(values, jnp.float32)[:, None], n, axis=1)


# One compilation for both default-run PCM tests: the model is an argument (its coefficients are leaves).
_program = jax.jit(lambda noise, g, key: noise.program(g, key))
_read = jax.jit(lambda noise, state, t: noise.read(state, t))


def test_pcm_noise_free_drift_factor_is_exact():
    noise = PCMNoise()
    g_t = _levels(np.array([0.05, 0.3, 0.9]) * 25e-6)
    state = _program(noise, g_t, jax.random.key(0))
    x = np.asarray(g_t, np.float64) / 25e-6
    mu = np.clip(-0.0155 * np.log(x) + 0.0244, 0.049, 0.1)
    sigma = np.clip(-0.0125 * np.log(x) - 0.0059, 0.008, 0.045)
    nu = np.abs(mu + sigma * np.asarray(state.z, np.float64))
    np.testing.assert_array_equal(_read(noise, state, 0.0), state.g_prog)  # no drift at the first read
    for t in (3600.0, 86400.0 * 365):
        expected = np.asarray(state.g_prog, np.float64) * ((t + 20.0) / 20.0) ** -nu
        np.testing.assert_allclose(_read(noise, state, t), expected, rtol=2e-5)


def test_pcm_programming_noise_spread_equals_the_polynomial():
    noise = PCMNoise(g_max=50e-6)  # the polynomial is fitted at 25 uS and scales with g_max
    x = np.array([0.2, 0.5, 0.9])
    g_t = _levels(x * 50e-6)
    err = np.asarray(_program(noise, g_t, jax.random.key(1)).g_prog - g_t, np.float64)
    for row, xi in zip(err, x, strict=True):
        sigma = (0.26348 + 1.9650 * xi - 1.1731 * xi**2) * US * 2.0
        assert within_se(row, 0.0), f"biased at x={xi}"
        assert std_within_se(row, sigma), f"std {row.std():.3e} vs {sigma:.3e} at x={xi}"


@pytest.mark.slow
def test_pcm_drift_exponent_mean_and_spread_follow_the_fits():
    noise = PCMNoise(prog_noise_scale=0.0)
    t = 86400.0
    for xi in (0.5, 0.1):
        state = noise.program(_levels([xi * 25e-6])[0], jax.random.key(2))
        nu_hat = -np.log(np.asarray(noise.read(state, t) / state.g_prog, np.float64)) / math.log((t + 20) / 20)
        mu = min(max(-0.0155 * math.log(xi) + 0.0244, 0.049), 0.1)
        sigma = min(max(-0.0125 * math.log(xi) - 0.0059, 0.008), 0.045)
        # nu = |N(mu, sigma)|: the folded normal's mean and std (the fold shows at low conductance).
        mean = sigma * math.sqrt(2 / math.pi) * math.exp(-mu**2 / (2 * sigma**2)) + mu * math.erf(mu / (sigma * 2**0.5))
        std = math.sqrt(mu**2 + sigma**2 - mean**2)
        assert within_se(nu_hat, mean) and std_within_se(nu_hat, std), f"x={xi}: {nu_hat.mean()}, {nu_hat.std()}"


@pytest.mark.slow
def test_pcm_read_noise_grows_as_the_1_over_f_integral():
    noise = PCMNoise(prog_noise_scale=0.0)
    xi, t = 0.3, 3.15e7
    state = noise.program(_levels([xi * 25e-6])[0], jax.random.key(3))
    g_drift = np.asarray(noise.read(state, t), np.float64)
    rel = (np.asarray(noise.read(state, t, jax.random.key(4)), np.float64) - g_drift) / g_drift
    q = min(0.0088 / xi**0.65, 0.2)
    expected = q * math.sqrt(math.log((t + 20 + 250e-9) / (2 * 250e-9)))
    assert within_se(rel, 0.0) and std_within_se(rel, expected), f"{rel.std()} vs {expected}"


@pytest.mark.slow
def test_cmo_programming_relaxation_and_read_noise_follow_the_fits():
    noise = CMONoise()
    g = np.array([20.0, 60.0]) * US
    g_t = _levels(g)
    state = noise.program(g_t, jax.random.key(5))
    err = np.asarray(state.g_prog - g_t, np.float64) / US
    t = 1e6
    change = np.asarray(noise.read(state, t) - state.g_prog, np.float64) / US
    for row, d_row, gi in zip(err, change, g / US, strict=True):
        assert within_se(row, 0.0) and std_within_se(row, 0.00081107 + 0.00106879 * gi)
        assert within_se(d_row, -0.08900206 * math.log(t))
        assert std_within_se(d_row, 0.04201137 * math.log(t) + 0.41183342)
    np.testing.assert_array_equal(noise.read(state, 0.5), state.g_prog)  # the fit starts at 1 s
    read = np.asarray(noise.read(state, t, jax.random.key(6)) - noise.read(state, t), np.float64)[0] / US
    g_now = np.asarray(noise.read(state, t), np.float64)[0] / US
    expected = 0.0277316483 * np.abs(np.log10(g_now)) * math.sqrt(math.log((t + 1e-6) / 2e-6))
    assert within_se(read / expected, 0.0) and std_within_se(read / expected, 1.0)


@pytest.mark.slow
def test_wan2022_spread_equals_the_polynomial_at_each_measured_time():
    noise = Wan2022Noise()
    x = np.array([0.25, 0.75])
    g_t = _levels(x * 40e-6)
    state = noise.program(g_t, jax.random.key(7))
    for t, coeffs in zip((1.0, 86400.0, 172800.0), WAN2022_COEFFS, strict=True):
        dev = np.asarray(noise.read(state, t) - g_t, np.float64) / US
        for row, xi in zip(dev, x, strict=True):
            assert within_se(row, 0.0) and std_within_se(row, abs(np.polyval(coeffs[::-1], xi))), (t, xi)
    # Held at the last measured time: no extrapolation.
    np.testing.assert_allclose(noise.read(state, 3.15e7), noise.read(state, 172800.0), rtol=1e-6)


@pytest.mark.parametrize("make, name", [
    (lambda: PCMNoise(g_max=-1e-6), "g_max"),
    (lambda: PCMNoise(nu_mean_range=(0.1, 0.05)), "nu_mean_range"),
    (lambda: PCMNoise(prog_coeffs=[1e-6, 2e-6]), "prog_coeffs"),
    (lambda: PCMNoise(t0=0.0), "t0"),
    (lambda: PCMNoise(read_noise_scale=-1.0), "read_noise_scale"),
    (lambda: CMONoise(g_min=1e-4), "g_min"),
    (lambda: CMONoise(t_read=0.0), "t_read"),
    (lambda: Wan2022Noise(times=(1.0, 0.5, 2.0)), "times"),
    (lambda: Wan2022Noise(coeffs=WAN2022_COEFFS[:2]), "coeffs"),
])
def test_bad_parameters_raise_naming_them(make, name):
    with pytest.raises((ValueError, TypeError), match=name):
        make().validate()


def test_bad_times_and_targets_raise_naming_them():
    noise = PCMNoise()
    zeros = jnp.zeros((2, 2))
    state = ProgrammedState(g_target=zeros, g_prog=zeros, z=zeros)
    with pytest.raises(ValueError, match="`t`"):
        noise.read(state, -1.0)
    with pytest.raises(ValueError, match="g_target"):
        noise.program(jnp.array([1e-6, jnp.nan]), jax.random.key(0))
