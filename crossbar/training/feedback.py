"""Feedback alignment and direct feedback alignment: training the MLP's hidden layers without transpose reads.

Backprop sends the output error down through every layer's transpose read, delta_l = (delta_{l+1} W_{l+1}^T) *
f'(h_l). The two rules here replace W^T by fixed random matrices B_l held in digital memory, so a hidden neuron's
error, its neuron-specific third factor, needs no transpose read at all:

    feedback alignment (FA)          delta_l = (delta_{l+1} B_l) * f'(h_l),  B_l [n_{l+2}, n_{l+1}]
    direct feedback alignment (DFA)  delta_l = (e B_l) * f'(h_l),            B_l [n_classes, n_{l+1}]

with e = softmax(logits) - onehot(y) the output error, h_l the hidden layer's pre-activation and n_k the MLP's
`sizes`. Every layer is then updated as in backprop, W_l -= lr x_l^T delta_l, by the same pulse trains of x_l
(rows) and delta_l (columns): a neuron-specific modulated update. The forward reads, the output error and the
pulsed updates are those of `mlp.train_step`; the only changes are where delta_l comes from and that no
transpose read is done (and none counted). The products with B_l are digital work, counted in `digital_ops` on
the layer whose error they make (one multiply-add per entry, plus each hidden unit's slope and product).

B_l is uniform in [-b, b] with b = sqrt(6 / (n_in + n_out)) of the matrix it stands for (W_{l+1}^T for FA, the
Glorot bound of [n_classes, n_{l+1}] for DFA), drawn from the configuration's seed: fixed for a run, the same for
the float and the crossbar back ends, and recomputed on resume.

With `MLPConfig.feedback = "array"` each B_l of a crossbar network sits on a fixed array of its own instead: the
device, mapping and periphery of layer l + 1's array with its transpose read's converters (they carry errors, as
backprop's transpose read does), B_l scaled to fill half the weight range w_max and the read scaled back. The product
delta B_l is then that array's forward read, with its noise, converters and events, counted on layer l; only
each hidden unit's slope and product stay digital. The arrays are programmed once (their d2d spread drawn from the
run's seed) and never pulsed; they are rebuilt from the seed on every step, so they do not drift.

References:
    Lillicrap, Cownden, Tweed & Akerman, "Random synaptic feedback weights support error backpropagation for
    deep learning", Nat. Commun. 7:13276 (2016): FA.
    Nokland, "Direct feedback alignment provides learning in deep neural networks", NeurIPS 2016: DFA.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from crossbar import array
from crossbar.counters import Counters, stack_layers
from crossbar.nn.dense import AnalogDense, dense
from crossbar.nn.tape import UpdateTape, with_bias_line
from crossbar.training import mlp

Array = jax.Array

RULES = ("backprop", "fa", "dfa")


@dataclass(frozen=True)
class _Tape:
    """A layer's cotangent as `apply_update` reads it: only its filled tape. A layer that wraps a dense layer
    (`HWADense`) hands its `dense` part on, which is the same tape."""

    tape: UpdateTape

    @property
    def dense(self) -> _Tape:
        return self


def feedback_matrices(sizes, rule: str, seed: int) -> tuple[np.ndarray, ...]:
    """The fixed random feedback matrices B_l of `rule` ("fa" or "dfa"), one per hidden layer (float32 numpy).

    Args:
        sizes: The MLP's widths (n_features, hidden..., n_classes).
        rule: "fa" (B_l [sizes[l + 2], sizes[l + 1]]) or "dfa" (B_l [sizes[-1], sizes[l + 1]]).
        seed: The run's seed; the matrices depend on it alone.
    """
    if rule not in ("fa", "dfa"):
        raise ValueError(f"`rule` must be 'fa' or 'dfa' for feedback matrices; got rule={rule!r}")
    rng = np.random.default_rng([seed, 0xFEEDBAC])
    out = []
    for k in range(len(sizes) - 2):
        n_src = sizes[k + 2] if rule == "fa" else sizes[-1]
        bound = np.sqrt(6.0 / (n_src + sizes[k + 1]))
        out.append(rng.uniform(-bound, bound, (n_src, sizes[k + 1])).astype(np.float32))
    return tuple(out)


def slope(activation: str, h: Array) -> Array:
    """f'(h) of the hidden activation at the pre-activation h."""
    if activation == "sigmoid":
        s = jax.nn.sigmoid(h)
        return s * (1.0 - s)
    if activation == "tanh":
        return 1.0 - jnp.tanh(h) ** 2
    return (h > 0).astype(h.dtype)


def feedback_ops(batch: int, sizes, rule: str, on_arrays: bool = False) -> np.ndarray:
    """[n_layers] digital work of the errors: the output error (top layer), and per hidden layer its feedback
    product (n_src x n_hidden multiply-adds per sample, unless it is read from an array) with each unit's slope
    and product (2 per unit)."""
    ops = np.zeros(len(sizes) - 1, np.float32)
    ops[-1] += batch * sizes[-1]
    for k in range(len(sizes) - 2):
        n_src = sizes[k + 2] if rule == "fa" else sizes[-1]
        ops[k] += batch * ((0 if on_arrays else n_src * sizes[k + 1]) + 2 * sizes[k + 1])
    return ops


FILL = 0.5  # the largest |B| sits at this fraction of a feedback array's w_max


def feedback_arrays(cfg, layers: tuple) -> tuple | None:
    """The fixed arrays holding the feedback matrices, one (configuration, state, read scale) per hidden layer, or
    None when they stay digital (`cfg.feedback == "digital"`, or a network without arrays, e.g. the float twin).

    Raises:
        ValueError: Per-segment wire resistances (a feedback array has its own shape).
    """
    if cfg.feedback != "array" or not all(isinstance(layer, AnalogDense) for layer in layers):
        return None
    out = []
    for k, b in enumerate(feedback_matrices(cfg.sizes, cfg.rule, cfg.seed)):
        xb = layers[k + 1].xb
        wires = xb.wires
        if wires is not None and (np.ndim(wires.r_row) or np.ndim(wires.r_col)):
            raise ValueError("`feedback='array'` needs scalar wire resistances (r_row, r_col); got per-segment ones")
        if wires is not None:  # rebuilt at every step: its reads are solved, never cached
            wires = dataclasses.replace(wires, refresh_every=0)
        xb = dataclasses.replace(xb, rows=b.shape[0], cols=b.shape[1], periphery=xb.periphery_backward, wires=wires)
        # B fills half the weight range (room for the devices' spread of bounds); the read is scaled back.
        scale = float(np.max(np.abs(b))) / (FILL * xb.w_max)
        state = array.init(xb, jax.random.key(np.uint32(cfg.seed) ^ np.uint32(0xFEEDBAC + k)), jnp.asarray(b) / scale)
        out.append((xb, state, scale))
    return tuple(out)


def feedback_product(arrays, k: int, source: Array, b: np.ndarray, key) -> tuple[Array, Counters]:
    """source @ B_k [batch, n_hidden]: digital (exact, no events) or the forward read of B_k's array."""
    if arrays is None:
        return source @ jnp.asarray(b), Counters.zeros()
    xb, state, scale = arrays[k]
    y, counters = array.forward(xb, state, source, key)
    return scale * y, counters


def train_step(cfg, layers: tuple, x: Array, y: Array, lr, key):
    """One step of `cfg.rule` ("fa" or "dfa"): forward reads, errors by the feedback matrices, pulsed updates.

    Args:
        cfg: The `MLPConfig` (sizes, activation, rule, seed, time_per_sample).
        layers: The network's `crossbar.nn` dense layers (bias lines), float or analog.
        x: [batch, n_features]; y: [batch] int labels; lr: this step's learning rate.
        key: Random key (reads, pulses).

    Returns:
        (new layers, mean cross-entropy of the batch before the update, counters with events per layer).
    """
    batch = x.shape[0]
    k_fwd, k_upd = jax.random.split(key)
    k_fb = jax.random.fold_in(key, 0xFB)  # folded off, so the digital rule keeps its draws
    inputs, pre, forward_counters = [], [], []
    a = x
    for i, layer in enumerate(layers):
        h, counters = dense(layer, a, jax.random.fold_in(k_fwd, i), return_counters=True)
        inputs.append(with_bias_line(a) if layer.bias_line else a)
        pre.append(h)
        forward_counters.append(counters)
        a = h if i == len(layers) - 1 else mlp.activate(cfg.activation, h)
    log_p = jax.nn.log_softmax(a)
    labels = y.astype(jnp.int32)
    loss = -jnp.mean(jnp.take_along_axis(log_p, labels[:, None], axis=1))
    error = jnp.exp(log_p) - jax.nn.one_hot(labels, cfg.sizes[-1], dtype=log_p.dtype)  # dL_b / dlogits_b
    deltas = [error]
    arrays = feedback_arrays(cfg, layers)
    feedback_counters = [Counters.zeros()] * len(layers)
    for k, b in reversed(list(enumerate(feedback_matrices(cfg.sizes, cfg.rule, cfg.seed)))):
        source = deltas[0] if cfg.rule == "fa" else error  # FA: the layer above's error; DFA: the output's
        product, feedback_counters[k] = feedback_product(arrays, k, source, b, jax.random.fold_in(k_fb, k))
        deltas.insert(0, product * slope(cfg.activation, pre[k]))
    new_layers, per_layer = [], []
    for i, (layer, x_in, delta) in enumerate(zip(layers, inputs, deltas, strict=True)):
        tape = UpdateTape(x=x_in, d=delta, counts=UpdateTape.zeros(1, 1, 1).counts)  # no backward read: zeros
        layer, counters = layer.apply_update(_Tape(tape), lr / batch, jax.random.fold_in(k_upd, i))
        per_layer.append([forward_counters[i], feedback_counters[i], counters])
        new_layers.append(layer.advance(cfg.time_per_sample * batch))
    ops = mlp.forward_ops(batch, cfg.sizes) + feedback_ops(batch, cfg.sizes, cfg.rule, arrays is not None)
    return tuple(new_layers), loss, stack_layers(per_layer, ops)
