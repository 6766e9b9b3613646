"""Weight-update schemes: the number of pulses each device of an array receives for one sample.

The stochastic scheme is the pulse coincidence of Gokmen & Vlasov 2016: row i fires in each of BL slots
with probability C|x_i|, column j with probability C|d_j|; a device gets a full-amplitude pulse in a slot
where both its lines fire, so its expected pulse count is BL C^2 |x_i d_j| and, for C = sqrt(lr /
(dw_min BL)), the expected weight change is -lr x_i d_j. For one sample the trains are packed into words and
a device's coincidences are popcount(row AND column), counted only in the rows that have any (`PulseTrains`);
for a summed mini-batch they are one product of the signed 0/1 trains, [rows, B BL] @ [B BL, cols]
(`summed_counts`).

References:
    Gokmen & Vlasov, Front. Neurosci. 10:333 (2016); update management and BL management as in aihwkit's
    `UpdateParameters` (Gokmen, Onen & Haensch, Front. Neurosci. 11:538 (2017)).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from crossbar.counters import Counters
from crossbar.events import Events
from devices.noise import uniform
from devices.pytree import pytree_dataclass
from devices.validation import check_bool, check_choice, check_instance, check_int

Array = jax.Array

SCHEMES = ("stochastic", "deterministic", "ideal", "voltage")
BATCH_MODES = ("auto", "sequential", "summed")


@pytree_dataclass
@dataclass(frozen=True)
class PulseUpdate:
    """How an array is updated.

    Attributes:
        scheme: "stochastic" (pulse coincidence), "deterministic" (each device gets round(lr |x d| / dw_min)
            pulses, capped at BL), "ideal" (the float update W -= lr x d^T written straight into the
            conductances, bypassing the device's pulse response), or "voltage" (the stochastic scheme's trains
            as half pulses on the lines: every device responds to the voltage it sees through `kinetics`, so
            half-selected devices drift and, with wires, far devices step less; `crossbar.voltage`). Static.
        bl: Number of slots in a pulse train, BL (static).
        update_management: Balance the row and column probabilities: C_x = C sqrt(max|d| / max|x|),
            C_d = C sqrt(max|x| / max|d|), which keeps C_x C_d = C^2 (static).
        bl_management: Shorten the train to BL' = ceil(lr max|x| max|d| / dw_min) <= BL slots when the
            updates are small, which raises the probabilities and lowers the variance (static).
        row_block: Speed only: devices are updated in blocks of this many pulsed rows, and rows without
            pulses are skipped (static). A value >= rows updates the whole array at once, which is faster
            under `jax.vmap` (where the loop runs to the longest member's end).
        dense_below: Speed only: arrays of fewer devices than this take one dense pass instead of row blocks
            (static; measured on CPU: the 257x128 hidden layer of GV2016 updates in 44 us dense, 77 us in blocks,
            while the 785x256 input layer with MNIST images takes 100 us in blocks, 160 us dense).
        batch_mode: How the pulse trains of a mini-batch reach the devices (static). "sequential": sample after
            sample, as rank-one pulse trains in sequence (the physics). "summed": the coincidences of the whole
            batch are counted at once (n_up and n_down per device, from the same trains), then every device
            takes its n_up potentiation pulses followed by its n_down depression pulses. That is exact in
            distribution for a state-independent step (constant step away from the bounds); for steps that
            depend on the conductance it evaluates them batch-wise, an error of second order in the change per
            batch (see `tests/test_batch_update.py`), and at a bound the clipping order differs. "auto":
            summed where the device's steps do not depend on its state (`PulsedDevice.steps_depend_on_state`),
            sequential otherwise.
        kinetics: The "voltage" scheme's switching-kinetics law (`devices.kinetics.SwitchingKinetics`: its
            nonlinearity and amplitude are pytree leaves); None: the cited default (`switching`). Unused by the
            other schemes.
    """

    scheme: str = field(default="stochastic", metadata=dict(static=True))
    bl: int = field(default=10, metadata=dict(static=True))
    update_management: bool = field(default=True, metadata=dict(static=True))
    bl_management: bool = field(default=False, metadata=dict(static=True))
    row_block: int = field(default=64, metadata=dict(static=True))
    dense_below: int = field(default=1 << 16, metadata=dict(static=True))
    batch_mode: str = field(default="auto", metadata=dict(static=True))
    kinetics: Any = None

    def validate(self) -> PulseUpdate:
        """Raise ValueError/TypeError naming a bad field; return the validated configuration."""
        check_choice("scheme", self.scheme, SCHEMES)
        if self.kinetics is not None:
            from devices.kinetics import SwitchingKinetics

            check_instance("kinetics", self.kinetics, SwitchingKinetics)
            self.kinetics.validate()
        check_int("bl", self.bl, 1)
        check_int("row_block", self.row_block, 1)
        check_int("dense_below", self.dense_below, 0)
        check_bool("update_management", self.update_management)
        check_bool("bl_management", self.bl_management)
        check_choice("batch_mode", self.batch_mode, BATCH_MODES)
        return self

    def sums_batches(self, device) -> bool:
        """True where a mini-batch's coincidences are summed before the devices respond (see `batch_mode`)."""
        if self.scheme != "stochastic" or self.batch_mode == "sequential":
            return False
        return self.batch_mode == "summed" or not getattr(device, "steps_depend_on_state", True)

    @property
    def switching(self):
        """The "voltage" scheme's kinetics law: `kinetics`, or the cited default `SwitchingKinetics()` for None."""
        from devices.kinetics import SwitchingKinetics

        return SwitchingKinetics() if self.kinetics is None else self.kinetics

    @property
    def pulsed(self) -> bool:
        """True where the scheme sends pulses to the devices; False for the ideal scheme's direct write."""
        return self.scheme != "ideal"


def sample_pulses(upd: PulseUpdate, x: Array, d: Array, lr, dw_min, key) -> tuple[PulseTrains | PulseCounts, Counters]:
    """The pulses of one sample by the configured pulsed scheme, and its counters.

    Both schemes answer `pulsed_rows()` and `counts(rows)`, which is all the delivery to the devices
    (`crossbar.delivery.deliver`) asks: the stochastic trains count their coincidences only where asked.
    The stochastic scheme's counters carry its events (slots, line pulses, coincidences: from the packed
    words, O(BL x lines)).

    Args:
        upd: Update configuration (a pulsed scheme: "stochastic" or "deterministic").
        x: [rows] layer input. d: [cols] layer error. lr: learning rate. dw_min: weight change per coincidence.
        key: Random key for the pulse trains (unused by the deterministic scheme).
    """
    if upd.scheme == "stochastic":
        trains, clipped = pulse_trains(upd, x, d, lr, dw_min, key)
        # Line pulses and coincidences from the packed words, O(BL x lines): sum over slots t of (rows firing at
        # t) x (columns firing at t). (Counting the fired slots as they are drawn instead was measured no cheaper.)
        rows_t, cols_t = _slot_counts(trains.rows, upd.bl), _slot_counts(trains.cols, upd.bl)
        slots = probability_scales(upd, x, d, lr, dw_min)[2] if upd.bl_management else upd.bl
        events = Events.of({"update.samples": 1.0, "update.slots": slots, "update.row_pulses": jnp.sum(rows_t),
                            "update.col_pulses": jnp.sum(cols_t), "update.coincidences": rows_t @ cols_t})
        return trains, Counters.zeros().replace(probability_clipped=clipped, events=events)
    if upd.scheme == "deterministic":
        n, capped = deterministic_counts(upd, x, d, lr, dw_min)
        return PulseCounts(n), Counters.zeros().replace(count_clipped=capped)
    raise ValueError(f"scheme {upd.scheme!r} has no pulse counts here: \"ideal\" writes the weight change directly, "
                     f"\"voltage\" is delivered by `crossbar.voltage.update_sample`")


@pytree_dataclass
@dataclass(frozen=True)
class PulseCounts:
    """Signed pulse counts given for every device, with the interface of `PulseTrains`.

    Attributes:
        n: [rows, cols] int32 pulse counts, signed as the weight change.
    """

    n: Array

    def pulsed_rows(self) -> Array:
        """[rows] bool: the rows with at least one pulse."""
        return jnp.any(self.n != 0, axis=1)

    def counts(self, rows: Array | None = None) -> Array:
        """The counts [len(rows), cols] of the given row indices (out-of-range: 0); all rows for None."""
        return self.n if rows is None else jnp.take(self.n, rows, axis=0, mode="fill", fill_value=0)

    def line_pulses(self) -> tuple[Array, Array, Array, Array]:
        """Pulses per line, coincidences and slots if the counts are written row by row (the physical reading of
        a per-device count): row i is held for max_j |n_ij| slots while column j fires |n_ij| times.

        Returns:
            (row pulses [rows], column pulses [cols], coincidences, slots), int32.
        """
        a = jnp.abs(self.n)
        rows = jnp.max(a, axis=1)
        return rows, jnp.sum(a, axis=0), jnp.sum(a), jnp.sum(rows)


def probability_scales(upd: PulseUpdate, x: Array, d: Array, lr, dw_min) -> tuple[Array, Array, Array]:
    """Row and column probability scales C_x, C_d and the active train length for one sample.

    Args:
        upd: Update configuration.
        x: [rows] input of the layer.
        d: [cols] error of the layer.
        lr: Learning rate (> 0).
        dw_min: Nominal weight change of one coincidence.

    Returns:
        (c_x, c_d, bl_active): scalars, with c_x c_d bl_active dw_min = lr.
    """
    x_max = jnp.max(jnp.abs(x))
    d_max = jnp.max(jnp.abs(d))
    bl = jnp.asarray(upd.bl, jnp.float32)
    if upd.bl_management:
        bl = jnp.clip(jnp.ceil(lr * x_max * d_max / dw_min), 1.0, bl)
    c = jnp.sqrt(lr / (dw_min * bl))
    if upd.update_management:
        both = (x_max > 0) & (d_max > 0)
        ratio = jnp.sqrt(jnp.where(both, d_max / jnp.where(both, x_max, 1.0), 1.0))
        return c * ratio, c / ratio, bl
    return c, c, bl


@pytree_dataclass
@dataclass(frozen=True)
class PulseTrains:
    """The BL-slot pulse trains of one sample, one per line, packed 32 slots to a word.

    The coincidences of device (i, j) are popcount(rows[:, i] AND cols[:, j]) summed over the words, signed as
    the weight change -sign(x_i d_j). Devices are only ever reached through `counts(rows)`, so an update can
    count the coincidences of the rows that have any and nothing else. (For one sample and a block of rows,
    popcounts of words beat a float product of 0/1 slots on CPU; `summed_counts` uses the product for a batch.)

    Attributes:
        rows: [n_words, rows] uint32 trains of the input lines (bit t of word w: slot 32 w + t fired).
        cols: [n_words, cols] uint32 trains of the error lines.
        rows_negative: [rows] bool, x_i < 0.
        cols_negative: [cols] bool, d_j < 0.
    """

    rows: Array
    cols: Array
    rows_negative: Array
    cols_negative: Array

    def pulsed_rows(self) -> Array:
        """[rows] bool: the rows with at least one coincidence (a slot where the row and some column both fire)."""
        any_col = jax.lax.reduce(self.cols, jnp.uint32(0), jax.lax.bitwise_or, (1,))  # [n_words]
        return jnp.any((self.rows & any_col[:, None]) != 0, axis=0)

    def counts(self, rows: Array | None = None) -> Array:
        """Signed coincidence counts [len(rows), cols] int32 of the given row indices (out-of-range: 0); all rows
        for None."""
        if rows is None:
            words, negative = self.rows, self.rows_negative
        else:
            words = jnp.take(self.rows, rows, axis=1, mode="fill", fill_value=0)
            negative = jnp.take(self.rows_negative, rows, mode="fill", fill_value=False)
        both = words[:, :, None] & self.cols[:, None, :]
        counts = jnp.sum(jax.lax.population_count(both).astype(jnp.int32), axis=0)
        # SGD moves w_ij by -lr x_i d_j: up where x_i and d_j have opposite signs.
        opposite = negative[:, None] ^ self.cols_negative[None, :]
        return jnp.where(opposite, counts, -counts)

    def line_pulses(self) -> tuple[Array, Array, Array]:
        """Pulses fired on every line and the coincidences, in O(slots x lines) (no count matrix is formed).

        The coincidences are sum over slots t of (rows firing at t) x (columns firing at t), which equals
        sum_ij popcount(row_i AND col_j).

        Returns:
            (row pulses [rows], column pulses [cols], coincidences), int32.
        """
        def popcounts(words):
            return jnp.sum(jax.lax.population_count(words).astype(jnp.int32), axis=0)

        slots = 32 * self.rows.shape[0]
        n = _slot_counts(self.rows, slots) @ _slot_counts(self.cols, slots)
        return popcounts(self.rows), popcounts(self.cols), jnp.round(n).astype(jnp.int32)


def _slot_counts(words: Array, bl: int) -> Array:
    """[BL] float32: how many lines fire in each slot of packed trains [n_words, lines].

    A matrix-vector product of the unpacked bits, not a sum: XLA's CPU reductions over [BL, lines] cost several
    times its dots (with sums, counting events cost 11% of a GV2016 training step at batch 1; with this product
    and the read drive as a dot, 4.7%: `python bench/train_overhead.py`)."""
    w = words[jnp.arange(bl) // 32]  # [BL, lines]: the word holding each slot
    bits = (w >> (jnp.arange(bl, dtype=jnp.uint32) % 32)[:, None]) & jnp.uint32(1)
    return bits.astype(jnp.float32) @ jnp.ones(words.shape[1], jnp.float32)


def _pack(fire: Array) -> Array:
    """[BL, lines] bool slots -> [ceil(BL / 32), lines] uint32 words (bit t of word w is slot 32 w + t)."""
    bl = fire.shape[0]
    words = []
    for start in range(0, bl, 32):  # only the slots there are: BL = 10 packs 10 bits, not 32
        chunk = fire[start:start + 32]
        bit = (jnp.uint32(1) << jnp.arange(chunk.shape[0], dtype=jnp.uint32))[:, None]
        words.append(jnp.sum(jnp.where(chunk, bit, jnp.uint32(0)), axis=0, dtype=jnp.uint32))
    return jnp.stack(words)


def _signed_slots(fire: Array, negative: Array) -> Array:
    """[BL, lines] bool slots -> float32 slots: -1 where the line's sign is negative, +1 elsewhere, 0 unfired."""
    return jnp.where(fire, jnp.where(negative, -1.0, 1.0)[None, :], 0.0)


def fired_slots(upd: PulseUpdate, x: Array, d: Array, lr, dw_min, key) -> tuple[Array, Array, Array]:
    """Draw which of the BL slots every line fires in: row i with probability C_x |x_i| per slot, column j with
    C_d |d_j|.

    Args:
        upd: Update configuration.
        x: [rows] layer input.
        d: [cols] layer error (gradient of the loss with respect to the layer output).
        lr: Learning rate.
        dw_min: Nominal weight change of one coincidence.
        key: Random key for the pulse trains.

    Returns:
        (fire_x [BL, rows] bool, fire_d [BL, cols] bool, number of probabilities above 1 that were clipped).
    """
    c_x, c_d, bl_active = probability_scales(upd, x, d, lr, dw_min)
    p_x, p_d = c_x * jnp.abs(x), c_d * jnp.abs(d)
    clipped = jnp.sum(p_x > 1, dtype=jnp.int32) + jnp.sum(p_d > 1, dtype=jnp.int32)
    k_x, k_d = jax.random.split(key)
    slot_on = (jnp.arange(upd.bl) < bl_active)[:, None]
    fire_x = (uniform(k_x, (upd.bl, x.shape[0])) < p_x[None, :]) & slot_on  # [BL, rows]
    fire_d = (uniform(k_d, (upd.bl, d.shape[0])) < p_d[None, :]) & slot_on  # [BL, cols]
    return fire_x, fire_d, clipped


def pulse_trains(upd: PulseUpdate, x: Array, d: Array, lr, dw_min, key) -> tuple[PulseTrains, Array]:
    """The stochastic pulse trains of one sample (`fired_slots`, packed), and the number of clipped probabilities."""
    fire_x, fire_d, clipped = fired_slots(upd, x, d, lr, dw_min, key)
    # SGD moves w_ij by -lr x_i d_j: rows carry the sign of x, columns the sign of -d.
    return PulseTrains(_pack(fire_x), _pack(fire_d), x < 0, d < 0), clipped


def summed_counts(upd: PulseUpdate, xs: Array, ds: Array, lr, dw_min, keys, lines: bool = False):
    """Potentiation and depression coincidences of a whole mini-batch, counted at once.

    Sample b draws exactly the trains `pulse_trains(upd, xs[b], ds[b], lr, dw_min, keys[b])` draws, so the counts
    are the sums of the per-sample ones. With the signed 0/1 trains A [B BL, rows] (sign of x) and C
    [B BL, cols] (sign of -d), the net count is A^T C and the total |A|^T |C|: one [rows, B BL] x [B BL, cols]
    product when no input is negative (C is then encoded as |C| + M C with M > B BL, exact in float32), two
    otherwise.

    Args:
        upd: Update configuration. xs: [batch, rows] inputs. ds: [batch, cols] errors. lr, dw_min: as
            `pulse_trains`. keys: [batch] keys, one per sample.

        lines: Also return the batch's line pulses (static).

    Returns:
        (n_up, n_down, clipped): [rows, cols] int32 counts of potentiating and depressing coincidences, and
        the number of clipped probabilities; with `lines`, a fourth element (row pulses, column pulses,
        coincidences, slots) summed over the batch (float32 scalars).
    """

    def trains(x, d, key):
        fire_x, fire_d, clipped = fired_slots(upd, x, d, lr, dw_min, key)
        # Signed 0/1 slots: +1 where the pulse raises the weight (x_i > 0 and d_j < 0, or both reversed).
        return (_signed_slots(fire_x, x < 0), _signed_slots(fire_d, d > 0), clipped,
                probability_scales(upd, x, d, lr, dw_min)[2])

    a, c, clipped, active_slots = jax.vmap(trains)(xs, ds, keys)
    a, c = a.reshape(-1, xs.shape[1]), c.reshape(-1, ds.shape[1])  # [B BL, rows], [B BL, cols]
    slots = a.shape[0]
    radix = float(2 ** int(np.ceil(np.log2(slots + 1))))
    if slots * (radix + 1) < 2**24:
        def one_product():
            v = a.T @ (jnp.abs(c) + radix * c)  # total + radix * net, every term an exact integer
            net = jnp.floor(v / radix)
            return v - radix * net, net

        def two_products():
            return jnp.abs(a).T @ jnp.abs(c), a.T @ c

        total, net = jax.lax.cond(jnp.all(a >= 0), one_product, two_products)
    else:
        total, net = jnp.abs(a).T @ jnp.abs(c), a.T @ c
    total, net = jnp.round(total).astype(jnp.int32), jnp.round(net).astype(jnp.int32)
    if lines:
        # Line pulses from the slots the product used (reading them again costs less than counting the fired
        # slots as they are drawn, which makes XLA draw them twice): coincidences = sum_t (rows at t) (cols at t).
        # Matrix-vector products, not sums: XLA's CPU reductions are several times slower than its dots.
        rows_t = jnp.abs(a) @ jnp.ones(a.shape[1], a.dtype)  # [B BL]
        cols_t = jnp.abs(c) @ jnp.ones(c.shape[1], c.dtype)
        counted = (jnp.sum(rows_t), jnp.sum(cols_t), jnp.sum(rows_t * cols_t), jnp.sum(active_slots))
        return (total + net) // 2, (total - net) // 2, jnp.sum(clipped), counted
    return (total + net) // 2, (total - net) // 2, jnp.sum(clipped)


def coincidence_counts(upd: PulseUpdate, x: Array, d: Array, lr, dw_min, key) -> tuple[Array, Array]:
    """Signed pulse counts of the stochastic pulse-coincidence update for one sample, for every device.

    Args: as `pulse_trains`.

    Returns:
        n: [rows, cols] int32 pulse counts, signed as the weight change: -sign(x_i d_j) * coincidences.
        clipped: Number of probabilities above 1 that were clipped (int32 scalar).
    """
    trains, clipped = pulse_trains(upd, x, d, lr, dw_min, key)
    return trains.counts(), clipped


def deterministic_counts(upd: PulseUpdate, x: Array, d: Array, lr, dw_min) -> tuple[Array, Array]:
    """Pulse counts round(-lr x_i d_j / dw_min), capped at +-BL; returns (n [rows, cols], n_capped)."""
    n = jnp.round(-lr * jnp.outer(x, d) / dw_min)
    capped = jnp.sum(jnp.abs(n) > upd.bl, dtype=jnp.int32)
    return jnp.clip(n, -upd.bl, upd.bl).astype(jnp.int32), capped
