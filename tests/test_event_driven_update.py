"""The event-driven pulsed update (rows with coincidences only) against the dense whole-array update.

Dense is `row_block >= rows`: every device is visited. The event-driven path visits the pulsed rows in blocks;
its cycle-to-cycle noise comes from other keys (one per block), so the two agree exactly in their pulse counts
and in distribution in the devices' response: per-device mean and variance of the change over many keys.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from crossbar import array as xa
from crossbar.update import PulseUpdate, coincidence_counts, pulse_trains
from devices import MODELS
from devices.params import replace_parameters

ROWS, COLS, LR, N_KEYS = 24, 6, 0.05, 400


def _sparse_inputs(key):
    """Inputs with silent rows (zeros), negative and positive entries, and errors of both signs."""
    k_x, k_m, k_d = jax.random.split(key, 3)
    x = jax.random.uniform(k_x, (ROWS,), minval=-1.0, maxval=1.0) * (jax.random.uniform(k_m, (ROWS,)) < 0.5)
    return x, 0.5 * jax.random.normal(k_d, (COLS,))


def test_block_counts_and_pulsed_rows_equal_the_dense_counts():
    upd = PulseUpdate(bl=10)
    x, d = _sparse_inputs(jax.random.key(0))
    trains, _ = pulse_trains(upd, x, d, LR, 0.01, jax.random.key(1))
    dense, _ = coincidence_counts(upd, x, d, LR, 0.01, jax.random.key(1))
    rows = jnp.array([3, 0, 17, ROWS, ROWS + 5])  # the last two are padding: zero counts
    block = np.asarray(trains.counts(rows))
    np.testing.assert_array_equal(block[:3], np.asarray(dense)[[3, 0, 17]])
    assert not block[3:].any()
    np.testing.assert_array_equal(np.asarray(trains.pulsed_rows()), np.any(np.asarray(dense) != 0, axis=1))
    assert 0 < int(trains.pulsed_rows().sum()) < ROWS


def _changes(model_name: str, pair: str, row_block: int, x, d, start):
    """[N_KEYS, rows, cols] weight changes after one update, whether each G+ device kept its conductance bit for
    bit ([N_KEYS, rows, cols] bool), and the initial state."""
    device = replace_parameters(MODELS[model_name](), **{"variation.c2c": 0.3, "variation.dg_d2d": 0.2,
                                                        "variation.stuck_min_fraction": 0.05,
                                                        "variation.stuck_max_fraction": 0.05})
    xb = xa.make_crossbar(device, ROWS, COLS, pair=pair, dw_min=0.02,
                          update_scheme=PulseUpdate(bl=10, row_block=row_block, dense_below=0))
    state = xa.init(xb, jax.random.key(2), start)
    w0 = xa.weights(xb, state)

    @jax.jit
    def one(key):
        new, _ = xa.update(xb, state, x, d, LR, key)
        return xa.weights(xb, new) - w0, new.plus.g == state.plus.g

    changes, kept = jax.vmap(one)(jax.random.split(jax.random.key(3), N_KEYS))
    return np.asarray(changes, np.float64), np.asarray(kept), state


def _assert_same_distribution(a, b, n_se=5.0):
    n = a.shape[0]
    se_mean = np.sqrt((a.var(0) + b.var(0)) / n)
    assert np.all(np.abs(a.mean(0) - b.mean(0)) <= n_se * se_mean + 1e-9), np.abs(a.mean(0) - b.mean(0)).max()
    # The standard error of a sample variance from the fourth central moment (abrupt devices are heavy-tailed).
    def var_of_var(c):
        return (np.mean((c - c.mean(0)) ** 4, axis=0) - c.var(0) ** 2) / n

    se_var = np.sqrt(var_of_var(a) + var_of_var(b))
    assert np.all(np.abs(a.var(0) - b.var(0)) <= n_se * se_var + 1e-12)


# Every model against a reference column; the differential pair (the same step laws, both devices pulsed) for
# models of each kind of step law by default, and for the rest in the slow run (CI runs both).
DIFFERENTIAL_BY_DEFAULT = ("constant_step", "hfo2_abrupt", "bilayer", "lookup_table")


@pytest.mark.parametrize("model_name, pair", [
    *[(name, "reference") for name in sorted(MODELS)],
    *[pytest.param(name, "differential", marks=() if name in DIFFERENTIAL_BY_DEFAULT else pytest.mark.slow)
      for name in sorted(MODELS)]])
def test_event_driven_update_equals_dense_in_distribution(model_name, pair):
    x, d = _sparse_inputs(jax.random.key(4))
    # Weights near both bounds and in between, so that clipping at the bounds is part of the comparison.
    start = 0.6 * jnp.clip(jnp.linspace(-1.2, 1.2, ROWS * COLS).reshape(ROWS, COLS), -0.98, 0.98)
    dense, dense_kept, state = _changes(model_name, pair, 1000, x, d, start)
    blocked, blocked_kept, _ = _changes(model_name, pair, 4, x, d, start)
    _assert_same_distribution(dense, blocked)
    # Silent rows and stuck devices keep their conductance bit for bit, in both paths.
    silent = np.asarray(x == 0)
    stuck = np.asarray(state.plus.stuck)
    for kept in (dense_kept, blocked_kept):
        assert kept[:, silent, :].all() and kept[:, stuck].all()
    assert np.abs(dense).max() > 0


def test_inputs_that_pulse_every_row_and_column_match_the_dense_path():
    """The blocks are a capacity, not a limit: with every row pulsed, as many blocks run as needed."""
    x, d = jnp.ones(ROWS), jnp.full(COLS, 0.8)
    dense, _, _ = _changes("constant_step", "reference", 1000, x, d, jnp.zeros((ROWS, COLS)))
    blocked, _, _ = _changes("constant_step", "reference", 5, x, d, jnp.zeros((ROWS, COLS)))
    assert np.all(np.abs(dense).mean(0) > 0) and np.all(np.abs(blocked).mean(0) > 0)  # every device pulsed
    _assert_same_distribution(dense, blocked)


def test_event_driven_update_vmaps_and_repeats():
    device = MODELS["constant_step"]()
    xb = xa.make_crossbar(device, ROWS, COLS, update_scheme=PulseUpdate(bl=10, row_block=4, dense_below=0))
    state = xa.init(xb, jax.random.key(0))
    x, d = _sparse_inputs(jax.random.key(5))
    keys = jax.random.split(jax.random.key(6), 5)
    batched = jax.jit(jax.vmap(lambda k: xa.update(xb, state, x, d, LR, k)[0].plus.g))(keys)
    for i, key in enumerate(keys):
        np.testing.assert_array_equal(batched[i], xa.update(xb, state, x, d, LR, key)[0].plus.g)
    again = xa.update(xb, state, x, d, LR, keys[0])[0].plus.g
    np.testing.assert_array_equal(again, batched[0])
    assert not np.array_equal(batched[0], batched[1])


@pytest.mark.parametrize("pair", ["reference", pytest.param("differential", marks=pytest.mark.slow)])
def test_row_pulses_equal_the_whole_array_delivery_in_distribution(pair):
    """`apply_row_pulses` (a transfer's write of a few rows) visits those rows only and equals `apply_pulses` of
    the same counts in the whole [rows, cols] matrix: in distribution for the pulsed rows, bit for bit elsewhere."""
    from crossbar.delivery import apply_row_pulses

    device = replace_parameters(MODELS["soft_bounds"](), **{"variation.c2c": 0.3, "variation.dg_d2d": 0.2})
    xb = xa.make_crossbar(device, ROWS, COLS, pair=pair, dw_min=0.02, update_scheme=PulseUpdate(row_block=4,
                                                                                              dense_below=0))
    state = xa.init(xb, jax.random.key(2), 0.5 * jnp.linspace(-1, 1, ROWS * COLS).reshape(ROWS, COLS))
    rows = jnp.array([5, 0, 17])
    n = jax.random.randint(jax.random.key(3), (3, COLS), -12, 13).at[1, 2].set(0)
    full = jnp.zeros((ROWS, COLS), jnp.int32).at[rows].set(n)
    w0 = xa.weights(xb, state)

    def changes(deliver):
        return np.asarray(jax.vmap(lambda k: xa.weights(xb, deliver(k)) - w0)(jax.random.split(jax.random.key(4),
                                                                                            N_KEYS)), np.float64)

    by_rows = changes(jax.jit(lambda k: apply_row_pulses(xb, state, rows, n, k)))
    whole = changes(jax.jit(lambda k: xa.apply_pulses(xb, state, full, k)))
    _assert_same_distribution(by_rows, whole)
    untouched = np.asarray(full == 0)
    assert not by_rows[:, untouched].any() and np.abs(by_rows[:, ~untouched]).min(axis=0).max() > 0


def test_tiki_taka_row_writes_equal_the_one_hot_batch_update_in_distribution():
    """`transfer.steps.train_rows` (Tiki-Taka's write: stochastic trains of one-hot inputs, delivered to the written
    rows only) equals `array.update` of the same one-hot batch in distribution, and counts the same events."""
    from crossbar.transfer.steps import train_rows

    device = replace_parameters(MODELS["soft_bounds"](), **{"variation.c2c": 0.3, "variation.dg_d2d": 0.2})
    xb = xa.make_crossbar(device, ROWS, COLS, pair="reference", dw_min=0.02, update_scheme=PulseUpdate(bl=10))
    state = xa.init(xb, jax.random.key(2), 0.5 * jnp.linspace(-1, 1, ROWS * COLS).reshape(ROWS, COLS))
    rows, active = jnp.array([5, 0, 17]), jnp.array([True, True, False])
    d = jnp.where(active[:, None], 0.8 * jax.random.normal(jax.random.key(3), (3, COLS)), 0.0)
    e = jax.nn.one_hot(rows, ROWS) * active[:, None]
    w0 = xa.weights(xb, state)

    def run(write):
        new, counters = jax.vmap(write)(jax.random.split(jax.random.key(4), N_KEYS))
        return np.asarray(jax.vmap(lambda s: xa.weights(xb, s) - w0)(new), np.float64), counters.events

    by_rows, ev_rows = run(jax.jit(lambda k: train_rows(xb, state, rows, d, LR, active, k)))
    batch, ev_batch = run(jax.jit(lambda k: xa.update(xb, state, e, d, LR, k)))
    _assert_same_distribution(by_rows, batch)
    assert np.abs(by_rows[:, 5]).max() > 0 and not by_rows[:, 17].any()
    for name in ("update.coincidences", "update.row_pulses", "update.col_pulses"):
        a, b = np.asarray(ev_rows[name]), np.asarray(ev_batch[name])
        assert abs(a.mean() - b.mean()) < 5 * np.sqrt((a.var() + b.var()) / N_KEYS) + 1e-9, name
    np.testing.assert_array_equal(np.asarray(ev_rows["transfer_writes"]), 2.0)
