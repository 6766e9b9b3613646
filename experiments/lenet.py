"""The convolutional network of Gokmen, Onen & Haensch 2017 (a LeNet-5 variant) on crossbars or in float.

28x28x1 -> conv 5x5, 16 kernels, tanh -> max-pool 2 -> conv 5x5, 32 kernels, tanh -> max-pool 2 -> 512 ->
dense 128, tanh -> dense 10 -> softmax. Every layer keeps its bias on an always-on input line of its array
(the GOH2017 arrays K1 16 x 26, K2 32 x 401, W3 128 x 513, W4 10 x 129), so the pulsed update trains it too.
The float twin (`crossbar.nn.float_conv2d` / `float_dense`) has the same interface and initial weights.

References:
    Gokmen, Onen & Haensch, "Training deep convolutional neural networks with resistive cross-point devices",
    Front. Neurosci. 11:538 (2017), Fig. 1 and Table 1 (the network: its arrays K1 16 x 26 ... W4 10 x 129).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from crossbar import nn

Array = jax.Array

IMAGE = (28, 28, 1)
# The two convolutions: {layer: (kernel size, C_in, C_out, input shape (H, W, C_in))}.
CONVS = {"c1": (5, 1, 16, IMAGE), "c2": (5, 16, 32, (12, 12, 16))}  # 28 - 5 + 1 = 24, pooled to 12
DENSE = {"f3": (512, 128), "f4": (128, 10)}  # after the second pooling: 4 x 4 x 32 = 512 inputs


def layer_shapes() -> dict[str, tuple[int, int]]:
    """{layer: (array rows incl. the bias line, cols)} of the network."""
    convs = {name: (k * k * c_in + 1, c_out) for name, (k, c_in, c_out, _) in CONVS.items()}
    return {**convs, **{name: (n_in + 1, n_out) for name, (n_in, n_out) in DENSE.items()}}


def initial_weights(key) -> dict[str, Array]:
    """LeCun-uniform weights [rows, cols] per layer (bias rows zero), the same for both twins."""
    out = {}
    for i, (name, (rows, cols)) in enumerate(layer_shapes().items()):
        bound = jnp.sqrt(3.0 / (rows - 1))
        w = jax.random.uniform(jax.random.fold_in(key, i), (rows - 1, cols), minval=-bound, maxval=bound)
        out[name] = jnp.concatenate([w, jnp.zeros((1, cols))])
    return out


def _network(key, conv, dense) -> dict:
    """The layers from `conv(i, name, kernel, input_shape)` and `dense(i, name, weights)`, i the layer's index,
    with `initial_weights` of the first half of `key` (the second is the devices')."""
    w = initial_weights(jax.random.split(key)[0])
    layers = {}
    for i, name in enumerate(layer_shapes()):
        if name in CONVS:
            k, c_in, _, input_shape = CONVS[name]
            layers[name] = conv(i, name, nn.matrix_to_kernel(w[name][:-1], (k, k), c_in), input_shape)
        else:
            layers[name] = dense(i, name, w[name])
    return layers


def analog_network(make_crossbar, key, batch: int) -> dict:
    """The network on crossbars: `make_crossbar(rows, cols) -> Crossbar` builds each layer's array.

    Args:
        make_crossbar: rows, cols -> `crossbar.array.Crossbar` (device, periphery, update scheme, w_max).
        key: Random key (initial weights and the devices' spread).
        batch: Images per training step (the layers' tapes).
    """
    k_dev, shapes = jax.random.split(key)[1], layer_shapes()

    def conv(i, name, kernel, input_shape):  # its bias row starts at zero, as initial_weights' does
        return nn.analog_conv2d(make_crossbar(*shapes[name]), jax.random.fold_in(k_dev, i), input_shape,
                                kernel.shape[0], kernel=kernel, batch=batch, bias_line=True)

    def dense(i, name, w):
        return nn.analog_dense(make_crossbar(*shapes[name]), jax.random.fold_in(k_dev, i), w, batch=batch,
                               bias_line=True)

    return _network(key, conv, dense)


def float_network(key, batch: int) -> dict:
    """The float twin with the same initial weights as `analog_network(..., key, ...)`."""
    return _network(key, lambda i, name, kernel, input_shape: nn.float_conv2d(kernel, input_shape, batch=batch,
                                                                               bias_line=True),
                    lambda i, name, w: nn.float_dense(w, batch=batch, bias_line=True))


def _pool(h: Array) -> Array:
    """2x2 max-pooling of [batch, H, W, C] (H, W even)."""
    b, hh, ww, c = h.shape
    return h.reshape(b, hh // 2, 2, ww // 2, 2, c).max(axis=(2, 4))


def logits(layers: dict, x: Array, key) -> Array:
    """[batch, 10] logits of images x [batch, 784] in [0, 1]; every layer reads with its own key."""
    keys = jax.random.split(key, 4)
    h = x.reshape(x.shape[0], *IMAGE)
    h = _pool(jnp.tanh(layers["c1"](h, keys[0])))
    h = _pool(jnp.tanh(layers["c2"](h, keys[1])))
    h = jnp.tanh(nn.dense(layers["f3"], h.reshape(h.shape[0], -1), keys[2]))
    return nn.dense(layers["f4"], h, keys[3])


def loss(layers: dict, x: Array, y: Array, key) -> Array:
    """Mean softmax cross-entropy of a batch."""
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits(layers, x, key)), y[:, None], axis=1))


def weights(layers: dict) -> dict[str, Array]:
    """{layer: [rows, cols]} weights the layers hold now (noise-free)."""
    return {name: (layer.dense if hasattr(layer, "dense") else layer).weights for name, layer in layers.items()}

