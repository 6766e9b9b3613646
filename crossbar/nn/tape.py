"""The update tape: what `jax.grad` hands back for a layer so that its update can be applied as pulses.

A pulsed update needs each sample's layer input x_b and output error d_b (the devices see the rank-one pulse
trains of x_b and d_b one sample after the other), not their product: `x^T d` summed over the batch cannot be
split back into rank-one trains. A layer therefore carries an `UpdateTape` of zeros sized for its batch, and
its custom VJP returns, as the tape's cotangent, the batch's inputs and errors themselves (and the counters of
the backward read). The tape is a channel, not a gradient: it is filled by `jax.grad` and read by the layer's
`apply_update`; its value in the parameters stays zero.

A layer may be applied once per differentiated function (the cotangents of two calls would add up and mix the
two batches' samples); a conv layer on one crossbar is one call over all its patches.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from crossbar.counters import COUNT_NAMES, Counters
from crossbar.events import FIELDS, Events
from devices.pytree import pytree_dataclass

Array = jax.Array

# The tape carries the scalar counts, then the read's physical events (`crossbar.events`), in one vector.
_N_COUNTS = len(COUNT_NAMES)
_TAPE_LENGTH = _N_COUNTS + len(FIELDS)


@pytree_dataclass
@dataclass(frozen=True)
class UpdateTape:
    """The samples a layer's pulsed update needs, as filled in by `jax.grad`.

    Attributes:
        x: [n, rows] the inputs the layer's array saw (with the always-on bias line where it has one).
        d: [n, cols] the errors dL/dy of its outputs (the cotangent of the forward read).
        counts: [len(COUNT_NAMES) + len(events.FIELDS)] float32, the backward (transpose) read's counters: the
            counts in the order of `counters.COUNT_NAMES` (float because a cotangent must be; exact below 2**24),
            then its `Events` values.
    """

    x: Array
    d: Array
    counts: Array

    @staticmethod
    def zeros(n: int, rows: int, cols: int) -> UpdateTape:
        """An empty tape for n samples of a rows x cols layer."""
        return UpdateTape(x=jnp.zeros((n, rows), jnp.float32), d=jnp.zeros((n, cols), jnp.float32),
                          counts=jnp.zeros((_TAPE_LENGTH,), jnp.float32))

    @property
    def n(self) -> int:
        """Number of samples (rank-one updates) the tape holds."""
        return self.x.shape[0]

    def counters(self) -> Counters:
        """The backward read's counters carried by a filled tape."""
        values = jnp.round(self.counts[:_N_COUNTS]).astype(jnp.int32)
        return Counters(**{name: values[i] for i, name in enumerate(COUNT_NAMES)},
                        events=Events(self.counts[_N_COUNTS:]))

    def weight_grad(self) -> Array:
        """x^T d [rows, cols]: the float gradient of the loss with respect to the layer's weights."""
        return self.x.T @ self.d


def pack_counters(counters: Counters) -> Array:
    """Counters -> [n_fields] float32 vector (the tape's `counts`)."""
    counts = jnp.stack([jnp.asarray(getattr(counters, name), jnp.float32) for name in COUNT_NAMES])
    return jnp.concatenate([counts, jnp.asarray(counters.events.values, jnp.float32).reshape(len(FIELDS))])


def zero_cotangent(tree):
    """The zero cotangent of a pytree: zeros for floating-point leaves, float0 zeros for integer/bool/key leaves."""

    def zero(leaf):
        leaf_dtype = jnp.result_type(leaf) if not hasattr(leaf, "dtype") else leaf.dtype
        if jnp.issubdtype(leaf_dtype, jnp.inexact):
            return jnp.zeros(np.shape(leaf), leaf_dtype)
        return np.zeros(np.shape(leaf), jax.dtypes.float0)

    return jax.tree_util.tree_map(zero, tree)


def flatten_samples(name: str, x: Array, n_in: int) -> tuple[Array, tuple[int, ...]]:
    """x [..., n_in] -> ([n, n_in] with n the product of the leading dims, the leading shape).

    Raises:
        ValueError: The last axis is not n_in (naming `name`).
        TypeError: Non-float input.
    """
    x = jnp.asarray(x)
    if x.ndim < 1 or x.shape[-1] != n_in:
        raise ValueError(f"`{name}` must have shape [..., {n_in}] (the layer's inputs on the last axis); "
                         f"got {name}.shape={x.shape}")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"`{name}` must be a floating-point array; got dtype {x.dtype}")
    lead = x.shape[:-1]
    return x.reshape(-1, n_in), lead


def check_tape(tape: UpdateTape | None, n: int, what: str, patches: int = 1) -> None:
    """Raise (at trace time, while `jax.grad` builds the backward pass) when the tape does not fit n samples.

    Args:
        tape: The layer's tape (None: nothing to fit).
        n: Rank-one samples of this call (rows of the flattened input).
        what: The layer's name, for the message.
        patches: Samples per input sample (a conv layer's output positions), so the message counts inputs.
    """
    if tape is not None and tape.n != n:
        raise ValueError(f"the {what}'s update tape holds `batch`={tape.n // patches} samples but this call has "
                         f"{n // patches} (the product of the input's leading dims); size it with "
                         f"`crossbar.nn.with_batch(params, {n // patches})` or build the layer with "
                         f"batch={n // patches}")


def with_bias_line(x: Array) -> Array:
    """[n, k] -> [n, k + 1] with the always-on input of 1 (the bias row of the array) last."""
    return jnp.concatenate([x, jnp.ones((x.shape[0], 1), x.dtype)], axis=1)
