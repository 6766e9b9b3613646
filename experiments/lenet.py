"""The convolutional network of Gokmen, Onen & Haensch 2017 (a LeNet-5 variant) on crossbars or in float.

28x28x1 -> conv 5x5, 16 kernels, tanh -> max-pool 2 -> conv 5x5, 32 kernels, tanh -> max-pool 2 -> 512 ->
dense 128, tanh -> dense 10 -> softmax. Every layer keeps its bias on an always-on input line of its array
(the GOH2017 arrays K1 16 x 26, K2 32 x 401, W3 128 x 513, W4 10 x 129), so the pulsed update trains it too.
The float twin (`crossbar.nn.float_conv2d` / `float_dense`) has the same interface and initial weights, and so has
the network trained by a transfer algorithm (`transfer_network`: `crossbar.nn.transfer_conv2d` / `transfer_dense`).

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
    return _on_arrays(make_crossbar, nn.analog_conv2d, nn.analog_dense, key, batch)


def transfer_network(make_compound, algorithm, key, batch: int) -> dict:
    """The network on pairs of crossbars, every layer (the convolutions too) trained by a transfer algorithm, with
    the same initial weights (on C) as `analog_network(..., key, ...)`.

    Args:
        make_compound: rows, cols -> `crossbar.transfer.Compound` (the arrays A and C of a layer).
        algorithm: From `crossbar.transfer.make_algorithm` (gamma 0).
        key: Random key (initial weights and the devices' spread and references).
        batch: Images per training step (the layers' tapes).
    """
    def conv(cmp, k, input_shape, kernel_size, **kw):
        return nn.transfer_conv2d(cmp, algorithm, k, input_shape, kernel_size, **kw)

    def dense(cmp, k, w, **kw):
        return nn.transfer_dense(cmp, algorithm, k, w, **kw)

    return _on_arrays(make_compound, conv, dense, key, batch)


def _on_arrays(make_arrays, conv_layer, dense_layer, key, batch: int) -> dict:
    """The layers `conv_layer(arrays, key, input_shape, kernel_size, kernel=, batch=, bias_line=)` and
    `dense_layer(arrays, key, weights, batch=, bias_line=)` on `make_arrays(rows, cols)`, the devices' keys from the
    second half of `key`."""
    k_dev, shapes = jax.random.split(key)[1], layer_shapes()

    def conv(i, name, kernel, input_shape):  # its bias row starts at zero, as initial_weights' does
        return conv_layer(make_arrays(*shapes[name]), jax.random.fold_in(k_dev, i), input_shape, kernel.shape[0],
                          kernel=kernel, batch=batch, bias_line=True)

    def dense(i, name, w):
        return dense_layer(make_arrays(*shapes[name]), jax.random.fold_in(k_dev, i), w, batch=batch, bias_line=True)

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


def logits(layers: dict, x: Array, key, *, return_counters: bool = False):
    """[batch, 10] logits of images x [batch, 784] in [0, 1]; every layer reads with its own key.

    With `return_counters`, also {layer: its forward read's `Counters`} (differentiable: use `has_aux`).
    """
    keys = jax.random.split(key, 4)
    counters = {}

    def read(name, h, k):
        y, counters[name] = nn.dense(layers[name], h, k, return_counters=True)
        return y

    h = x.reshape(x.shape[0], *IMAGE)
    h = _pool(jnp.tanh(read("c1", h, keys[0])))
    h = _pool(jnp.tanh(read("c2", h, keys[1])))
    h = jnp.tanh(read("f3", h.reshape(h.shape[0], -1), keys[2]))
    out = read("f4", h, keys[3])
    return (out, counters) if return_counters else out


def loss(layers: dict, x: Array, y: Array, key, *, return_counters: bool = False):
    """Mean softmax cross-entropy of a batch (and, with `return_counters`, the forward reads' counters)."""
    out, counters = logits(layers, x, key, return_counters=True)
    value = -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(out), y[:, None], axis=1))
    return (value, counters) if return_counters else value


def patches() -> dict[str, int]:
    """{layer: reads of its array per image}: a convolution's output positions H' W', 1 for a dense layer."""
    out = {name: (shape[0] - k + 1) * (shape[1] - k + 1) for name, (k, _, _, shape) in CONVS.items()}
    return {**out, **dict.fromkeys(DENSE, 1)}


def digital_ops(batch: int) -> dict[str, float]:
    """{layer: digital operations of one training step of `batch` images}, beside the arrays' own work.

    As for the MLP (`crossbar.training.mlp`), the forward work is booked on the layer that produced the values and
    the backward work on the layer whose transpose read produced the error: forward, one tanh per output (3 per
    logit for softmax and its log) and 3 comparisons per 2x2-pooled output; backward, 1 per logit for the output
    error, 2 per hidden value for the tanh slope and product, and for a convolution's transpose read the sum of
    its patches' errors back onto the input (one add per patch element and output position).
    """
    conv_out = {name: (patches()[name], c_out) for name, (_, _, c_out, _) in CONVS.items()}
    n1, c1 = conv_out["c1"]
    n2, c2 = conv_out["c2"]
    rows_c2 = layer_shapes()["c2"][0] - 1  # patch elements summed back onto c1's output
    forward = {"c1": n1 * c1 + 3 * n1 * c1 // 4, "c2": n2 * c2 + 3 * n2 * c2 // 4, "f3": DENSE["f3"][1],
               "f4": 3 * DENSE["f4"][1]}
    backward = {"c1": 0, "c2": n2 * rows_c2 + 2 * n1 * c1, "f3": 2 * n2 * c2,
                "f4": DENSE["f4"][1] + 2 * DENSE["f3"][1]}
    return {name: float(batch * (forward[name] + backward[name])) for name in layer_shapes()}


def weights(layers: dict) -> dict[str, Array]:
    """{layer: [rows, cols]} weights the layers hold now (noise-free)."""
    return {name: (layer.dense if hasattr(layer, "dense") else layer).weights for name, layer in layers.items()}

