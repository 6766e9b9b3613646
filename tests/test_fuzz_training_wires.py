"""Fuzz of `MLPConfig` and `WireResistance` (hypothesis): valid values run, invalid ones name themselves.

The rules and the cheap crossbar run are in `fuzz_common.py`; the cases at the end are defects this fuzz found
(each with its exact input), fixed since.
"""

from __future__ import annotations

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
from crossbar.periphery import ideal_periphery
from crossbar.training import mlp
from crossbar.training.backends import CrossbarBackend, FloatBackend
from devices import MODELS
from devices.presets import PRESETS, device_names, make_device

import fuzz_common as fz

GV = make_device("gokmen_vlasov")


# MLPConfig
# ----------------------------------------------------------------------------------------------------------

# Eager, one sample per batch and ideal converters: then a training step runs no loop, so it compiles nothing new
# after the first example, whatever the activation (a jitted step would compile once per activation).
MLP_SIZES = (2, 4, 3)  # the first layer's array is ROWS x COLS, as elsewhere here: its eager ops are compiled
MLP_BACKEND = CrossbarBackend(device=GV, periphery=ideal_periphery())
X_MLP = jnp.asarray(fz._RNG.uniform(0.0, 1.0, (1, MLP_SIZES[0])), jnp.float32)
Y_MLP = jnp.asarray([1])


_MLP_VALID = dict(
    activation=st.sampled_from(mlp.ACTIVATIONS), lr=st.floats(math.log(1e-5), math.log(10.0)).map(math.exp),
    lr_decay=st.floats(1e-3, 10.0), epochs=st.integers(1, 1000), seed=st.integers(0, 2**31 - 1),
    init_scale=st.floats(math.log(1e-3), math.log(10.0)).map(math.exp), time_per_sample=st.floats(0.0, 1e3))


@pytest.mark.slow  # hypothesis over 8 s; the default run stays under 6 minutes
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])  # eager steps: ~1 s each
@given(**_MLP_VALID)
def test_mlp_config_valid_settings_train_one_step_on_crossbars(activation, lr, lr_decay, epochs, seed, init_scale,
                                                               time_per_sample):
    cfg = mlp.MLPConfig(sizes=MLP_SIZES, activation=activation, lr=lr, lr_decay=lr_decay, epochs=epochs,
                        batch_size=1, seed=seed, init_scale=init_scale, time_per_sample=time_per_sample)
    assert cfg.validate(n_features=MLP_SIZES[0], n_classes=MLP_SIZES[-1]) is cfg
    key = jax.random.key(cfg.seed)
    layers = mlp.init_network(cfg, MLP_BACKEND, key)
    new, loss, _ = mlp.train_step(cfg, MLP_BACKEND, layers, X_MLP, Y_MLP, cfg.lr, key)
    assert np.isfinite(float(loss))
    for layer, (fan_in, fan_out) in zip(new, zip(MLP_SIZES[:-1], MLP_SIZES[1:], strict=True), strict=True):
        w = np.asarray(MLP_BACKEND.weights(layer))
        assert w.shape == (fan_in + 1, fan_out) and np.all(np.isfinite(w))
        # The array's clock advanced by the simulated time of the batch.
        np.testing.assert_allclose(float(layer.state.t), np.float32(time_per_sample), rtol=1e-5, atol=1e-37)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sizes=st.lists(st.integers(1, 4), min_size=2, max_size=4).map(tuple), batch_size=st.integers(1, 64))
def test_mlp_config_valid_sizes_build_a_network(sizes, batch_size):
    cfg = mlp.MLPConfig(sizes=sizes, batch_size=batch_size)
    assert cfg.validate(n_features=sizes[0], n_classes=sizes[-1]) is cfg
    layers = mlp.init_network(cfg, FloatBackend(), fz.KEY)
    assert [layer.weights.shape for layer in layers] == [(a + 1, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    assert all(np.all(np.isfinite(np.asarray(layer.weights))) for layer in layers)


_MLP_BAD_POSITIVE = st.one_of(st.floats(max_value=0.0, allow_nan=False), st.sampled_from(fz.NONFINITE))
_MLP_BAD = {
    "sizes": st.one_of(st.lists(st.integers(1, 5), max_size=1).map(tuple),
                       st.lists(st.integers(max_value=0), min_size=2, max_size=3).map(tuple),
                       st.sampled_from([(3, 2.0), (3.0, 2), ("3", 2), (3, None), "ab", (3, [2])])),
    "activation": st.one_of(st.text(max_size=10), st.sampled_from([None, 0, True, ["relu"], "Sigmoid"])),
    "lr": _MLP_BAD_POSITIVE,
    "lr_decay": _MLP_BAD_POSITIVE,
    "init_scale": _MLP_BAD_POSITIVE,
    "time_per_sample": st.one_of(fz._NEGATIVE, st.sampled_from(fz.NONFINITE)),
    "epochs": st.one_of(st.integers(max_value=0), st.sampled_from([1.0, "3", None, True, math.nan, [3]])),
    "batch_size": st.one_of(st.integers(max_value=0), st.sampled_from([1.0, "3", None, True, math.inf, [3]])),
    "seed": st.sampled_from([None, 1.0, "0", math.nan, [0]]),
}


@fz.FUZZ_CHEAP
@given(data=st.data(), param=st.sampled_from(sorted(_MLP_BAD)))
def test_mlp_config_invalid_field_names_it(data, param):
    bad = data.draw(_MLP_BAD[param], label=param)
    assume(not (isinstance(bad, str) and bad in mlp.ACTIVATIONS))
    fz._assert_rejected(mlp.MLPConfig(**{param: bad}).validate, param)


@fz.FUZZ_CHEAP
@given(sizes=st.lists(st.integers(1, 6), min_size=2, max_size=4).map(tuple), n=st.integers(1, 7))
def test_mlp_config_sizes_must_fit_the_data(sizes, n):
    cfg = mlp.MLPConfig(sizes=sizes)
    if n != sizes[0]:
        fz._assert_rejected(lambda: cfg.validate(n_features=n), "sizes[0]")
    if n != sizes[-1]:
        fz._assert_rejected(lambda: cfg.validate(n_classes=n), "sizes[-1]")


# ----------------------------------------------------------------------------------------------------------
# WireResistance
# ----------------------------------------------------------------------------------------------------------

_OHMS = st.floats(0.0, 1e3)
_BROADCASTING_SHAPES = [(), (1,), (fz.COLS,), (fz.ROWS, 1), (1, fz.COLS), (fz.ROWS, fz.COLS)]
_NON_BROADCASTING_SHAPES = [(fz.ROWS,), (2, fz.COLS), (fz.COLS, fz.ROWS), (fz.ROWS, fz.COLS, 1), (fz.ROWS + 1, fz.COLS),
                            (0,)]


@st.composite
def _resistance(draw, shapes=_BROADCASTING_SHAPES):
    shape = draw(st.sampled_from(shapes))
    if shape == () and draw(st.booleans()):
        return draw(_OHMS)
    return np.asarray(draw(st.lists(_OHMS, min_size=math.prod(shape), max_size=math.prod(shape))),
                      np.float64).reshape(shape)


@fz.FUZZ_CHEAP
@given(r_row=_resistance(), r_col=_resistance(), r_source=_OHMS, r_sense=_OHMS)
def test_wire_resistance_valid_values_validate(r_row, r_col, r_source, r_sense):
    wires = WireResistance(r_row, r_col, r_source, r_sense)
    assert wires.validate((fz.ROWS, fz.COLS)) is wires
    assert xa.make_crossbar(GV, fz.ROWS, fz.COLS, wires=wires).wires is wires


@pytest.mark.parametrize("wires", [
    WireResistance(r_row=0.0, r_col=0.0),
    WireResistance(r_row=np.full((fz.ROWS, fz.COLS), 0.5), r_col=np.linspace(0.25, 1.0, fz.COLS), r_source=1.0,
                   r_sense=1.0),
], ids=["ideal-wires", "array-wires"])
def test_wired_crossbar_runs_close_to_the_ideal_one(wires):
    xb = xa.make_crossbar(GV, fz.ROWS, fz.COLS, periphery=ideal_periphery(), wires=wires)
    y, z, *_ = fz._assert_runs(xb)
    y0, z0, *_ = fz._assert_runs(replace(xb, wires=None))
    # About an ohm against ~100 kOhm devices: an IR drop of ~1e-4 of each current; zero ohm: none at all.
    np.testing.assert_allclose(y, y0, rtol=1e-2, atol=1e-4)
    np.testing.assert_allclose(z, z0, rtol=1e-2, atol=1e-4)


_WIRE_BAD_VALUE = st.one_of(fz._NEGATIVE, st.sampled_from(fz.NONFINITE),
                            st.sampled_from(["1.0", "abc", None, True, False]))


@fz.FUZZ_CHEAP
@given(data=st.data(), param=st.sampled_from(["r_row", "r_col", "r_source", "r_sense"]),
       kind=st.sampled_from(["value", "element", "shape"]))
def test_wire_resistance_invalid_value_names_it(data, param, kind):
    if kind == "value":
        bad = data.draw(_WIRE_BAD_VALUE, label=param)
    elif kind == "element":  # one bad element of an otherwise valid array
        bad = np.ones((fz.ROWS, fz.COLS) if param in ("r_row", "r_col") else ())
        bad[(0, 0)[:bad.ndim]] = data.draw(st.sampled_from([-1.0, -1e-12, *fz.NONFINITE]), label="element")
    else:  # r_row / r_col must broadcast to the array; r_source / r_sense must be scalars
        shapes = _NON_BROADCASTING_SHAPES if param in ("r_row", "r_col") else _BROADCASTING_SHAPES[1:]
        bad = np.ones(data.draw(st.sampled_from(shapes), label="shape"))
    wires = replace(WireResistance(1.0, 1.0), **{param: bad})
    fz._assert_rejected(lambda: wires.validate((fz.ROWS, fz.COLS)), param)


# ----------------------------------------------------------------------------------------------------------

# ----------------------------------------------------------------------------------------------------------
# Defects this fuzz found, with their exact inputs: each must now be rejected naming the parameter.
# ----------------------------------------------------------------------------------------------------------

# Was a defect (fixed): MLPConfig.validate: sizes without len() and float fields of a wrong type raise a TypeError
# that does not name the field; bools pass as ints and numbers
@pytest.mark.parametrize("param, value", [
    ("sizes", None),  # TypeError: object of type 'NoneType' has no len()
    ("sizes", 3),  # TypeError: object of type 'int' has no len()
    ("sizes", (3, True)),  # accepted
    ("lr", "0.01"),  # TypeError: ufunc 'isfinite' not supported for the input types ...
    ("lr", None),
    ("lr", [0.01]),  # TypeError: '<=' not supported between instances of 'list' and 'int'
    ("lr", True),  # accepted
    ("init_scale", "1"),
    ("lr_decay", None),
    ("time_per_sample", "0.001"),
    ("seed", True),  # accepted
])
def test_rejects_mlp_config_wrong_types(param, value):
    assert fz._rejected_naming(mlp.MLPConfig(**{param: value}).validate, param)

# Was a defect (fixed): WireResistance.validate: a list of strings, a complex, a dict or any other object raises an
# error from numpy that does not name the field; numpy bools pass as resistances
@pytest.mark.parametrize("value", [["a"], 1j, object(), {"a": 1}, np.bool_(True), np.array([True, False, True, True])],
                         ids=["str-list", "complex", "object", "dict", "np-bool", "bool-array"])
def test_rejects_wire_resistance_wrong_types(value):
    assert fz._rejected_naming(lambda: WireResistance(r_row=value, r_col=1.0).validate((fz.ROWS, fz.COLS)), "r_row")


def test_presets_and_models_are_all_named():
    """The fuzz above draws names from device_names(): it must cover every preset and model class."""
    assert set(device_names()) == set(PRESETS) | set(MODELS)
