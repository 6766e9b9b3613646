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

# The table (MLP+NeuroSim V3.0 user manual, Table II; normalised A from NeuroSim's own label -> A lookup table):
# name: (G_min S, G_max S, on/off, levels, normalised A of LTP, of LTD, c2c sigma as a fraction of the range).
TABLE = {
    "neurosim_ag_si": (3.0769e-9, 3.8462e-8, 12.5, 97, 0.4988, 0.2003, 0.035),
    "neurosim_taox_hfox": (1e-6, 1e-5, 10.0, 128, 31.5668, 1.9973, 0.037),
    "neurosim_alox_hfo2": (1.3357e-5, 5.9172e-5, 4.43, 40, 0.6292, 2.0633, 0.05),
    "neurosim_pcmo": (1 / 23e6 / 6.84, 1 / 23e6, 6.84, 50, 0.3006, 0.1003, 0.01),
    "neurosim_epiram": (1 / 81e3 / 50.2, 1 / 81e3, 50.2, 64, 2.5199, 2.5199, 0.02),
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


@pytest.mark.parametrize("name", ["neurosim_taox_hfox", "neurosim_alox_hfo2", "neurosim_pcmo", "neurosim_epiram"])
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


# aihwkit's fits of Gong & Rasch et al. IEDM 2022 (ReRamArrayHfO2PresetDevice, ReRamArrayOMPresetDevice), in
# weights w in [-1, 1]: dw_min, dw_min_dtod (log-normal), w_max_dtod, w_min_dtod, dw_min_std (additive),
# write_noise_std (in dw_min).
GONG2022 = {"reram_hfo2_gong2022": (0.4622, 0.7125, 0.4295, 0.5990, 0.2174, 0.5841),
            "reram_om_gong2022": (0.0949, 0.7829, 0.3499, 0.5695, 0.4158, 1.4113)}


@pytest.mark.parametrize("name", sorted(GONG2022))
def test_gong2022_arrays_have_aihwkits_fitted_statistics(name):
    """Statistical (fixed keys, 20 000 devices): in aihwkit's weight units (w_max = 1) the devices' step at the
    symmetry point has median dw_min and log-std dw_min_dtod, each bound spreads by its own dtod, one pulse at
    the symmetry point has the additive step noise, and the read weight carries the write noise."""
    dw_min, dtod, w_max_dtod, w_min_dtod, std, write = GONG2022[name]
    device = make_device(name)
    n = 20_000
    k, g_sym = 2.0 / (device.g_max - device.g_min), 0.5 * (device.g_min + device.g_max)
    state = device.init(jax.random.key(4), (n,))
    at_sym = set_conductance(state, jnp.full((n,), g_sym, jnp.float32))
    up, _ = device.step_sizes(at_sym)
    up, gain = np.asarray(up) * k, np.asarray(state.scale_up)
    assert np.median(gain) == pytest.approx(1.0, abs=0.02)
    assert np.std(np.log(gain)) == pytest.approx(dtod, rel=0.03)
    # The step at the symmetry point is dw_min x gain, where it does not reach the device's own bound (a step is
    # never larger than the way to the bound; with aihwkit's 0.46 of the half range that happens).
    room = (np.asarray(state.g_max) - g_sym) * k
    free = room > dw_min * gain * (1.0 + 5.0 * std)
    assert free.mean() > 0.3
    np.testing.assert_allclose(up[free], dw_min * gain[free], rtol=1e-3)
    for bound, spread in ((state.g_max, w_max_dtod), (state.g_min, w_min_dtod)):
        # 1 + dtod xi is floored at 0.05 (devices beyond 1.6 sigma at dtod 0.6): compare the central part.
        w = np.abs(np.asarray(bound) - g_sym) * k
        assert np.percentile(w, 75) - np.percentile(w, 25) == pytest.approx(1.349 * spread, rel=0.05)
    new = device.pulse(at_sym, jnp.full((n,), 1.5), jax.random.key(5))
    step = (np.asarray(new.g) - np.asarray(at_sym.g)) * k
    # Additive noise: each device's step is its own mean step + std x (its step at the symmetry point) x xi.
    np.testing.assert_allclose(np.std(step[free] / up[free] - 1.0), std, rtol=0.05)
    offset = (np.asarray(device.read(new)) - np.asarray(new.g)) * k
    assert np.std(offset) == pytest.approx(write * dw_min, rel=0.03)
