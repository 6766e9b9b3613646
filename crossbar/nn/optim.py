"""`analog_sgd`: an optimizer-shaped update for pytrees that mix analog layers and ordinary float parameters.

Layers (`AnalogDense`, `FloatDense`) are updated through their tapes: the weight change is applied as pulses on
the devices (`apply_update`), because a crossbar cannot add an arbitrary update tensor to its weights. Every
other floating-point leaf (digital biases, a float head, normalisation scales) goes through a float transform:
plain SGD at the same learning rate by default, or any optax-shaped `GradientTransformation` (an object with
`init(params)` and `update(updates, state, params)`, e.g. `optax.adam(1e-3)`), which sees the parameter tree with
the layers replaced by None, so masks and labels keep the user's structure.

What has an analog meaning: the learning rate and its schedule (`lr` may be a function of the step count, as an
optax schedule): lr sets the pulse probabilities C = sqrt(lr / (dw_min BL)) of the next update. Momentum, Adam
and weight decay have none on the devices (they would need a per-weight digital memory beside the array, which
on-chip SGD is meant to avoid), so they are offered for the float parameters only, through `float_transform`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from crossbar.counters import Counters
from crossbar.nn.tree import is_layer
from devices.validation import check_bool, check_nonnegative, check_positive

Array = jax.Array


class AnalogSGDState(NamedTuple):
    """State of `analog_sgd`: the number of steps taken and the float transform's own state."""

    count: Array
    float_state: Any


@dataclass(frozen=True)
class AnalogOptimizer:
    """An (init, update) pair like optax's `GradientTransformation`, except that `update` applies the step.

    `update(grads, state, params, key) -> (new params, new state, counters)`: grads from
    `jax.grad(loss, allow_int=True)(params, ...)`; key draws the pulse trains of every layer.
    """

    init: Callable
    update: Callable


class _SGD(NamedTuple):
    """Float SGD at the optimizer's learning rate (used when no float transform is given)."""

    lr: Callable

    def init(self, params):
        return jnp.zeros((), jnp.int32)

    def update(self, updates, state, params=None):
        lr = self.lr(state)
        return jax.tree_util.tree_map(lambda g: -lr * g, updates), state + 1


def _is_float(leaf) -> bool:
    return isinstance(leaf, float) or (hasattr(leaf, "dtype") and jnp.issubdtype(leaf.dtype, jnp.inexact))


def analog_sgd(lr: float | Callable, *, float_transform=None, dt: float = 0.0,
               per_layer_counters: bool = False) -> AnalogOptimizer:
    """SGD with the layers updated as pulses and the other float parameters by `float_transform`.

    Args:
        lr: Learning rate (> 0), or a function of the step count (an int32 array) returning it.
        float_transform: optax-shaped transform of the float (non-layer) parameters; default SGD at `lr`.
        dt: Simulated seconds each step advances every layer's clock (drift acts on later reads); >= 0.
        per_layer_counters: `update` returns the counters in the structure of `params`, each layer's own
            `Counters` in its place and None for the other leaves (for an energy account by layer), instead of
            their sum.

    Returns:
        An `AnalogOptimizer`; `update` is pure and jit-able.

    Raises:
        ValueError: `lr` or `dt` out of range, naming it.
        TypeError: A float transform without init/update.
    """
    if not callable(lr):
        check_positive("lr", lr)
    check_nonnegative("dt", dt)
    check_bool("per_layer_counters", per_layer_counters)
    schedule = lr if callable(lr) else (lambda count: jnp.asarray(lr, jnp.float32))
    tx = _SGD(schedule) if float_transform is None else float_transform
    if not (hasattr(tx, "init") and hasattr(tx, "update")):
        raise TypeError(f"`float_transform` must have init(params) and update(updates, state, params) (an optax "
                        f"GradientTransformation); got {type(tx).__name__}")

    def float_view(tree, leaves_of):
        leaves, treedef = jax.tree_util.tree_flatten(tree, is_leaf=is_layer)
        kept = [leaf if not is_layer(p) and _is_float(p) else None for leaf, p in zip(leaves, leaves_of, strict=True)]
        return treedef.unflatten(kept)

    def init(params):
        leaves = jax.tree_util.tree_leaves(params, is_leaf=is_layer)
        return AnalogSGDState(count=jnp.zeros((), jnp.int32), float_state=tx.init(float_view(params, leaves)))

    def update(grads, state: AnalogSGDState, params, key):
        p_leaves, treedef = jax.tree_util.tree_flatten(params, is_leaf=is_layer)
        g_leaves = treedef.flatten_up_to(grads)
        f_params, f_grads = float_view(params, p_leaves), float_view(grads, p_leaves)
        f_updates, float_state = tx.update(f_grads, state.float_state, f_params)
        u_leaves = treedef.flatten_up_to(f_updates)
        rate = schedule(state.count)
        new, counters = [], []  # counters: one per leaf, None where the leaf is not a layer
        for i, (p, g, u) in enumerate(zip(p_leaves, g_leaves, u_leaves, strict=True)):
            c = None
            if is_layer(p):
                layer, c = p.apply_update(g, rate, jax.random.fold_in(key, i))
                new.append(layer.advance(dt) if dt else layer)
            elif u is not None:
                new.append(p + u)
            else:  # integer leaves (step counters, labels) are not optimised
                new.append(p)
            counters.append(c)
        if per_layer_counters:
            counters = treedef.unflatten(counters)
        else:
            counters = sum((c for c in counters if c is not None), Counters.zeros())
        return treedef.unflatten(new), AnalogSGDState(state.count + 1, float_state), counters

    return AnalogOptimizer(init=init, update=update)
