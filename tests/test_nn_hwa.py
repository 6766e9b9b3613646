"""Hardware-aware training layers: without noise an `HWADense` is its float layer (outputs, input gradients,
update), its weight noise has the stated std relative to max |W| (statistical), bad noise raises naming it."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from crossbar.nn import HWANoise, float_dense, hardware_aware, hwa_dense, with_batch
from crossbar.nn.hwa import float_layers

from helpers import std_within_se, within_se


def _loss(layer, x, key):
    return jnp.sum(jnp.sin(layer(x, key)))


def test_without_noise_an_hwa_layer_is_its_float_layer():
    w = jax.random.normal(jax.random.key(0), (5, 3))
    x = jax.random.normal(jax.random.key(1), (4, 4))
    flt = with_batch(float_dense(w, bias_line=True), 4)
    hwa = hardware_aware(flt, HWANoise())

    @jax.jit  # one compilation for both layers' outputs, gradients and updates
    def outcome(flt, hwa, x, key):
        out = []
        for layer in (flt, hwa):
            grad, dx = jax.grad(_loss, argnums=(0, 1))(layer, x, key)
            out.append((layer(x, key), dx, layer.apply_update(grad, 0.1)[0].weights))
        return out

    (y_f, dx_f, w_f), (y_h, dx_h, w_h) = outcome(flt, hwa, x, jax.random.key(2))
    for got, expected in ((y_h, y_f), (dx_h, dx_f), (w_h, w_f)):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert float_layers({"a": hwa})["a"] is flt


@pytest.mark.slow
def test_weight_noise_std_is_relative_to_max_abs_weight():
    w = jnp.array([[0.5, -2.0], [1.0, 0.0]])
    layer = hwa_dense(float_dense(w), HWANoise(weight_noise=0.05))
    x = jnp.eye(2)  # output row i is weight row i plus its noise
    ys = jax.vmap(lambda k: layer(x, k))(jax.random.split(jax.random.key(3), 4000))
    dev = np.asarray(ys - w[None], np.float64).reshape(-1)
    assert within_se(dev, 0.0) and std_within_se(dev, 0.05 * 2.0)


def test_bad_noise_raises_naming_it():
    with pytest.raises(ValueError, match="weight_noise"):
        HWANoise(weight_noise=-0.1).validate()
    with pytest.raises(TypeError, match="noise"):
        hwa_dense(float_dense(jnp.ones((2, 2))), 0.1)
