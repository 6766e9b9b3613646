"""The `reram_sb_aihwkit` preset against aihwkit's `ReRamSBPresetDevice` equations (steps, spreads, noise) and its
periphery, and the symmetry-point references (computed, zero-shifted, `reference_std`) on it."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from crossbar import array
from crossbar.presets import ARRAY_PRESETS
from crossbar.reference import set_symmetry_reference
from devices import SoftBounds, set_conductance
from devices.presets import get
from devices.symmetry import symmetry_point

DEVICE = get("reram_sb_aihwkit")
DW, W_MAX, W_MIN = 0.002, 1.25, -0.75
K = (W_MAX - W_MIN) / (DEVICE.g_max - DEVICE.g_min)  # weight per siemens
G0 = DEVICE.g_min - W_MIN / K  # aihwkit's w = 0
N = 20_000


def test_nominal_steps_follow_aihwkit_soft_bounds_with_asymmetric_bounds():
    w = np.linspace(-0.7, 1.2, 9)
    nominal = SoftBounds(**{**DEVICE.__dict__, "variation": type(DEVICE.variation)()})
    state = set_conductance(nominal.init(jax.random.key(0), (9,)), jnp.asarray(G0 + w / K, jnp.float32))
    up, down = nominal.step_sizes(state)
    np.testing.assert_allclose(np.asarray(up) * K, DW * (1 - w / W_MAX), rtol=1e-3)
    np.testing.assert_allclose(np.asarray(down) * K, DW * (1 - w / W_MIN), rtol=1e-3)


def test_bounds_spread_as_aihwkit_draws_them_and_the_computed_symmetry_point_is_its_formula():
    """aihwkit: b_max = 1.25 (1 + 0.24 xi), b_min = -0.75 (1 + 0.4 xi), both std 0.3; symmetry point
    w* = (a_up - a_down) / (a_up / b_max - a_down / b_min) per device."""
    state = DEVICE.init(jax.random.key(1), (N,))
    b_max, b_min = (np.asarray(state.g_max) - G0) * K, (np.asarray(state.g_min) - G0) * K
    for b, mean in ((b_max, W_MAX), (b_min, W_MIN)):
        assert np.mean(b) == pytest.approx(mean, abs=4 * 0.3 / np.sqrt(N))
        assert np.std(b) == pytest.approx(0.3, rel=0.03)
    g_sym, exists = jax.jit(symmetry_point, static_argnums=0)(DEVICE, state)
    a_up, a_down = np.asarray(state.scale_up), np.asarray(state.scale_down)
    # The formula holds where the bounds bracket w = 0 (b_min < 0: not the 0.6% of devices 2.5 sd out, whose
    # symmetry point is their lower bound, 1%) and the gain is not floored at 0 (`devices.aihwkit`: no steps at all).
    moving = (a_up > 0) & (b_min < -0.05)  # (within 0.05 the model caps a step at the distance to the bound)
    assert np.mean(moving) > 0.98
    w_star = (a_up - a_down)[moving] / (a_up / b_max - a_down / b_min)[moving]
    np.testing.assert_allclose((np.asarray(g_sym)[moving] - G0) * K, w_star, atol=2e-4)
    assert np.all(np.asarray(exists))
    assert np.std(w_star) > 0.005  # up_down_dtod 0.01 spreads the symmetry points


def test_periphery_and_update_are_aihwkits_preset():
    kw = ARRAY_PRESETS["reram_sb_aihwkit"]()
    p, u = kw["periphery"], kw["update_scheme"]
    assert (p.dac_bits, p.adc_bits, p.output_bound, p.output_noise) == (7, 9, 20.0, 0.1)
    assert (u.bl, u.update_management, u.bl_management) == (31, True, True)
    assert DEVICE.variation.c2c_additive and DEVICE.variation.c2c == 3.75
    assert DEVICE.write_noise.std * K == pytest.approx(56 * DW)
    xb = array.make_crossbar(DEVICE, 2, 2, **kw)
    assert xb.scale * DW == pytest.approx(DEVICE.dg / 2, rel=1e-6)  # one pulse at the symmetry point = dw_min


@pytest.fixture(scope="module")
def crossbar():
    return array.make_crossbar(DEVICE, 40, 50, **ARRAY_PRESETS["reram_sb_aihwkit"]())


@pytest.mark.slow
def test_computed_reference_with_reference_std_offsets_each_device_by_that_spread(crossbar):
    state = array.init(crossbar, jax.random.key(2))
    ref = jax.jit(lambda s, k: set_symmetry_reference(crossbar, s, k, reference_std=0.05))
    new, report = ref(state, jax.random.key(3))
    offset = np.asarray(report.offset)
    assert abs(offset.mean()) < 4 * 0.05 / np.sqrt(offset.size)
    assert offset.std() == pytest.approx(0.05, rel=4 / np.sqrt(2 * offset.size))
    # the device sits at its symmetry point, so the weight it shows is the offset
    np.testing.assert_allclose(np.asarray(array.weights(crossbar, new)), offset, atol=1e-5)


@pytest.mark.slow
def test_zero_shifting_brings_each_device_to_its_symmetry_point_up_to_its_noise():
    """Noise-free soft bounds: alternating pulses converge to G*; the remaining offset is below one step. With the
    preset's noise the offset spread is reported (of the order of its write noise)."""
    quiet = SoftBounds(**{**DEVICE.__dict__, "write_noise": type(DEVICE.write_noise)(std=0.0),
                          "variation": DEVICE.variation.__class__(**{**DEVICE.variation.__dict__, "c2c": 0.0})})
    for device, bound in ((quiet, 3 * DW), (DEVICE, None)):  # it ends a step down: about half a step x its gain
        xb = array.make_crossbar(device, 20, 20, **ARRAY_PRESETS["reram_sb_aihwkit"]())
        state = array.init(xb, jax.random.key(4))  # every device starts at its lower bound
        _, report = set_symmetry_reference(xb, state, jax.random.key(5), method="zero_shift", n_pairs=3000)
        offset = np.asarray(report.offset)
        if bound is not None:
            # all but the devices with a step gain near 0 (d2d spread 0.3, floored at 0), which move too slowly
            assert np.quantile(np.abs(offset), 0.99) < bound
        else:
            assert 0.02 < offset.std() < 0.5 and abs(offset.mean()) < 4 * offset.std() / np.sqrt(offset.size)


@pytest.mark.parametrize("method", ["computed", pytest.param("zero_shift", marks=pytest.mark.slow)])
def test_a_device_with_no_symmetry_point_gets_its_mid_range_as_reference(method):
    """A constant-step device whose up step is 20% larger has no symmetry point (random pulses run it to its upper
    bound): its reference is its own mid-range, so it holds weights of both signs, and the report says so."""
    from devices import ConstantStep, Variation

    device = ConstantStep(g_min=1e-6, g_max=11e-6, dg=1e-8, variation=Variation(up_down=0.2, bounds_d2d=0.1))
    xb = array.make_crossbar(device, 8, 6, pair="reference", w_max=1.0)
    state = array.init(xb, jax.random.key(6))
    new, report = set_symmetry_reference(xb, state, jax.random.key(7), method=method, n_pairs=50)
    assert not np.asarray(report.exists).any() and not np.asarray(report.offset).any()
    mid = 0.5 * (np.asarray(state.plus.g_min) + np.asarray(state.plus.g_max))
    np.testing.assert_allclose(np.asarray(new.minus.g), mid, rtol=1e-5)
    w = np.asarray(array.weights(xb, new))
    np.testing.assert_allclose(w, 0.0, atol=1e-5)  # each device starts at its reference
    # weights of both signs are reachable: up to about +-w_max / 2 from the middle of each device's own range
    span = (np.asarray(state.plus.g_max) - np.asarray(state.plus.g_min)) * 0.5 / xb.scale
    assert span.min() > 0.3
