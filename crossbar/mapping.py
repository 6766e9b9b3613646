"""Weight <-> conductance mapping: a differential pair per weight, or one device against a reference column.

Differential pair: W = (G+ - G-) / scale, scale = (g_max - g_min) / w_max, so W spans [-w_max, w_max].
Reference column:  W = (G - g_ref) / scale, g_ref = (g_min + g_max) / 2, scale = (g_max - g_min) / (2 w_max).
In both, one coincidence pulse (one step dg on each device it reaches) moves W by about
dw_min = 2 dg w_max / (g_max - g_min).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from devices.pytree import pytree_dataclass

PAIRS = ("differential", "reference")


@pytree_dataclass
@dataclass(frozen=True)
class ReferenceColumn:
    """The shared reference of the "reference" layout: one fixed conductance per row, subtracted from every column.

    It is not a programmable weight and takes no pulses. Its conductance sits at the devices' nominal mid-range
    and does not drift (a reference is set once, or is a fixed resistor); reads add the device model's read
    noise, with the 1/f growth counted from time 0.

    `crossbar.reference` gives every device its own reference instead, at its symmetry point: then `g` is
    [rows, cols] (a reference device per cross-point, as aihwkit's `SoftBoundsReferenceDevice`).

    Attributes:
        g: [rows, 1] reference conductance (S), or [rows, cols] with one reference per device.
    """

    g: jax.Array

    @staticmethod
    def nominal(rows: int, g_min, g_max) -> ReferenceColumn:
        """The reference column of a `rows`-row array of devices with nominal bounds g_min, g_max (S)."""
        return ReferenceColumn(g=jnp.full((rows, 1), reference_conductance(g_min, g_max), jnp.float32))

    def read(self, read_noise, t, key=None) -> jax.Array:
        """Conductance (S, [rows, 1]) read at simulated time `t` (s), with `read_noise` where `key` is given."""
        return self.g if key is None else read_noise.apply(self.g, t, key)


def conductance_scale(g_min, g_max, w_max, pair: str):
    """Siemens per unit of weight."""
    return (g_max - g_min) / (w_max if pair == "differential" else 2.0 * w_max)


def reference_conductance(g_min, g_max):
    """Conductance of the reference device (S): mid-range, so that it represents W = 0."""
    return 0.5 * (g_min + g_max)


def weights_to_conductances(w, g_min, g_max, w_max, pair: str):
    """Target conductances (S) for weights `w` [rows, cols].

    Returns:
        (g_plus [rows, cols], g_minus): a differential pair is centred on mid-range, G+- = g_ref +- w scale / 2,
        so that both devices have headroom to move either way (a pair at g_min could not lower G- and
        would lose half of every update); for a reference column `g_minus` is the reference conductance.
    """
    scale = conductance_scale(g_min, g_max, w_max, pair)
    g_ref = reference_conductance(g_min, g_max)
    if pair == "differential":
        return g_ref + 0.5 * w * scale, g_ref - 0.5 * w * scale
    return g_ref + w * scale, g_ref


def nominal_dw_min(dg, g_min, g_max, w_max):
    """Weight change of one coincidence pulse for a nominal step `dg` (S): 2 dg w_max / (g_max - g_min)."""
    return 2.0 * dg * w_max / (g_max - g_min)
