"""Weights against a reference at each device's symmetry point: computed from the device's parameters, or found
as hardware finds it, by zero-shifting.

With the "reference" layout (`crossbar.mapping`) a weight is W = (G - G_ref) / scale. The nominal reference
column sits at the nominal mid-range; here each device gets its own reference G_ref [rows, cols] (a second
device per cross-point, as aihwkit's `SoftBoundsReferenceDevice`) set to its symmetry point G* (`devices.symmetry`),
so that W = 0 where the device rests under random pulses:

- "computed": G_ref = G*, from the device's own parameters (aihwkit's `subtract_symmetry_point`); the device
  itself is set to G* (W = 0).
- "zero_shift": every device takes `n_pairs` alternating up/down pulses (it converges to G* and fluctuates about
  it by its step noise), then the reference is programmed to what the device reads (with its read noise). The
  offset that remains, (G_ref - G*) / scale, is returned.

A device with no symmetry point (its up step wins, or its down step, over the whole range: random pulses run it
to a bound) gets its own mid-range as the reference instead, as the nominal reference column has it: a reference
at the bound it runs to would leave it only weights of one sign. `ReferenceReport.exists` says which devices.

Either way a device-to-device offset of spread `reference_std` (weight units, aihwkit's `reference_std`) is added
to every reference: W_ref = W* + reference_std xi.

References:
    Kim et al., "Zero-shifting technique for deep neural network training on resistive cross-point arrays",
    arXiv:1907.10228 (2019); Gokmen & Haensch, Front. Neurosci. 14:103 (2020); Rasch et al., "Fast and robust
    analog in-memory deep neural network training", Nat. Commun. 15:7133 (2024) (the reference offset).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import jax
import jax.numpy as jnp

from crossbar.array import Crossbar, CrossbarState
from crossbar.mapping import ReferenceColumn
from devices.base import set_conductance
from devices.pytree import pytree_dataclass
from devices.symmetry import symmetry_point
from devices.validation import check_choice, check_int, check_nonnegative

Array = jax.Array
METHODS = ("computed", "zero_shift")


@pytree_dataclass
@dataclass(frozen=True)
class ReferenceReport:
    """What setting the references left.

    Attributes:
        offset: [rows, cols] weight each device shows at its own symmetry point, (G* - G_ref) / scale (weight
            units): the zero-shifting error plus the `reference_std` offset, with the sign of the weight read; 0
            where the device has no symmetry point.
        exists: [rows, cols] bool, False where the device has no symmetry point (`devices.symmetry`): its
            reference is its mid-range.
    """

    offset: Array
    exists: Array

    @property
    def mean(self) -> Array:
        """Mean offset over the array (weight units)."""
        return jnp.mean(self.offset)

    @property
    def std(self) -> Array:
        """Device-to-device std of the offset (weight units)."""
        return jnp.std(self.offset)


def set_symmetry_reference(xb: Crossbar, state: CrossbarState, key, *, method: str = "computed",
                           reference_std: float = 0.0, n_pairs: int = 500) -> tuple[CrossbarState, ReferenceReport]:
    """The array with every device's reference at its symmetry point, and the offset that remains.

    Args:
        xb: A crossbar with `pair="reference"` (one device and its reference per weight).
        state: Its state (the devices' own bounds and steps are used).
        key: Random key (zero-shifting pulses, the read that sets the reference, the `reference_std` offsets).
        method: "computed" or "zero_shift" (see the module docstring).
        reference_std: Std of a device-to-device reference offset (weight units, >= 0).
        n_pairs: Up/down pulse pairs of zero-shifting (>= 1; static). A soft-bounds device needs a few times
            (range / step at its symmetry point) pulses to get there from a bound.

    Returns:
        (state with `minus` a [rows, cols] `ReferenceColumn`, the `ReferenceReport`).

    Raises:
        ValueError: A bad argument, naming it.
    """
    check_choice("method", method, METHODS)
    check_nonnegative("reference_std", reference_std)
    n_pairs = check_int("n_pairs", n_pairs, 1)
    if xb.pair != "reference":
        raise ValueError(f"a symmetry-point reference needs `pair='reference'` (one device and its reference per "
                         f"weight); got pair={xb.pair!r}")
    k_shift, k_read, k_std = jax.random.split(key, 3)
    g_sym, exists = symmetry_point(xb.device, state.plus)
    g_mid = 0.5 * (state.plus.g_min + state.plus.g_max)  # where no point is symmetric (see the module docstring)
    if method == "computed":
        g_ref = jnp.where(exists, g_sym, g_mid)
        plus = set_conductance(state.plus, g_ref)
    else:
        up = jnp.ones(state.plus.shape, jnp.int32)

        def one_pair(i, dev):
            k = jax.random.fold_in(k_shift, i)
            dev = xb.device.pulse_n(dev, up, jax.random.fold_in(k, 0))
            return xb.device.pulse_n(dev, -up, jax.random.fold_in(k, 1))

        plus = jax.lax.fori_loop(0, n_pairs, one_pair, state.plus)
        plus = set_conductance(plus, jnp.where(exists, plus.g, g_mid))
        g_ref = xb.device.read(plus, state.t, k_read)  # the reference is programmed to what the device reads
    g_ref = g_ref + reference_std * xb.scale * jax.random.normal(k_std, g_ref.shape)
    new = replace(state, plus=replace(plus, t_prog=jnp.full_like(plus.t_prog, state.t)),
                  minus=ReferenceColumn(g=g_ref.astype(jnp.float32)))
    return new, ReferenceReport(offset=jnp.where(exists, g_sym - g_ref, 0.0) / xb.scale, exists=exists)
