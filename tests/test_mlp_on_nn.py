"""The MLP built on `crossbar.nn` layers against a hand-written backprop over the array interface.

`crossbar.training.mlp.train_step` differentiates the network with `jax.grad` through the layers' custom VJPs.
The oracle here is the explicit GV2016 backprop (forward reads, softmax error, transpose reads times the sigmoid
slope, one update per layer with lr / batch per sample), written against `crossbar.array` directly: with the
ideal update scheme (the weight change written straight into the conductances) and noise-free reads, the two
must give the same weights to float32 precision, and count the same reads.
"""

import functools
from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from crossbar import array
from crossbar.events import INDEX
from crossbar.periphery import ideal_periphery
from crossbar.training import data as datasets
from crossbar.training import mlp
from crossbar.training.backends import CrossbarBackend, FloatBackend
from crossbar.update import PulseUpdate
from devices import presets

CFG = mlp.MLPConfig(sizes=(64, 12, 8, 10), activation="sigmoid", lr=0.3, batch_size=4, seed=0)
IDEAL_WRITE = CrossbarBackend(device=presets.ideal(), w_max=3.0, periphery=ideal_periphery(),
                              update_scheme=PulseUpdate(scheme="ideal"))


def reference_step(layers, x, y, lr, key):
    """The hand-written backprop of Gokmen & Vlasov 2016 on the arrays: (new layers, mean loss)."""
    inputs, a = [], x
    for i, layer in enumerate(layers):
        a_in = jnp.concatenate([a, jnp.ones((a.shape[0], 1))], axis=1)
        inputs.append(a_in)
        h, _ = array.forward(layer.xb, layer.state, a_in, jax.random.fold_in(key, i))
        a = h if i == len(layers) - 1 else jax.nn.sigmoid(h)
    p = jax.nn.softmax(a)
    onehot = jax.nn.one_hot(y, a.shape[1])
    loss = -jnp.mean(jnp.sum(onehot * jnp.log(p), axis=1))
    d, errors = p - onehot, []
    for i in range(len(layers) - 1, -1, -1):
        errors.insert(0, d)
        if i:
            z, _ = array.transpose(layers[i].xb, layers[i].state, d, jax.random.fold_in(key, 10 + i))
            s = inputs[i][:, :-1]
            d = z[:, :-1] * s * (1.0 - s)
    new = [replace(layer, state=array.update(layer.xb, layer.state, inputs[i], errors[i], lr / x.shape[0],
                                             jax.random.fold_in(key, 20 + i))[0])
           for i, layer in enumerate(layers)]
    return new, loss


@pytest.fixture(scope="module")
def batch():
    digits = datasets.load_digits()
    return jnp.asarray(digits.x_train[:CFG.batch_size]), jnp.asarray(digits.y_train[:CFG.batch_size])


@pytest.mark.slow  # over 6 s; the default run stays under 6 minutes (CI runs the slow tests too)
def test_train_step_equals_the_hand_written_backprop(batch):
    x, y = batch
    layers = mlp.init_network(CFG, IDEAL_WRITE, jax.random.key(0))
    for _ in range(3):  # three steps: the second and third start from weights the first one wrote
        new, loss, _ = jax.jit(mlp.train_step, static_argnums=(0, 1))(CFG, IDEAL_WRITE, layers, x, y, CFG.lr,
                                                                        jax.random.key(1))
        ref, ref_loss = jax.jit(reference_step)(layers, x, y, CFG.lr, jax.random.key(1))
        np.testing.assert_allclose(float(loss), float(ref_loss), rtol=1e-5)
        for before, got, want in zip(layers, new, ref, strict=True):
            step = np.asarray(want.weights) - np.asarray(before.weights)
            assert np.max(np.abs(step)) > 1e-3  # the step moved the weights far more than the tolerance
            np.testing.assert_allclose(np.asarray(got.weights), np.asarray(want.weights), atol=2e-6)
        layers = new


def test_float_back_end_takes_the_exact_sgd_step_of_the_mean_loss(batch):
    """The float twin's step is W - lr dL/dW of the batch-mean cross-entropy (jax.grad of plain matmuls)."""
    x, y = batch
    layers = mlp.init_network(CFG, FloatBackend(), jax.random.key(0))

    def mean_loss(ws):
        a = x
        for i, w in enumerate(ws):
            h = jnp.concatenate([a, jnp.ones((a.shape[0], 1))], axis=1) @ w
            a = h if i == len(ws) - 1 else jax.nn.sigmoid(h)
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(a), y[:, None], axis=1))

    ws = [layer.w for layer in layers]
    grads = jax.grad(mean_loss)(ws)
    new, loss, counters = mlp.train_step(CFG, FloatBackend(), layers, x, y, CFG.lr, jax.random.key(1))
    np.testing.assert_allclose(float(loss), float(mean_loss(ws)), rtol=1e-6)
    for layer, w, g in zip(new, ws, grads, strict=True):
        np.testing.assert_allclose(np.asarray(layer.w), np.asarray(w - CFG.lr * g), atol=1e-6)
    assert int(counters.events.values[:, INDEX["backward.reads"]].sum()) == 0  # no arrays, no analog reads


@pytest.mark.slow  # over 6 s; the default run stays under 6 minutes (CI runs the slow tests too)
def test_reads_are_counted_per_layer_and_the_first_layer_has_no_transpose_read(batch):
    x, y = batch
    backend = CrossbarBackend(presets.gokmen_vlasov())
    layers = mlp.init_network(CFG, backend, jax.random.key(0))
    step = jax.jit(functools.partial(mlp.train_step, CFG, backend))  # (eager, the step took 4x as long)
    _, _, counters = step(layers, x, y, CFG.lr, jax.random.key(1))
    events = np.asarray(counters.events.values)
    n = CFG.batch_size
    np.testing.assert_array_equal(events[:, INDEX["forward.reads"]] - events[:, INDEX["forward.rereads"]], n)
    np.testing.assert_array_equal(events[0, INDEX["backward.reads"]], 0)
    assert np.all(events[1:, INDEX["backward.reads"]] >= n)
    np.testing.assert_array_equal(events[:, INDEX["update.samples"]], n)  # one pulse train per sample
