"""Statistics of each device model against its own equations, presets, and parameter access by dotted name.

Statistical tests use fixed keys and a few thousand devices; means must agree within 4 standard errors.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from devices import MODELS, ConstantStep, NeuroSimNonlinear, SoftBounds, Variation, presets, set_conductance
from devices.closed_form import affine_after_n
from devices.linear_step import LinearStep
from devices.nonlinear import neurosim_ltd_curve, neurosim_ltp_curve
from devices.params import get_parameter, parameter_names, replace_parameters
from devices.pulsed import PulsedDevice

from helpers import SHAPE, N, at_fraction


def assert_mean_close(samples, expected, n_se=4.0, what="mean"):
    samples = np.asarray(samples, np.float64)
    se = samples.std() / math.sqrt(samples.size)
    assert abs(samples.mean() - expected) <= n_se * se + 1e-12 * abs(expected), (
        f"{what}: {samples.mean():.6g} vs expected {expected:.6g} (se {se:.3g})")


def assert_std_close(samples, expected, n_se=4.0, what="std"):
    samples = np.asarray(samples, np.float64)
    se = expected / math.sqrt(2 * samples.size)  # standard error of a Gaussian sample std
    assert abs(samples.std() - expected) <= n_se * se, f"{what}: {samples.std():.6g} vs expected {expected:.6g}"


# ---- constant step ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("direction", [1, -1])
def test_constant_step_mean_step_and_c2c_spread(direction):
    c2c = 0.3
    model = ConstantStep(variation=Variation(c2c=c2c))
    state = at_fraction(model, 0.5)
    new = model.pulse(state, 1.5 * direction * model.v_threshold, jax.random.key(1))
    steps = (new.g - state.g) * direction
    assert_mean_close(steps, model.dg, what="constant step mean")
    assert_std_close(steps, c2c * model.dg, what="constant step c2c std")


def test_constant_step_asymmetry_and_d2d_spread():
    model = ConstantStep(variation=Variation(dg_d2d=0.3, up_down=0.1))
    state = at_fraction(model, 0.5)
    up = model.pulse_n(state, 1, jax.random.key(1)).g - state.g
    down = state.g - model.pulse_n(state, -1, jax.random.key(1)).g
    # No c2c: steps are exactly the device's own scales times dg.
    # float32 conductances of ~5 uS resolve a step to about 1e-12 S.
    np.testing.assert_allclose(up, model.dg * state.scale_up, rtol=1e-4, atol=2e-12)
    np.testing.assert_allclose(down, model.dg * state.scale_down, rtol=1e-4, atol=2e-12)
    assert_mean_close(up / model.dg, 1.1, what="mean up scale")
    assert_std_close(up / model.dg / 1.1, 0.3, what="d2d spread of the step")


# ---- closed form vs pulse by pulse ----------------------------------------------------------------------------
def _closed_form_names():
    names = []
    for name, cls in sorted(MODELS.items()):
        model = cls()
        state = model.init(jax.random.key(0), (2,))
        if cls.respond is PulsedDevice.respond and model.mean_after_n_pulses(state, jnp.ones(2, jnp.int32)) is not None:
            names.append(name)
    return names


@pytest.mark.parametrize("direction", [1, -1])
@pytest.mark.parametrize("name", _closed_form_names())
def test_closed_form_pulse_n_matches_pulse_by_pulse(name, direction):
    model = dataclasses.replace(MODELS[name](), variation=Variation(c2c=0.3, dg_d2d=0.2, up_down=0.05))
    state = at_fraction(model, 0.5)
    n = jnp.full(SHAPE, 20 * direction, jnp.int32)
    mean = model.mean_after_n_pulses(state, n)
    closed = jax.jit(model.respond)(state, n, jax.random.key(2)).g
    loop = jax.jit(model._respond_by_loop)(state, n, jax.random.key(3)).g
    g_range = np.asarray(state.g_max - state.g_min)
    moved = np.abs(np.asarray(mean - state.g)) / g_range
    assert moved.mean() > 1e-3, "the test needs the devices to move"
    # Residuals about the per-device mean, in units of the device's range (removes the d2d spread).
    res_closed = np.asarray(closed - mean) / g_range
    res_loop = np.asarray(loop - mean) / g_range
    assert_mean_close(res_loop, 0.0, what=f"{name}: loop mean - closed-form mean")
    assert_mean_close(res_closed, 0.0, what=f"{name}: closed-form residual mean")
    assert abs(res_closed.std() / res_loop.std() - 1.0) < 0.08, (
        f"{name}: c2c std closed form {res_closed.std():.4g} vs pulse by pulse {res_loop.std():.4g}")


def test_linear_step_closed_form_is_finite_and_exact_at_gamma_zero():
    model = LinearStep(gamma_up=0.0, gamma_down=0.0)
    state = at_fraction(model, 0.5)
    for n in (1, 7, -7, 0):
        mean = model.mean_after_n_pulses(state, jnp.full(SHAPE, n))
        np.testing.assert_allclose(mean - state.g, n * model.dg, rtol=1e-4, atol=1e-15)
    # Tiny gamma is as good as zero; c exactly zero gives the sum n without a 0/0.
    x = affine_after_n(jnp.float32(0.0), jnp.float32(1.0), jnp.array([0.0, 1e-12, 1e-3]), jnp.float32(10.0))
    np.testing.assert_allclose(x, [10.0, 10.0, (1 - 0.999**10) / 1e-3], rtol=1e-5)
    assert bool(jnp.all(jnp.isfinite(jax.grad(lambda c: affine_after_n(0.0, 1.0, c, 10.0))(0.0))))


def test_linear_step_step_sizes_follow_the_equation():
    model = LinearStep(gamma_up=0.8, gamma_down=0.3)
    u = jnp.linspace(0.0, 1.0, N).reshape(SHAPE)
    up, down = model.step_sizes(at_fraction(model, u))
    np.testing.assert_allclose(up, model.dg * (1 - 0.8 * u), rtol=1e-4)
    np.testing.assert_allclose(down, model.dg * (1 - 0.3 * (1 - u)), rtol=1e-4)


# ---- soft bounds ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("direction", [1, -1])
def test_soft_bounds_step_is_linear_in_g_with_slope_dg_over_range(direction):
    model = SoftBounds(variation=Variation(c2c=0.2))
    u = jax.random.uniform(jax.random.key(4), SHAPE, minval=0.05, maxval=0.95)
    state = at_fraction(model, u)
    new = model.pulse(state, direction * model.v_threshold, jax.random.key(5))
    g, step = np.asarray(state.g, np.float64).ravel(), np.asarray(new.g - state.g, np.float64).ravel()
    slope, intercept = np.polyfit(g, step, 1)
    residual = step - (slope * g + intercept)
    se = residual.std() / (g.std() * math.sqrt(g.size))
    expected = -model.dg / (model.g_max - model.g_min)  # for both directions: d(step)/dG = -dg / range
    assert abs(slope - expected) < 4 * se, f"slope {slope:.5g} vs {expected:.5g} +- {4 * se:.3g}"


# ---- NeuroSim -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("phase", ["ltp", "ltd"])
def test_neurosim_mean_curve_follows_the_formula(phase):
    model = NeuroSimNonlinear(variation=Variation(c2c=0.2))
    shape = (20, 100)
    state = model.init(jax.random.key(6), shape)
    if phase == "ltd":
        state = set_conductance(state, state.g_max)
    v = model.v_threshold * (1.0 if phase == "ltp" else -1.0)
    pulses = 60

    def step(s, k):
        s = model.pulse(s, v, k)
        return s, s.g

    _, trace = jax.jit(lambda s: jax.lax.scan(step, s, jax.random.split(jax.random.key(7), pulses)))(state)
    p = np.arange(1, pulses + 1)
    if phase == "ltp":
        expected = neurosim_ltp_curve(p, model.g_min, model.g_max, model.a_ltp, model.p_max)
    else:
        expected = neurosim_ltd_curve(model.p_max - p, model.g_min, model.g_max, model.a_ltd, model.p_max)
    trace = np.asarray(trace, np.float64).reshape(pulses, -1)
    se = trace.std(axis=1) / math.sqrt(trace.shape[1]) + 1e-6 * model.g_max  # float32 rounding floor
    assert np.all(np.abs(trace.mean(axis=1) - np.asarray(expected)) < 4 * se)
    # The curve is really nonlinear: the first step is several times the last.
    first, last = np.diff(np.asarray(expected))[[0, -1]]
    assert abs(first) > 2 * abs(last)


def test_neurosim_curves_span_the_range_in_p_max_pulses():
    g = neurosim_ltp_curve(jnp.array([0.0, 97.0]), 3e-9, 38e-9, 48.4, 97.0)
    np.testing.assert_allclose(g, [3e-9, 38e-9], rtol=1e-5)
    g = neurosim_ltd_curve(jnp.array([97.0, 0.0]), 3e-9, 38e-9, 19.4, 97.0)
    np.testing.assert_allclose(g, [38e-9, 3e-9], rtol=1e-5)


def test_neurosim_d2d_scale_multiplies_the_pulse_number():
    model = NeuroSimNonlinear(variation=Variation(dg_d2d=0.3))
    state = at_fraction(model, 0.2)
    one = model.mean_after_n_pulses(state, jnp.full(SHAPE, 10))
    inf_up, _ = model.asymptotes(state)
    expected = inf_up + (state.g - inf_up) * jnp.exp(-10 * state.scale_up / model.a_ltp)
    np.testing.assert_allclose(one, expected, rtol=1e-5)


# ---- PCM ------------------------------------------------------------------------------------------------------
def test_pcm_set_is_gradual_and_noisy_reset_is_abrupt_and_depression_does_nothing():
    model = presets.pcm_nandakumar()
    # Away from G_min, so that the large noise of a step is not clipped at the bound (which would bias it).
    state = at_fraction(model, 0.3, jax.random.key(8))
    set1 = model.pulse(state, 1.2, jax.random.key(9), t=5.0)
    steps = np.asarray(set1.g - state.g)
    expected = model.dg * np.asarray(state.scale_up) * (1 - np.asarray(
        (state.g - state.g_min) / (state.g_max - state.g_min))) ** model.gamma
    assert_mean_close(steps - expected, 0.0, what="PCM SET step")
    assert np.std(steps / expected) > 0.5  # large cycle-to-cycle spread
    assert float(jnp.mean(set1.t_prog)) == 5.0
    many = model.pulse_n(set1, 15, jax.random.key(10))
    assert float(jnp.mean(many.g)) > float(jnp.mean(set1.g))
    # Depression below v_reset, and negative counts, do nothing (not even to the programming time).
    for v in (-model.v_threshold, -0.99 * model.v_reset):
        assert np.array_equal(model.pulse(many, v, jax.random.key(11), t=9.0).g, many.g)
    unchanged = model.pulse_n(many, -5, jax.random.key(11), t=9.0)
    assert np.array_equal(unchanged.g, many.g) and np.array_equal(unchanged.t_prog, many.t_prog)
    # RESET: abrupt, back to G_min (stuck devices excepted), and restarts the drift clock.
    reset = model.pulse(many, -model.v_reset, jax.random.key(12), t=9.0)
    np.testing.assert_array_equal(reset.g, jnp.where(many.stuck, many.g, many.g_min))
    assert float(jnp.max(jnp.where(many.stuck, 9.0, reset.t_prog))) == 9.0
    mask = jnp.arange(N).reshape(SHAPE) % 2 == 0
    partial = model.reset(many, mask)
    np.testing.assert_array_equal(partial.g, jnp.where(mask & ~many.stuck, many.g_min, many.g))


# ---- presets --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(presets.PRESETS))
def test_presets_validate_and_cite_their_source(name):
    model = presets.get(name)
    assert model.validate() is model
    doc = presets.PRESETS[name].__doc__
    assert "References" in doc or "llustrative" in doc
    state = model.init(jax.random.key(0), (4, 5))
    assert state.g.shape == (4, 5)


def test_unknown_preset_lists_the_valid_ones():
    with pytest.raises(ValueError, match="pcm_nandakumar"):
        presets.get("no_such_device")


# ---- parameters by dotted name --------------------------------------------------------------------------------
def test_get_and_replace_parameters_by_dotted_name():
    model = presets.pcm_nandakumar()
    assert get_parameter(model, "drift.nu") == model.drift.nu
    assert get_parameter(model, "variation.c2c") == model.variation.c2c
    new = replace_parameters(model, **{"drift.nu": 0.1, "variation.c2c": 0.2, "dg": 1e-6})
    assert (new.drift.nu, new.variation.c2c, new.dg) == (0.1, 0.2, 1e-6)
    assert (model.drift.nu, model.variation.c2c) == (0.04, 1.0)  # the original is untouched
    assert new.drift.t0 == model.drift.t0 and new.read_noise == model.read_noise
    assert "drift.nu" in parameter_names(model) and "read_noise.flicker" in parameter_names(model)


@pytest.mark.parametrize("bad", ["dgg", "variation.c2", "drift.nu.x", "variation"])
def test_unknown_parameter_names_list_the_valid_ones(bad):
    model = presets.pcm_nandakumar()
    if bad == "variation":  # a whole sub-dataclass is a valid name for get_parameter
        assert get_parameter(model, bad) == model.variation
        return
    with pytest.raises(ValueError, match="valid names: .*variation.c2c") as info:
        replace_parameters(model, **{bad: 1.0})
    assert repr(bad) in str(info.value)
    with pytest.raises(ValueError, match="drift.nu"):
        get_parameter(model, bad)


@pytest.mark.parametrize("model_name", ["soft_bounds", "linear_step", "constant_step"])
@pytest.mark.parametrize("n", [1, 7, -31, 200])
def test_additive_noise_closed_form_equals_pulse_by_pulse_in_distribution(model_name, n):
    """Additive cycle-to-cycle noise (aihwkit's `mult_noise` off): n pulses in closed form have the mean and the
    std of n pulses applied one by one, away from the bounds (fixed keys, 20 000 devices, 5 standard errors)."""
    device = replace_parameters(MODELS[model_name](), **{"variation.c2c": 2.0, "variation.dg_d2d": 0.2})
    device = dataclasses.replace(device, variation=dataclasses.replace(device.variation, c2c_additive=True))
    shape = (20_000,)
    state = device.init(jax.random.key(0), shape)
    state = dataclasses.replace(state, g=jnp.full(shape, 0.5 * (device.g_min + device.g_max)))
    count = jnp.full(shape, n, jnp.int32)
    closed = np.asarray(device.respond(state, count, jax.random.key(1)).g, np.float64)
    looped = np.asarray(device._respond_by_loop(state, count, jax.random.key(2)).g, np.float64)
    assert device.mean_after_n_pulses(state, count) is not None  # the closed form is the one compared
    se = np.sqrt((closed.var() + looped.var()) / shape[0])
    assert abs(closed.mean() - looped.mean()) < 5 * se
    # std of a sample std ~ std / sqrt(2 N)
    assert abs(closed.std() - looped.std()) < 5 * looped.std() * np.sqrt(2.0 / shape[0])
    assert closed.std() > 0.5 * looped.std() > 0
