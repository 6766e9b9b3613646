"""Tests of `crossbar.nn` dense layers: the float twin against `jax.grad` of x @ W, the analog layer's custom VJP
(transpose read with its own periphery, update tape), the pulsed update's expectation, keys, jit/vmap, errors.

Small arrays and fixed keys; references are plain JAX/numpy written independently of the layers.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from crossbar import array as xa
from crossbar import nn
from crossbar.periphery import Periphery, ideal_periphery
from crossbar.update import PulseUpdate
from devices import presets
from devices.constant_step import ConstantStep

from helpers import std_within_se

IN, OUT = 6, 4


def _w(rows=IN, cols=OUT, seed=0, bound=0.5):
    return np.random.default_rng(seed).uniform(-bound, bound, (rows, cols)).astype(np.float32)


def _x(shape, seed=1):
    return jnp.asarray(np.random.default_rng(seed).normal(size=shape), jnp.float32)


def _ideal_xb(rows=IN, cols=OUT, **kw):
    kw = {"periphery": ideal_periphery(), "update_scheme": PulseUpdate(scheme="ideal"), "w_max": 4.0, **kw}
    return xa.make_crossbar(presets.ideal(), rows, cols, **kw)


def _ramp(y):
    """1, 2, ... along the last axis of y, shaped to multiply y without rank promotion."""
    return jnp.arange(1, y.shape[-1] + 1, dtype=y.dtype).reshape((1,) * (y.ndim - 1) + (-1,))


def _loss(layer, x, key):
    # A loss whose output cotangent differs per element, so a transposed or mis-ordered error shows.
    y = nn.dense(layer, x, key)
    return jnp.sum(jnp.sin(y) * _ramp(y))


def _plain_loss(w, x):
    y = x @ w
    return jnp.sum(jnp.sin(y) * _ramp(y))


# Jitted: eager JAX compiles every primitive on its own, which costs far more than one compilation here.
EAGER_GRAD = jax.grad(_loss, argnums=(0, 1), allow_int=True)
GRAD = jax.jit(EAGER_GRAD)
DENSE = jax.jit(nn.dense)
UPDATE = jax.jit(lambda layer, g, lr, key: layer.apply_update(g, lr, key))


@pytest.mark.parametrize("lead", [(5,), (2, 3)])
@pytest.mark.parametrize("bias_line", [False, True])
def test_float_twin_gradients_equal_jax_grad_of_matmul(lead, bias_line):
    w = _w(IN + bias_line, OUT)
    x = _x((*lead, IN))
    layer = nn.float_dense(w, batch=int(np.prod(lead)), bias_line=bias_line)
    g_layer, g_x = EAGER_GRAD(layer, x, jax.random.key(0))  # eager: the layers work without jit too

    x_in = jnp.concatenate([x, jnp.ones((*lead, 1))], axis=-1) if bias_line else x
    ref_w, ref_x_in = jax.grad(_plain_loss, argnums=(0, 1))(jnp.asarray(w), x_in)
    np.testing.assert_allclose(g_x, ref_x_in[..., :IN], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(g_layer.tape.weight_grad(), ref_w, rtol=1e-5, atol=1e-6)
    assert np.all(np.asarray(g_layer.w) == 0)  # the weights' gradient travels in the tape only
    new, _ = layer.apply_update(g_layer, 0.1)
    np.testing.assert_allclose(new.w, w - 0.1 * ref_w, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("pair", ["differential", "reference"])
@pytest.mark.parametrize("bias_line", [False, True])
def test_ideal_analog_layer_reproduces_float(pair, bias_line):
    w = _w(IN + bias_line, OUT)
    x = _x((5, IN))
    analog = nn.analog_dense(_ideal_xb(IN + bias_line, OUT, pair=pair), jax.random.key(3), w, batch=5,
                             bias_line=bias_line)
    twin = nn.float_dense(w, batch=5, bias_line=bias_line)
    key = jax.random.key(4)
    np.testing.assert_allclose(DENSE(analog, x, key), DENSE(twin, x, key), rtol=1e-5, atol=1e-5)
    (ga, gxa), (gf, gxf) = GRAD(analog, x, key), GRAD(twin, x, key)
    np.testing.assert_allclose(gxa, gxf, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ga.tape.weight_grad(), gf.tape.weight_grad(), rtol=1e-5, atol=1e-5)
    new_a, counters = UPDATE(analog, ga, 0.05, jax.random.key(5))
    new_f, _ = twin.apply_update(gf, 0.05)
    assert np.abs(np.asarray(new_f.w - w)).max() > 1e-2  # the step is not trivially small
    np.testing.assert_allclose(new_a.weights, new_f.w, rtol=1e-5, atol=2e-6)
    assert all(v == 0 for v in counters.as_dict().values())


def test_backward_read_noise_matches_the_backward_periphery():
    sigma = 0.05
    noisy = Periphery(dac_bits=0, adc_bits=0, input_bound=1e30, output_bound=1e30, output_noise=sigma,
                      noise_management="none", bound_management="none")
    w = _w()
    layer = nn.analog_dense(_ideal_xb(periphery_backward=noisy), jax.random.key(0), w, batch=1024)
    x = _x((1024, IN))
    c = _x((1024, OUT), seed=2)
    loss = lambda lay, x, k: jnp.sum(nn.dense(lay, x, k) * c)
    y = DENSE(layer, x, jax.random.key(7))
    np.testing.assert_allclose(y, x @ w, rtol=1e-5, atol=1e-5)  # the forward read keeps its ideal periphery
    g_layer, g_x = jax.jit(jax.grad(loss, argnums=(0, 1), allow_int=True))(layer, x, jax.random.key(7))
    err = np.asarray(g_x - c @ w.T)
    assert abs(err.mean()) < 4 * sigma / np.sqrt(err.size)
    assert std_within_se(err, sigma)
    # The tape holds the exact inputs and errors: the noise belongs to the read, not to what the update sees.
    np.testing.assert_array_equal(g_layer.tape.x, x)
    np.testing.assert_array_equal(g_layer.tape.d, c)


def test_read_keys_are_explicit():
    xb = xa.make_crossbar(presets.ideal(), IN, OUT, w_max=4.0)  # default periphery: output noise 0.06
    layer = nn.analog_dense(xb, jax.random.key(0), _w(), batch=3)
    x = _x((3, IN))
    y1, y2, y3 = (DENSE(layer, x, jax.random.key(k)) for k in (1, 1, 2))
    np.testing.assert_array_equal(y1, y2)
    assert np.abs(np.asarray(y1 - y3)).max() > 1e-3
    g1, g2 = (GRAD(layer, x, jax.random.key(1))[1] for _ in range(2))
    np.testing.assert_array_equal(g1, g2)
    # The backward read draws its own noise: its error is not the forward read's noise pattern reused.
    assert np.abs(np.asarray(GRAD(layer, x, jax.random.key(2))[1] - g1)).max() > 1e-3


def _pulsed_xb(batch_mode, rows=4, cols=3):
    # Constant steps of 1/200 of the range, no variation: dw_min = 0.01 with w_max = 1.
    dev = ConstantStep(g_min=0.0, g_max=10e-6, dg=10e-6 / 200, v_threshold=1.0).validate()
    upd = PulseUpdate(scheme="stochastic", bl=10, batch_mode=batch_mode)
    return xa.make_crossbar(dev, rows, cols, w_max=1.0, periphery=ideal_periphery(), update_scheme=upd)


@pytest.mark.parametrize("batch_mode", ["sequential", "summed"])
def test_expected_pulsed_update_is_minus_lr_xT_d(batch_mode):
    xb = _pulsed_xb(batch_mode)
    layer = nn.analog_dense(xb, jax.random.key(0), None, batch=3)
    x = jnp.asarray(np.random.default_rng(3).uniform(-1, 1, (3, 4)), jnp.float32)
    loss = lambda lay, x, k: jnp.sum(nn.dense(lay, x, k) * jnp.asarray([[0.5, -0.3, 0.1]] * 3, jnp.float32))
    g = jax.jit(jax.grad(loss, allow_int=True))(layer, x, jax.random.key(1))
    lr = 0.05
    expected = -lr * np.asarray(x).T @ np.asarray(g.tape.d)

    keys = jax.random.split(jax.random.key(2), 4000)
    dws = jax.jit(jax.vmap(lambda k: layer.apply_update(g, lr, k)[0].weights))(keys)
    dws = np.asarray(dws, np.float64)
    # Pulse coincidence moves a weight by whole steps of dw_min (0.01), never by the float amount.
    steps = dws / xb.dw_min
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-2)
    assert np.all(dws.std(axis=0) > 0)
    z = (dws.mean(axis=0) - expected) / (dws.std(axis=0) / np.sqrt(dws.shape[0]))
    assert np.abs(z).max() < 4.5, z


def test_vmap_over_keys_equals_one_call_per_key():
    noisy = Periphery(dac_bits=0, adc_bits=0, noise_management="none", bound_management="none")
    xb = xa.make_crossbar(presets.ideal(), IN, OUT, w_max=4.0, periphery=noisy)
    layer = nn.analog_dense(xb, jax.random.key(0), _w(), batch=3)
    x = _x((3, IN))
    keys = jax.random.split(jax.random.key(5), 3)
    g_layers, g_xs = jax.jit(jax.vmap(EAGER_GRAD, in_axes=(None, None, 0)))(layer, x, keys)
    for i in range(3):
        g_layer, g_x = GRAD(layer, x, keys[i])
        np.testing.assert_allclose(g_xs[i], g_x, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(g_layers.tape.d[i], g_layer.tape.d, rtol=1e-5, atol=1e-6)
    assert np.abs(np.asarray(g_xs[0] - g_xs[1])).max() > 1e-3  # the keys give different noise


def test_bad_inputs_raise_naming_the_argument():
    layer = nn.analog_dense(_ideal_xb(), jax.random.key(0), _w(), batch=4)
    with pytest.raises(ValueError, match="`x`"):
        nn.dense(layer, _x((4, IN + 1)), jax.random.key(1))
    with pytest.raises(ValueError, match="`batch`=4"):
        GRAD(layer, _x((3, IN)), jax.random.key(1))
    untaped = nn.with_batch(layer, None)
    g_layer, g_x = GRAD(untaped, _x((3, IN)), jax.random.key(1))  # input gradients need no tape
    assert g_x.shape == (3, IN) and g_layer.tape is None
    with pytest.raises(ValueError, match="no update tape"):
        untaped.apply_update(g_layer, 0.1, jax.random.key(2))
    with pytest.raises(ValueError, match="`batch`"):
        layer.with_batch(0)
    with pytest.raises(TypeError, match="`xb`"):
        nn.analog_dense("crossbar", jax.random.key(0))
    with pytest.raises(ValueError, match="`weights`"):
        nn.analog_dense(_ideal_xb(), jax.random.key(0), _w(IN, OUT + 1))
    with pytest.raises(ValueError, match="`weights`"):
        nn.float_dense(np.zeros(3))
    with pytest.raises(TypeError, match="`layer`"):
        nn.dense(np.zeros((IN, OUT)), _x((2, IN)), jax.random.key(0))
    with pytest.raises(ValueError, match="`xb.rows`"):
        nn.analog_dense(_ideal_xb(1, OUT), jax.random.key(0), bias_line=True)


def test_no_transpose_read_where_the_input_needs_no_gradient():
    """The first layer's input is data: its error is never read out of the array, so no transpose read runs or is
    counted; the second layer's input is the first layer's output, so its transpose read runs, once per sample."""
    xb1, xb2 = (xa.make_crossbar(presets.gokmen_vlasov(), r, c, pair="reference") for r, c in ((IN, 5), (5, OUT)))
    layers = (nn.analog_dense(xb1, jax.random.key(0), _w(IN, 5), batch=3),
              nn.analog_dense(xb2, jax.random.key(1), _w(5, OUT), batch=3))

    def loss(layers, x, key):
        k1, k2 = jax.random.split(key)
        return _loss(layers[1], jnp.tanh(nn.dense(layers[0], x, k1)), k2)

    x = _x((3, IN))
    grads = jax.jit(jax.grad(loss, allow_int=True))(layers, x, jax.random.key(2))
    first, second = (g.tape.counters().events for g in grads)
    assert float(first["backward.reads"]) == 0 and float(first["backward.drive"]) == 0
    assert float(second["backward.reads"]) >= 3  # one per sample (re-reads on top)
    # Asked for, the input's gradient is the transpose read as before.
    dx = jax.jit(jax.grad(loss, argnums=1, allow_int=True))(layers, x, jax.random.key(2))
    assert dx.shape == x.shape and float(jnp.max(jnp.abs(dx))) > 0
