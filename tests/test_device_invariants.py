"""Invariants every device model in `devices.MODELS` must keep, whatever its physics.

Each model is built with its default parameters plus device-to-device and cycle-to-cycle spread, so that
the tests also cover the spread's code paths. New models registered in `MODELS` are covered automatically.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices import MODELS, Variation
from devices.params import replace_parameters

NAMES = sorted(MODELS)
SHAPE = (25, 40)
SPREAD = Variation(dg_d2d=0.2, up_down=0.05, up_down_d2d=0.05, bounds_d2d=0.2, c2c=0.3)


def make(name: str, **variation):
    """Model `name` with default parameters plus spread (overridden by `variation` fields)."""
    return dataclasses.replace(MODELS[name](), variation=dataclasses.replace(SPREAD, **variation))


def amplitudes(model):
    """(v_up, v_down, v_half): smallest full SET and (negative) RESET amplitudes, and one below every threshold."""
    return (model.v_threshold, -float(model.switching_threshold),
            0.5 * min(model.v_threshold, model.reset_threshold))


def leaves_equal(a, b) -> bool:
    leaves_a, leaves_b = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    return all(np.array_equal(x, y) for x, y in zip(leaves_a, leaves_b, strict=True))


def _run_sequence(model, init_key, volts, counts, key):
    """Fresh devices, then at each step t one pulse of amplitudes `volts[t]` ([T, *shape], V) and `counts[t]`
    ([T], signed) full pulses, then a noisy and a noise-free read 100 s later.

    Returns (initial state, final state, the state after every step (leaves [T, *shape]), whether every device
    stayed within its own bounds after every operation, noisy read, noise-free read).
    """

    def within(s):
        return jnp.all((s.g >= s.g_min) & (s.g <= s.g_max))

    def step(s, x):
        v, n, t, k = x
        k1, k2 = jax.random.split(k)
        s1 = model.pulse(s, v, k1, t)
        s2 = model.pulse_n(s1, n, k2, t)
        return s2, (s2, within(s1) & within(s2))

    initial = model.init(init_key, SHAPE)
    steps = counts.shape[0]
    final, (trace, ok) = jax.lax.scan(
        step, initial, (volts, counts, jnp.arange(steps, dtype=jnp.float32), jax.random.split(key, steps)))
    return initial, final, trace, jnp.all(ok), model.read(final, 100.0, key), model.read(final, 100.0)


@jax.jit
def run_sequence(model, g_maxes, init_key, volts, counts, key):
    """`_run_sequence` for a batch of models that differ in `g_max` ([B], S), by `jax.vmap`: every test of a
    sequence runs this one compiled program per model class, and so exercises jit and vmap over a parameter."""
    return jax.vmap(lambda g_max: _run_sequence(dataclasses.replace(model, g_max=g_max), init_key, volts, counts,
                                                key))(g_maxes)


def sequence_inputs(volts, counts, key):
    """[T, *SHAPE] amplitudes: the first half of the rows get `volts[t]`, the rest uniform in [-3, 3] V."""
    volts = jnp.asarray(volts, jnp.float32)
    random = jax.random.uniform(key, (volts.shape[0], *SHAPE), minval=-3.0, maxval=3.0)
    rows = jnp.arange(SHAPE[0])[:, None] < SHAPE[0] // 2
    return jnp.where(rows, volts[:, None, None], random), jnp.asarray(counts, jnp.int32)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=10, deadline=None)
@given(volts=st.lists(st.floats(-3.0, 3.0), min_size=8, max_size=8),
       counts=st.lists(st.integers(-40, 40), min_size=8, max_size=8),
       seed=st.integers(0, 2**31 - 1))
def test_conductance_stays_within_bounds(name, volts, counts, seed):
    model = make(name)
    k_init, k_dev, k_run = jax.random.split(jax.random.key(seed), 3)
    g_maxes = jnp.array([1.0, 1.7]) * model.g_max
    _, _, trace, ok, read_noisy, read_mean = run_sequence(model, g_maxes, k_init,
                                                          *sequence_inputs(volts, counts, k_dev), k_run)
    assert np.all(ok), f"{name}: a conductance left its device's bounds"
    assert np.all(np.isfinite(trace.g)) and np.all(np.isfinite(read_noisy)) and np.all(np.isfinite(read_mean))


def _fixed_sequence(model, key, g_maxes=None):
    v_up, v_down, _ = amplitudes(model)
    volts = [v_up, v_up, v_down, 3.0, -3.0, v_up, 0.2, v_down]
    counts = [40, -40, 25, -10, 0, 3, -3, 1]
    g_maxes = jnp.array([1.0, 1.7]) * model.g_max if g_maxes is None else g_maxes
    return run_sequence(model, g_maxes, jax.random.key(1), *sequence_inputs(volts, counts, jax.random.key(7)), key)


@pytest.mark.parametrize("name", NAMES)
def test_same_key_same_trace_other_key_other_noise(name):
    model = make(name)
    trace_a = _fixed_sequence(model, jax.random.key(3))[2].g
    trace_b = _fixed_sequence(model, jax.random.key(3))[2].g
    trace_c = _fixed_sequence(model, jax.random.key(4))[2].g
    np.testing.assert_array_equal(trace_a, trace_b)
    assert not np.array_equal(trace_a, trace_c), f"{name}: a different key gave the same cycle-to-cycle noise"


@pytest.mark.parametrize("name", NAMES)
def test_half_amplitude_never_switches_full_amplitude_does(name):
    model = make(name)
    v_up, v_down, v_half = amplitudes(model)
    below = v_half * jax.random.uniform(jax.random.key(5), SHAPE, minval=-1.0, maxval=1.0)
    # Fresh devices get sub-threshold pulses, one SET pulse, 60 full SET pulses (so that a depressing or RESET
    # pulse has something to undo), sub-threshold pulses again, then one depressing/RESET pulse.
    volts = jnp.stack([jnp.full(SHAPE, v) for v in (v_half, -v_half, 0.0)] + [below, jnp.full(SHAPE, v_up),
                      jnp.zeros(SHAPE), jnp.full(SHAPE, -v_half), jnp.full(SHAPE, v_down)])
    counts = jnp.array([0, 0, 0, 0, 0, 60, 0, 0], jnp.int32)
    initial, _, trace, _, _, _ = run_sequence(model, jnp.array([model.g_max, model.g_max]), jax.random.key(5),
                                              volts, counts, jax.random.key(6))
    states = [initial] + [jax.tree_util.tree_map(lambda a, i=i: a[:, i], trace) for i in range(8)]
    for before, after in [(0, 1), (1, 2), (2, 3), (3, 4), (6, 7)]:
        assert leaves_equal(states[before], states[after]), f"{name}: a pulse below threshold (step {after}) switched"
    assert not leaves_equal(states[4], states[5]), f"{name}: a SET pulse did nothing"
    assert not leaves_equal(states[7], states[8]), f"{name}: a depressing/RESET pulse did nothing"
    assert np.any(np.asarray(states[6].g) != np.asarray(states[5].g)), f"{name}: 60 SET pulses moved no device"


@pytest.mark.parametrize("name", NAMES)
def test_stuck_devices_have_the_configured_fraction_and_never_move(name):
    f_low, f_high = 0.1, 0.05
    model = make(name, stuck_min_fraction=f_low, stuck_max_fraction=f_high)
    n = math.prod(SHAPE)
    v_up, v_down, _ = amplitudes(model)
    volts = [v_up, v_down, 3.0, -3.0, v_up, v_down, 3.0, -3.0]
    counts = [30, -30, 30, -30, 5, -5, 0, 0]
    initial, final, trace, _, _, _ = run_sequence(model, jnp.array([model.g_max, model.g_max]), jax.random.key(11),
                                                  *sequence_inputs(volts, counts, jax.random.key(12)),
                                                  jax.random.key(13))
    state, final, trace = jax.tree_util.tree_map(lambda a: a[0], (initial, final, trace))
    stuck = np.asarray(state.stuck)
    for frac, observed in ((f_low + f_high, stuck.mean()),
                           (f_low, (stuck & (np.asarray(state.g) == np.asarray(state.g_min))).mean()),
                           (f_high, (stuck & (np.asarray(state.g) == np.asarray(state.g_max))).mean())):
        se = math.sqrt(frac * (1 - frac) / n)
        assert abs(observed - frac) < 3 * se, f"{name}: stuck fraction {observed}, expected {frac} +- {3 * se}"
    assert np.all(np.asarray(trace.g)[:, stuck] == np.asarray(state.g)[stuck]), f"{name}: a stuck device moved"
    assert np.any(np.asarray(final.g)[~stuck] != np.asarray(state.g)[~stuck])


@pytest.mark.parametrize("name", NAMES)
def test_vmap_over_a_parameter_matches_the_unbatched_device(name):
    model = make(name)
    g = model.g_max
    # The same g_max at another position of the batch gives the same result: no mixing between batch elements.
    first = _fixed_sequence(model, jax.random.key(3), jnp.array([g, 1.7 * g]))
    second = _fixed_sequence(model, jax.random.key(3), jnp.array([0.6 * g, g]))
    for a, b in zip(jax.tree_util.tree_leaves(first), jax.tree_util.tree_leaves(second), strict=True):
        np.testing.assert_allclose(a[0], b[1], rtol=1e-5, atol=1e-6 * g)
    # The parameter is really used: each batch element has its own bounds.
    ranges = np.mean(np.asarray(first[0].g_max - first[0].g_min), axis=(1, 2))
    np.testing.assert_allclose(ranges[1] / ranges[0], (1.7 * g - model.g_min) / (g - model.g_min), rtol=0.05)


def _float_fields(model):
    return [f.name for f in dataclasses.fields(model) if isinstance(getattr(model, f.name), (int, float))]


@pytest.mark.parametrize("name", NAMES)
def test_bad_parameters_raise_errors_naming_the_parameter(name):
    model = make(name)
    model.validate()
    cases = [
        ({"g_max": model.g_min}, ValueError, "g_max"),
        ({"g_max": 0.5 * model.g_min - 1e-6}, ValueError, "g_max"),
        ({"variation.c2c": -0.1}, ValueError, "c2c"),
        ({"variation.stuck_min_fraction": 1.5}, ValueError, "stuck_min_fraction"),
        ({"variation.stuck_max_fraction": -0.1}, ValueError, "stuck_max_fraction"),
        ({"variation.dg_d2d": float("nan")}, ValueError, "dg_d2d"),
        ({"read_noise.std": -0.01}, ValueError, "read_noise.std"),
        ({"v_threshold": -1.0}, ValueError, "v_threshold"),
        ({"g_min": True}, TypeError, "g_min"),
    ]
    if hasattr(model, "dg"):
        cases.append(({"dg": -1e-7}, ValueError, "dg"))
    for field_name in _float_fields(model):
        cases.append(({field_name: float("nan")}, ValueError, field_name))
        cases.append(({field_name: "0.5"}, TypeError, field_name))
    for changes, error, word in cases:
        bad = replace_parameters(model, **changes)
        with pytest.raises(error, match=word):
            bad.validate()
        with pytest.raises(error, match=word):
            bad.init(jax.random.key(0), SHAPE)
