"""The two devices of the mission: abrupt HfO2 RRAM against the bilayer TaOx/HfO2 device, and their figure.

Statements are on the median of many devices (fixed keys), so they test the physics the presets claim:
abrupt switching vs gradual symmetric updates, relaxation vs stable states, and the configured
cycle-to-cycle spread of the switching pulse number.
"""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from devices import Bilayer, HfO2Abrupt, Variation, presets
from devices.traces import pulse_train, read_train, up_down_voltages
from experiments import pulse_curves

N_DEVICES = 500
N_PULSES = 200

_pulse_n = jax.jit(lambda device, state, n, key: device.pulse_n(state, n, key))


# Compilation dominates the run time of these tests, so every pulse train below has the shapes of the
# fixture's (500 devices, 400 pulses) and of `pulse_curves.run` at its default read times and levels:
# jit then reuses one compiled scan per model class, whatever the parameter values.


@pytest.fixture(scope="module")
def sims():
    """Pulse curves and retention of both presets, 500 devices each: `simulate`'s arrays by preset name."""
    return {name: pulse_curves.simulate(presets.get(name), N_DEVICES, N_PULSES, jax.random.key(i))
            for i, name in enumerate(("hfo2_baseline", "bilayer_ibm"))}


def _range(name):
    device = presets.get(name)
    return device.g_max - device.g_min


def test_hfo2_switches_abruptly_both_ways(sims):
    median = np.median(sims["hfo2_baseline"]["g_trace"], axis=1)
    g_range = _range("hfo2_baseline")
    up, down = median[: N_PULSES + 1], median[N_PULSES:]
    # At least half the range is crossed within 3 consecutive pulses, up and down.
    assert np.max(up[3:] - up[:-3]) >= 0.5 * g_range
    assert np.max(down[:-3] - down[3:]) >= 0.5 * g_range
    # Before switching the device stays near its HRS (creeps by less than 10% of the range over 10 pulses).
    assert up[10] - up[0] < 0.1 * g_range
    # And it ends near the bounds: LRS after the potentiation, HRS after the depression.
    device = presets.get("hfo2_baseline")
    assert up[-1] > device.g_max - 0.2 * g_range
    assert down[-1] < device.g_min + 0.2 * g_range


def test_bilayer_is_gradual_and_symmetric(sims):
    median = np.median(sims["bilayer_ibm"]["g_trace"], axis=1)
    g_range = _range("bilayer_ibm")
    up, down = median[: N_PULSES + 1], median[N_PULSES:]
    steps = np.diff(up)
    assert np.all(steps > 0), "median must rise monotonically under potentiation"
    assert np.max(steps) <= 0.05 * g_range
    assert up[-1] - up[0] > 0.7 * g_range, "200 pulses should span most of the range"
    # Depression mirrors potentiation: G_peak - G_down(k) = G_up(k) - G_start within 10% of the range.
    mirror_error = (up[-1] - down) - (up - up[0])
    assert np.max(np.abs(mirror_error)) <= 0.1 * g_range


def test_bilayer_states_hold_while_hfo2_relaxes(sims):
    # Change of the median read over 1 s .. 1000 s after programming, per programmed state, in units of range.
    for name, limit in (("bilayer_ibm", 0.01), ("hfo2_baseline", None)):
        s = sims[name]
        change = (np.median(s["g_read"][-1], axis=-1) - np.median(s["g_programmed"], axis=-1)) / _range(name)
        if limit is not None:
            assert np.all(np.abs(change) < limit), f"{name}: drift {change} of the range over 1000 s"
        else:
            # The LRS states (>= 50 pulses, past the ~30-pulse SET) relax down by several % of the range.
            assert np.all(change[1:] < -0.03), f"{name}: LRS change {change[1:]} should show relaxation"


def test_read_at_0p2_volt_does_not_disturb():
    n_levels = 5  # the shapes of `simulate`'s retention run, so its compiled scans are reused
    for device in (presets.hfo2_baseline(), presets.bilayer_ibm()):
        state = device.init(jax.random.key(0), (n_levels, N_DEVICES))
        volts = jnp.where(jnp.arange(N_PULSES)[:, None, None] < 40, 1.5, 0.0)
        programmed, _ = pulse_train(device, state, jnp.broadcast_to(volts, (N_PULSES, n_levels, N_DEVICES)),
                                    jax.random.key(1))
        after, _ = read_train(device, programmed, jnp.logspace(0.0, 3.0, 31), jax.random.key(2), 0.2)
        for a, b in zip(jax.tree_util.tree_leaves(after), jax.tree_util.tree_leaves(programmed), strict=True):
            np.testing.assert_array_equal(a, b)


def _switch_pulse_numbers(trace, threshold, rising):
    """Index (1-based pulse number) of the first crossing of `threshold` per device; trace [n+1, devices]."""
    crossed = trace > threshold if rising else trace < threshold
    assert np.all(crossed.any(axis=0)), "some device never switched"
    return np.argmax(crossed, axis=0)


@pytest.mark.parametrize("n_std", [2.0, 8.0])
def test_hfo2_switching_pulse_number_has_configured_spread(n_std):
    """Pooled within-device std over cycles (the cycle-to-cycle spread) matches `n_set_std`/`n_reset_std`."""
    device = HfO2Abrupt(n_set=30.0, n_set_std=n_std, n_reset=20.0, n_reset_std=n_std / 2, variation=Variation())
    n_cycles, half = 2, N_PULSES // 2
    cycle = up_down_voltages(half, half)
    state = device.init(jax.random.key(3), (N_DEVICES,))
    _, trace = pulse_train(device, state, jnp.tile(cycle, n_cycles), jax.random.key(4))
    trace = np.asarray(trace)
    mid = 0.5 * (device.g_min + device.g_max)
    sets, resets = [], []
    for c in range(n_cycles):
        start = c * 2 * half
        sets.append(_switch_pulse_numbers(trace[start: start + half + 1], mid, True))
        resets.append(_switch_pulse_numbers(trace[start + half: start + 2 * half + 1], mid, False))
    sets, resets = np.array(sets), np.array(resets)  # [cycles, devices]
    for counts, mean, std in ((sets, 30.0, n_std), (resets, 20.0, n_std / 2)):
        within = np.sqrt(np.mean(np.var(counts, axis=0, ddof=1)))
        # Rounding to whole pulses adds 1/12 to the variance; 500 within-device pairs give a ~3% standard error
        # on the pooled std, so 12% is a 4-sigma bound.
        expected = np.sqrt(std**2 + 1 / 12)
        assert abs(within - expected) < 0.12 * expected, (within, expected)
        assert abs(counts.mean() - mean) < 0.5


def test_hfo2_pulse_n_matches_single_pulses():
    device = HfO2Abrupt(variation=Variation())
    state = device.init(jax.random.key(5), (N_DEVICES,))
    after_n = _pulse_n(device, state, jnp.full((N_DEVICES,), 30), jax.random.key(6))
    # 30 SET pulses, then zero-volt pulses that do nothing.
    volts = jnp.where(jnp.arange(2 * N_PULSES) < 30, 1.5, 0.0)
    after_singles, _ = pulse_train(device, state, volts, jax.random.key(7))
    # Same devices, same countdowns: the closed form switches exactly the devices the single pulses switch.
    np.testing.assert_array_equal(after_n.aux["lrs"], after_singles.aux["lrs"])
    assert 0.4 < float(after_n.aux["lrs"].mean()) < 0.65
    within = np.asarray(after_n.g <= after_n.g_max) & np.asarray(after_n.g >= after_n.g_min)
    assert within.all()


def test_hfo2_reset_threshold_is_separate():
    device = HfO2Abrupt(v_threshold=1.0, v_reset=1.3, n_set=1.0, n_set_std=0.0, n_reset=1.0, n_reset_std=0.0)
    state = device.init(jax.random.key(0), (N_DEVICES,))
    volts = jnp.zeros(2 * N_PULSES).at[:3].set(jnp.array([1.0, -1.2, -1.3]))
    _, trace = pulse_train(device, state, volts, jax.random.key(1))
    lrs = np.asarray(trace[:4]) > 0.5 * (device.g_min + device.g_max)
    assert not lrs[0].any() and lrs[1].all(), "1.0 V reaches the SET threshold"
    assert lrs[2].all(), "-1.2 V is below the RESET threshold"
    assert not lrs[3].any(), "-1.3 V resets"


def test_bilayer_pulse_n_matches_single_pulses():
    device = Bilayer()  # no cycle-to-cycle noise: n pulses in closed form must equal n single pulses exactly
    state = device.init(jax.random.key(0), (N_DEVICES,))
    volts = jnp.where(jnp.arange(2 * N_PULSES) < 37, 1.5, jnp.where(jnp.arange(2 * N_PULSES) < 60, -1.5, 0.0))
    singles, _ = pulse_train(device, state, volts, jax.random.key(1))
    closed = _pulse_n(device, _pulse_n(device, state, jnp.full((N_DEVICES,), 37), jax.random.key(2)),
                      jnp.full((N_DEVICES,), -23), jax.random.key(3))
    np.testing.assert_allclose(closed.g, singles.g, rtol=1e-5)
    assert np.all(np.asarray(closed.g) > np.asarray(state.g))


def test_pulse_curves_run_writes_traces(tmp_path):
    result = pulse_curves.run(("hfo2_baseline", "bilayer_ibm"), n_devices=N_DEVICES, n_pulses=N_PULSES, seed=1,
                              overrides=["bilayer_ibm:gamma=0.3", "variation.c2c=0.05"], out=tmp_path)
    for name in ("traces.npz", "settings.json", "pulse_curves.png", "retention.png"):
        assert (tmp_path / name).stat().st_size > 0
    with np.load(tmp_path / "traces.npz") as data:
        assert data["hfo2_baseline/g_trace"].shape == (2 * N_PULSES + 1, N_DEVICES)
        assert data["bilayer_ibm/g_trace"].shape == (2 * N_PULSES + 1, N_DEVICES)
        n_reads, n_levels = data["bilayer_ibm/read_times"].shape[0], data["bilayer_ibm/levels"].shape[0]
        assert data["bilayer_ibm/g_read"].shape == (n_reads, n_levels, N_DEVICES)
        assert np.all(np.isfinite(data["bilayer_ibm/g_read"]))
    settings = json.loads((tmp_path / "settings.json").read_text())
    assert settings["overrides"]["bilayer_ibm"] == {"gamma": 0.3, "variation.c2c": 0.05}
    assert "gamma=0.3" in settings["parameters"]["bilayer_ibm"]
    assert result["files"]["traces_npz"] == tmp_path / "traces.npz"
    assert not list(tmp_path.glob(".*.tmp")), "temporary files must not be left behind"


@pytest.mark.parametrize("argv, message", [
    (["--device", "nope"], "unknown device 'nope'"),
    (["--set", "variation.nope=1"], "unknown parameter 'variation.nope'"),
    (["--set", "bilayer_ibm:gamma=2"], "`gamma` must lie in [0, 1]"),
    (["--set", "gamma"], "expected NAME=VALUE"),
])
def test_cli_rejects_bad_names_with_a_clear_message(argv, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        pulse_curves.main(["--out", str(tmp_path), "--devices", "2", "--pulses", "2", *argv])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    if "unknown device" in message:
        assert "bilayer_ibm" in err and "hfo2_abrupt" in err, "the message should list the valid names"
