"""The voltage-level pulse update (`crossbar.voltage`, `PulseUpdate(scheme="voltage")`) and its kinetics law.

Physics oracles: a sharp threshold without wires is the coincidence update (in distribution); a half-selected
device moves by its law's step at V/2 on average; with wires the coincidence step falls along a driven row as
the exact Kirchhoff solve of the write says; the first-order line model's drop is within its second-order error
of the exact one; conductances stay within bounds for any pulse sequence; bad parameters are named.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crossbar import array, voltage
from crossbar.circuit import WireResistance
from crossbar.energy import ChipCosts
from crossbar.energy.account import layer_energy, layer_spec
from crossbar.update import PulseUpdate
from devices import ConstantStep, SoftBounds, Variation
from devices.kinetics import SwitchingKinetics
from devices.presets import gokmen_vlasov

V = 1.5
BL = 10
ROWS, COLS = 8, 6
KEYS = 256  # samples per statistical test, each a full pulse train on every device


def _xb(device, kinetics=None, wires=None, scheme="voltage", rows=ROWS, cols=COLS):
    upd = PulseUpdate(scheme=scheme, bl=BL, kinetics=kinetics)
    return array.make_crossbar(device, rows, cols, update_scheme=upd, wires=wires)


def _clean_device():
    """Constant steps without any spread: every switched pulse moves G by exactly dg."""
    return ConstantStep(g_min=5e-6, g_max=15e-6, dg=10e-6 / 1200, v_threshold=1.0).validate()


@jax.jit
def _changes(xb, x, d, lr, keys):
    """[keys, rows, cols] change of G+ (S) of one update from fresh arrays, one per key (vmapped), and the events.

    The configuration is an argument, not a constant: arrays that differ only in parameter values (the device's,
    the law's nonlinearity) share one compiled program."""
    def one(k):
        k_init, k_upd = jax.random.split(k)
        state = array.init(xb, k_init)
        new, counters = array.update(xb, state, x, d, lr, k_upd)
        return new.plus.g - state.plus.g, counters.events.values

    return jax.vmap(one)(keys)


# ---------------------------------------------------------------------------------------------------- the law


def test_kinetics_nonlinearity_is_the_ratio_of_steps():
    for law, k in (("exponential", 126.0), ("exponential", 3.0), ("sinh", 10.0), ("sinh", 2.5)):
        kin = SwitchingKinetics(nonlinearity=k, v_pulse=V, law=law).validate()
        s = np.asarray(kin.scale(jnp.array([V, V / 2, 0.0, 2 * V])))
        assert s[0] == pytest.approx(1.0) and s[3] == pytest.approx(1.0)
        assert s[1] == pytest.approx(1.0 / k, rel=1e-5)
        rate = np.exp if law == "exponential" else np.sinh
        v0 = float(kin.v0)
        assert s[1] == pytest.approx(rate(V / 2 / v0) / rate(V / v0), rel=1e-5)  # the law itself, from v0
        assert s[2] <= s[1]
    sharp = SwitchingKinetics(nonlinearity=math.inf)
    assert np.asarray(sharp.scale(jnp.array([V, 0.99 * V, V / 2]))).tolist() == [1.0, 0.0, 0.0]
    # Jo et al. 2009: V0 = 0.155 V, so the default at 1.5 V has v0 = 0.155 V.
    assert float(SwitchingKinetics().v0) == pytest.approx(0.155, rel=1e-4)


@pytest.mark.parametrize("kwargs, name", [
    ({"nonlinearity": 1.0}, "nonlinearity"), ({"nonlinearity": -3.0}, "nonlinearity"),
    ({"nonlinearity": float("nan")}, "nonlinearity"), ({"nonlinearity": 2.0, "law": "sinh"}, "nonlinearity"),
    ({"v_pulse": 0.0}, "v_pulse"), ({"v_pulse": float("inf")}, "v_pulse"), ({"law": "linear"}, "law"),
    ({"nonlinearity": "big"}, "nonlinearity"),
])
def test_bad_kinetics_named(kwargs, name):
    with pytest.raises((ValueError, TypeError), match=name):
        SwitchingKinetics(**kwargs).validate()


def test_bad_update_scheme_parameters_named():
    with pytest.raises(TypeError, match="kinetics"):
        PulseUpdate(scheme="voltage", kinetics=10.0).validate()
    with pytest.raises(ValueError, match="nonlinearity"):
        array.make_crossbar(_clean_device(), 4, 4, update_scheme=PulseUpdate(
            scheme="voltage", kinetics=SwitchingKinetics(nonlinearity=0.5)))
    with pytest.raises(ValueError, match="scheme"):
        PulseUpdate(scheme="volts").validate()
    assert PulseUpdate(scheme="voltage").validate().switching == SwitchingKinetics()  # the cited default


def test_thin_is_binomial():
    n = jnp.full((20000,), 7, jnp.int32)
    for p in (0.0, 0.03, 0.5, 0.93, 1.0):
        draws = np.asarray(voltage.thin(jax.random.key(3), n, jnp.full(n.shape, p)))
        assert draws.min() >= 0 and draws.max() <= 7
        se = math.sqrt(7 * p * (1 - p) / n.size)
        assert abs(draws.mean() - 7 * p) <= 4 * se + 1e-9
        if 0 < p < 1:
            assert abs(draws.var() - 7 * p * (1 - p)) <= 0.1 * 7 * p * (1 - p) + 1e-3


# ---------------------------------------------------------------------------------------------------- no wires


@pytest.mark.slow  # 9 s
def test_sharp_threshold_without_wires_is_the_coincidence_update():
    """Same trains (same keys), a sharp threshold: the voltage scheme's G changes equal the coincidence scheme's in
    distribution (GV2016 device with its step spread and cycle-to-cycle noise), and no device is disturbed."""
    device = gokmen_vlasov()
    x = jnp.linspace(-1.0, 1.0, ROWS)
    d = jnp.linspace(0.8, -0.5, COLS)
    keys = jax.random.split(jax.random.key(11), KEYS)
    sharp, events = _changes(_xb(device, SwitchingKinetics(nonlinearity=math.inf)), x, d, 0.05, keys)
    coinc, _ = _changes(_xb(device, scheme="stochastic"), x, d, 0.05, keys)
    sharp, coinc = np.asarray(sharp, np.float64), np.asarray(coinc, np.float64)
    se = np.sqrt((sharp.var(0) + coinc.var(0)) / KEYS) + 1e-12
    assert np.all(np.abs(sharp.mean(0) - coinc.mean(0)) <= 4.5 * se)
    assert np.all(np.abs(sharp.std(0) - coinc.std(0)) <= 0.25 * coinc.std(0) + 1e-12)
    ev = np.asarray(events)
    from crossbar.events import INDEX
    assert ev[:, INDEX["update.disturb_switches"]].sum() == 0
    assert ev[:, INDEX["update.coincidences"]].sum() > 0


@pytest.mark.parametrize("sinh", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_half_selected_mean_change_is_the_law_step_at_half_voltage(sinh):
    """Row 0 and column 0 fire in every slot (probabilities clipped to 1); the other devices of row 0 and of column
    0 are half-selected BL times each (in the phase of the other's sign group), so each moves by BL s(V/2) dg on
    average, for both laws; the coincidence device takes BL full steps."""
    device = gokmen_vlasov()  # its parameter values without spread or noise: the other test's compiled program
    device = ConstantStep(g_min=device.g_min, g_max=device.g_max, dg=device.dg, v_threshold=device.v_threshold,
                          variation=Variation()).validate()
    dg = device.dg
    x = jnp.zeros(ROWS).at[0].set(1.0)
    d = jnp.zeros(COLS).at[0].set(-1.0)  # x > 0, d < 0: potentiation
    keys = jax.random.split(jax.random.key(5), KEYS)
    for kinetics in (SwitchingKinetics(nonlinearity=4.0),) + ((SwitchingKinetics(nonlinearity=5.0, law="sinh"),)
                                                              if sinh else ()):
        dgs, events = _changes(_xb(device, kinetics), x, d, 10.0, keys)
        steps = np.asarray(dgs, np.float64) / dg
        expected = BL * float(kinetics.scale(V / 2))
        half = np.concatenate([steps[:, 0, 1:].ravel(), steps[:, 1:, 0].ravel()])
        se = math.sqrt(BL * (1 / kinetics.nonlinearity) * (1 - 1 / kinetics.nonlinearity) / half.size)
        assert abs(half.mean() - expected) <= 4 * se, (kinetics.law, half.mean(), expected)
        assert np.allclose(steps[:, 0, 0], BL, atol=1e-3)  # the coincidence: full steps in every slot
        assert np.all(np.abs(steps[:, 1:, 1:]) < 1e-6)  # devices on no driven line: untouched
        from crossbar.events import INDEX
        switched = np.asarray(events)[:, INDEX["update.disturb_switches"]]
        # Both arrays of the pair are disturbed alike: 2 (rows - 1 + cols - 1) BL half-selects per sample.
        n_half = 2 * (ROWS - 1 + COLS - 1) * BL
        assert abs(switched.mean() - n_half / kinetics.nonlinearity) <= 4 * math.sqrt(
            n_half * (1 / kinetics.nonlinearity) * (1 - 1 / kinetics.nonlinearity) / KEYS)


# ---------------------------------------------------------------------------------------------------- wires


def _one_phase(rows, cols, fired_rows, fired_cols):
    fire_x = jnp.zeros((1, rows), bool).at[0, :fired_rows].set(True)
    fire_d = jnp.zeros((1, cols), bool).at[0, :fired_cols].set(True)
    return fire_x, fire_d, jnp.zeros(rows, bool), jnp.ones(cols, bool)


@pytest.mark.slow  # 10 s per resistance
@pytest.mark.parametrize("r", [10.0, 2.0])
def test_line_model_against_the_exact_solve(r):
    """One phase, several rows and columns driven: the first-order drops are within their second-order error (a
    fraction of the relative drop itself) of the exact Kirchhoff solve, for every kind of pulse."""
    rows, cols = 24, 40
    g = jax.random.uniform(jax.random.key(0), (rows, cols), minval=5e-6, maxval=15e-6)
    wires = WireResistance(r_row=r, r_col=r, r_source=50.0)
    fire_x, fire_d, xneg, dneg = _one_phase(rows, cols, 6, 20)
    row_drives, col_drives, _ = voltage.line_counts(fire_x, fire_d, xneg, dneg)
    model = np.asarray(voltage.pulse_voltages(g, wires, V, xneg, dneg, row_drives, col_drives, 1.0))
    exact = np.asarray(voltage.solved_voltages(g, wires, jnp.where(fire_x[0], V / 2, 0.0),
                                               jnp.where(fire_d[0], -V / 2, 0.0)))
    fx, fd = np.asarray(fire_x[0])[:, None], np.asarray(fire_d[0])[None, :]
    for kind, mask, nominal in ((0, fx & fd, V), (1, fx & ~fd, V / 2), (2, ~fx & fd, V / 2)):
        drop_exact = (nominal - exact)[mask]
        drop_model = (nominal - model[kind])[mask]
        relative = drop_exact.max() / nominal
        assert 0 < relative < 0.25
        assert np.all(drop_model >= 0.97 * drop_exact)  # first order never understates the drop
        assert np.abs(drop_model - drop_exact).max() <= 1.3 * relative * drop_exact.max() + 1e-6


@pytest.mark.slow
def test_step_falls_along_a_row_as_the_solved_voltage_says():
    """Row 0 and every column fire in every slot: the coincidences along row 0 step by BL s(V_j) dg on average, with
    V_j the exact solve's device voltage, which falls away from the row's driver."""
    rows, cols = 4, 32
    device = _clean_device()
    kinetics = SwitchingKinetics(nonlinearity=10.0)
    wires = WireResistance(r_row=20.0, r_col=20.0, r_source=20.0)
    xb = _xb(device, kinetics, wires, rows=rows, cols=cols)
    x = jnp.zeros(rows).at[0].set(1.0)
    d = -jnp.ones(cols)
    keys = jax.random.split(jax.random.key(9), KEYS)
    dgs, events = _changes(xb, x, d, 10.0, keys)
    steps = np.asarray(dgs[:, 0, :], np.float64) / device.dg  # [keys, cols]
    g_plus = np.asarray(array.init(xb, jax.random.key(0)).plus.g)  # every fresh array starts at the same G
    exact = np.asarray(voltage.solved_voltages(jnp.asarray(g_plus), wires, x * V / 2, d * V / 2))[0]
    expected = BL * np.asarray(kinetics.scale(jnp.asarray(exact)))
    assert exact[-1] < 0.95 * V and expected[-1] < 0.75 * BL  # a real drop: the far end steps much less
    # The line model is first order: allow its second-order error in the voltage on top of the statistics.
    s = expected / BL
    se = np.sqrt(BL * s * (1 - s) / KEYS)
    slope = BL * s * 2 * np.log(kinetics.nonlinearity) / V  # d(expected) / dV
    err_v = 1.3 * ((V - exact) / V) * (V - exact)
    assert np.all(np.abs(steps.mean(0) - expected) <= 4 * se + slope * err_v)
    assert steps.mean(0)[:4].mean() > steps.mean(0)[-4:].mean() + 10 * se.max()  # it falls along the row


@pytest.mark.slow  # compiles a refresh of the cached wired reads (12 s)
def test_a_voltage_write_counts_for_cached_wired_reads():
    """An array with cached wired reads counts the voltage scheme's writes as it counts the coincidence scheme's."""
    wires = WireResistance(r_row=2.0, r_col=2.0, refresh_every=3)
    xb = _xb(_clean_device(), SwitchingKinetics(nonlinearity=30.0), wires, rows=4, cols=3)
    state = array.init(xb, jax.random.key(0))
    for i in range(4):
        state, _ = array.update(xb, state, jnp.linspace(-1.0, 1.0, 4), jnp.linspace(0.5, -0.5, 3), 0.1,
                                jax.random.key(i))
    assert int(state.wired.refreshes) == 2 and int(state.wired.writes) == 1  # at init and after the third write


# ---------------------------------------------------------------------------------------------------- energy


@pytest.mark.slow
def test_energy_prices_the_solved_voltages():
    """Without wires the solved powers are the nominal V^2 G and (V/2)^2 G of every device-pulse; with wires they are
    lower; the energy model prices them in place of the nominal ones (and nothing is priced twice)."""
    device = _clean_device()
    x = jnp.linspace(-1.0, 1.0, ROWS)
    d = jnp.linspace(0.8, -0.5, COLS)
    costs = ChipCosts(v_pulse=V)
    from crossbar.events import INDEX, Events
    energies = []
    for wires in (None, WireResistance(r_row=200.0, r_col=200.0, r_source=100.0)):
        xb = _xb(device, SwitchingKinetics(nonlinearity=10.0), wires)
        state = array.init(xb, jax.random.key(0))
        _, counters = array.update(xb, state, x, d, 0.05, jax.random.key(1))
        ev = counters.events
        half = float(ev.half_selected(ROWS, COLS))
        assert float(ev["update.solved_half_selected"]) == pytest.approx(half)
        assert float(ev["update.solved_coincidences"]) == pytest.approx(float(ev["update.coincidences"]))
        g_mean = float(jnp.mean(state.plus.g))
        spec = layer_spec(xb, g_mean)
        e = layer_energy(ev, spec, costs)
        energies.append((float(e["device_pulses"]), float(e["half_selected"])))
        if wires is None:  # every device at G = g_mean (fresh, zero weights): nominal pricing exactly
            nominal = Events(ev.values.at[INDEX["update.solved_coincidences"]].set(0.0)
                             .at[INDEX["update.solved_half_selected"]].set(0.0)
                             .at[INDEX["update.coincidence_power"]].set(0.0)
                             .at[INDEX["update.half_selected_power"]].set(0.0))
            e_nominal = layer_energy(nominal, spec, costs)
            assert energies[-1][0] == pytest.approx(float(e_nominal["device_pulses"]), rel=1e-4)
            assert energies[-1][1] == pytest.approx(float(e_nominal["half_selected"]), rel=1e-4)
    assert energies[1][0] < energies[0][0] and energies[1][1] < energies[0][1]


# ---------------------------------------------------------------------------------------------------- bounds


_BOUNDS_XB = {}


def _bounded_step(wired: bool):
    """A jitted sequence of updates on a soft-bounds array with spread and noise, strong disturb (k = 2.5)."""
    if wired not in _BOUNDS_XB:
        device = SoftBounds(g_min=1e-6, g_max=20e-6, dg=0.8e-6, v_threshold=1.0,
                            variation=Variation(dg_d2d=0.3, c2c=0.5, bounds_d2d=0.3)).validate()
        wires = WireResistance(r_row=500.0, r_col=500.0, r_source=100.0) if wired else None
        xb = _xb(device, SwitchingKinetics(nonlinearity=2.5), wires, rows=5, cols=4)

        def run(xs, ds, lrs, key):
            state = array.init(xb, key)

            def body(st, args):
                xi, di, lr, k = args
                return array.update(xb, st, xi, di, lr, k)[0], None

            state, _ = jax.lax.scan(body, state, (xs, ds, lrs, jax.random.split(key, xs.shape[0])))
            return state

        _BOUNDS_XB[wired] = jax.jit(run)
    return _BOUNDS_XB[wired]


@pytest.mark.slow
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), wired=st.booleans(), seed=st.integers(0, 2**30))
def test_conductances_stay_within_bounds_for_any_slot_sequence(data, wired, seed):
    steps = 6
    values = st.floats(-3.0, 3.0, allow_nan=False, width=32)
    xs = np.asarray(data.draw(st.lists(values, min_size=steps * 5, max_size=steps * 5)), np.float32).reshape(steps, 5)
    ds = np.asarray(data.draw(st.lists(values, min_size=steps * 4, max_size=steps * 4)), np.float32).reshape(steps, 4)
    lrs = np.asarray(data.draw(st.lists(st.floats(1e-3, 50.0), min_size=steps, max_size=steps)), np.float32)
    state = _bounded_step(wired)(jnp.asarray(xs), jnp.asarray(ds), jnp.asarray(lrs), jax.random.key(seed))
    for dev in (state.plus, state.minus):
        g, lo, hi = (np.asarray(a) for a in (dev.g, dev.g_min, dev.g_max))
        assert np.all(np.isfinite(g)) and np.all(g >= lo) and np.all(g <= hi)
