"""Retention drift and read noise against their formulas, and the device-to-device / cycle-to-cycle samplers.

Statistical tests use fixed keys and a few thousand devices; means must agree within 4 standard errors.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from devices import (
    PCM,
    ConstantStep,
    ExponentialRelaxation,
    NoDrift,
    PowerLawDrift,
    ReadNoise,
    RelaxationDrift,
    Variation,
)
from devices.noise import draw_device_spread, noisy_steps, summed_step_noise

from helpers import SHAPE, at_fraction, std_within_se, within_se


# ---- PCM power-law drift --------------------------------------------------------------------------------------
def test_pcm_drift_exponent_is_recovered_and_larger_at_low_conductance():
    drift = PowerLawDrift(nu=0.05, nu_low_g=0.05, nu_d2d=0.01, t0=20.0)
    model = PCM(drift=drift, read_noise=ReadNoise())
    u = jnp.where(jnp.arange(SHAPE[0])[:, None] < SHAPE[0] // 2, 0.9, 0.1) * jnp.ones(SHAPE)
    state = at_fraction(model, u)
    t = drift.t0 * np.logspace(0, 4, 5)
    g_t = np.stack([np.asarray(model.read(state, float(ti)), np.float64) for ti in t])
    # Least-squares slope of log G against log t, for every device at once.
    x = np.log(t) - np.log(t).mean()
    nu_hat = -np.tensordot(x, np.log(g_t), axes=(0, 0)) / (x @ x)
    high, low = nu_hat[: SHAPE[0] // 2], nu_hat[SHAPE[0] // 2:]
    assert within_se(high, 0.05 + 0.05 * 0.1), f"nu at high G: {high.mean():.4f}"
    assert within_se(low, 0.05 + 0.05 * 0.9), f"nu at low G: {low.mean():.4f}"
    assert std_within_se(high, 0.01) and std_within_se(low, 0.01)
    assert low.mean() > high.mean() + 0.03
    # A pure power law: the fit leaves no residual.
    np.testing.assert_allclose(np.log(g_t[-1] / g_t[0]), -nu_hat * np.log(t[-1] / t[0]), rtol=1e-3, atol=1e-6)


def test_pcm_drift_starts_at_t0_after_programming():
    model = PCM(read_noise=ReadNoise())
    state = model.init(jax.random.key(1), SHAPE)
    state = model.pulse_n(state, 5, jax.random.key(2), t=1000.0)
    # No drift within t0 of programming; one decade of drift 10 t0 after it.
    np.testing.assert_array_equal(model.read(state, 1000.0 + 0.5 * model.drift.t0), state.g)
    nu = model.drift.exponent(state)
    np.testing.assert_allclose(model.read(state, 1000.0 + 10 * model.drift.t0), state.g * 10.0 ** -nu, rtol=1e-5)


# ---- read noise -----------------------------------------------------------------------------------------------
def test_read_noise_std_grows_with_time_as_the_1_over_f_formula():
    noise = ReadNoise(std=0.02, flicker=0.5, t_read=250e-9)
    model = ConstantStep(read_noise=noise)
    state = at_fraction(model, 0.5)
    stds = []
    for i, dt in enumerate([0.0, 1e-6, 1.0, 1e4]):
        rel = np.asarray(model.read(state, dt, jax.random.key(10 + i)) / state.g - 1.0)
        expected = 0.02 * math.sqrt(1 + 0.5 * math.log1p(dt / 250e-9))
        assert within_se(rel, 0.0), f"read noise biased at dt={dt}"
        assert std_within_se(rel, expected), f"dt={dt}: std {rel.std():.5f}, expected {expected:.5f}"
        stds.append(rel.std())
    assert stds == sorted(stds) and stds[-1] > 2 * stds[0]


def test_read_is_reproducible_and_noise_free_without_a_key():
    model = ConstantStep(read_noise=ReadNoise(std=0.05))
    state = at_fraction(model, 0.5)
    np.testing.assert_array_equal(model.read(state, 1.0, jax.random.key(3)), model.read(state, 1.0, jax.random.key(3)))
    assert not np.array_equal(model.read(state, 1.0, jax.random.key(3)), model.read(state, 1.0, jax.random.key(4)))
    np.testing.assert_array_equal(model.read(state, 1.0), state.g)


# ---- RRAM relaxation ------------------------------------------------------------------------------------------
def test_relaxation_mean_shift_and_spread_grow_linearly_with_log_time():
    drift = RelaxationDrift(shift=0.01, spread=0.02, t0=1.0)
    model = ConstantStep(drift=drift)
    state = at_fraction(model, 0.5)
    g_range = np.asarray(state.g_max - state.g_min, np.float64)
    changes = []
    for decades in (1, 2, 3):
        t = drift.t0 * (10.0**decades - 1.0)  # log10(1 + t / t0) = decades
        change = (np.asarray(model.read(state, t), np.float64) - np.asarray(state.g, np.float64)) / g_range
        assert within_se(change, -0.01 * decades), f"{decades} decades: mean shift {change.mean():.5f}"
        assert std_within_se(change, 0.02 * decades), f"{decades} decades: spread {change.std():.5f}"
        changes.append(change / decades)
    # Each device relaxes along one trajectory, linear in log time.
    np.testing.assert_allclose(changes[1], changes[0], atol=1e-5)
    np.testing.assert_allclose(changes[2], changes[0], atol=1e-5)


def test_relaxation_stays_within_bounds():
    model = ConstantStep(drift=RelaxationDrift(shift=0.5, spread=0.5))
    state = at_fraction(model, 0.5)
    g = model.read(state, 1e9)
    assert bool(jnp.all((g >= state.g_min) & (g <= state.g_max)))


def test_no_drift_reads_are_unchanged():
    model = ConstantStep(drift=NoDrift())
    state = model.pulse_n(at_fraction(model, 0.3), 7, jax.random.key(5), t=2.0)
    for t in (0.0, 1.0, 2.0, 1e6):
        np.testing.assert_array_equal(model.read(state, t), state.g)


# ---- samplers -------------------------------------------------------------------------------------------------
def test_device_spread_statistics():
    variation = Variation(dg_d2d=0.2, up_down=0.1, up_down_d2d=0.03, bounds_d2d=0.1)
    d = draw_device_spread(variation, jax.random.key(6), SHAPE, 5e-6, 15e-6)
    # Each bound spreads about the mid-range (10 uS) by 10% of the half range (5 uS), independently.
    upper, lower = (d["g_max"] - 10e-6) / 5e-6, (10e-6 - d["g_min"]) / 5e-6
    assert within_se(upper, 1.0) and std_within_se(upper, 0.1)
    assert within_se(lower, 1.0) and std_within_se(lower, 0.1)
    assert abs(np.corrcoef(np.ravel(upper), np.ravel(lower))[0, 1]) < 4 / np.sqrt(np.size(upper))
    assert within_se(d["scale_up"], 1.1) and within_se(d["scale_down"], 0.9)
    asym = np.asarray(d["scale_up"] / (d["scale_up"] + d["scale_down"]))  # = (1 + a) / 2
    assert within_se(2 * asym - 1, 0.1) and std_within_se(2 * asym - 1, 0.03)
    assert not np.any(np.asarray(d["stuck_low"] | d["stuck_high"]))


@pytest.mark.parametrize("n", [1, 4, 25])
def test_constant_step_noise_std_is_c2c_step_sqrt_n(n):
    step = jnp.full(SHAPE, 2.0)
    total = noisy_steps(n * step, jnp.full(SHAPE, n), 0.3, jax.random.key(7))
    assert within_se(total, 2.0 * n) and std_within_se(total, 0.3 * 2.0 * math.sqrt(n))
    noise = summed_step_noise(step, jnp.full(SHAPE, -n), 0.3, jax.random.key(8))
    assert within_se(noise, 0.0) and std_within_se(noise, 0.3 * 2.0 * math.sqrt(n))


def test_fast_standard_normal_is_close_to_normal_and_independent():
    """The counter-based generator behind the per-pulse noise: moments, shape and independence."""
    from scipy import stats

    from devices.noise import standard_normal

    z = np.asarray(standard_normal(jax.random.key(11), (500, 400))).ravel()
    se = 1 / np.sqrt(z.size)
    assert abs(z.mean()) < 4 * se and abs(z.var() - 1) < 4 * np.sqrt(2) * se
    assert abs(stats.kurtosis(z, fisher=False) - 3) < 0.06  # Binomial(56) with dither: 2.96
    assert stats.kstest(z, "norm").statistic < 0.004
    assert abs(np.corrcoef(z[:-1], z[1:])[0, 1]) < 4 * se  # neighbouring devices
    other = np.asarray(standard_normal(jax.random.key(12), (500, 400))).ravel()
    assert abs(np.corrcoef(z, other)[0, 1]) < 4 * se  # another key
    np.testing.assert_array_equal(z, np.asarray(standard_normal(jax.random.key(11), (500, 400))).ravel())


# ---- pulsing a drifted device -----------------------------------------------------------------------------------
@pytest.mark.parametrize("drift", [PowerLawDrift(nu_d2d=0.0), RelaxationDrift(spread=0.0, shift=0.02),
                                   ExponentialRelaxation(tau=500.0), NoDrift()], ids=lambda d: type(d).__name__)
def test_a_drifted_relaxing_device_is_pulsed_from_its_drifted_conductance(drift):
    """Oracle: a noise-free constant step of dg lands at drift(G0, t) + dg, stamped t; unpulsed devices keep their
    state bit for bit; the summed-batch path does the same; without a clock the pulse starts from G0."""
    model = ConstantStep(drift=drift, read_noise=ReadNoise())
    state = at_fraction(model, 0.5, shape=(4, 8))
    t = 1000.0
    g_drifted = model.read(state, t)
    if not isinstance(drift, NoDrift):
        assert np.all(np.asarray(g_drifted) < np.asarray(state.g) * 0.999)  # the drift is large enough to see
    n = jnp.zeros((4, 8), jnp.int32).at[:2].set(1)
    pulsed = model.pulse_n(state, n, jax.random.key(3), t=t)
    np.testing.assert_allclose(pulsed.g[:2], g_drifted[:2] + model.dg, rtol=1e-6)
    np.testing.assert_array_equal(pulsed.t_prog[:2], t)
    np.testing.assert_allclose(model.read(pulsed, t)[:2], g_drifted[:2] + model.dg, rtol=1e-6)
    np.testing.assert_array_equal(pulsed.g[2:], state.g[2:])
    np.testing.assert_array_equal(pulsed.t_prog[2:], state.t_prog[2:])
    summed = model.pulse_up_down(state, n, jnp.zeros_like(n), jax.random.key(3), t=t)
    np.testing.assert_allclose(summed.g[:2], g_drifted[:2] + model.dg, rtol=1e-6)
    no_clock = model.pulse_n(state, n, jax.random.key(3))
    np.testing.assert_allclose(no_clock.g[:2], state.g[:2] + model.dg, rtol=1e-6)
