"""Tests of `crossbar.array` reads, `crossbar.periphery` converters and management, drift in time, input
validation, and `crossbar.programming.write_verify`.

Small arrays and fixed keys throughout; numpy references are written independently of the code under test.
"""

from __future__ import annotations

from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from crossbar import array as xa
from crossbar.periphery import Periphery, ideal_periphery
from crossbar.programming import write_verify
from crossbar.update import PulseUpdate
from devices import presets
from devices.constant_step import ConstantStep
from devices.drift import PowerLawDrift
from devices.noise import ReadNoise, Variation

ROWS, COLS = 8, 5
PAIRS = ("differential", "reference")


def _key(i: int = 0):
    return jax.random.key(i)


def _weights(rows=ROWS, cols=COLS, bound=0.5, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-bound, bound, (rows, cols)).astype(np.float32)


def _ideal_crossbar(pair="differential", periphery=None, rows=ROWS, cols=COLS, **kw):
    return xa.make_crossbar(presets.ideal(), rows, cols, pair=pair, periphery=periphery or ideal_periphery(), **kw)


def _quantize_np(x, bound, bits):
    step = 2.0 * bound / (2**bits - 2)
    return np.round(np.asarray(x, np.float64) / step) * step


# ----------------------------------------------------------------------------------------------------------
# Ideal reads
# ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("pair", PAIRS)
@pytest.mark.parametrize("batched", [False, True])
def test_ideal_forward_and_transpose_equal_float_products(pair, batched):
    xb = _ideal_crossbar(pair)
    w = _weights()
    state = xa.init(xb, _key(0), w)
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (3, ROWS) if batched else (ROWS,)).astype(np.float32)
    d = rng.normal(0, 0.3, (3, COLS) if batched else (COLS,)).astype(np.float32)
    y, cy = xa.forward(xb, state, jnp.asarray(x), _key(2))
    z, cz = xa.transpose(xb, state, jnp.asarray(d), _key(3))
    assert y.shape == ((3, COLS) if batched else (COLS,))
    assert z.shape == ((3, ROWS) if batched else (ROWS,))
    # The array holds the weights to float32 precision of the conductances (~1e-7 of w_max) ...
    np.testing.assert_allclose(xa.weights(xb, state), w, atol=1e-6)
    # ... and the reads are those products, with nothing counted.
    np.testing.assert_allclose(y, x @ w, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(z, d @ w.T, rtol=1e-5, atol=1e-5)
    for c in (cy, cz):
        assert all(value == 0 for value in c.as_dict().values()), c.as_dict()


def test_ideal_read_is_jittable_and_vmaps_over_batch():
    xb = _ideal_crossbar()
    state = xa.init(xb, _key(0), _weights())
    x = jnp.asarray(np.random.default_rng(2).uniform(-1, 1, (4, ROWS)), jnp.float32)
    y_jit, _ = jax.jit(xa.forward)(xb, state, x, _key(1))
    y_vmap, _ = jax.vmap(lambda xi: xa.forward(xb, state, xi, _key(1)))(x)
    np.testing.assert_allclose(y_jit, x @ xa.weights(xb, state), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y_vmap, y_jit, rtol=1e-6, atol=1e-6)


# ----------------------------------------------------------------------------------------------------------
# DAC / ADC
# ----------------------------------------------------------------------------------------------------------


def _plain(**kw) -> Periphery:
    """No noise, no management, ideal converters unless overridden."""
    base = dict(dac_bits=0, adc_bits=0, input_bound=1.0, output_bound=1e30, output_noise=0.0,
                noise_management="none", bound_management="none")
    return Periphery(**{**base, **kw})


def test_adc_outputs_are_integer_multiples_of_its_step_and_saturate_as_configured():
    bits, bound = 5, 2.0
    step = 2 * bound / (2**bits - 2)
    xb = _ideal_crossbar(periphery=_plain(adc_bits=bits, output_bound=bound))
    w = _weights(seed=3)
    state = xa.init(xb, _key(0), w)
    x = np.random.default_rng(4).uniform(-1, 1, (16, ROWS)).astype(np.float32)
    y, counters = xa.forward(xb, state, jnp.asarray(x), _key(1))
    ratio = np.asarray(y) / step
    np.testing.assert_allclose(ratio, np.round(ratio), atol=1e-4)
    exact = x.astype(np.float64) @ np.asarray(xa.weights(xb, state), np.float64)
    np.testing.assert_allclose(y, _quantize_np(np.clip(exact, -bound, bound), bound, bits), atol=1e-5)
    assert int(counters.adc_saturated) == int(np.sum(np.abs(exact) >= bound))

    # A known saturating input: every output of this read is 0.5 * 8 = 4 > bound, so all are counted and
    # pinned at the bound (which is itself a level: bound / step = 15).
    xb1 = _ideal_crossbar(periphery=_plain(adc_bits=bits, output_bound=bound))
    state1 = xa.init(xb1, _key(0), np.full((ROWS, COLS), 0.5, np.float32))
    y1, c1 = xa.forward(xb1, state1, jnp.ones((3, ROWS)), _key(1))
    assert int(c1.adc_saturated) == 3 * COLS
    np.testing.assert_allclose(y1, bound, rtol=1e-6)


def test_dac_quantises_and_counts_clipped_inputs():
    bits, bound = 4, 1.0
    xb = _ideal_crossbar(periphery=_plain(dac_bits=bits, input_bound=bound))
    state = xa.init(xb, _key(0), _weights(seed=5))
    w = np.asarray(xa.weights(xb, state), np.float64)
    x = np.random.default_rng(6).uniform(-1.5, 1.5, (6, ROWS)).astype(np.float32)
    y, counters = xa.forward(xb, state, jnp.asarray(x), _key(1))
    x_dac = _quantize_np(np.clip(x, -bound, bound), bound, bits)
    np.testing.assert_allclose(y, x_dac @ w, rtol=1e-5, atol=1e-5)
    assert int(counters.dac_clipped) == int(np.sum(np.abs(x) > bound)) > 0


def test_noise_management_makes_the_read_invariant_to_input_scale():
    p = Periphery(dac_bits=7, adc_bits=9, output_noise=0.0, noise_management="abs_max", bound_management="none")
    xb = _ideal_crossbar(periphery=p)
    state = xa.init(xb, _key(0), _weights(seed=7))
    x = jnp.asarray(np.random.default_rng(8).uniform(-1, 1, (4, ROWS)), jnp.float32)
    y, _ = xa.forward(xb, state, x, _key(1))
    for c in (8.0, 1 / 64):  # powers of two: the scaled inputs normalise to bit-identical DAC inputs
        y_c, _ = xa.forward(xb, state, c * x, _key(1))
        np.testing.assert_allclose(y_c, c * y, rtol=1e-6, atol=1e-30)
    y_c, _ = xa.forward(xb, state, 0.37 * x, _key(1))
    np.testing.assert_allclose(y_c, 0.37 * y, rtol=1e-4, atol=1e-6)
    # Without it a tiny input drowns in the DAC's quantisation: the management is what buys the invariance.
    xb_none = _ideal_crossbar(periphery=replace(p, noise_management="none"))
    y_small, _ = xa.forward(xb_none, state, x / 64, _key(1))
    assert not np.allclose(y_small, y / 64, rtol=1e-2)


def test_bound_management_rereads_and_removes_saturation_where_halving_suffices():
    bound = 1.8
    p = _plain(adc_bits=9, output_bound=bound)
    w = np.tile(np.where(np.arange(COLS) % 2 == 0, 0.5, -0.5), (ROWS, 1)).astype(np.float32)  # |column sums| = 4
    x = np.zeros((3, ROWS), np.float32)
    x[0] = 0.75            # |y| up to 3: saturates, fine after one halving (1.5)
    x[1, :2] = 0.5         # |y| <= 0.5: never saturates
    x[2] = 1.0             # |y| up to 4: one halving gives 2.0 (still saturated), two suffice
    xb_none = _ideal_crossbar(periphery=p)
    xb_bm = _ideal_crossbar(periphery=replace(p, bound_management="iterative", max_rereads=5))
    state = xa.init(xb_none, _key(0), w)
    exact = x.astype(np.float64) @ np.asarray(xa.weights(xb_none, state), np.float64)
    y0, c0 = xa.forward(xb_none, state, jnp.asarray(x), _key(1))
    assert int(c0.adc_saturated) == int(np.sum(np.abs(exact) >= bound)) > 0
    y1, c1 = xa.forward(xb_bm, state, jnp.asarray(x), _key(1))
    assert int(c1.adc_saturated) == 0
    # Sample 0 re-read once, sample 2 twice, sample 1 never.
    assert int(c1.bound_rereads) == 3
    step = 2 * bound / (2**9 - 2)
    np.testing.assert_allclose(y1, exact, atol=4 * step / 2 + 1e-5)  # ADC step grows 4x after two halvings
    np.testing.assert_allclose(y1[1], y0[1])


def test_bound_management_gives_up_after_max_rereads_and_counts_the_rest():
    p = _plain(adc_bits=0, output_bound=1.0, bound_management="iterative", max_rereads=1)
    xb = _ideal_crossbar(periphery=p)
    state = xa.init(xb, _key(0), np.full((ROWS, COLS), 0.5, np.float32))
    _, c = xa.forward(xb, state, jnp.ones((2, ROWS)), _key(1))  # |y| = 4: one halving is not enough
    assert int(c.bound_rereads) == 2
    assert int(c.adc_saturated) == 2 * COLS


# ----------------------------------------------------------------------------------------------------------
# Bad input
# ----------------------------------------------------------------------------------------------------------


def test_bad_configuration_raises_naming_the_argument():
    dev = presets.ideal()
    with pytest.raises(ValueError, match="`rows`"):
        xa.make_crossbar(dev, 0, 3)
    with pytest.raises(ValueError, match="`cols`"):
        xa.make_crossbar(dev, 3, 2.5)
    with pytest.raises(ValueError, match="`pair`"):
        xa.make_crossbar(dev, 3, 3, pair="triple")
    with pytest.raises(ValueError, match="`scheme`"):
        xa.make_crossbar(dev, 3, 3, update_scheme=PulseUpdate(scheme="magic"))
    for bl in (0, -3, 2.0):
        with pytest.raises(ValueError, match="`bl`"):
            xa.make_crossbar(dev, 3, 3, update_scheme=PulseUpdate(bl=bl))
    with pytest.raises(ValueError, match="`v_read`"):
        xa.make_crossbar(dev, 3, 3, v_read=dev.v_threshold)
    with pytest.raises(ValueError, match="`v_read`"):
        xa.make_crossbar(dev, 3, 3, v_read=-0.1)
    with pytest.raises(ValueError, match="`w_max`"):
        xa.make_crossbar(dev, 3, 3, w_max=0.0)
    with pytest.raises(ValueError, match="`output_bound`"):
        xa.make_crossbar(dev, 3, 3, periphery=Periphery(output_bound=-1.0))
    with pytest.raises(ValueError, match="`adc_bits`"):
        xa.make_crossbar(dev, 3, 3, periphery=Periphery(adc_bits=-1))
    with pytest.raises(ValueError, match="`noise_management`"):
        xa.make_crossbar(dev, 3, 3, periphery=Periphery(noise_management="max"))


def test_bad_inputs_raise_naming_the_argument():
    xb = _ideal_crossbar(update_scheme=PulseUpdate(scheme="ideal"))
    state = xa.init(xb, _key(0))
    x, d, k = jnp.ones(ROWS), jnp.ones(COLS), _key(1)
    with pytest.raises(ValueError, match="`weights`"):
        xa.init(xb, _key(0), np.zeros((COLS, ROWS)))
    with pytest.raises(ValueError, match="`x`"):
        xa.forward(xb, state, jnp.ones(ROWS + 1), k)
    with pytest.raises(ValueError, match="`x`"):
        xa.forward(xb, state, jnp.ones((2, 3, ROWS)), k)
    with pytest.raises(TypeError, match="`x`"):
        xa.forward(xb, state, jnp.ones(ROWS, jnp.int32), k)
    with pytest.raises(ValueError, match="`d`"):
        xa.transpose(xb, state, jnp.ones((2, ROWS)), k)
    with pytest.raises(ValueError, match="`x`"):
        xa.update(xb, state, jnp.ones(COLS), d, 0.1, k)
    with pytest.raises(ValueError, match="`d`"):
        xa.update(xb, state, x, jnp.ones(ROWS), 0.1, k)
    with pytest.raises(ValueError, match="batch"):
        xa.update(xb, state, jnp.ones((2, ROWS)), jnp.ones((3, COLS)), 0.1, k)
    for lr in (0.0, -0.01, float("nan")):
        with pytest.raises(ValueError, match="`lr`"):
            xa.update(xb, state, x, d, lr, k)
    with pytest.raises(ValueError, match="`x`"):
        xa.update(xb, state, x.at[2].set(jnp.nan), d, 0.1, k)
    with pytest.raises(ValueError, match="`d`"):
        xa.update(xb, state, x, d.at[0].set(jnp.inf), 0.1, k)


def test_nonfinite_forward_input_is_counted_not_hidden():
    # Inside jit a read cannot raise; it reports the non-finite inputs and leaves their outputs NaN.
    xb = _ideal_crossbar()
    state = xa.init(xb, _key(0), _weights())
    x = jnp.ones((2, ROWS)).at[1, 3].set(jnp.nan)
    y, c = jax.jit(xa.forward)(xb, state, x, _key(1))
    assert int(c.nonfinite) == 1
    assert np.all(np.isfinite(y[0])) and np.all(np.isnan(y[1]))


# ----------------------------------------------------------------------------------------------------------
# Drift
# ----------------------------------------------------------------------------------------------------------


def test_reads_drift_with_simulated_time_as_the_device_model_says():
    drift = PowerLawDrift(nu=0.05, nu_low_g=0.05, nu_d2d=0.01, t0=20.0)
    dev = ConstantStep(drift=drift).validate()
    xb = xa.make_crossbar(dev, ROWS, COLS, periphery=ideal_periphery())
    state = xa.init(xb, _key(0), _weights(seed=10))
    w0 = np.asarray(xa.weights(xb, state))
    # Before t0 nothing moves.
    np.testing.assert_array_equal(xa.weights(xb, xa.advance_time(state, 10.0)), w0)
    t = 2000.0
    later = xa.advance_time(state, t)
    g_plus, g_minus = xa.conductances(xb, later)
    for g, dstate in ((g_plus, state.plus), (g_minus, state.minus)):
        nu = np.asarray(drift.exponent(dstate))
        assert np.all(nu > 0)
        np.testing.assert_allclose(g, np.asarray(dstate.g) * (t / drift.t0) ** (-nu), rtol=1e-5)
    w_t = np.asarray(xa.weights(xb, later))
    # The weights follow from the drifted devices (whichever way the pair is mapped), and they did move.
    ratio = t / drift.t0
    expected = (np.asarray(state.plus.g) * ratio ** -np.asarray(drift.exponent(state.plus))
                - np.asarray(state.minus.g) * ratio ** -np.asarray(drift.exponent(state.minus))) / xb.scale
    np.testing.assert_allclose(w_t, expected, rtol=1e-4, atol=1e-6)
    assert np.max(np.abs(w_t - w0)) > 0.01
    # The forward read sees the drifted weights.
    x = jnp.ones(ROWS)
    y, _ = xa.forward(xb, later, x, _key(1))
    np.testing.assert_allclose(y, x @ w_t, rtol=1e-5, atol=1e-6)
    # A device programmed at time t restarts its drift there: read at t it is fresh.
    n = np.zeros((ROWS, COLS), np.int32)
    n[0, 0] = 3
    reprogrammed = xa.apply_pulses(xb, later, jnp.asarray(n), _key(2))
    g_plus2, _ = xa.conductances(xb, reprogrammed)
    np.testing.assert_allclose(g_plus2[0, 0], reprogrammed.plus.g[0, 0], rtol=1e-6)
    np.testing.assert_allclose(g_plus2[1:], g_plus[1:], rtol=1e-6)


def test_drift_free_device_reads_do_not_change_with_time():
    xb = _ideal_crossbar()
    state = xa.init(xb, _key(0), _weights())
    w0 = xa.weights(xb, state)
    for t in (1.0, 1e3, 1e8):
        np.testing.assert_array_equal(xa.weights(xb, xa.advance_time(state, t)), w0)


# ----------------------------------------------------------------------------------------------------------
# Write-verify programming
# ----------------------------------------------------------------------------------------------------------


def _noisy_constant_step():
    return ConstantStep(variation=Variation(dg_d2d=0.2, c2c=0.2)).validate()


# One compiled program per crossbar configuration, shared by the tests: tolerance and budgets are traced.
_write_verify = jax.jit(write_verify, static_argnames=("noisy_read",))


@pytest.mark.parametrize("pair", PAIRS)
def test_write_verify_reaches_the_tolerance(pair):
    xb = xa.make_crossbar(_noisy_constant_step(), 4, 3, pair=pair, periphery=ideal_periphery())
    state = xa.init(xb, _key(0))
    target = jnp.asarray(_weights(4, 3, bound=0.4, seed=11))
    tol = xb.dw_min
    new, report = _write_verify(xb, state, target, _key(1), tol, 2000)
    assert int(report.not_converged) == 0
    assert bool(jnp.all(report.converged))
    assert float(report.max_error) <= tol
    np.testing.assert_allclose(xa.weights(xb, new), target, atol=tol * 1.0001)
    assert int(report.total_pulses) == int(jnp.sum(report.pulses))
    assert 0 < int(report.iterations) < 2000
    far = np.abs(np.asarray(target)) > 2 * tol
    assert np.all(np.asarray(report.pulses)[far] >= 1)


def test_write_verify_reports_devices_left_short_by_the_budget_or_the_bounds():
    xb = xa.make_crossbar(_noisy_constant_step(), 4, 3, periphery=ideal_periphery())
    state = xa.init(xb, _key(0))
    target = jnp.asarray(_weights(4, 3, bound=0.4, seed=12))
    # Budget too small: 3 pulses of ~dw_min cannot reach weights ~0.1-0.4.
    _, short = _write_verify(xb, state, target, _key(1), xb.dw_min, 3)
    far = np.abs(np.asarray(target)) > 10 * xb.dw_min
    assert int(short.not_converged) >= int(far.sum()) > 0
    assert int(jnp.max(short.pulses)) <= 3
    assert not bool(jnp.any(short.converged[far]))
    # Out of range: a target beyond w_max is unreachable whatever the budget.
    target2 = target.at[0, 0].set(2 * xb.w_max)
    _, out = _write_verify(xb, state, target2, _key(1), xb.dw_min, 3000)
    assert int(out.not_converged) == 1 and not bool(out.converged[0, 0])
    assert int(out.pulses[0, 0]) == 3000
    assert float(out.max_error) > xb.w_max / 2
    # A stuck-at pair is reported, not hidden.
    stuck = replace(state, plus=replace(state.plus, stuck=state.plus.stuck.at[1, 1].set(True)),
                    minus=replace(state.minus, stuck=state.minus.stuck.at[1, 1].set(True)))
    _, rep = _write_verify(xb, stuck, target.at[1, 1].set(0.3), _key(1), xb.dw_min, 2000)
    assert int(rep.not_converged) == 1 and not bool(rep.converged[1, 1])
    # Already there: nothing to do, no pulse sent.
    at_target = xa.init(xb, _key(0), target)
    new, rep = _write_verify(xb, at_target, target, _key(1), xb.dw_min, 2000)
    assert int(rep.total_pulses) == 0 and int(rep.not_converged) == 0
    np.testing.assert_array_equal(new.plus.g, at_target.plus.g)


def test_write_verify_with_noisy_reads_still_converges_loosely():
    dev = replace(_noisy_constant_step(), read_noise=ReadNoise(std=0.002))
    xb = xa.make_crossbar(dev, 4, 3, periphery=ideal_periphery())
    state = xa.init(xb, _key(0))
    target = jnp.asarray(_weights(4, 3, bound=0.3, seed=13))
    _, report = _write_verify(xb, state, target, _key(1), 5 * xb.dw_min, 2000, noisy_read=True)
    assert int(report.not_converged) <= 1
    assert float(report.max_error) < 10 * xb.dw_min


def test_write_verify_validates_its_arguments():
    xb = xa.make_crossbar(_noisy_constant_step(), 3, 2)
    state = xa.init(xb, _key(0))
    w = jnp.zeros((3, 2))
    for tol in (0.0, -1e-3, float("inf")):
        with pytest.raises(ValueError, match="`tolerance`"):
            write_verify(xb, state, w, _key(1), tolerance=tol)
    for mp in (0, -5, 2.5):
        with pytest.raises(ValueError, match="`max_pulses`"):
            write_verify(xb, state, w, _key(1), max_pulses=mp)
    with pytest.raises(ValueError, match="`pulses_per_iteration`"):
        write_verify(xb, state, w, _key(1), pulses_per_iteration=0)
    with pytest.raises(ValueError, match="`max_iterations`"):
        write_verify(xb, state, w, _key(1), max_iterations=0)
    with pytest.raises(ValueError, match="`w_target`"):
        write_verify(xb, state, jnp.zeros((2, 3)), _key(1))
    with pytest.raises(ValueError, match="`w_target`"):
        write_verify(xb, state, w.at[0, 0].set(jnp.nan), _key(1))
