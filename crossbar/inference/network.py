"""A whole network after training: program every dense layer, read it at time t, compensate, evaluate.

Works on any pytree of `crossbar.nn` layers (the MLP's tuple of layers, a CNN's dict with `Conv2d`, any model's
parameters): every `AnalogDense`, `FloatDense` or `HWADense` inside it (a `Conv2d`'s too) is programmed, and
everything else (float parameters, the convolution's geometry) is kept, so the model's own forward function runs
on the result unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from crossbar.inference.layer import (
    WEIGHT_SCALINGS,
    ProgrammedDense,
    compensated,
    target_conductances,
    weight_gain,
)
from crossbar.mapping import PAIRS
from crossbar.nn.dense import AnalogDense
from crossbar.nn.float_dense import FloatDense
from crossbar.nn.hwa import HWADense
from crossbar.periphery import Periphery
from devices.validation import check_choice, check_finite, check_instance, check_int

Array = jax.Array

COMPENSATIONS = ("none", "global", "column")
_PROGRAMMABLE = (AnalogDense, FloatDense, HWADense)


def _is_programmable(node) -> bool:
    return isinstance(node, _PROGRAMMABLE)


def _is_programmed(node) -> bool:
    """A layer programmed by a noise model (`ProgrammedDense`) or by pulses (`PulseProgrammedDense`)."""
    from crossbar.inference.write_verify import PulseProgrammedDense  # it imports this module's layer check

    return isinstance(node, (ProgrammedDense, PulseProgrammedDense))


def program_layer(layer, noise, key, *, periphery: Periphery | None = None, pair: str = "differential",
                  weight_scaling: str = "layer") -> ProgrammedDense:
    """Program one dense layer's weights (`layer.weights`, [rows, cols]) onto devices of `noise`.

    Args:
        layer: An `AnalogDense` (its noise-free weights now), `FloatDense` or `HWADense`.
        noise: An inference noise model (`PCMNoise`, `CMONoise`, `Wan2022Noise`), validated here.
        key: Random key of the programming noise and the devices' drift variables.
        periphery: The forward read's periphery; default: an `AnalogDense`'s own, else `Periphery()`.
        pair: "differential" or "reference" (`crossbar.mapping.PAIRS`).
        weight_scaling: "layer" or "column": max |W| of the layer or of each column maps to g_max.

    Raises:
        TypeError: `layer` is not a dense layer, or `periphery` not a `Periphery`.
        ValueError: A bad `pair`, `weight_scaling` or noise parameter, or non-finite weights.
    """
    if not _is_programmable(layer):
        raise TypeError(f"`layer` must be an AnalogDense, FloatDense or HWADense; got {type(layer).__name__}")
    noise.validate()
    check_choice("pair", pair, PAIRS)
    check_choice("weight_scaling", weight_scaling, WEIGHT_SCALINGS)
    if periphery is None:
        periphery = layer.xb.periphery if isinstance(layer, AnalogDense) else Periphery()
    check_instance("periphery", periphery, Periphery)
    periphery.validate()
    w = jnp.asarray(layer.weights, jnp.float32)
    check_finite("weights", w)
    gain = weight_gain(w, weight_scaling)
    g_plus, g_minus = target_conductances(w / gain[None, :], noise.g_min, noise.g_max, pair)
    k_plus, k_minus, k_base = jax.random.split(key, 3)
    plus = noise.program(g_plus, k_plus)
    minus = None if g_minus is None else noise.program(g_minus, k_minus)
    programmed = ProgrammedDense(noise=noise, periphery=periphery, plus=plus, minus=minus, gain=gain,
                                 baseline=jnp.ones_like(gain), bias_line=layer.bias_line, patches=layer.patches)
    # The compensation's reference: the readout right after programming, before any drift or 1/f noise.
    baseline = programmed.at(0.0, None).readout(k_base)
    return ProgrammedDense(noise=noise, periphery=periphery, plus=plus, minus=minus, gain=gain, baseline=baseline,
                           bias_line=layer.bias_line, patches=layer.patches)


def program(params, noise, key, **options):
    """Program every dense layer of `params` (any pytree of `crossbar.nn` layers; see the module docstring).

    Each layer gets its own key (folded by its position). `options` are those of `program_layer`.

    Returns:
        `params` with every dense layer replaced by a `ProgrammedDense`.
    """
    leaves, treedef = jax.tree_util.tree_flatten(params, is_leaf=_is_programmable)
    if not any(_is_programmable(leaf) for leaf in leaves):
        raise ValueError("`params` holds no dense layer (AnalogDense, FloatDense, HWADense) to program")
    out = [program_layer(leaf, noise, jax.random.fold_in(key, i), **options) if _is_programmable(leaf) else leaf
           for i, leaf in enumerate(leaves)]
    return jax.tree_util.tree_unflatten(treedef, out)


def at_time(programmed, t, key, compensation: str = "none"):
    """The programmed network as read `t` seconds after programming, drift-compensated as asked.

    Args:
        programmed: The result of `program` (or of `crossbar.inference.write_verify.program_by_pulses`).
        t: Time since programming (s, >= 0).
        key: Random key of this read's conductance noise and of the compensation's readout (one snapshot per
            call: evaluate a whole test set on it, as a chip would, and repeat over keys for the spread).
        compensation: "none", "global" (one factor per layer) or "column" (one per output); see
            `crossbar.inference.layer.compensated`.

    Returns:
        The network with every `ProgrammedDense` replaced by an `InferenceDense`.
    """
    check_choice("compensation", compensation, COMPENSATIONS)
    leaves, treedef = jax.tree_util.tree_flatten(programmed, is_leaf=_is_programmed)
    out = []
    for i, leaf in enumerate(leaves):
        if _is_programmed(leaf):
            k_read, k_comp = jax.random.split(jax.random.fold_in(key, i))
            leaf = compensated(leaf.at(t, k_read), leaf.baseline, compensation, k_comp)
        out.append(leaf)
    return jax.tree_util.tree_unflatten(treedef, out)


def test_error(apply: Callable, params, x, y, key, batch: int = 1000) -> float:
    """Fraction of `x` [n, ...] misclassified by `apply(params, x_batch, key) -> logits [b, classes]`.

    The batches share one snapshot of the conductances (`params`); each batch's periphery noise has its own key.
    """
    batch = check_int("batch", batch, 1)
    x, y = np.asarray(x), np.asarray(y)
    wrong = 0
    for i, start in enumerate(range(0, len(x), batch)):
        logits = apply(params, jnp.asarray(x[start:start + batch]), jax.random.fold_in(key, i))
        wrong += int(jnp.sum(jnp.argmax(logits, axis=-1) != jnp.asarray(y[start:start + batch])))
    return wrong / max(len(x), 1)


test_error.__test__ = False  # not a pytest test
