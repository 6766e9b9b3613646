"""Presets from NeuroSim's device table reproduce the table: range, on/off, levels, curve shape, c2c sigma."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from devices.base import set_conductance
from devices.noise import Variation
from devices.presets import make_device
from devices.traces import pulse_train, up_down_voltages

# The table (NeuroSim+ device parameters; normalised A from NeuroSim's own label -> A lookup table):
# name: (G_min S, G_max S, on/off, levels, normalised A of LTP, of LTD, c2c sigma as a fraction of the range).
TABLE = {
    "neurosim_ag_si": (3.0769e-9, 3.8462e-8, 12.5, 97, 0.4988, 0.2003, 0.035),
    "neurosim_taox_hfox": (1e-6, 1e-5, 10.0, 128, 31.5668, 1.9973, 0.037),
    "neurosim_alox_hfo2": (1.3357e-5, 5.9172e-5, 4.43, 40, 0.6292, 2.0633, 0.05),
}


def _neurosim_curves(g_min, g_max, levels, norm_a, pulses):
    """NeuroSim's LTP curve after `pulses` from G_min, and its LTD curve after `pulses` from G_max (numpy)."""
    a = norm_a * levels
    b = (g_max - g_min) / (1.0 - np.exp(-levels / a))
    ltp = g_min + b * (1.0 - np.exp(-pulses / a))
    ltd = g_max - b * (1.0 - np.exp(-pulses / a))  # the LTD curve traversed downwards from P = P_max
    return ltp, ltd


@pytest.mark.parametrize("name", sorted(TABLE))
def test_noise_free_curves_follow_the_table(name):
    g_min, g_max, on_off, levels, a_ltp, a_ltd, _ = TABLE[name]
    device = dataclasses.replace(make_device(name), variation=Variation())
    assert device.g_max / device.g_min == pytest.approx(on_off, rel=2e-3)
    state = device.init(jax.random.key(0), (1,))
    _, g = pulse_train(device, state, up_down_voltages(levels, levels, 1.5), jax.random.key(1))
    g = np.asarray(g)[:, 0]
    pulses = np.arange(levels + 1)
    ltp, _ = _neurosim_curves(g_min, g_max, levels, a_ltp, pulses)
    _, ltd = _neurosim_curves(g_min, g_max, levels, a_ltd, pulses)
    np.testing.assert_allclose(g[: levels + 1], ltp, rtol=1e-4)  # P_max pulses cross the whole range
    np.testing.assert_allclose(g[levels:], ltd, rtol=1e-4)
    assert g[levels] == pytest.approx(g_max, rel=1e-4) and g[-1] == pytest.approx(g_min, rel=1e-3)


@pytest.mark.parametrize("name", ["neurosim_taox_hfox", "neurosim_alox_hfo2"])
def test_cycle_to_cycle_sigma_is_the_tables_fraction_of_the_range(name):
    """Statistical (fixed keys): one pulse on 6000 devices at mid-range; the spread of the change is c2c x the
    mean step (within 4 standard errors), which at the linear step is the table's sigma of the range."""
    g_min, g_max, _, levels, *_, sigma = TABLE[name]
    device = make_device(name)
    n = 6000
    state = set_conductance(device.init(jax.random.key(2), (n,)), jnp.full((n,), 0.5 * (g_min + g_max)))
    new = device.pulse(state, jnp.full((n,), 1.5), jax.random.key(3))
    change = np.asarray(new.g - state.g, np.float64) / (g_max - g_min)
    up, _ = device.step_sizes(state)
    expected = float(device.variation.c2c) * float(np.asarray(up)[0]) / (g_max - g_min)
    se = expected / np.sqrt(2 * n)
    assert abs(change.std() - expected) < 4 * se
    # At the linear step (range / levels) that spread is the table's sigma of the range.
    assert float(device.variation.c2c) / levels == pytest.approx(sigma, rel=1e-6)
