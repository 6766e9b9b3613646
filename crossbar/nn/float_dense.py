"""The float twin of `AnalogDense`: the same interface (read, tape, apply_update), exact products and SGD.

Its custom VJP returns the exact input gradient d W^T and, like the analog layer, an `UpdateTape` of the batch's
inputs and errors as the layer's cotangent (the cotangent of `w` itself is zero, so that an optimizer of the
float parameters never updates it a second time); `apply_update` writes W -= lr x^T d.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import jax
import jax.numpy as jnp

from crossbar.counters import Counters
from crossbar.nn.dense import _filled_tape
from crossbar.nn.tape import UpdateTape, check_tape, flatten_samples, with_bias_line, zero_cotangent
from devices.pytree import pytree_dataclass
from devices.validation import check_bool, check_finite, check_int

Array = jax.Array


@pytree_dataclass
@dataclass(frozen=True)
class FloatDense:
    """A float dense layer with the interface of `AnalogDense`. Build it with `float_dense`.

    Attributes:
        w: [rows, cols] weights (the bias row last with `bias_line`).
        tape: Zeros sized for the training batch, filled by `jax.grad`; None when not trained.
        bias_line: The last row of `w` multiplies an always-on input of 1 (static).
        patches: Rank-one samples per input sample (static; see `AnalogDense.patches`).
    """

    w: Array
    tape: UpdateTape | None
    bias_line: bool = field(default=False, metadata=dict(static=True))
    patches: int = field(default=1, metadata=dict(static=True))

    @property
    def in_features(self) -> int:
        return self.w.shape[0] - int(self.bias_line)

    @property
    def out_features(self) -> int:
        return self.w.shape[1]

    @property
    def weights(self) -> Array:
        return self.w

    def __call__(self, x: Array, key=None) -> Array:
        return self.read(x, key)[0]

    def read(self, x: Array, key=None) -> tuple[Array, Counters]:
        """(y = x W [..., out_features], zero counters); `key` is accepted for the analog interface, unused."""
        x2, lead = flatten_samples("x", x, self.in_features)
        y2 = _float_read(self, x2)
        return y2.reshape(*lead, self.out_features), Counters.zeros()

    def with_batch(self, n: int | None) -> FloatDense:
        tape = None if n is None else UpdateTape.zeros(check_int("batch", n, 1) * self.patches, *self.w.shape)
        return replace(self, tape=tape)

    def apply_update(self, grad: FloatDense, lr, key=None) -> tuple[FloatDense, Counters]:
        """W -= lr x^T d from the tape `jax.grad` filled (the float SGD step)."""
        tape = _filled_tape(grad, "FloatDense")
        return replace(self, w=self.w - lr * tape.weight_grad()), Counters.zeros()

    def advance(self, dt) -> FloatDense:
        return self


def float_dense(weights: Array, *, batch: int | None = None, bias_line: bool = False) -> FloatDense:
    """A float dense layer holding `weights` [rows, cols] (rows = in_features (+ 1 with `bias_line`))."""
    w = jnp.asarray(weights, jnp.float32)
    check_bool("bias_line", bias_line)
    if w.ndim != 2 or w.shape[0] < 1 + int(bias_line) or w.shape[1] < 1:
        raise ValueError(f"`weights` must have shape [rows, cols] with rows >= {1 + int(bias_line)}; "
                         f"got weights.shape={w.shape}")
    check_finite("weights", w)
    return FloatDense(w=w, tape=None, bias_line=bias_line).with_batch(batch)


def _x_in(layer: FloatDense, x2: Array) -> Array:
    return with_bias_line(x2) if layer.bias_line else x2


@jax.custom_vjp
def _float_read(layer: FloatDense, x2: Array) -> Array:
    return _x_in(layer, x2) @ layer.w


def _float_read_fwd(layer, x2):
    x_in = _x_in(layer, x2)
    return x_in @ layer.w, (layer, x_in)


def _float_read_bwd(res, d):
    layer, x_in = res
    check_tape(layer.tape, x_in.shape[0], "FloatDense", layer.patches)
    z = d @ layer.w.T
    dx = z[:, :-1] if layer.bias_line else z
    tape = None
    if layer.tape is not None:
        tape = UpdateTape(x=x_in, d=d, counts=jnp.zeros_like(layer.tape.counts))
    return FloatDense(w=zero_cotangent(layer.w), tape=tape, bias_line=layer.bias_line, patches=layer.patches), dx


_float_read.defvjp(_float_read_fwd, _float_read_bwd)
