"""Cached wired reads (`WireResistance.refresh_every`, `crossbar.circuit.cache`): a product through the cached
effect of the wires equals the solved read where the cache is fresh, stays close between refreshes, and refreshes
after every N writes."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from crossbar import array
from crossbar.circuit import WireResistance
from crossbar.periphery import ideal_periphery
from devices import presets

ROWS, COLS = 24, 16


def _arrays(pair: str, refresh_every: int, r: float = 40.0):
    """(solved, cached) configurations of one array, ideal periphery; 40-ohm segments on 5-15 uS devices: an IR
    drop of several percent at this size."""
    wires = WireResistance(r_row=r, r_col=r, r_source=2 * r, r_sense=r)
    solved = array.make_crossbar(presets.gokmen_vlasov(), ROWS, COLS, pair=pair, wires=wires,
                                 periphery=ideal_periphery(), periphery_backward=ideal_periphery())
    return solved, dataclasses.replace(solved, wires=dataclasses.replace(wires, refresh_every=refresh_every))


def _reads(xb, state):
    x = jax.random.uniform(jax.random.key(5), (3, ROWS))
    d = jax.random.normal(jax.random.key(6), (3, COLS))
    return array.forward(xb, state, x, jax.random.key(7))[0], array.transpose(xb, state, d, jax.random.key(7))[0]


def _w0():
    return 0.4 * jax.random.uniform(jax.random.key(1), (ROWS, COLS), minval=-1.0, maxval=1.0)


@pytest.mark.slow  # each test compiles a refresh: the solves of every unit vector (15-20 s)
@pytest.mark.parametrize("pair", ["reference", "differential"])
def test_a_fresh_cache_reads_what_the_solve_reads(pair):
    solved, cached = _arrays(pair, refresh_every=5)
    state = array.init(cached, jax.random.key(0), _w0())
    assert state.wired is not None and int(state.wired.refreshes) == 1
    assert array.init(solved, jax.random.key(0), _w0()).wired is None  # solved reads keep no cache
    ideal = dataclasses.replace(solved, wires=None)
    for exact, fast, plain in zip(_reads(solved, state), _reads(cached, state), _reads(ideal, state), strict=True):
        effect = np.max(np.abs(np.asarray(exact) - np.asarray(plain)))
        assert effect > 0.02 * np.max(np.abs(np.asarray(plain)))  # the wires matter here
        np.testing.assert_allclose(fast, exact, atol=1e-3 * effect)


@pytest.mark.slow
def test_refreshes_come_after_every_nth_write_and_measure_the_change():
    solved, cached = _arrays("reference", refresh_every=3)
    state = array.init(cached, jax.random.key(0), _w0())
    x, d = jnp.ones(ROWS), 0.05 * jnp.ones(COLS)
    step = jax.jit(lambda s, k: array.update(cached, s, x, d, 1.0, k)[0])
    for k in range(7):
        state = step(state, jax.random.key(10 + k))
    assert int(state.wired.writes) == 7 % 3 and int(state.wired.refreshes) == 1 + 7 // 3
    assert float(state.wired.staleness) > 0  # the writes changed the wires' effect, and the refresh saw it
    # One write after the last refresh: the reads are first order off the solve, by far less than the wires' effect.
    ideal = dataclasses.replace(solved, wires=None)
    for exact, fast, plain in zip(_reads(solved, state), _reads(cached, state), _reads(ideal, state), strict=True):
        error = np.max(np.abs(np.asarray(fast) - np.asarray(exact)))
        assert error < 0.1 * np.max(np.abs(np.asarray(exact) - np.asarray(plain)))


@pytest.mark.slow
def test_refreshing_after_every_write_reads_exactly_what_the_solve_reads():
    solved, cached = _arrays("differential", refresh_every=1)
    state = array.init(cached, jax.random.key(0), _w0())
    state, _ = array.update(cached, state, jnp.ones(ROWS), 0.05 * jnp.ones(COLS), 1.0, jax.random.key(3))
    assert int(state.wired.writes) == 0 and int(state.wired.refreshes) == 2
    ideal = dataclasses.replace(solved, wires=None)
    for exact, fast, plain in zip(_reads(solved, state), _reads(cached, state), _reads(ideal, state), strict=True):
        effect = np.max(np.abs(np.asarray(exact) - np.asarray(plain)))
        np.testing.assert_allclose(fast, exact, atol=1e-3 * effect)


@pytest.mark.parametrize("bad", [-1, 1.5, True])
def test_a_bad_refresh_interval_is_named(bad):
    with pytest.raises(ValueError, match="refresh_every"):
        WireResistance(r_row=1.0, r_col=1.0, refresh_every=bad).validate()
