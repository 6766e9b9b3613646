"""Tests of `crossbar.nn.analog_sgd` on pytrees that mix analog layers, float twins and float parameters:
ideal arrays train exactly as plain float SGD, pulsed arrays learn, optax-shaped transforms for the float part,
learning-rate schedules, counters, jit/vmap, errors.
"""

from __future__ import annotations

from typing import NamedTuple

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

N_IN, N_HID, N_OUT, BATCH = 5, 4, 3, 8


def _data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(BATCH, N_IN)).astype(np.float32)
    y = np.tanh(x @ rng.normal(size=(N_IN, N_OUT)).astype(np.float32) * 0.5)
    return jnp.asarray(x), jnp.asarray(y)


def _init_weights(seed=1):
    rng = np.random.default_rng(seed)
    w1 = rng.uniform(-0.5, 0.5, (N_IN, N_HID)).astype(np.float32)
    w2 = rng.uniform(-0.5, 0.5, (N_HID + 1, N_OUT)).astype(np.float32)  # with its bias row
    b1 = rng.uniform(-0.1, 0.1, (1, N_HID)).astype(np.float32)
    return w1, w2, b1


def _model(params, x, key):
    k1, k2 = jax.random.split(key)
    # Layer 1: weights on a crossbar, a digital float bias; layer 2: the bias as an always-on analog line.
    h = jnp.tanh(nn.dense(params["l1"], x, k1) + params["b1"])
    return nn.dense(params["l2"], h, k2)


def _loss(params, x, y, key):
    return jnp.mean((_model(params, x, key) - y) ** 2)


def _params(kind, update_scheme=None, periphery_backward=None):
    w1, w2, b1 = _init_weights()
    if kind == "float":
        l1, l2 = nn.float_dense(w1, batch=BATCH), nn.float_dense(w2, batch=BATCH, bias_line=True)
    else:
        kw = dict(w_max=4.0, periphery=ideal_periphery(), update_scheme=update_scheme or PulseUpdate(scheme="ideal"),
                  periphery_backward=periphery_backward)
        xb1 = xa.make_crossbar(presets.ideal(), N_IN, N_HID, **kw)
        xb2 = xa.make_crossbar(presets.ideal(), N_HID + 1, N_OUT, **kw)
        l1 = nn.analog_dense(xb1, jax.random.key(10), w1, batch=BATCH)
        l2 = nn.analog_dense(xb2, jax.random.key(11), w2, batch=BATCH, bias_line=True)
    return {"l1": l1, "l2": l2, "b1": jnp.asarray(b1), "steps": jnp.zeros((), jnp.int32)}


def _trainer(opt, n_steps):
    def run(params, x, y, key):
        def step(carry, k):
            params, state = carry
            k_read, k_upd = jax.random.split(k)
            loss, grads = jax.value_and_grad(_loss, allow_int=True)(params, x, y, k_read)
            params, state, counters = opt.update(grads, state, params, k_upd)
            return (params, state), (loss, counters)

        (params, _), (losses, counters) = jax.lax.scan(step, (params, opt.init(params)), jax.random.split(key, n_steps))
        return params, losses, jax.tree_util.tree_map(jnp.sum, counters)

    return jax.jit(run)


def _plain_reference(lr, n_steps, x, y):
    """Plain float SGD on ordinary arrays, written without crossbar.nn."""
    w1, w2, b1 = (jnp.asarray(a) for a in _init_weights())

    def loss(p):
        h = jnp.tanh(x @ p[0] + p[2])
        out = jnp.concatenate([h, jnp.ones((BATCH, 1))], axis=1) @ p[1]
        return jnp.mean((out - y) ** 2)

    p = (w1, w2, b1)
    for _ in range(n_steps):
        p = jax.tree_util.tree_map(lambda a, g: a - lr * g, p, jax.grad(loss)(p))
    return p


@pytest.mark.parametrize("kind", ["float", "analog"])
def test_mixed_pytree_trains_as_plain_float_sgd(kind):
    x, y = _data()
    lr, n_steps = 0.2, 10
    params, losses, counters = _trainer(nn.analog_sgd(lr), n_steps)(_params(kind), x, y, jax.random.key(0))
    w1, w2, b1 = _plain_reference(lr, n_steps, x, y)
    np.testing.assert_allclose(params["l1"].weights, w1, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(params["l2"].weights, w2, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(params["b1"], b1, rtol=1e-4, atol=1e-5)
    assert np.abs(np.asarray(b1) - _init_weights()[2]).max() > 1e-3  # the float bias did move
    assert int(params["steps"]) == 0  # integer leaves are not optimised
    assert losses[-1] < losses[0]
    assert all(v == 0 for v in counters.as_dict().values())


@pytest.mark.slow  # over 10 s; the default run stays under 6 minutes (CI runs the slow tests too)
def test_pulsed_layers_learn_and_vmap_over_seeds():
    dev = ConstantStep(g_min=0.0, g_max=10e-6, dg=10e-6 / 1000, v_threshold=1.0).validate()  # dw_min 0.004
    params = _params("analog", update_scheme=PulseUpdate(scheme="stochastic", bl=10))
    for name in ("l1", "l2"):  # the same layers on the pulsed device
        layer = params[name]
        xb = xa.make_crossbar(dev, layer.xb.rows, layer.xb.cols, w_max=2.0, periphery=ideal_periphery(),
                              update_scheme=PulseUpdate(scheme="stochastic", bl=10))
        params[name] = nn.analog_dense(xb, jax.random.key(3), layer.weights, batch=BATCH, bias_line=layer.bias_line)
    x, y = _data()
    run = _trainer(nn.analog_sgd(0.1), 150)
    seeds = jax.random.split(jax.random.key(1), 2)
    trained, losses, _ = jax.jit(jax.vmap(run, in_axes=(None, None, None, 0)))(params, x, y, seeds)
    losses = np.asarray(losses)
    # Float SGD goes from 0.92 to 0.018 in these 150 steps; the pulsed network gets about as far.
    assert np.all(losses[:, -10:].mean(axis=1) < 0.1 * losses[:, 0]), losses[:, [0, -1]]
    # Different seeds draw different pulse trains: the two networks differ by whole pulses.
    w_seeds = jax.vmap(lambda layer: layer.weights)(trained["l1"])  # the stacked layers, one per seed
    dw = np.asarray(w_seeds[0] - w_seeds[1])
    assert np.abs(dw).max() >= 0.9 * params["l1"].xb.dw_min
    one, _, _ = run(params, x, y, seeds[1])
    np.testing.assert_allclose(one["l1"].weights, w_seeds[1], atol=1e-6)


class _Momentum(NamedTuple):
    """A float optimizer shaped like optax's GradientTransformation (optax itself is not a dependency)."""

    lr: float
    beta: float

    def init(self, params):
        return jax.tree_util.tree_map(jnp.zeros_like, params)

    def update(self, grads, state, params=None):
        velocity = jax.tree_util.tree_map(lambda v, g: self.beta * v + g, state, grads)
        return jax.tree_util.tree_map(lambda v: -self.lr * v, velocity), velocity


def test_optax_shaped_transform_for_the_float_parameters():
    x, y = _data()
    tx = _Momentum(lr=0.3, beta=0.9)
    params, _, _ = _trainer(nn.analog_sgd(0.2, float_transform=tx), 3)(_params("float"), x, y, jax.random.key(0))

    # Reference: momentum on b1 and SGD (lr 0.2) on the layers' weights, in plain JAX.
    w1, w2, b1 = (jnp.asarray(a) for a in _init_weights())

    def loss(p):
        h = jnp.tanh(x @ p[0] + p[2])
        return jnp.mean((jnp.concatenate([h, jnp.ones((BATCH, 1))], axis=1) @ p[1] - y) ** 2)

    v = jnp.zeros_like(b1)
    for _ in range(3):
        g1, g2, gb = jax.grad(loss)((w1, w2, b1))
        v = 0.9 * v + gb
        w1, w2, b1 = w1 - 0.2 * g1, w2 - 0.2 * g2, b1 - 0.3 * v
    np.testing.assert_allclose(params["b1"], b1, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(params["l1"].weights, w1, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(params["l2"].weights, w2, rtol=1e-4, atol=1e-6)


def test_learning_rate_schedule_sets_each_step():
    layer = nn.float_dense(np.eye(3, dtype=np.float32), batch=2)
    x = jnp.asarray([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    loss = lambda p, key: jnp.sum(nn.dense(p["l"], x, key))  # dL/dW = x^T 1
    opt = nn.analog_sgd(lambda count: 0.1 * 0.5**count)
    params, state = {"l": layer}, opt.init({"l": layer})
    for _ in range(2):
        grads = jax.grad(loss, allow_int=True)(params, jax.random.key(0))
        params, state, _ = jax.jit(opt.update)(grads, state, params, jax.random.key(1))
    expected = np.eye(3) - (0.1 + 0.05) * np.asarray(x).T @ np.ones((2, 3))
    np.testing.assert_allclose(params["l"].w, expected, rtol=1e-6)
    assert int(state.count) == 2


def test_counters_of_the_backward_read_and_the_update_reach_the_optimizer():
    # An ADC bound far below the errors saturates the transpose read; huge lr clips pulse probabilities.
    tight = Periphery(dac_bits=0, adc_bits=0, output_bound=1e-4, output_noise=0.0, bound_management="none")
    params = _params("analog", update_scheme=PulseUpdate(scheme="stochastic"), periphery_backward=tight)
    for name in ("l1", "l2"):
        layer = params[name]
        xb = xa.make_crossbar(presets.gokmen_vlasov(), layer.xb.rows, layer.xb.cols, periphery=ideal_periphery(),
                              periphery_backward=tight)
        w = jnp.clip(layer.weights, -0.5, 0.5)  # within the GV device's +-0.6
        params[name] = nn.analog_dense(xb, jax.random.key(4), w, batch=BATCH, bias_line=layer.bias_line)
    x, y = _data()
    _, _, counters = _trainer(nn.analog_sgd(10.0), 1)(params, x, y, jax.random.key(0))
    assert int(counters.adc_saturated) > 0
    assert int(counters.probability_clipped) > 0


def test_per_layer_counters_are_each_layers_own_and_sum_to_the_total():
    params = _params("analog", update_scheme=PulseUpdate(scheme="stochastic"))
    x, y = _data()
    grads = jax.jit(jax.grad(_loss, allow_int=True))(params, x, y, jax.random.key(0))  # (jitted: 4x faster)
    by_layer, summed = nn.analog_sgd(0.1, per_layer_counters=True), nn.analog_sgd(0.1)
    _, _, per_layer = jax.jit(by_layer.update)(grads, by_layer.init(params), params, jax.random.key(1))
    _, _, total = jax.jit(summed.update)(grads, summed.init(params), params, jax.random.key(1))
    # In the structure of the parameters: each layer's counters in its place, None for the float leaves.
    assert per_layer["b1"] is None and per_layer["steps"] is None
    l1, l2 = per_layer["l1"], per_layer["l2"]
    np.testing.assert_allclose(l1.events.values + l2.events.values, total.events.values)
    # l1's input is data: no transpose read; l2's transpose read carries the batch's errors to l1.
    assert float(l1.events["backward.reads"]) == 0
    assert float(l2.events["backward.reads"]) >= BATCH
    assert all(float(c.events["update.samples"]) == BATCH for c in (l1, l2))


def test_bad_optimizer_arguments_raise_naming_them():
    with pytest.raises(ValueError, match="`lr`"):
        nn.analog_sgd(0.0)
    with pytest.raises(ValueError, match="`dt`"):
        nn.analog_sgd(0.1, dt=-1.0)
    with pytest.raises(TypeError, match="`float_transform`"):
        nn.analog_sgd(0.1, float_transform=object())
    with pytest.raises(TypeError, match="`per_layer_counters`"):
        nn.analog_sgd(0.1, per_layer_counters="yes")
