"""A multilayer perceptron whose layers live on a back end (float or crossbar): forward, backprop, SGD.

Every function is pure and jit-able; the back end (`crossbar.training.backends`) is a static Python object closed
over by the jitted functions. Shapes: inputs x [batch, n_features], labels y [batch] int.

References:
    Gokmen & Vlasov, Front. Neurosci. 10:333 (2016): 784-256-128-10, sigmoid hidden layers, softmax
    output with cross-entropy, SGD with batch 1, lr 0.01, biases as an always-on input line.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from crossbar.counters import COUNT_NAMES, Counters
from crossbar.events import INDEX, Events
from devices.validation import check_choice, check_int, check_nonnegative, check_positive, check_scalar

Array = jax.Array

ACTIVATIONS = ("sigmoid", "tanh", "relu")


@dataclass(frozen=True)
class MLPConfig:
    """Network and training settings shared by both back ends.

    Attributes:
        sizes: Layer widths, input first: (n_features, hidden..., n_classes).
        activation: Hidden activation, one of ACTIVATIONS; the output is softmax + cross-entropy.
        lr: Learning rate of SGD.
        lr_decay: Factor applied to lr after every epoch (1 = constant).
        epochs: Number of passes over the training set.
        batch_size: Samples per update (1 = the paper's setting).
        seed: Seed of initial weights, shuffling and every noise draw.
        init_scale: Multiplier of the Glorot-uniform bound of the initial weights.
        time_per_sample: Simulated seconds per training sample; the arrays' clock (drift) advances by it.
    """

    sizes: tuple[int, ...] = (784, 256, 128, 10)
    activation: str = "sigmoid"
    lr: float = 0.01
    lr_decay: float = 1.0
    epochs: int = 30
    batch_size: int = 1
    seed: int = 0
    init_scale: float = 1.0
    time_per_sample: float = 1e-3

    def validate(self, n_features: int | None = None, n_classes: int | None = None) -> MLPConfig:
        """Check the settings (and, when given, that they fit the data); raise ValueError naming the field."""
        if (not isinstance(self.sizes, (tuple, list)) or len(self.sizes) < 2
                or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in self.sizes)):
            raise ValueError(f"`sizes` must be at least two positive ints; got sizes={self.sizes!r}")
        if n_features is not None and self.sizes[0] != n_features:
            raise ValueError(f"`sizes[0]` must equal the data's {n_features} features; got sizes={self.sizes}")
        if n_classes is not None and self.sizes[-1] != n_classes:
            raise ValueError(f"`sizes[-1]` must equal the data's {n_classes} classes; got sizes={self.sizes}")
        check_choice("activation", self.activation, ACTIVATIONS)
        for name in ("lr", "lr_decay", "init_scale", "time_per_sample"):
            check_scalar(name, getattr(self, name))
        for name in ("lr", "lr_decay", "init_scale"):
            check_positive(name, getattr(self, name))
        check_nonnegative("time_per_sample", self.time_per_sample)
        for name in ("epochs", "batch_size"):
            check_int(name, getattr(self, name), 1)
        check_int("seed", self.seed, 0)
        return self


def gokmen_vlasov_config(**overrides) -> MLPConfig:
    """The GV2016 network and schedule: 784-256-128-10, sigmoid, lr 0.01, batch 1, 30 epochs."""
    return MLPConfig(**{"sizes": (784, 256, 128, 10), "activation": "sigmoid", "lr": 0.01, "epochs": 30,
                        "batch_size": 1, **overrides})


def _activate(name: str, h: Array) -> Array:
    return {"sigmoid": jax.nn.sigmoid, "tanh": jnp.tanh, "relu": jax.nn.relu}[name](h)


def _activation_slope(name: str, a: Array) -> Array:
    """Derivative of the activation, written in terms of its output a."""
    if name == "sigmoid":
        return a * (1.0 - a)
    if name == "tanh":
        return 1.0 - a * a
    return (a > 0).astype(a.dtype)


def _with_bias(x: Array) -> Array:
    return jnp.concatenate([x, jnp.ones((x.shape[0], 1), x.dtype)], axis=1)


def init_network(cfg: MLPConfig, backend, key) -> tuple:
    """Layers of the network on `backend`, Glorot-uniform initial weights (bias row 0), same for every back end.

    The initial weights depend only on `cfg.seed`-derived `key`, so float and crossbar start equal (up to
    the devices' bounds).
    """
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(cfg.sizes[:-1], cfg.sizes[1:], strict=True)):
        k_w, k_dev = jax.random.split(jax.random.fold_in(key, i))
        bound = cfg.init_scale * np.sqrt(6.0 / (fan_in + fan_out))
        w = jax.random.uniform(k_w, (fan_in, fan_out), minval=-bound, maxval=bound)
        w0 = jnp.concatenate([w, jnp.zeros((1, fan_out))], axis=0)
        layers.append(backend.init(k_dev, fan_in + 1, fan_out, w0))
    return tuple(layers)


def forward(cfg: MLPConfig, backend, layers: tuple, x: Array, key) -> tuple[Array, list[Array], Counters]:
    """Logits [batch, n_classes], the inputs (with bias) of every layer, and the read counters (events per
    layer: [n_layers, ...])."""
    logits, inputs, per_layer = _forward(cfg, backend, layers, x, key)
    return logits, inputs, _combine([[c] for c in per_layer], _forward_ops(logits.shape[0], cfg.sizes))


def _forward(cfg: MLPConfig, backend, layers: tuple, x: Array, key) -> tuple[Array, list[Array], list[Counters]]:
    inputs, counters = [], []
    a = x
    for i, layer in enumerate(layers):
        a_in = _with_bias(a)
        inputs.append(a_in)
        h, c = backend.forward(layer, a_in, jax.random.fold_in(key, i))
        counters.append(c)
        a = h if i == len(layers) - 1 else _activate(cfg.activation, h)
    return a, inputs, counters


def _forward_ops(batch: int, sizes) -> np.ndarray:
    """[n_layers] digital work of the forward pass: one activation per output (softmax and its log: 3)."""
    return np.array([batch * n * (3 if i == len(sizes) - 2 else 1) for i, n in enumerate(sizes[1:])], np.float32)


def _backward_ops(batch: int, sizes) -> np.ndarray:
    """[n_layers] digital work of the backward pass: the output error (1 per logit, on the top layer) and each
    hidden unit's slope and product (2, on the layer above it, whose transpose read produced its error)."""
    ops = np.zeros(len(sizes) - 1, np.float32)
    ops[-1] += batch * sizes[-1]
    for i in range(1, len(sizes) - 1):
        ops[i] += 2 * batch * sizes[i]
    return ops


def _combine(per_layer: list[list[Counters]], digital_ops: np.ndarray) -> Counters:
    """One Counters of a network: the counts summed, the events stacked per layer [n_layers, ...] with the
    digital work (static: it depends on shapes only) added as one constant. Summing per layer first and stacking
    once keeps the number of small ops per step low (each costs a kernel launch on CPU)."""
    flat = [c for cs in per_layer for c in cs]
    counts = {k: sum(jnp.asarray(getattr(c, k), jnp.int32) for c in flat) for k in COUNT_NAMES}
    values = jnp.stack([sum(c.events.values for c in cs) for cs in per_layer])
    digital = np.zeros(values.shape, np.float32)
    digital[:, INDEX["digital_ops"]] = digital_ops
    return Counters(**counts, events=Events(values + digital))


def train_step(cfg: MLPConfig, backend, layers: tuple, x: Array, y: Array, lr, key) -> tuple[tuple, Array, Counters]:
    """One SGD step on a batch: forward, backprop through transpose reads, update of every layer.

    Args:
        x: [batch, n_features]; y: [batch] int labels; lr: learning rate of this step.

    Returns:
        (new layers, mean cross-entropy of the batch before the update, counters; events per layer).
    """
    k_fwd, k_bwd, k_upd = jax.random.split(key, 3)
    logits, inputs, forward_counters = _forward(cfg, backend, layers, x, k_fwd)
    per_layer = [[c] for c in forward_counters]
    log_p = jax.nn.log_softmax(logits)
    onehot = jax.nn.one_hot(y, logits.shape[1], dtype=logits.dtype)
    loss = -jnp.mean(jnp.sum(onehot * log_p, axis=1))
    # dL/dlogits of the batch mean; each layer then gets dL/d(its pre-activation).
    d = (jnp.exp(log_p) - onehot) / x.shape[0]
    errors = [d]
    for i in range(len(layers) - 1, 0, -1):
        z, c = backend.backward(layers[i], d, jax.random.fold_in(k_bwd, i))
        per_layer[i].append(c)
        a = inputs[i][:, :-1]
        d = z[:, :-1] * _activation_slope(cfg.activation, a)
        errors.insert(0, d)
    new_layers = []
    for i, layer in enumerate(layers):
        # The batch mean is folded into d above, so each sample's update uses lr * batch / batch = lr.
        layer, c = backend.update(layer, inputs[i], errors[i] * x.shape[0], lr / x.shape[0],
                                  jax.random.fold_in(k_upd, i))
        per_layer[i].append(c)
        new_layers.append(backend.advance(layer, cfg.time_per_sample * x.shape[0]))
    ops = _forward_ops(x.shape[0], cfg.sizes) + _backward_ops(x.shape[0], cfg.sizes)
    return tuple(new_layers), loss, _combine(per_layer, ops)


def train_samples(cfg: MLPConfig, backend, layers: tuple, xs: Array, ys: Array, lr, key):
    """Train on `xs` [n_batches, batch, n_features] / `ys` [n_batches, batch] in one `lax.scan`.

    Returns:
        (new layers, per-batch losses [n_batches], summed counters).
    """
    keys = jax.random.split(key, xs.shape[0])

    def step(carry, args):
        layers, counters = carry
        x, y, k = args
        layers, loss, c = train_step(cfg, backend, layers, x, y, lr, k)
        return (layers, counters + c), loss

    (layers, counters), losses = jax.lax.scan(step, (layers, Counters.zeros(len(layers))), (xs, ys, keys))
    return layers, losses, counters


def predict(cfg: MLPConfig, backend, layers: tuple, x: Array, key) -> tuple[Array, Counters]:
    """Predicted classes [batch] from a (noisy, analog) forward pass."""
    logits, _, counters = forward(cfg, backend, layers, x, key)
    return jnp.argmax(logits, axis=1), counters


def advance(backend, layers: tuple, dt) -> tuple:
    """The network `dt` simulated seconds later (retention drift acts on later reads)."""
    return tuple(backend.advance(layer, dt) for layer in layers)
