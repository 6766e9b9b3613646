"""Fuzz of `make_crossbar`, `Periphery` and `PulseUpdate` (hypothesis): valid values run, invalid ones name themselves.

The rules and the cheap crossbar run are in `fuzz_common.py`; the cases at the end are defects this fuzz found
(each with its exact input), fixed since.
"""

from __future__ import annotations

import functools
import math
from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from crossbar import array as xa
from crossbar.circuit import WireResistance
from crossbar.mapping import PAIRS
from crossbar.periphery import BOUND_MANAGEMENT, NOISE_MANAGEMENT, Periphery, ideal_periphery
from crossbar.update import SCHEMES, PulseUpdate
from devices.constant_step import ConstantStep
from devices.presets import make_device

import fuzz_common as fz

# ----------------------------------------------------------------------------------------------------------
# make_crossbar
# ----------------------------------------------------------------------------------------------------------

GV = make_device("gokmen_vlasov")


@pytest.mark.slow  # hypothesis over 8 s; the default run stays under 6 minutes
@fz.FUZZ_CHEAP
@given(pair=st.sampled_from(PAIRS), w_max=st.floats(math.log(1e-3), math.log(10.0)).map(math.exp),
       dw_min=st.none() | st.floats(math.log(1e-5), math.log(0.1)).map(math.exp),
       v_read=st.floats(1e-3, 0.999), lr=st.floats(math.log(1e-4), math.log(1.0)).map(math.exp),
       input_bound=st.floats(math.log(1e-3), math.log(1e30)).map(math.exp),
       output_bound=st.floats(math.log(1e-3), math.log(1e30)).map(math.exp), output_noise=st.floats(0.0, 1.0))
def test_make_crossbar_valid_arguments_build_and_run(pair, w_max, dw_min, v_read, lr, input_bound, output_bound,
                                                     output_noise):
    periphery = Periphery(input_bound=input_bound, output_bound=output_bound, output_noise=output_noise)
    xb = xa.make_crossbar(GV, fz.ROWS, fz.COLS, w_max=w_max, dw_min=dw_min, pair=pair, periphery=periphery,
                          v_read=v_read)
    assert (xb.w_max, xb.pair, xb.v_read, xb.periphery, xb.periphery_backward) == (w_max, pair, v_read, periphery,
                                                                                   periphery)
    assert xb.dw_min == pytest.approx(2 * GV.dg * w_max / (GV.g_max - GV.g_min) if dw_min is None else dw_min)
    fz._assert_runs(xb, lr)


def test_make_crossbar_accepts_numpy_ints_and_single_lines():
    xb = xa.make_crossbar(GV, np.int64(1), np.int32(1), pair="reference", periphery=ideal_periphery())
    assert (xb.rows, xb.cols) == (1, 1) and type(xb.rows) is int
    k1, k2, k3 = jax.random.split(fz.KEY, 3)
    state = xa.init(xb, k1, jnp.full((1, 1), 0.25))
    y, _ = xa.forward(xb, state, jnp.ones((1,)), k2)
    state, _ = xa.update(xb, state, jnp.ones((1,)), jnp.ones((1,)), fz.LR, k3)
    assert y.shape == (1,) and np.all(np.isfinite(y)) and np.all(np.isfinite(xa.weights(xb, state)))


_BAD_COUNT = st.one_of(st.integers(max_value=0), st.floats(allow_nan=True), st.sampled_from(
    ["3", None, True, False, [3], (3,), 3.0, np.float64(3.0)]))
_BAD_POSITIVE = st.one_of(st.floats(max_value=0.0, allow_nan=False), st.sampled_from(fz.NONFINITE),
                          st.sampled_from([v for v in fz.WRONG_TYPES if v is not None]))


@fz.FUZZ_CHEAP
@given(data=st.data(), param=st.sampled_from(["rows", "cols", "w_max", "dw_min", "v_read", "pair", "device"]))
def test_make_crossbar_invalid_argument_names_it(data, param):
    kwargs = dict(device=GV, rows=fz.ROWS, cols=fz.COLS)
    name = param
    if param in ("rows", "cols"):
        kwargs[param] = data.draw(_BAD_COUNT, label=param)
    elif param in ("w_max", "dw_min"):
        kwargs[param] = data.draw(_BAD_POSITIVE | (st.none() if param == "w_max" else st.nothing()), label=param)
    elif param == "v_read":  # not positive, or high enough to program the devices it reads
        kwargs[param] = data.draw(_BAD_POSITIVE | st.none() | st.floats(min_value=GV.v_threshold, allow_nan=False,
                                                                         allow_infinity=False), label=param)
    elif param == "pair":
        kwargs[param] = data.draw(st.one_of(st.text(max_size=12), st.none(), st.integers(), st.sampled_from(
            [True, ["differential"], ("reference",), "Differential"])), label=param)
        assume(not (isinstance(kwargs[param], str) and kwargs[param] in PAIRS))
    else:  # an invalid device model: the error names its bad parameter
        name = data.draw(st.sampled_from(["dg", "g_max", "v_threshold"]), label="device param")
        bad = data.draw(fz._invalid_numbers(*fz._domain(ConstantStep(), name)) | fz._wrong_types(ConstantStep(), name))
        kwargs["device"] = replace(ConstantStep(), **{name: bad})
    device, rows, cols = kwargs.pop("device"), kwargs.pop("rows"), kwargs.pop("cols")
    fz._assert_rejected(lambda: xa.make_crossbar(device, rows, cols, **kwargs), name)


def test_make_crossbar_requires_dw_min_without_a_nominal_step():
    fz._assert_rejected(lambda: xa.make_crossbar(make_device("hfo2_baseline"), fz.ROWS, fz.COLS), "dw_min")


def test_a_neurosim_devices_nominal_step_crosses_the_range_in_p_max_pulses():
    """NeuroSim states P_max pulses across the range: dw_min = 2 dg w_max / (g_max - g_min) = 2 w_max / P_max."""
    device = make_device("neurosim_ag_si")
    xb = xa.make_crossbar(device, fz.ROWS, fz.COLS, w_max=0.6)
    assert xb.dw_min == pytest.approx(2 * 0.6 / device.p_max, rel=1e-6)


@fz.FUZZ_CHEAP
@given(shape=st.lists(st.integers(0, 5), min_size=0, max_size=3).map(tuple), which=st.sampled_from(["x", "d"]))
def test_crossbar_operations_reject_wrong_input_shapes(shape, which):
    n = fz.ROWS if which == "x" else fz.COLS
    assume(shape not in ((n,), (2, n)) and not (len(shape) == 2 and shape[1] == n))
    xb = xa.make_crossbar(GV, fz.ROWS, fz.COLS)
    state = xa.init(xb, fz.KEY)
    bad = jnp.zeros(shape, jnp.float32)
    if which == "x":
        fz._assert_rejected(lambda: xa.forward(xb, state, bad, fz.KEY), "x")
        fz._assert_rejected(lambda: xa.update(xb, state, bad, fz.D[0], fz.LR, fz.KEY), "x")
    else:
        fz._assert_rejected(lambda: xa.transpose(xb, state, bad, fz.KEY), "d")
        fz._assert_rejected(lambda: xa.update(xb, state, fz.X[0], bad, fz.LR, fz.KEY), "d")


@fz.FUZZ_CHEAP
@given(lr=_BAD_POSITIVE | st.none(),
       shape=st.sampled_from([(fz.ROWS, fz.COLS + 1), (fz.COLS, fz.ROWS), (fz.ROWS,), ()]))
def test_crossbar_init_and_update_reject_bad_weights_and_rates(lr, shape):
    xb = xa.make_crossbar(GV, fz.ROWS, fz.COLS)
    state = xa.init(xb, fz.KEY)
    fz._assert_rejected(lambda: xa.update(xb, state, fz.X[0], fz.D[0], lr, fz.KEY), "lr")
    fz._assert_rejected(lambda: xa.init(xb, fz.KEY, jnp.zeros(shape)), "weights")
    fz._assert_rejected(lambda: xa.init(xb, fz.KEY, fz.W0.at[0, 0].set(jnp.nan)), "weights")


# ----------------------------------------------------------------------------------------------------------
# Periphery
# ----------------------------------------------------------------------------------------------------------

_BITS = st.sampled_from([0, 2, 7, 16])


@pytest.mark.slow  # 9 s
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dac_bits=_BITS, adc_bits=_BITS, noise_management=st.sampled_from(NOISE_MANAGEMENT),
       bound_management=st.sampled_from(BOUND_MANAGEMENT), max_rereads=st.sampled_from([0, 1, 10]),
       input_bound=st.floats(1e-2, 1e2), output_bound=st.floats(1e-2, 1e2), output_noise=st.floats(0.0, 1.0))
def test_periphery_valid_settings_run(dac_bits, adc_bits, noise_management, bound_management, max_rereads,
                                      input_bound, output_bound, output_noise):
    p = Periphery(dac_bits=dac_bits, adc_bits=adc_bits, input_bound=input_bound, output_bound=output_bound,
                  output_noise=output_noise, noise_management=noise_management, bound_management=bound_management,
                  max_rereads=max_rereads)
    assert p.validate() is p
    y, *_ = fz._assert_runs(xa.make_crossbar(GV, fz.ROWS, fz.COLS, periphery=p, periphery_backward=ideal_periphery()))
    # With no saturation management the forward outputs (input units) are bounded by the ADC's range.
    if noise_management == "none" and bound_management == "none":
        assert np.all(np.abs(y) <= output_bound * (1 + 1e-6))


_PERIPHERY_BAD = {
    "dac_bits": st.one_of(st.integers(max_value=-1), st.sampled_from([7.0, "7", None, True, math.nan, [7]])),
    "adc_bits": st.one_of(st.integers(max_value=-1), st.sampled_from([9.0, "9", None, False, math.inf, [9]])),
    "max_rereads": st.one_of(st.integers(max_value=-1), st.sampled_from([1.5, "10", None, True])),
    "input_bound": _BAD_POSITIVE | st.none(),
    "output_bound": _BAD_POSITIVE | st.none(),
    "output_noise": st.one_of(fz._NEGATIVE, st.sampled_from(fz.NONFINITE), st.sampled_from(fz.WRONG_TYPES)),
    "noise_management": st.one_of(st.text(max_size=10), st.sampled_from([None, 0, True, ["abs_max"]])),
    "bound_management": st.one_of(st.text(max_size=10), st.sampled_from([None, 0, False, ["iterative"]])),
}


@fz.FUZZ_CHEAP
@given(data=st.data(), param=st.sampled_from(sorted(_PERIPHERY_BAD)), backward=st.booleans())
def test_periphery_invalid_field_names_it(data, param, backward):
    bad = data.draw(_PERIPHERY_BAD[param], label=param)
    assume(bad not in NOISE_MANAGEMENT + BOUND_MANAGEMENT if isinstance(bad, str) else True)
    p = Periphery(**{param: bad})
    fz._assert_rejected(p.validate, param)
    key = "periphery_backward" if backward else "periphery"
    fz._assert_rejected(lambda: xa.make_crossbar(GV, fz.ROWS, fz.COLS, **{key: p}), param)


# ----------------------------------------------------------------------------------------------------------
# PulseUpdate
# ----------------------------------------------------------------------------------------------------------


@pytest.mark.slow  # hypothesis over 8 s; the default run stays under 6 minutes
# (bl > 32 takes the matrix-product branch of the coincidence count; row_block < ROWS the loop over row blocks)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scheme=st.sampled_from(SCHEMES), bl=st.sampled_from([1, 10, 33]), update_management=st.booleans(),
       bl_management=st.booleans(), row_block=st.sampled_from([2, 64]),
       lr=st.floats(math.log(1e-4), math.log(1.0)).map(math.exp))
def test_pulse_update_valid_schemes_run(scheme, bl, update_management, bl_management, row_block, lr):
    upd = PulseUpdate(scheme=scheme, bl=bl, update_management=update_management, bl_management=bl_management,
                      row_block=row_block)
    assert upd.validate() is upd
    xb = xa.make_crossbar(GV, fz.ROWS, fz.COLS, update_scheme=upd, periphery=ideal_periphery())
    assert xb.update_scheme is upd
    _, _, w0, w = fz._assert_runs(xb, lr)
    state = xa.init(xb, fz._K_INIT, fz.W0)
    # A pulsed scheme sends at most BL pulses to a device for one sample, each moving a weight by at most dw_min
    # times the largest device step scale and the largest cycle-to-cycle factor (the generator's normals are < 7.5).
    if scheme != "ideal":
        scales = [np.max(np.asarray(a)) for dev in (state.plus, state.minus) for a in (dev.scale_up, dev.scale_down)]
        step = xb.dw_min * max(scales) * (1 + 7.5 * GV.variation.c2c)
        # The voltage scheme's half-selects add at most BL pulses on the row and BL on the column per sample.
        pulses = 2 * bl if scheme == "voltage" else bl
        assert np.all(np.abs(w - w0) <= pulses * step * (1 + 1e-5))
    else:  # the float update W -= lr x d^T, written into the conductances (clipped at the devices' bounds)
        assert np.all(np.abs(w - w0) <= lr * np.abs(np.outer(fz.X[0], fz.D[0])) * (1 + 1e-4) + 1e-6)


_UPDATE_BAD = {
    "scheme": st.one_of(st.text(max_size=14), st.sampled_from([None, 0, True, ["ideal"], "Stochastic"])),
    "bl": st.one_of(st.integers(max_value=0), st.sampled_from([10.0, 2.5, "10", None, True, math.nan, [10]])),
    "row_block": st.one_of(st.integers(max_value=0), st.sampled_from([64.0, "64", None, False, math.inf])),
}


@fz.FUZZ_CHEAP
@given(data=st.data(), param=st.sampled_from(sorted(_UPDATE_BAD)))
def test_pulse_update_invalid_field_names_it(data, param):
    bad = data.draw(_UPDATE_BAD[param], label=param)
    assume(not (isinstance(bad, str) and bad in SCHEMES))
    upd = PulseUpdate(**{param: bad})
    fz._assert_rejected(upd.validate, param)
    fz._assert_rejected(lambda: xa.make_crossbar(GV, fz.ROWS, fz.COLS, update_scheme=upd), param)


# ----------------------------------------------------------------------------------------------------------

# ----------------------------------------------------------------------------------------------------------
# Defects this fuzz found, with their exact inputs: each must now be rejected naming the parameter (or run).
# ----------------------------------------------------------------------------------------------------------

# Was a defect (fixed): make_crossbar calls `.validate()` on its object arguments without a type check: a wrong type
# raises AttributeError (neither ValueError nor TypeError)
@pytest.mark.parametrize("param, value", [
    ("device", "gokmen_vlasov"), ("device", None), ("periphery", "abs_max"), ("periphery_backward", 7),
    ("update_scheme", "stochastic"), ("wires", 1.0),
])
def test_rejects_make_crossbar_object_arguments_of_a_wrong_type(param, value):
    kwargs = {"device": GV, param: value}
    device = kwargs.pop("device")
    assert fz._rejected_naming(lambda: xa.make_crossbar(device, fz.ROWS, fz.COLS, **kwargs), param)

# Was a defect (fixed): w_max, dw_min and v_read pass check_positive as lists or arrays, then fail with a TypeError
# that does not name them (in make_crossbar or at the first run)
@pytest.mark.parametrize("param, value", [
    ("w_max", [0.6]),  # TypeError: can't multiply sequence by non-int of type 'float'
    ("w_max", np.full(5, 0.6)),  # TypeError: only 0-dimensional arrays can be converted to Python scalars
    ("dw_min", [0.001]),  # accepted; update: TypeError unsupported operand type(s) for *: 'list' and ...
    ("v_read", [0.1]),  # TypeError: '>=' not supported between instances of 'list' and 'float'
])
def test_rejects_make_crossbar_scalar_arguments_given_as_sequences(param, value):
    build = functools.partial(xa.make_crossbar, GV, fz.ROWS, fz.COLS, periphery=ideal_periphery(), **{param: value})
    assert fz._rejected_naming_or_runs(build, param)

# Was a defect (fixed): make_crossbar validates `wires` without the array shape, so an r_row that does not broadcast
# to [rows, cols] is accepted (the first forward raises)
def test_rejects_make_crossbar_accepts_wires_of_a_wrong_shape():
    wires = WireResistance(r_row=np.ones((2, fz.COLS)), r_col=1.0)
    assert fz._rejected_naming(lambda: xa.make_crossbar(GV, fz.ROWS, fz.COLS, wires=wires), "r_row")

# Was a defect (fixed): Periphery.validate accepts dac_bits=1 / adc_bits=1, whose quantiser step 2 bound / (2**1 -
# 2) divides by zero: ZeroDivisionError eagerly, all-NaN outputs under jit
@pytest.mark.parametrize("param", ["dac_bits", "adc_bits"])
def test_rejects_periphery_one_bit_converters(param):
    p = Periphery(**{param: 1}, bound_management="none")  # (eager: ZeroDivisionError; jitted: NaN)
    assert fz._rejected_naming_or_runs(lambda: xa.make_crossbar(GV, fz.ROWS, fz.COLS, periphery=p), param)

# Was a defect (fixed): Periphery.validate accepts any int of bits, but from 32 bits on the level count 2**bits - 2
# overflows the weak int32 of a jitted read: OverflowError ('An overflow was encountered while parsing an argument
# to a jitted computation ... value 4294967294')
@pytest.mark.parametrize("param", ["dac_bits", "adc_bits"])
def test_rejects_periphery_32_bit_converters(param):
    p = Periphery(**{param: 32})  # 31 bits run; the eager read runs too
    assert fz._rejected_naming_or_runs(lambda: xa.make_crossbar(GV, fz.ROWS, fz.COLS, periphery=p), param)

# Was a defect (fixed): Periphery.validate checks bounds as float64, the reads run in float32: a bound below
# float32's smallest normal (~1.2e-38) reads all-NaN, one above its largest (~3.4e38) all-NaN under jit
@pytest.mark.parametrize("param, value", [("input_bound", 1e-39), ("output_bound", 1e-39), ("input_bound", 1e39),
                                          ("output_bound", 1e39)])
def test_rejects_periphery_bounds_outside_float32(param, value):
    p = Periphery(**{param: value})
    assert fz._rejected_naming_or_runs(lambda: xa.make_crossbar(GV, fz.ROWS, fz.COLS, periphery=p), param)

# Was a defect (fixed): bound management halves the input scale at each re-read; from 127 re-reads on the float32
# scale 2**-127 flushes to 0 and the outputs y / scale are +-inf
def test_rejects_periphery_many_rereads():
    # An output bound below the output noise saturates every read, so all re-reads happen (126 still run).
    p = Periphery(output_bound=1e-3, max_rereads=127)
    assert fz._rejected_naming_or_runs(lambda: xa.make_crossbar(GV, fz.ROWS, fz.COLS, periphery=p), "max_rereads")

# Was a defect (fixed): PulseUpdate.validate does not check the bool flags update_management and bl_management: any
# value is accepted and used for its truthiness
@pytest.mark.parametrize("param, value", [
    ("update_management", "no"), ("update_management", None), ("bl_management", [False]), ("bl_management", 1.0),
])
def test_rejects_pulse_update_flags_unchecked(param, value):
    assert fz._rejected_naming(PulseUpdate(**{param: value}).validate, param)
