"""The operations every transfer algorithm is built of, each on the array core: the chopped gradient pulses into
A (`crossbar.array.update`), the transfer read of one input line of A (`crossbar.array.forward` of a one-hot
input with the transfer periphery), whole pulses or Tiki-Taka's pulse trains into the read rows of C
(`crossbar.delivery.apply_row_pulses`, visiting those rows only; counted as row-by-row writes and marked as the
transfer's events), the buffer's threshold, and the two ways a mini-batch meets its transfers:

- `run_batch` (the buffered algorithms, by default): A takes the whole mini-batch's pulses (`array.update`, sample
  after sample where the device's steps depend on its state, as plain SGD), then the transfers due in the batch
  are made together: one read of their lines (a [slots, rows] one-hot input), their buffers, and one delivery of
  their pulses to C. The slots read distinct lines (a batch never holds more transfers than A has lines), so
  this is the sequential loop's arithmetic except that every read sees A after the whole batch: aihwkit
  interleaves them (its CUDA update is chunked at each transfer), so there a read sees A after its own sample,
  and a chopper flipped by a read acts on the batch's later samples at once, here from the next batch. For a
  read every 785 samples (GV2016's input layer) the difference is at most batch - 1 samples of A's gradient.
  `Compound.interleaved` restores aihwkit's order (and its cost).
- `run_samples`: sample by sample, one transfer after every `every`-th sample (Tiki-Taka, and the interleaved
  order).

Transfer reads and pulses are counted in the same `Counters` (and `Events`) as every read and update, so they are
priced with the rest.
"""

from __future__ import annotations

from dataclasses import replace

import jax
import jax.numpy as jnp

from crossbar import array
from crossbar.counters import Counters
from crossbar.delivery import apply_row_pulses
from crossbar.events import Events
from crossbar.transfer.compound import Compound, TransferState
from crossbar.update import PulseCounts, sample_pulses

Array = jax.Array


def signs(flipped: Array) -> Array:
    """+1 / -1 (float32) of chopper flags (True: flipped)."""
    return jnp.where(flipped, -1.0, 1.0).astype(jnp.float32)


def read_row(cmp: Compound, state: TransferState, row, key) -> tuple[Array, Counters]:
    """A's row `row` [cols] (weight units) as the transfer read gives it: a one-hot input on that line, through
    `cmp.transfer_forward` (DAC, output noise, ADC), the devices' read noise included."""
    e = jax.nn.one_hot(row, cmp.rows, dtype=jnp.float32)
    return array.forward(replace(cmp.fast, periphery=cmp.transfer_forward), state.a, e, key)


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


def read_rows(cmp: Compound, state: TransferState, rows: Array, active: Array, key) -> tuple[Array, Counters]:
    """A's lines `rows` [m] as [m, cols] (weight units), one transfer read each where `active` [m] (one
    `array.forward` of their one-hot inputs through `cmp.transfer_forward`; inactive slots read a zero input and
    are not counted)."""
    m = rows.shape[0]
    e = jax.nn.one_hot(rows, cmp.rows, dtype=jnp.float32) * active[:, None]
    y, counters = array.forward(replace(cmp.fast, periphery=cmp.transfer_forward), state.a, e, key)
    unread = jnp.sum(~active).astype(jnp.float32)
    return y, counters + Counters.zeros().replace(events=Events.of({"forward.reads": -unread,
                                                                    "transfer_reads": m - unread}))


def pulse_rows(cmp: Compound, c: array.CrossbarState, rows: Array, n: Array, active: Array, key
               ) -> tuple[array.CrossbarState, Counters]:
    """Send n [m, cols] signed whole pulses to the distinct rows `rows` [m] of C in one delivery that visits those
    rows' devices only (`delivery.apply_row_pulses`); counted as one row write per active slot (`active` [m];
    inactive slots must carry no pulses)."""
    counts = PulseCounts(n.astype(jnp.int32))
    new = apply_row_pulses(cmp.slow, c, rows, counts.n, key)
    events = array.pulse_events(cmp.slow, counts, Counters.zeros())
    return new, Counters.zeros().replace(events=transfer_write_events(events, active))


def train_rows(xb: array.Crossbar, c: array.CrossbarState, rows: Array, d: Array, lr, active: Array, key
               ) -> tuple[array.CrossbarState, Counters]:
    """Tiki-Taka's write: C -= lr e_i d_j^T for each slot j (line rows[j], d [m, cols]) as the stochastic pulse
    trains `array.update` would draw for the one-hot input e_i (`update.sample_pulses` with `xb`'s update scheme),
    delivered to those rows only (`delivery.apply_row_pulses`). The slots' rows are distinct, so their writes touch
    distinct devices and their order does not matter: this is `array.update` of the [m, rows] one-hot batch, without
    visiting the other rows. Inactive slots (`active` [m]) must carry d = 0; their events are not counted. Schemes
    that draw no pulse counts (the ideal write, the voltage-level update) take `array.update` itself.

    Returns:
        (C after the writes, their counters as one row write per active slot, marked as the transfer's).
    """
    if xb.update_scheme.scheme not in ("stochastic", "deterministic"):
        e = jax.nn.one_hot(rows, xb.rows, dtype=jnp.float32) * active[:, None]
        new, counters = array.update(xb, c, e, d, lr, key)
        return new, counters.replace(events=transfer_write_events(counters.events, active))

    def one(row, dj, kj):
        trains, counters = sample_pulses(xb.update_scheme, jax.nn.one_hot(row, xb.rows, dtype=jnp.float32), dj, lr,
                                         xb.dw_min, kj)
        return trains.counts(row[None])[0], counters.replace(events=array.pulse_events(xb, trains, counters))

    k_trains, k_devices = jax.random.split(key)
    n, counters = jax.vmap(one)(rows, d, jax.random.split(k_trains, rows.shape[0]))
    weight = active.astype(jnp.float32)
    counters = jax.tree_util.tree_map(lambda a: jnp.tensordot(weight.astype(a.dtype), a, axes=1), counters)
    new = apply_row_pulses(xb, c, rows, n, k_devices)
    return new, counters.replace(events=transfer_write_events(counters.events, active))


def transfer_write_events(events: Events, active: Array) -> Events:
    """The events of one delivery of transfer writes (`events`, counted by `array.pulse_events` or `array.update`
    as one sample) as one row write per active slot (`active` [m]), marked as the transfer's
    (`transfer_writes`, `transfer_pulses`)."""
    writes = jnp.sum(active).astype(jnp.float32)
    return events + Events.of({"update.samples": writes - events["update.samples"], "transfer_writes": writes,
                               "transfer_pulses": events["update.coincidences"]})


def slots(cmp: Compound, state: TransferState, n_due, m: int) -> tuple[Array, Array, Array, Array]:
    """The next m transfer slots: (rows [m] int32, sequential from `next_row`, wrapping; active [m], the first
    `n_due`; passes [m], the full passes made before each slot's read; after_wrap [m], whether a pass ended at an
    earlier active slot)."""
    i = jnp.arange(m, dtype=jnp.int32)
    pos = state.reads % cmp.rows + i
    active = i < n_due
    return pos % cmp.rows, active, state.passes + pos // cmp.rows, (pos >= cmp.rows) & active


def advance_rows(cmp: Compound, state: TransferState, rows: Array, active: Array) -> TransferState:
    """The state after the active slots' reads: that many more reads, one more pass per last row read."""
    return replace(state, reads=state.reads + jnp.sum(active, dtype=jnp.int32),
                   passes=state.passes + jnp.sum(active & (rows == cmp.rows - 1), dtype=jnp.int32))


def row_chop_signs(state: TransferState, rows: Array, out_chop: Array) -> Array:
    """[m, cols] signs of the chopper products of lines `rows` [m] with the output choppers `out_chop`
    ([m, cols] or [cols])."""
    return signs(state.in_chop[rows][:, None] != jnp.atleast_2d(out_chop))


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


def run_batch(cmp: Compound, state: TransferState, x: Array, d: Array, fast_lr, every, transfer_rows, key
              ) -> tuple[TransferState, Counters]:
    """A mini-batch: A -= fast_lr (s_in x)(s_out d)^T as pulses (`array.update` of the whole batch), then the
    transfers due in it together (see the module docstring): `transfer_rows(state, rows, active, passes,
    after_wrap, key) -> (state, counters)` on the slots of `slots`. Falls back to `run_samples` (one transfer
    after its sample) where `cmp.interleaved`; a batch of more samples than A has lines (a convolution's patches)
    is cut into equal chunks of at most that many, each such a batch, one after the other.

    Args:
        cmp: The compound.
        state: The state before the batch.
        x: [batch, rows] inputs.
        d: [batch, cols] errors.
        fast_lr: Learning rate of A (> 0).
        every: Samples between transfers (int32 >= 1; 0: never).
        transfer_rows: The algorithm's transfer of a set of slots.
        key: Random key.

    Returns:
        (the state after the batch, the counters of A's pulses, the transfer reads and the transfer pulses).
    """
    m = x.shape[0]
    if cmp.interleaved:
        def one(st, k):
            return transfer_rows(st, *slots(cmp, st, 1, 1), k)

        return run_samples(cmp, state, x, d, fast_lr, every, one, key)
    if m > cmp.rows:  # e.g. a convolution's patches: chunks of at most `rows` samples, one after the other
        chunk = max(c for c in range(1, cmp.rows + 1) if m % c == 0)

        def one_chunk(carry, args):
            st, counters = carry
            xc, dc, kc = args
            st, c = run_batch(cmp, st, xc, dc, fast_lr, every, transfer_rows, kc)
            return (st, counters + c), None

        chunks = (x.reshape(m // chunk, chunk, -1), d.reshape(m // chunk, chunk, -1),
                  jax.random.split(key, m // chunk))
        (state, counters), _ = jax.lax.scan(one_chunk, (state, Counters.zeros()), chunks)
        return state, counters
    k_upd, k_tr = jax.random.split(key)
    a, c_upd = array.update(cmp.fast, state.a, x * signs(state.in_chop)[None], d * signs(state.out_chop)[None], fast_lr,
                            k_upd)
    period = jnp.maximum(every, 1)
    n_due = jnp.where(every > 0, (state.count + m) // period - state.count // period, 0)
    st = replace(state, a=a, count=state.count + m)
    st, c_tr = transfer_rows(st, *slots(cmp, st, n_due, m), k_tr)
    return st, c_upd + c_tr


def as_batch(x: Array, d: Array) -> tuple[Array, Array]:
    """x, d as [batch, n] (a single sample gets a batch axis)."""
    x, d = jnp.asarray(x, jnp.float32), jnp.asarray(d, jnp.float32)
    return (x[None], d[None]) if x.ndim == 1 else (x, d)
