"""The lookup-table device: it reproduces the statistics of the curves it was built from (mean step vs G and its
spread, within standard errors), never leaves the measured range whatever the pulses, and rejects bad tables."""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices import LookupTable, SoftBounds, Variation
from devices.fit.data import Curves, PulseData
from devices.fit.lookup import binned_steps, lookup_table_from_curves
from devices.fit.synthetic import simulate_curves

from helpers import CROSSSIM

N_SE = 4.0


def _steps(curves: Curves):
    g, dg = curves.steps()
    ok = ~np.isnan(dg)
    return g[ok], curves.sign * dg[ok]


def replay(device: LookupTable, data: PulseData, n_devices: int, key) -> PulseData:
    """The lookup-table device run through the measured protocol: up then down pulses, as many as measured."""
    n_up, n_down = data.up.g.shape[0] - 1, data.down.g.shape[0] - 1
    return simulate_curves(device, n_devices, n_up, n_down, key)


def assert_same_statistics(data: PulseData, sim: PulseData, table: LookupTable, min_count=200):
    edges = np.linspace(table.g_min, table.g_max, len(table.g_centres) + 1)
    checked = 0
    for name in ("up", "down"):
        a = binned_steps(*_steps(getattr(data, name)), edges, 2)
        b = binned_steps(*_steps(getattr(sim, name)), edges, 2)
        for i in np.flatnonzero((a["count"] >= min_count) & (b["count"] >= min_count)):
            se_mean = math.hypot(a["se"][i], b["se"][i])
            assert abs(a["mean"][i] - b["mean"][i]) <= N_SE * se_mean, (name, i, a["mean"][i], b["mean"][i])
            se_std = math.hypot(a["std"][i] / math.sqrt(2 * a["count"][i]), b["std"][i] / math.sqrt(2 * b["count"][i]))
            # interpolation between bin centres adds the spread of the mean within a bin: allow 10% of the mean
            assert abs(a["std"][i] - b["std"][i]) <= N_SE * se_std + 0.1 * abs(a["mean"][i]), (name, i)
            checked += 1
    assert checked >= 10, "too few bins compared"


def test_table_reproduces_the_step_statistics_of_simulated_curves():
    source = SoftBounds(g_min=1e-6, g_max=11e-6, dg=10e-6 / 60, variation=Variation(c2c=0.3))
    data = simulate_curves(source, 100, 80, 80, jax.random.key(0))
    table, stats = lookup_table_from_curves(data, n_bins=15)
    assert table.g_min == pytest.approx(data.g_range()[0]) and table.g_max == pytest.approx(data.g_range()[1])
    assert stats["up"]["count"].sum() == 100 * 80
    assert_same_statistics(data, replay(table, data, 100, jax.random.key(1)), table)


@pytest.mark.skipif(not (CROSSSIM / "set.csv").is_file(), reason=f"CrossSim data not found at {CROSSSIM}")
def test_table_reproduces_the_crosssim_measurement():
    from devices.fit.data import load_pulse_data

    data = load_pulse_data(CROSSSIM / "set.csv", CROSSSIM / "reset.csv")
    table, _ = lookup_table_from_curves(data)
    assert_same_statistics(data, replay(table, data, 200, jax.random.key(2)), table)


def test_an_unstable_table_would_fail_the_comparison():
    """The check above can fail: a table with steps 20% too large is told apart from its data."""
    source = SoftBounds(g_min=1e-6, g_max=11e-6, dg=10e-6 / 60, variation=Variation(c2c=0.3))
    data = simulate_curves(source, 100, 80, 80, jax.random.key(0))
    table, _ = lookup_table_from_curves(data, n_bins=15)
    wrong = dataclasses.replace(table, up_mean=tuple(1.2 * x for x in table.up_mean))
    with pytest.raises(AssertionError):
        assert_same_statistics(data, replay(wrong, data, 100, jax.random.key(1)), table)


@jax.jit
def _pulse_n(table, state, n, key):
    """One compilation for every table of the same size: the table is an argument (a pytree), not a constant."""
    return table.pulse_n(state, n, key)


@settings(max_examples=10, deadline=None)
@given(counts=st.lists(st.integers(-30, 30), min_size=1, max_size=12), seed=st.integers(0, 2**16),
       spread=st.floats(0.0, 5.0), d2d=st.floats(0.0, 1.0))
def test_conductance_stays_in_the_measured_range_for_any_pulses(counts, seed, spread, d2d):
    rng = np.random.default_rng(seed)
    centres = tuple(float(x) for x in np.sort(rng.uniform(1e-6, 9e-6, 6)) + np.arange(6) * 1e-9)
    means = rng.uniform(-1e-7, 1e-6, (2, 6))
    table = LookupTable(g_min=1e-6, g_max=9e-6, g_centres=centres,
                        up_mean=tuple(means[0]), up_std=tuple(spread * np.abs(means[0])),
                        down_mean=tuple(means[1]), down_std=tuple(spread * np.abs(means[1])),
                        variation=Variation(dg_d2d=d2d, c2c=0.5)).validate()
    state = table.init(jax.random.key(seed), (8, 8))
    for i, n in enumerate(counts):
        state = _pulse_n(table, state, jnp.full((8, 8), n), jax.random.key(i))
        g = np.asarray(state.g)
        assert np.all((g >= np.asarray(state.g_min)) & (g <= np.asarray(state.g_max))), (i, n)
        # the measured range, up to the float32 rounding of the bounds drawn at init
        assert g.min() >= 1e-6 * (1 - 1e-6) and g.max() <= 9e-6 * (1 + 1e-6), (i, n, g.min(), g.max())


def test_vmap_over_tables_matches_each_table():
    tables = [LookupTable(), dataclasses.replace(LookupTable(), up_mean=tuple(2 * x for x in LookupTable().up_mean))]
    stacked = jax.tree_util.tree_map(lambda *x: jnp.stack(x), *tables)
    state = tables[0].init(jax.random.key(0), (4, 5))

    def run(table):
        return table.pulse_n(state, jnp.full((4, 5), 7), jax.random.key(1)).g

    batched = jax.vmap(run)(stacked)
    for i, t in enumerate(tables):
        np.testing.assert_allclose(batched[i], run(t), rtol=1e-6)


@pytest.mark.parametrize("change, match", [
    ({"g_centres": (2e-6, 1e-6) + LookupTable().g_centres[2:]}, "`g_centres` must increase"),
    ({"up_std": (-1.0,) + LookupTable().up_std[1:]}, "`up_std` must be >= 0"),
    ({"down_mean": (1e-7,)}, "one entry per bin"),
    ({"up_mean": (float("nan"),) + LookupTable().up_mean[1:]}, r"up_mean\[0\]"),
    ({"up_mean": [1e-7] * 10}, "up_mean"),
])
def test_bad_tables_are_rejected_naming_the_field(change, match):
    with pytest.raises((ValueError, TypeError), match=match):
        dataclasses.replace(LookupTable(), **change).validate()
