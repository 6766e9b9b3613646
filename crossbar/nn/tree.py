"""Pytree helpers for models that mix analog layers with ordinary float parameters."""

from __future__ import annotations

import jax

from crossbar.nn.conv import Conv2d
from crossbar.nn.dense import AnalogDense
from crossbar.nn.float_dense import FloatDense
from crossbar.nn.hwa import HWADense
from crossbar.nn.tiled import TiledDense
from crossbar.nn.transfer_dense import TransferDense

LAYER_TYPES = (AnalogDense, FloatDense, Conv2d, TiledDense, HWADense, TransferDense)


def is_layer(node) -> bool:
    """True for a layer updated through its tape (`AnalogDense`, `FloatDense`, `Conv2d`, `TiledDense`,
    `HWADense`, `TransferDense`); other leaves are float parameters."""
    return isinstance(node, LAYER_TYPES)


def with_batch(params, batch: int | None):
    """`params` with every layer's update tape sized for `batch` samples per step (None: drop the tapes).

    Args:
        params: Any pytree; layers inside it are resized, everything else is returned as it is.
        batch: Samples per differentiated call of each layer (for x [..., in], the product of the leading dims).
    """
    return jax.tree_util.tree_map(lambda n: n.with_batch(batch) if is_layer(n) else n, params, is_leaf=is_layer)
