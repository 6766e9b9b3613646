"""The operations every transfer algorithm is built of, each on the array core: the chopped gradient pulses into
A (`crossbar.array.update`), the transfer read of one input line of A (`crossbar.array.forward` of a one-hot
input with the transfer periphery), whole pulses into one row of C (`crossbar.array.apply_pulses`, counted as
row-by-row writes), the buffer's threshold, and the loop over a mini-batch's samples that transfers every
`every` samples. Transfer reads and pulses are counted in the same `Counters` (and `Events`) as every read and
update, so they are priced with the rest.
"""

from __future__ import annotations

from dataclasses import replace

import jax
import jax.numpy as jnp

from crossbar import array
from crossbar.counters import Counters
from crossbar.transfer.compound import Compound, TransferState
from crossbar.update import PulseCounts

Array = jax.Array


def signs(flipped: Array) -> Array:
    """+1 / -1 (float32) of chopper flags (True: flipped)."""
    return jnp.where(flipped, -1.0, 1.0).astype(jnp.float32)


def chop_signs(state: TransferState, row) -> Array:
    """[cols] signs of the chopper product on row `row`: -1 where its input chopper and a column's output chopper
    differ (aihwkit: in_chop != out_chop[j])."""
    return signs(state.in_chop[row] != state.out_chop)


def read_row(cmp: Compound, state: TransferState, row, key) -> tuple[Array, Counters]:
    """A's row `row` [cols] (weight units) as the transfer read gives it: a one-hot input on that line, through
    `cmp.transfer_forward` (DAC, output noise, ADC), the devices' read noise included."""
    e = jax.nn.one_hot(row, cmp.rows, dtype=jnp.float32)
    return array.forward(replace(cmp.fast, periphery=cmp.transfer_forward), state.a, e, key)


def pulse_row(cmp: Compound, c: array.CrossbarState, row, n: Array, key) -> tuple[array.CrossbarState, Counters]:
    """Send n [cols] signed whole pulses (sign = weight direction) to row `row` of C; counted as a row write."""
    counts = PulseCounts(jnp.zeros((cmp.rows, cmp.cols), jnp.int32).at[row].set(n.astype(jnp.int32)))
    new = array.apply_pulses(cmp.slow, c, counts.n, key)
    return new, Counters.zeros().replace(events=array.pulse_events(cmp.slow, counts, Counters.zeros()))


def fire(h: Array, max_steps: int, momentum, forget_buffer: bool, cap=0.0) -> tuple[Array, Array]:
    """The buffer's threshold in pulse units (aihwkit's buffered, chopped and dynamic transfer, as coded).

    Where |h| >= 1: n = clip(trunc(h), -max_steps, max_steps) pulses fire, and the buffer becomes momentum h
    (`forget_buffer`) or h - (1 - momentum) n, clipped to +-cap max_steps where cap > 0 (AGAD's `buffer_cap`).

    Returns:
        (n [..] float32 pulses, new h).
    """
    n = jnp.clip(jnp.trunc(h), -max_steps, max_steps)
    fired = n != 0
    if forget_buffer:
        return n, jnp.where(fired, momentum * h, h)
    rest = h - (1.0 - momentum) * n
    capped = jnp.where(cap > 0, jnp.clip(rest, -cap * max_steps, cap * max_steps), rest)
    return n, jnp.where(fired, capped, h)


def next_row(cmp: Compound, state: TransferState) -> Array:
    """The row the next transfer reads: sequential from 0, wrapping (aihwkit's `current_slice_indices`)."""
    return state.reads % cmp.rows


def advance(cmp: Compound, state: TransferState, row) -> TransferState:
    """The state after reading `row`: one more read, and one more pass where it was the last row."""
    return replace(state, reads=state.reads + 1, passes=state.passes + (row == cmp.rows - 1).astype(jnp.int32))


def every_samples(transfer_every, units_in_mbatch: bool, batch: int) -> Array:
    """Samples between transfers (int32): `transfer_every` samples, or that many mini-batches of `batch` samples
    (aihwkit's `units_in_mbatch`: ceil(transfer_every x batch)); 0 means never."""
    every = jnp.asarray(transfer_every, jnp.float32) * (batch if units_in_mbatch else 1)
    return jnp.where(units_in_mbatch, jnp.ceil(every), jnp.round(every)).astype(jnp.int32)


def fast_rate(fast_lr, scale_fast_lr: bool, lr) -> Array:
    """A's learning rate: fast_lr x lr where `scale_fast_lr`, else fast_lr as it is (aihwkit)."""
    return jnp.asarray(fast_lr * lr if scale_fast_lr else fast_lr, jnp.float32)


def transfer_rate(transfer_lr, scale_transfer_lr: bool, lr) -> Array:
    """The transfer's learning rate: transfer_lr x lr where `scale_transfer_lr`, else transfer_lr (aihwkit)."""
    return jnp.asarray(transfer_lr * lr if scale_transfer_lr else transfer_lr, jnp.float32)


def run_samples(cmp: Compound, state: TransferState, x: Array, d: Array, fast_lr, every, transfer, key
                ) -> tuple[TransferState, Counters]:
    """A mini-batch sample by sample: A -= fast_lr (s_in x) (s_out d)^T as pulses (the choppers' signs s), and
    after every `every`-th sample (counted over the run) one `transfer(state, key) -> (state, counters)`.

    Args:
        x: [batch, rows] inputs; d: [batch, cols] errors.
        fast_lr: Learning rate of A (> 0).
        every: Samples between transfers (int32 >= 1; 0: never).
    """
    keys = jax.random.split(key, x.shape[0])

    def one(carry, args):
        st, counters = carry
        xi, di, ki = args
        k_upd, k_tr = jax.random.split(ki)
        a, c_upd = array.update(cmp.fast, st.a, xi * signs(st.in_chop), di * signs(st.out_chop), fast_lr, k_upd)
        st = replace(st, a=a, count=st.count + 1)
        due = (every > 0) & (st.count % jnp.maximum(every, 1) == 0)
        st, c_tr = jax.lax.cond(due, transfer, lambda s, k: (s, Counters.zeros()), st, k_tr)
        return (st, counters + c_upd + c_tr), None

    (state, counters), _ = jax.lax.scan(one, (state, Counters.zeros()), (x, d, keys))
    return state, counters


def as_batch(x: Array, d: Array) -> tuple[Array, Array]:
    """x, d as [batch, n] (a single sample gets a batch axis)."""
    x, d = jnp.asarray(x, jnp.float32), jnp.asarray(d, jnp.float32)
    return (x[None], d[None]) if x.ndim == 1 else (x, d)
