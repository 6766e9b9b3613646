"""Fuzz of `make_device` (hypothesis): valid overrides build and run, invalid ones are rejected naming them.

The rules and the cheap crossbar run are in `fuzz_common.py`; the cases at the end are defects this fuzz found
(each with its exact input), fixed since.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from devices.noise import NoReadNoise, ReadNoise
from devices.params import get_parameter, parameter_names
from devices.presets import device_names, make_device

import fuzz_common as fz

# ----------------------------------------------------------------------------------------------------------
# make_device
# ----------------------------------------------------------------------------------------------------------


@pytest.mark.slow  # over 10 s; the default run stays under 6 minutes (CI runs the slow tests too)
def test_every_default_device_builds_and_runs():
    for name in device_names():
        device = make_device(name)
        fz._assert_runs(fz._device_crossbar(device))


@pytest.mark.slow  # 14 s; the default run keeps test_every_default_device_builds_and_runs
@fz.FUZZ_CHEAP  # (cheap: test_every_default_device_builds_and_runs compiled every structure drawn here)
@given(data=st.data(), name=st.sampled_from(device_names()))
def test_make_device_valid_overrides_build_and_run(data, name):
    overrides = data.draw(fz._valid_overrides(name), label="overrides")
    device = make_device(name, overrides)
    for param, value in overrides.items():
        assert get_parameter(device, param) == value, f"{param} was not set on {name}"
    fz._assert_runs(fz._device_crossbar(device))


@pytest.mark.parametrize("name, overrides", [
    ("constant_step", {"read_noise.std": 0.05, "read_noise.flicker": 0.5}),
    ("soft_bounds", {"v_reset": 1.5, "read_noise.std": 0.02}),
])
def test_make_device_overrides_that_turn_effects_on(name, overrides):
    device = make_device(name, overrides)
    assert isinstance(device.read_noise, ReadNoise)
    for param, value in overrides.items():
        assert get_parameter(device, param) == value
    y, *_ = fz._assert_runs(fz._device_crossbar(device))
    # The same device without read noise reads differently under the same keys: the noise is really on.
    quiet = replace(device, read_noise=NoReadNoise(), v_reset=None)
    y_quiet, *_ = fz._assert_runs(fz._device_crossbar(quiet))
    assert not np.allclose(y, y_quiet, rtol=1e-4, atol=0.0)


@fz.FUZZ_CHEAP
@given(data=st.data(), name=st.sampled_from(device_names()))
def test_make_device_invalid_value_names_the_parameter(data, name):
    device = make_device(name)
    param = data.draw(st.sampled_from(parameter_names(device)), label="param")
    bad = data.draw(st.one_of(fz._invalid_numbers(*fz._domain(device, param)), fz._wrong_types(device, param)),
                    label="bad")
    err = fz._assert_rejected(lambda: make_device(name, {param: bad}), param)
    assert isinstance(err, ValueError) and f"device {name!r}" in str(err)


@fz.FUZZ_CHEAP
@given(data=st.data(), name=st.sampled_from(device_names()))
def test_make_device_invalid_combination_names_the_parameters(data, name):
    """Parameters valid alone but not together: bounds inverted, a step larger than the range, stuck > 100%."""
    device = make_device(name)
    case = data.draw(st.sampled_from(["bounds", "step", "stuck"] + (["thresholds"] if name.startswith("pcm") else [])))
    if case == "bounds":  # g_min >= g_max
        g_max = data.draw(st.floats(1e-9, 1e-3))
        overrides, names = {"g_max": g_max, "g_min": g_max * data.draw(st.floats(1.0, 10.0))}, ("g_min", "g_max")
    elif case == "step":
        assume(fz._class_name(device) in fz._STEP_CHECKED)
        overrides, names = {"dg": (device.g_max - device.g_min) * data.draw(st.floats(1.0, 100.0))}, ("dg",)
    elif case == "stuck":
        low = data.draw(st.floats(0.01, 1.0))
        high = data.draw(st.floats(1.0 - 0.5 * low, 1.0))
        overrides = {"variation.stuck_min_fraction": low, "variation.stuck_max_fraction": high}
        names = ("stuck_min_fraction", "stuck_max_fraction")
    else:  # PCM: the RESET threshold must exceed the SET threshold
        v = data.draw(st.floats(0.1, 5.0))
        overrides, names = {"v_threshold": v, "v_reset": v * data.draw(st.floats(0.01, 1.0))}, ("v_reset",)
    with pytest.raises(ValueError) as info:
        make_device(name, overrides)
    assert all(n in str(info.value) for n in names), info.value


@fz.FUZZ_CHEAP
@given(name=st.one_of(st.text(max_size=20), st.none(), st.integers(), st.booleans(), st.floats()))
def test_make_device_unknown_name_lists_the_valid_ones(name):
    assume(name not in device_names())
    with pytest.raises((ValueError, TypeError)) as info:  # TypeError for a name that is not a str
        make_device(name)
    assert repr(name) in str(info.value)
    assert all(valid in str(info.value) for valid in device_names())


@fz.FUZZ_CHEAP
@given(data=st.data(), name=st.sampled_from(device_names()),
       bad=st.text(alphabet="abcdefghijklmnopqrstuvwxyz_.", min_size=1, max_size=20))
def test_make_device_unknown_parameter_lists_the_valid_ones(data, name, bad):
    device = make_device(name)
    head = data.draw(st.sampled_from(["", "variation.", "read_noise.", "drift."]))
    # (a whole parameter group, "variation", is no leaf but is accepted: see test_bug_make_device_group_names)
    assume(head + bad not in parameter_names(device) + ["variation", "read_noise", "drift"])
    with pytest.raises(ValueError) as info:
        make_device(name, {head + bad: 0.1})
    assert repr(head + bad) in str(info.value)
    assert all(valid in str(info.value) for valid in parameter_names(device))



# ----------------------------------------------------------------------------------------------------------
# Defects this fuzz found, with their exact inputs: each must now be rejected naming the parameter.
# ----------------------------------------------------------------------------------------------------------

# Was a defect (fixed): make_device: an unhashable name or a non-mapping `overrides` raises a TypeError from the
# `in`/`**` machinery that names neither `name` nor `overrides`
@pytest.mark.parametrize("name, overrides, param", [
    (["gokmen_vlasov"], None, "name"),  # TypeError: unhashable type: 'list'
    ("ideal", "dg=1e-8", "overrides"),  # TypeError: ... argument after ** must be a mapping, not str
    ("ideal", [("dg", 1e-8)], "overrides"),
    ("ideal", {1: 0.1}, "overrides"),  # TypeError: keywords must be strings
])
def test_rejects_make_device_wrong_argument_types(name, overrides, param):
    assert fz._rejected_naming(lambda: make_device(name, overrides), param)

# Was a defect (fixed): make_device accepts a whole parameter group by name ('variation', 'drift', 'read_noise') and
# replaces the group by the value: AttributeError from validate
@pytest.mark.parametrize("name, group", [("gokmen_vlasov", "variation"), ("pcm", "drift"), ("ideal", "read_noise")])
def test_rejects_make_device_group_names(name, group):
    # AttributeError: 'float' object has no attribute 'validate'
    assert fz._rejected_naming(lambda: make_device(name, {group: 0.1}), group)

# Was a defect (fixed): a list, or an array whose shape does not fit the crossbar, passes a device's validation and
# make_crossbar, then the run fails with an error that does not name the parameter
@pytest.mark.parametrize("name, param, value", [
    ("gokmen_vlasov", "variation.c2c", [0.1]),  # forward: TypeError unsupported operand type(s) for *: 'list' ...
    ("gokmen_vlasov", "variation.c2c", np.full(5, 0.1)),  # forward: ValueError could not broadcast (5,) (3, 4)
    ("ideal", "dg", [1e-10]),  # make_crossbar: TypeError can't multiply sequence by non-int of type 'float'
    ("ideal", "dg", np.full(5, 1e-10)),  # make_crossbar: TypeError only 0-dimensional arrays can be converted...
])
def test_rejects_device_parameter_arrays_are_not_checked(name, param, value):
    def build():
        return fz._device_crossbar(make_device(name, {param: value}))

    assert fz._rejected_naming_or_runs(build, param)
