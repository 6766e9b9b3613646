"""The aihwkit parameter mapping, checked on the equations: a device built from aihwkit's parameters takes, at
every weight, the step aihwkit's equations give; soft-bounds slopes are relative to each device's own bound
from the symmetry point, so a bound spread leaves the step at the symmetry point unspread."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from devices import set_conductance
from devices.aihwkit import (
    constant_step_from_aihwkit,
    exp_step_from_aihwkit,
    linear_step_from_aihwkit,
    power_step_from_aihwkit,
    soft_bounds_from_aihwkit,
)
from devices.power_step import GAMMA_DOWN, GAMMA_UP

G_MIN, G_MAX, W_MAX, DW = 2e-6, 12e-6, 0.6, 0.004
K = 2 * W_MAX / (G_MAX - G_MIN)  # weight per siemens
G_SYM = 0.5 * (G_MIN + G_MAX)
W = np.linspace(-0.55, 0.55, 12)


def ours(device, w):
    """(up, down) step of `device` in weight units at weights `w` (nominal device: no spread)."""
    state = device.init(jax.random.key(0), (len(w),))
    state = set_conductance(state, jnp.asarray(G_SYM + w / K, jnp.float32))
    up, down = device.step_sizes(state)
    return np.asarray(up) * K, np.asarray(down) * K


def aihwkit_bias(up_down):
    return 1 + min(up_down, 0.0), 1 - max(up_down, 0.0)


@pytest.mark.parametrize("up_down", [0.0, 0.1, -0.2])
def test_soft_bounds_steps_follow_aihwkit_equations(up_down):
    u, d = aihwkit_bias(up_down)
    up, down = ours(soft_bounds_from_aihwkit(DW, W_MAX, G_MIN, G_MAX, up_down=up_down), W)
    np.testing.assert_allclose(up, DW * u * (1 - W / W_MAX), rtol=2e-4)
    np.testing.assert_allclose(down, DW * d * (1 - W / -W_MAX), rtol=2e-4)


@pytest.mark.parametrize("up_down", [0.0, 0.15])
def test_constant_step_follows_aihwkit_equations(up_down):
    u, d = aihwkit_bias(up_down)
    up, down = ours(constant_step_from_aihwkit(DW, W_MAX, G_MIN, G_MAX, up_down=up_down), W)
    np.testing.assert_allclose(up, DW * u, rtol=1e-5)
    np.testing.assert_allclose(down, DW * d, rtol=1e-5)


@pytest.mark.parametrize("g_up, g_down, up_down", [(0.5, 0.5, 0.0), (0.5, 0.2, 0.0), (0.3, 0.8, 0.1)])
def test_linear_step_follows_aihwkit_equations(g_up, g_down, up_down):
    u, d = aihwkit_bias(up_down)
    device = linear_step_from_aihwkit(DW, W_MAX, G_MIN, G_MAX, gamma_up=g_up, gamma_down=g_down, up_down=up_down)
    up, down = ours(device, W)
    np.testing.assert_allclose(up, DW * u * (1 - g_up * W / W_MAX), rtol=2e-4)
    np.testing.assert_allclose(down, DW * d * (1 - g_down * W / -W_MAX), rtol=2e-4)


@pytest.mark.parametrize("pow_gamma, pow_up_down, up_down", [(1.0, 0.0, 0.0), (2.5, 0.3, 0.0), (0.6, -0.4, 0.1)])
def test_power_step_follows_aihwkit_equations(pow_gamma, pow_up_down, up_down):
    """aihwkit: dw_up = dw_min u ((w_max - w) / range)^gamma_up, gamma_up = pow_gamma (1 + min(pow_up_down, 0)),
    mirrored down with gamma_down = pow_gamma (1 - max(pow_up_down, 0)); range = w_max - w_min."""
    u, d = aihwkit_bias(up_down)
    gu, gd = (pow_gamma * b for b in aihwkit_bias(pow_up_down))
    device = power_step_from_aihwkit(DW, W_MAX, G_MIN, G_MAX, pow_gamma=pow_gamma, pow_gamma_dtod=0.0,
                                     pow_up_down=pow_up_down, up_down=up_down)
    up, down = ours(device, W)
    np.testing.assert_allclose(up, DW * u * ((W_MAX - W) / (2 * W_MAX)) ** gu, rtol=5e-4)
    np.testing.assert_allclose(down, DW * d * ((W + W_MAX) / (2 * W_MAX)) ** gd, rtol=5e-4)


def test_power_step_exponents_are_drawn_per_device_as_aihwkit_draws_them():
    """Statistical (fixed key): aihwkit draws gain = 1 + pow_gamma_dtod xi and r = pow_up_down_dtod xi' per device:
    gamma_up = pow_gamma (1 + min(b, 0) + gain - 1 + r), gamma_down = pow_gamma (1 - max(b, 0) + gain - 1 - r).
    Means within 4 SE, stds within 4 SE, the up/down correlation (dtod^2 - r^2) / (dtod^2 + r^2) within 0.03;
    each device steps with its own exponents in its own range."""
    pg, dtod, b, r = 1.5, 0.2, 0.1, 0.08
    device = power_step_from_aihwkit(DW, W_MAX, G_MIN, G_MAX, pow_gamma=pg, pow_gamma_dtod=dtod, pow_up_down=b,
                                     pow_up_down_dtod=r, w_max_dtod=0.2)
    state = device.init(jax.random.key(7), (N,))
    g_up, g_down = (np.asarray(state.aux[key], np.float64) for key in (GAMMA_UP, GAMMA_DOWN))
    std = pg * np.hypot(dtod, r)
    for drawn, mean in ((g_up, pg), (g_down, pg * (1 - b))):
        assert abs(drawn.mean() - mean) < 4 * std / np.sqrt(N)
        assert abs(drawn.std() - std) < 4 * std / np.sqrt(2 * N)
    assert np.corrcoef(g_up, g_down)[0, 1] == pytest.approx((dtod**2 - r**2) / (dtod**2 + r**2), abs=0.03)
    state = set_conductance(state, jnp.full((N,), G_SYM + 0.1 / K, jnp.float32))
    up, down = device.step_sizes(state)
    w, w_lo, w_hi = (K * (np.asarray(x, np.float64) - G_SYM) for x in (state.g, state.g_min, state.g_max))
    scale_up, scale_down = np.asarray(state.scale_up), np.asarray(state.scale_down)
    np.testing.assert_allclose(np.asarray(up) * K, DW * scale_up * ((w_hi - w) / (w_hi - w_lo)) ** g_up, rtol=2e-3)
    np.testing.assert_allclose(np.asarray(down) * K, DW * scale_down * ((w - w_lo) / (w_hi - w_lo)) ** g_down,
                               rtol=2e-3)


EXP_SHAPE = dict(A_up=0.00081, A_down=0.36833, gamma_up=12.44625, gamma_down=12.78785, a=0.244, b=0.2425)


def aihwkit_exp_steps(w, b_diff, scale_up, scale_down, A_up, A_down, gamma_up, gamma_down, a, b):
    """aihwkit's `ExpStepDevice` update_once, noise-free: (up, down) step at weight w, device range b_diff."""
    z = 2.0 * w / b_diff * a + b
    return (scale_up * np.maximum(1 - A_up * np.exp(gamma_up * z), 0),
            scale_down * np.maximum(1 - A_down * np.exp(-gamma_down * z), 0))


@pytest.mark.parametrize("shape, up_down", [(EXP_SHAPE, 0.0), (EXP_SHAPE, -0.2),
                                            (dict(A_up=0.2, A_down=0.05, gamma_up=3.0, gamma_down=6.0, a=0.6,
                                                  b=-0.1), 0.1)])
def test_exp_step_follows_aihwkit_equations(shape, up_down):
    u, d = aihwkit_bias(up_down)
    up, down = ours(exp_step_from_aihwkit(DW, W_MAX, G_MIN, G_MAX, up_down=up_down, **shape), W)
    want_up, want_down = aihwkit_exp_steps(W, 2 * W_MAX, DW * u, DW * d, **shape)
    np.testing.assert_allclose(up, want_up, rtol=5e-4, atol=1e-9)
    np.testing.assert_allclose(down, want_down, rtol=5e-4, atol=1e-9)
    assert want_up.min() < 0.8 * DW * u  # the weights reach into the collapse near the upper bound


def test_exp_step_z_takes_each_devices_own_range_and_weight_from_the_nominal_symmetry_point():
    device = exp_step_from_aihwkit(DW, W_MAX, G_MIN, G_MAX, w_max_dtod=0.3, w_min_dtod=0.2, **EXP_SHAPE)
    n = 2000
    state = device.init(jax.random.key(3), (n,))
    g = jnp.full((n,), G_SYM + 0.3 / K, jnp.float32)
    state = set_conductance(state, g)  # (clipped into the devices' own ranges)
    up, down = device.step_sizes(state)
    w = K * (np.asarray(state.g, np.float64) - G_SYM)
    b_diff = K * (np.asarray(state.g_max, np.float64) - np.asarray(state.g_min, np.float64))
    want_up, want_down = aihwkit_exp_steps(w, b_diff, DW * np.asarray(state.scale_up),
                                           DW * np.asarray(state.scale_down), **EXP_SHAPE)
    np.testing.assert_allclose(np.asarray(up) * K, want_up, rtol=2e-3)
    np.testing.assert_allclose(np.asarray(down) * K, want_down, rtol=2e-3)
    assert np.std(want_up) > 0.01 * DW  # the bound spread does change the step here


def test_bound_spread_leaves_the_step_at_the_symmetry_point_unspread():
    device = soft_bounds_from_aihwkit(DW, W_MAX, G_MIN, G_MAX, w_max_dtod=0.3, dw_min_std=0.1)
    state = device.init(jax.random.key(1), (2000,))
    assert np.std(np.asarray(state.g_max)) > 0.1 * (G_MAX - G_MIN) / 2  # the bounds do spread
    up, down = device.step_sizes(set_conductance(state, jnp.full((2000,), G_SYM, jnp.float32)))
    np.testing.assert_allclose(np.asarray(up) * K, DW, rtol=1e-3)
    np.testing.assert_allclose(np.asarray(down) * K, DW, rtol=1e-3)
    assert device.variation.bounds_d2d == 0.3 and device.variation.c2c == 0.1


def test_unmappable_parameters_are_rejected():
    with pytest.raises(ValueError, match="symmetric bounds"):
        constant_step_from_aihwkit(DW, W_MAX, G_MIN, G_MAX, w_min=-0.3)
    with pytest.raises(ValueError, match="write_noise_std"):
        soft_bounds_from_aihwkit(DW, W_MAX, G_MIN, G_MAX, write_noise_std=-0.1)
    with pytest.raises(ValueError, match="dw_min_std_slope"):
        exp_step_from_aihwkit(DW, W_MAX, G_MIN, G_MAX, dw_min_std_slope=0.1)
    with pytest.raises(ValueError, match="pow_gamma"):
        power_step_from_aihwkit(DW, W_MAX, G_MIN, G_MAX, pow_gamma=-1.0)


N = 20_000  # devices of the statistical checks below; fixed keys


def test_each_bound_spreads_by_its_own_dtod():
    """aihwkit: w_max (1 + w_max_dtod xi) and w_min (1 + w_min_dtod xi), drawn independently. (A range far from
    0 S, so that no lower bound is floored at 0 S.)"""
    g_min, g_max = 20e-6, 30e-6
    k, g_sym = 2 * W_MAX / (g_max - g_min), 0.5 * (g_min + g_max)
    device = soft_bounds_from_aihwkit(DW, W_MAX, g_min, g_max, w_max_dtod=0.1, w_min_dtod=0.25)
    state = device.init(jax.random.key(2), (N,))
    w_hi, w_lo = (np.asarray(state.g_max) - g_sym) * k, (np.asarray(state.g_min) - g_sym) * k
    for w, dtod in ((w_hi, 0.1), (-w_lo, 0.25)):
        assert np.mean(w) == pytest.approx(W_MAX, abs=4 * W_MAX * dtod / np.sqrt(N))
        assert np.std(w) == pytest.approx(W_MAX * dtod, rel=0.03)  # SE of a std: 1 / sqrt(2N) = 0.5%
    assert abs(np.corrcoef(w_hi, w_lo)[0, 1]) < 4 / np.sqrt(N)


def test_log_normal_gain_is_exp_of_dtod_xi():
    device = soft_bounds_from_aihwkit(DW, W_MAX, G_MIN, G_MAX, dw_min_dtod=0.7, dw_min_dtod_log_normal=True)
    log_gain = np.log(np.asarray(device.init(jax.random.key(3), (N,)).scale_up))
    assert np.mean(log_gain) == pytest.approx(0.0, abs=4 * 0.7 / np.sqrt(N))
    assert np.std(log_gain) == pytest.approx(0.7, rel=0.03)
    linear = soft_bounds_from_aihwkit(DW, W_MAX, G_MIN, G_MAX, dw_min_dtod=0.2).init(jax.random.key(3), (N,))
    assert np.std(np.asarray(linear.scale_up)) == pytest.approx(0.2, rel=0.03)  # 1 + dtod xi otherwise


@pytest.mark.parametrize("mult_noise", [True, False])
def test_step_noise_is_multiplicative_or_additive_as_aihwkit_says(mult_noise):
    """One up pulse from w = 0.45 (near w_max = 0.6, mean step DW (1 - 0.45 / 0.6) = DW / 4): multiplicative noise
    has std 0.3 x DW / 4 there, additive noise 0.3 x DW (that of a step at the symmetry point)."""
    device = soft_bounds_from_aihwkit(DW, W_MAX, G_MIN, G_MAX, dw_min_std=0.3, mult_noise=mult_noise)
    state = set_conductance(device.init(jax.random.key(4), (N,)), jnp.full((N,), G_SYM + 0.45 / K, jnp.float32))
    step = (np.asarray(device.pulse_n(state, jnp.ones(N, jnp.int32), jax.random.key(5)).g) - np.asarray(state.g)) * K
    mean_step = DW * (1 - 0.45 / W_MAX)
    expected_std = 0.3 * (mean_step if mult_noise else DW)
    assert np.mean(step) == pytest.approx(mean_step, abs=4 * expected_std / np.sqrt(N))
    assert np.std(step) == pytest.approx(expected_std, rel=0.03)


def test_write_noise_offsets_the_read_weight_of_written_devices_only_and_does_not_accumulate():
    device = soft_bounds_from_aihwkit(DW, W_MAX, G_MIN, G_MAX, write_noise_std=1.5)
    state = set_conductance(device.init(jax.random.key(6), (N,)), jnp.full((N,), G_SYM, jnp.float32))
    np.testing.assert_array_equal(np.asarray(device.read(state)), np.asarray(state.g))  # never written yet
    pulsed = jnp.arange(N) < N // 2
    once = device.pulse_n(state, pulsed.astype(jnp.int32), jax.random.key(7))
    offset = (np.asarray(device.read(once)) - np.asarray(once.g)) * K
    assert np.std(offset[: N // 2]) == pytest.approx(1.5 * DW, rel=0.04)  # aihwkit: write_noise_std x dw_min
    np.testing.assert_array_equal(offset[N // 2:], 0.0)  # unwritten devices keep theirs (none yet)
    # The internal state moved by the noise-free step: the next pulse starts from it, not from the read value.
    np.testing.assert_allclose(np.asarray(once.g)[: N // 2] * K - G_SYM * K, DW, rtol=1e-3)
    twice = device.pulse_n(once, pulsed.astype(jnp.int32), jax.random.key(8))
    again = (np.asarray(device.read(twice)) - np.asarray(twice.g)) * K
    assert abs(np.corrcoef(offset[: N // 2], again[: N // 2])[0, 1]) < 4 / np.sqrt(N // 2)  # redrawn
    assert np.std(again[: N // 2]) == pytest.approx(1.5 * DW, rel=0.04)  # not grown
