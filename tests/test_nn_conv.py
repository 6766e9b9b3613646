"""Tests of `crossbar.nn.conv`: the im2col convolution on one crossbar against `jax.lax.conv_general_dilated`
(outputs, input gradients, kernel gradients), the ideal analog update against the float twin, the expected pulsed
update against -lr times the float kernel gradient, and bad geometry.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from crossbar import array as xa
from crossbar import nn
from crossbar.periphery import ideal_periphery
from crossbar.update import PulseUpdate
from devices import presets
from devices.constant_step import ConstantStep

DIMS = ("NHWC", "HWIO", "NHWC")
GEOMETRIES = [((5, 6, 2), (3, 2), (1, 1), "VALID"), ((5, 6, 2), (3, 3), (2, 2), "SAME")]


def _kernel(kh, kw, c_in, c_out, seed=0):
    return np.random.default_rng(seed).uniform(-0.5, 0.5, (kh, kw, c_in, c_out)).astype(np.float32)


def _x(batch, shape, seed=1):
    return jnp.asarray(np.random.default_rng(seed).normal(size=(batch, *shape)), jnp.float32)


def _ideal_xb(rows, cols):
    return xa.make_crossbar(presets.ideal(), rows, cols, w_max=4.0, periphery=ideal_periphery(),
                            update_scheme=PulseUpdate(scheme="ideal"))


def _loss(layer, x, key):
    y = layer(x, key)
    return jnp.sum(jnp.sin(y) * jnp.arange(y.size, dtype=y.dtype).reshape(y.shape) / y.size)


def _plain_loss(kernel, x, strides, padding):
    y = jax.lax.conv_general_dilated(x, kernel, strides, padding, dimension_numbers=DIMS)
    return jnp.sum(jnp.sin(y) * jnp.arange(y.size, dtype=y.dtype).reshape(y.shape) / y.size)


GRAD = jax.jit(jax.grad(_loss, argnums=(0, 1), allow_int=True))


@pytest.mark.parametrize("kind", ["float", "analog"])
@pytest.mark.parametrize("shape,ksize,strides,padding", GEOMETRIES)
def test_conv_equals_conv_general_dilated(kind, shape, ksize, strides, padding):
    kernel = _kernel(*ksize, shape[2], 3)
    x = _x(2, shape)
    if kind == "float":
        layer = nn.float_conv2d(kernel, shape, strides=strides, padding=padding, batch=2)
    else:
        xb = _ideal_xb(shape[2] * ksize[0] * ksize[1], 3)
        layer = nn.analog_conv2d(xb, jax.random.key(0), shape, ksize, kernel=kernel, strides=strides,
                                 padding=padding, batch=2)
    np.testing.assert_allclose(layer.kernel, kernel, atol=1e-6)
    key = jax.random.key(2)
    y = jax.jit(lambda lay, x, k: lay(x, k))(layer, x, key)
    ref = jax.lax.conv_general_dilated(x, jnp.asarray(kernel), strides, padding, dimension_numbers=DIMS)
    assert y.shape == ref.shape == (2, *layer.output_shape)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)

    g_layer, g_x = GRAD(layer, x, key)
    ref_k, ref_x = jax.grad(_plain_loss, argnums=(0, 1))(jnp.asarray(kernel), x, strides, padding)
    np.testing.assert_allclose(g_x, ref_x, rtol=1e-4, atol=1e-6)  # transpose reads, summed back by col2im
    g_kernel = nn.matrix_to_kernel(g_layer.dense.tape.weight_grad(), ksize, shape[2])
    np.testing.assert_allclose(g_kernel, ref_k, rtol=1e-4, atol=1e-6)

    new, _ = jax.jit(lambda lay, g, k: lay.apply_update(g, 0.1, k))(layer, g_layer, jax.random.key(3))
    np.testing.assert_allclose(new.kernel, kernel - 0.1 * ref_k, rtol=1e-4, atol=1e-5)


def test_expected_pulsed_conv_update_is_minus_lr_float_gradient():
    shape, ksize = (4, 4, 1), (2, 2)
    dev = ConstantStep(g_min=0.0, g_max=10e-6, dg=10e-6 / 200, v_threshold=1.0).validate()  # dw_min 0.01
    xb = xa.make_crossbar(dev, 4, 2, w_max=1.0, periphery=ideal_periphery(),
                          update_scheme=PulseUpdate(scheme="stochastic", batch_mode="sequential"))
    layer = nn.analog_conv2d(xb, jax.random.key(0), shape, ksize, batch=2)
    x = jnp.asarray(np.random.default_rng(4).uniform(0, 1, (2, *shape)), jnp.float32)  # image-like, >= 0
    c = jnp.asarray(np.random.default_rng(5).normal(0, 0.2, (2, 3, 3, 2)), jnp.float32)
    g = jax.jit(jax.grad(lambda lay, x, k: jnp.sum(lay(x, k) * c), allow_int=True))(layer, x, jax.random.key(1))
    assert g.dense.tape.n == 2 * 9  # one rank-one sample per patch
    lr = 0.05
    ref_k = jax.grad(lambda k: jnp.sum(jax.lax.conv_general_dilated(x, k, (1, 1), "VALID",
                                                                    dimension_numbers=DIMS) * c))(
        jnp.zeros((2, 2, 1, 2)))
    expected = -lr * np.asarray(ref_k)
    keys = jax.random.split(jax.random.key(6), 3000)
    kernels = np.asarray(jax.jit(jax.vmap(lambda k: layer.apply_update(g, lr, k)[0].kernel))(keys), np.float64)
    z = (kernels.mean(axis=0) - expected) / (kernels.std(axis=0) / np.sqrt(kernels.shape[0]))
    assert np.all(kernels.std(axis=0) > 0)
    assert np.abs(z).max() < 4.5, z


def test_with_batch_sizes_the_tape_per_patch():
    layer = nn.float_conv2d(_kernel(3, 2, 2, 3), (5, 6, 2), batch=4)
    assert layer.output_shape == (3, 5, 3)
    assert layer.dense.tape.n == 4 * 3 * 5
    assert nn.with_batch({"c": layer}, 1)["c"].dense.tape.n == 15
    assert nn.is_layer(layer)


def test_bad_geometry_raises_naming_the_argument():
    with pytest.raises(ValueError, match="`kernel_size`"):
        nn.float_conv2d(_kernel(5, 5, 1, 2), (4, 6, 1))
    with pytest.raises(ValueError, match="`kernel_size`"):
        nn.analog_conv2d(_ideal_xb(2 * 7 * 1, 2), jax.random.key(0), (4, 6, 2), (7, 1))
    nn.float_conv2d(_kernel(5, 5, 1, 2), (4, 6, 1), padding="SAME")  # SAME padding fits any kernel
    with pytest.raises(ValueError, match="`xb.rows`"):
        nn.analog_conv2d(_ideal_xb(5, 2), jax.random.key(0), (4, 4, 1), 2)
    with pytest.raises(ValueError, match="`padding`"):
        nn.float_conv2d(_kernel(2, 2, 1, 2), (4, 4, 1), padding="FULL")
    with pytest.raises(ValueError, match="`strides`"):
        nn.float_conv2d(_kernel(2, 2, 1, 2), (4, 4, 1), strides=0)
    with pytest.raises(ValueError, match="`input_shape`"):
        nn.float_conv2d(_kernel(2, 2, 1, 2), (4, 4))
    with pytest.raises(ValueError, match="`kernel`"):
        nn.analog_conv2d(_ideal_xb(4, 2), jax.random.key(0), (4, 4, 1), 2, kernel=np.zeros((2, 2, 1, 3)))
    layer = nn.float_conv2d(_kernel(2, 2, 1, 2), (4, 4, 1), batch=2)
    with pytest.raises(ValueError, match="`x`"):
        layer(jnp.zeros((2, 4, 5, 1)))
    with pytest.raises(ValueError, match="`batch`=2"):  # the tape is sized per input sample
        GRAD(layer, jnp.zeros((3, 4, 4, 1)), jax.random.key(0))
