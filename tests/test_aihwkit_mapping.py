"""The aihwkit parameter mapping, checked on the equations: a device built from aihwkit's parameters takes, at
every weight, the step aihwkit's equations give; soft-bounds slopes are relative to each device's own bound
from the symmetry point, so a bound spread leaves the step at the symmetry point unspread."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from devices import set_conductance
from devices.aihwkit import constant_step_from_aihwkit, linear_step_from_aihwkit, soft_bounds_from_aihwkit

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
        soft_bounds_from_aihwkit(DW, W_MAX, G_MIN, G_MAX, w_min=-0.3)
    with pytest.raises(ValueError, match="one bound spread"):
        soft_bounds_from_aihwkit(DW, W_MAX, G_MIN, G_MAX, w_max_dtod=0.3, w_min_dtod=0.1)
