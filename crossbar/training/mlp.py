"""A multilayer perceptron of `crossbar.nn` dense layers (float or on crossbars): forward, backprop, SGD.

The network is a tuple of layers built by a back end (`crossbar.training.backends`: `FloatDense` or
`AnalogDense`, the bias on an always-on input line). Backprop is `jax.grad` through the layers' custom VJPs (the
crossbar's transpose reads), and the update is each layer's `apply_update` (pulse coincidence on the devices, or
the exact SGD step of the float twin): the same layers any JAX model uses. Every function is pure and jit-able.
Shapes: inputs x [batch, n_features], labels y [batch] int.

References:
    Gokmen & Vlasov, Front. Neurosci. 10:333 (2016): 784-256-128-10, sigmoid hidden layers, softmax
    output with cross-entropy, SGD with batch 1, lr 0.01, biases as an always-on input line.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from crossbar.counters import Counters, stack_layers
from crossbar.nn import dense, with_batch
from devices.validation import check_choice, check_int, check_nonnegative, check_positive, check_scalar

Array = jax.Array

ACTIVATIONS = ("sigmoid", "tanh", "relu")
RULES = ("backprop", "fa", "dfa")  # `crossbar.training.feedback`
FEEDBACK = ("digital", "array")  # where FA's and DFA's feedback matrices live


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
        rule: How the hidden layers get their errors: "backprop" (transpose reads), "fa" (feedback alignment) or
            "dfa" (direct feedback alignment): fixed random feedback in digital memory, no transpose reads
            (`crossbar.training.feedback`).
        feedback: Where the feedback matrices of "fa" and "dfa" live: "digital" (exact products, counted as
            digital work) or "array" (each on a fixed array of its own, of the next layer's device and periphery,
            read like a forward pass: its reads, converters and noise are counted on the layer it feeds).
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
    rule: str = "backprop"
    feedback: str = "digital"

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
        check_choice("rule", self.rule, RULES)
        check_choice("feedback", self.feedback, FEEDBACK)
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


def activate(name: str, h: Array) -> Array:
    return {"sigmoid": jax.nn.sigmoid, "tanh": jnp.tanh, "relu": jax.nn.relu}[name](h)


def init_network(cfg: MLPConfig, backend, key) -> tuple:
    """Layers of the network on `backend` (`crossbar.nn` layers with a bias line), Glorot-uniform initial weights
    (bias row 0), the same for every back end.

    The initial weights depend only on `cfg.seed`-derived `key`, so float and crossbar start equal (up to
    the devices' bounds). The layers carry no update tape: `train_step` sizes one for its batch.
    """
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(cfg.sizes[:-1], cfg.sizes[1:], strict=True)):
        k_w, k_dev = jax.random.split(jax.random.fold_in(key, i))
        bound = cfg.init_scale * np.sqrt(6.0 / (fan_in + fan_out))
        w = jax.random.uniform(k_w, (fan_in, fan_out), minval=-bound, maxval=bound)
        w0 = jnp.concatenate([w, jnp.zeros((1, fan_out))], axis=0)
        layers.append(backend.init(k_dev, fan_in + 1, fan_out, w0))
    return tuple(layers)


def forward(cfg: MLPConfig, backend, layers: tuple, x: Array, key) -> tuple[Array, Counters]:
    """Logits [batch, n_classes] and the read counters (events per layer: [n_layers, ...]).

    `backend` built the layers; the reads use only the layers (each knows its array or weights).
    """
    logits, per_layer = _forward(cfg, layers, x, key)
    return logits, stack_layers([[c] for c in per_layer], forward_ops(logits.shape[0], cfg.sizes))


def _forward(cfg: MLPConfig, layers: tuple, x: Array, key) -> tuple[Array, list[Counters]]:
    """Logits and each layer's forward-read counters. Differentiable: `jax.grad` reaches every layer's tape
    through its custom VJP (the transpose reads), and skips the first layer's, whose input is data."""
    counters = []
    a = x
    for i, layer in enumerate(layers):
        h, c = dense(layer, a, jax.random.fold_in(key, i), return_counters=True)
        counters.append(c)
        a = h if i == len(layers) - 1 else activate(cfg.activation, h)
    return a, counters


def forward_ops(batch: int, sizes) -> np.ndarray:
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


def train_step(cfg: MLPConfig, backend, layers: tuple, x: Array, y: Array, lr, key) -> tuple[tuple, Array, Counters]:
    """One SGD step on a batch: forward reads, backprop by `jax.grad` through the transpose reads, pulsed updates.

    The loss differentiated is the batch's summed cross-entropy, so each layer's tape holds every sample's own
    error dL_b/dy_b and the update applies lr / batch per sample: the step of the batch-mean loss at rate lr,
    delivered sample by sample (or summed, as the layer's `PulseUpdate.batch_mode` says).

    Args:
        backend: The back end that built `layers` (the step itself reads only the layers).
        x: [batch, n_features]; y: [batch] int labels; lr: learning rate of this step.

    Returns:
        (new layers, mean cross-entropy of the batch before the update, counters; events per layer).
    """
    if cfg.rule != "backprop":  # hidden errors by fixed random feedback, no transpose reads
        from crossbar.training import feedback

        return feedback.train_step(cfg, layers, x, y, lr, key)
    batch = x.shape[0]
    k_fwd, k_upd = jax.random.split(key)

    def summed_loss(taped):
        logits, counters = _forward(cfg, taped, x, k_fwd)
        log_p = jax.nn.log_softmax(logits)
        return -jnp.sum(jnp.take_along_axis(log_p, y[:, None].astype(jnp.int32), axis=1)), counters

    (loss, forward_counters), grads = jax.value_and_grad(summed_loss, has_aux=True, allow_int=True)(
        with_batch(layers, batch))
    new_layers, per_layer = [], []
    for i, (layer, grad) in enumerate(zip(layers, grads, strict=True)):
        # The update's counters include those of the transpose read the tape carries.
        layer, c = layer.apply_update(grad, lr / batch, jax.random.fold_in(k_upd, i))
        per_layer.append([forward_counters[i], c])
        new_layers.append(layer.advance(cfg.time_per_sample * batch))
    ops = forward_ops(batch, cfg.sizes) + _backward_ops(batch, cfg.sizes)
    return tuple(new_layers), loss / batch, stack_layers(per_layer, ops)


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
    logits, counters = forward(cfg, backend, layers, x, key)
    return jnp.argmax(logits, axis=1), counters


def advance(backend, layers: tuple, dt) -> tuple:
    """The network `dt` simulated seconds later (retention drift acts on later reads)."""
    return tuple(layer.advance(dt) for layer in layers)
