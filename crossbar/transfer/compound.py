"""The arrays of a transfer algorithm and their state: a fast array A (the gradient's), a slow array C (the
weights'), the digital buffers and the choppers.

The weight is W = gamma A + C (aihwkit's `TransferCompound` with two devices; gamma = 0 by default, as there):
`forward` and `transpose` read C, and A scaled by gamma where gamma != 0, each through its own periphery
(`crossbar.array`). Both arrays hold their weights against a reference at each device's symmetry point
(`crossbar.reference`) where their layout is "reference", so that A rests at W = 0 (up to the reference
offset) when its pulses average out: what every transfer algorithm relies on.

Shapes: x [batch, rows] -> y [batch, cols]; W, A, C, H [rows, cols]. A transfer reads one input line i of A
(a one-hot input e_i: aihwkit's column i of its [out, in] matrix, row i here) and writes it to row i of C.

References:
    Gokmen & Haensch, "Algorithm for training neural networks on resistive device arrays", Front. Neurosci.
    14:103 (2020); aihwkit `TransferCompound` (src/aihwkit/simulator/configs/compounds.py,
    src/rpucuda/rpu_transfer_device.cpp).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import jax
import jax.numpy as jnp

from crossbar import array
from crossbar.counters import Counters
from crossbar.periphery import Periphery
from crossbar.reference import METHODS, ReferenceReport, set_symmetry_reference
from crossbar.update import PulseUpdate
from devices.base import set_conductance
from devices.pytree import pytree_dataclass
from devices.validation import check_bool, check_choice, check_instance, check_int, check_nonnegative

Array = jax.Array


@pytree_dataclass
@dataclass(frozen=True)
class Compound:
    """Configuration of the two arrays of a transfer algorithm. Build it with `make_compound`.

    Attributes:
        fast: A's array (aihwkit's first `unit_cell_devices`): it takes the gradient's pulses.
        slow: C's array (the second): it holds the weights and takes the transfers.
        transfer_forward: Periphery of the transfer read of A (aihwkit's `transfer_forward`; there noise and bound
            management are turned off whatever is asked, as here by default).
        transfer_update: Pulse scheme of Tiki-Taka's transfer write into C (aihwkit's `transfer_update`); the
            buffered algorithms send whole pulses instead.
        reference: How each device's reference is set where a layout is "reference": "computed", "zero_shift"
            (`crossbar.reference`) or "nominal" (the mid-range reference column; static).
        reference_std: Device-to-device spread of the reference offset (weight units; aihwkit's `reference_std`).
        zero_shift_pairs: Up/down pulse pairs of zero-shifting (static).
        interleaved: The buffered algorithms (TTv2, c-TTv2, AGAD) make each transfer right after its sample, as
            aihwkit does, instead of all of a mini-batch's transfers after its update (`transfer.steps.run_batch`:
            one read and one delivery per batch, several times faster at batch 10; static).
    """

    fast: array.Crossbar
    slow: array.Crossbar
    transfer_forward: Periphery = field(default_factory=lambda: Periphery(noise_management="none",
                                                                          bound_management="none"))
    transfer_update: PulseUpdate = field(default_factory=PulseUpdate)
    reference: str = field(default="computed", metadata=dict(static=True))
    reference_std: float = 0.0
    zero_shift_pairs: int = field(default=500, metadata=dict(static=True))
    interleaved: bool = field(default=False, metadata=dict(static=True))

    @property
    def rows(self) -> int:
        return self.slow.rows

    @property
    def cols(self) -> int:
        return self.slow.cols


REFERENCES = (*METHODS, "nominal")


def make_compound(fast: array.Crossbar, slow: array.Crossbar | None = None, *,
                  transfer_forward: Periphery | None = None, transfer_update: PulseUpdate | None = None,
                  reference: str = "computed", reference_std: float = 0.0, zero_shift_pairs: int = 500,
                  interleaved: bool = False) -> Compound:
    """A validated `Compound` (`slow` defaults to `fast`'s configuration: the same devices and periphery; the
    transfer write's scheme to C's own update scheme, as aihwkit's presets set it).

    Raises:
        ValueError: Arrays of different shapes, or a bad value, naming the argument.
        TypeError: An argument of the wrong type, naming it.
    """
    slow = fast if slow is None else slow
    check_instance("fast", fast, array.Crossbar)
    check_instance("slow", slow, array.Crossbar)
    if (fast.rows, fast.cols) != (slow.rows, slow.cols):
        raise ValueError(f"`fast` and `slow` must have the same shape; got {(fast.rows, fast.cols)} and "
                         f"{(slow.rows, slow.cols)}")
    check_choice("reference", reference, REFERENCES)
    check_nonnegative("reference_std", reference_std)
    check_int("zero_shift_pairs", zero_shift_pairs, 1)
    check_bool("interleaved", interleaved)
    transfer_forward = (transfer_forward or Periphery(noise_management="none", bound_management="none")).validate()
    transfer_update = (transfer_update or slow.update_scheme).validate()
    return Compound(fast=fast, slow=slow, transfer_forward=transfer_forward, transfer_update=transfer_update,
                    reference=reference, reference_std=reference_std, zero_shift_pairs=zero_shift_pairs,
                    interleaved=interleaved)


@pytree_dataclass
@dataclass(frozen=True)
class TransferState:
    """State of a transfer algorithm on its two arrays.

    Attributes:
        a: A's array (`CrossbarState`), or None for mixed precision (no fast array).
        c: C's array: the weights.
        h: [rows, cols] digital buffer: TTv2's H (weight units), c-TTv2's and AGAD's (pulse units), mixed
            precision's chi (weight units); unused (zeros) by Tiki-Taka.
        mean: [rows, cols] AGAD's running mean of A's reads in the current chopper period.
        past_mean: [rows, cols] AGAD's reference: the running mean at the last chopper switch.
        in_chop: [rows] bool, the input choppers (True: sign flipped).
        out_chop: [cols] bool, the output choppers.
        switched: [rows] bool, AGAD: the row's input chopper switched at its last read.
        count: Samples (rank-one updates) taken so far (int32).
        reads: Transfer reads done so far (int32); the next one reads row `reads % rows`.
        passes: Full passes over the rows (aihwkit's `transfer_counter`; int32).
        x_max: Running average of max |x| (`auto_scale`), 0 before the first update.
        d_max: Running average of max |d|.
    """

    a: array.CrossbarState | None
    c: array.CrossbarState
    h: Array
    mean: Array
    past_mean: Array
    in_chop: Array
    out_chop: Array
    switched: Array
    count: Array
    reads: Array
    passes: Array
    x_max: Array
    d_max: Array


def _with_reference(cmp: Compound, xb: array.Crossbar, st: array.CrossbarState, key, weights):
    """`st` against references at the symmetry points (where the layout has one), holding `weights`."""
    report = None
    if xb.pair == "reference" and cmp.reference != "nominal":
        st, report = set_symmetry_reference(xb, st, key, method=cmp.reference, reference_std=cmp.reference_std,
                                            n_pairs=cmp.zero_shift_pairs)
        if weights is not None:
            g = st.minus.g + jnp.asarray(weights, jnp.float32) * xb.scale
            st = replace(st, plus=set_conductance(st.plus, g))
    return st, report


def init(cmp: Compound, key, weights: Array | None = None, *, fast: bool = True
         ) -> tuple[TransferState, dict[str, ReferenceReport | None]]:
    """Fresh arrays: C holding `weights` [rows, cols] (default zeros), A at zero, buffers empty, choppers off.

    Args:
        cmp: The compound.
        key: Random key (device-to-device spreads, references).
        weights: Initial weights of C.
        fast: Whether the algorithm has a fast array (False for mixed precision: `a` is None).

    Returns:
        (state, {"fast": A's reference report, "slow": C's}; None where the layout has no per-device reference).
    """
    k_a, k_c, k_ra, k_rc = jax.random.split(key, 4)
    c, report_c = _with_reference(cmp, cmp.slow, array.init(cmp.slow, k_c, weights), k_rc, weights)
    a, report_a = None, None
    if fast:
        a, report_a = _with_reference(cmp, cmp.fast, array.init(cmp.fast, k_a), k_ra, None)
    zeros = jnp.zeros((cmp.rows, cmp.cols), jnp.float32)
    i0, f0 = jnp.zeros((), jnp.int32), jnp.zeros((), jnp.float32)
    state = TransferState(a=a, c=c, h=zeros, mean=zeros, past_mean=zeros,
                          in_chop=jnp.zeros(cmp.rows, bool), out_chop=jnp.zeros(cmp.cols, bool),
                          switched=jnp.zeros(cmp.rows, bool), count=i0, reads=i0, passes=i0, x_max=f0, d_max=f0)
    return state, {"fast": report_a, "slow": report_c}


def weights(cmp: Compound, state: TransferState, gamma=0.0) -> Array:
    """W = gamma A + C [rows, cols] (noise-free reads)."""
    w = array.weights(cmp.slow, state.c)
    return w if state.a is None else w + gamma * array.weights(cmp.fast, state.a)


def _read(cmp: Compound, state: TransferState, v: Array, key, gamma, transposed: bool) -> tuple[Array, Counters]:
    read = array.transpose if transposed else array.forward
    k_c, k_a = jax.random.split(key)
    y, counters = read(cmp.slow, state.c, v, k_c)
    if state.a is None:
        return y, counters

    def with_fast(_):  # A's read only where it counts (gamma != 0), as a second array on the same lines
        y_a, c_a = read(cmp.fast, state.a, v, k_a)
        return y + gamma * y_a, counters + c_a

    return jax.lax.cond(jnp.asarray(gamma) != 0, with_fast, lambda _: (y, counters + Counters.zeros()), None)


def forward(cmp: Compound, state: TransferState, x: Array, key, gamma=0.0) -> tuple[Array, Counters]:
    """y = x (gamma A + C) [batch, cols] from x [batch, rows]: C's forward read plus gamma times A's."""
    return _read(cmp, state, x, key, gamma, transposed=False)


def transpose(cmp: Compound, state: TransferState, d: Array, key, gamma=0.0) -> tuple[Array, Counters]:
    """z = d (gamma A + C)^T [batch, rows] from d [batch, cols]."""
    return _read(cmp, state, d, key, gamma, transposed=True)
