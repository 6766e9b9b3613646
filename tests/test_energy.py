"""The energy and time model (`crossbar.energy`) and the events it prices (`crossbar.events`)."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from crossbar import array as xa
from crossbar.energy import COMPONENTS, ChipCosts, gpu_estimate, layer_energy, layer_spec, layer_time, make_costs
from crossbar.energy.costs import ENERGY_FIELDS, TIME_FIELDS
from crossbar.energy.gpu import GPUS, training_flops
from crossbar.events import FIELDS, Events
from crossbar.periphery import Periphery
from crossbar.update import PulseUpdate
from devices.presets import make_device

SPEC = dict(g_mean=7e-6, v_read=0.2, dac_levels=128.0, adc_levels=512.0, dac_levels_backward=128.0,
            adc_levels_backward=512.0)


def _spec(rows=5, cols=3, **changes):
    from crossbar.energy import LayerSpec

    return LayerSpec(rows=rows, cols=cols, **{**SPEC, **changes})


def _total(energy: dict) -> float:
    return float(sum(energy.values()))


def test_zero_events_give_zero_energy_and_time():
    energy = layer_energy(Events.zeros(), _spec(), ChipCosts())
    assert set(energy) == set(COMPONENTS)
    assert all(float(v) == 0.0 for v in energy.values())
    assert all(float(v) == 0.0 for v in layer_time(Events.zeros(), ChipCosts()).values())


@pytest.mark.parametrize("name", FIELDS)
def test_energy_is_linear_in_each_counted_event(name):
    """Scaling one count scales every component it feeds by the same factor; counts add."""
    costs, spec = ChipCosts(), _spec()
    # Re-read counts are parts of the read counts: scale them together so the events stay consistent.
    partner = {"forward.rereads": "forward.reads", "backward.rereads": "backward.reads",
               "forward.reread_drive": "forward.drive", "backward.reread_drive": "backward.drive",
               "forward.solved_drive": "forward.drive", "backward.solved_drive": "backward.drive"}.get(name)
    one = {name: 1.0, **({partner: 1.0} if partner else {})}
    e1 = layer_energy(Events.of(one), spec, costs)
    e3 = layer_energy(Events.of({k: 3.0 * v for k, v in one.items()}), spec, costs)
    for k in COMPONENTS:
        np.testing.assert_allclose(float(e3[k]), 3.0 * float(e1[k]), rtol=1e-6, atol=1e-30)
    # Samples and solved reads count work, but have no price of their own; a solved read's drive is priced by its
    # solved power instead. Disturbs are what the pulses did to the devices, not energy.
    # The transfer counts are shares of reads, samples and coincidences already priced.
    unpriced = ("update.samples", "forward.solved_reads", "backward.solved_reads", "forward.solved_drive",
                "backward.solved_drive", "update.disturb_switches", "update.disturb_conductance", "transfer_reads",
                "transfer_writes", "transfer_pulses")
    if name not in unpriced:
        assert _total(e1) != 0.0 or name == "update.slots", f"{name} is not priced"
    base = Events.of({"forward.reads": 4.0, "update.coincidences": 7.0, "digital_ops": 11.0})
    both = layer_energy(base + Events.of(one), spec, costs)
    apart = layer_energy(base, spec, costs)
    for k in COMPONENTS:
        np.testing.assert_allclose(float(both[k]), float(apart[k]) + float(e1[k]), rtol=1e-6, atol=1e-30)


def _two_by_two():
    """A 2x2 differential array of equal, noise-free devices with a 7-bit DAC and a 9-bit ADC, no management."""
    periphery = Periphery(dac_bits=7, adc_bits=9, output_noise=0.0, noise_management="none",
                          bound_management="none")
    xb = xa.make_crossbar(make_device("ideal"), 2, 2, pair="differential", periphery=periphery, dw_min=0.01,
                          update_scheme=PulseUpdate(scheme="deterministic", bl=10))
    state = xa.init(xb, jax.random.key(0))
    g = np.concatenate([np.asarray(state.plus.g).ravel(), np.asarray(state.minus.g).ravel()])
    assert np.ptp(g) == 0.0 and g[0] > 0  # every device at the same conductance
    return xb, state, float(g[0])


def test_two_by_two_array_gives_the_hand_computed_energy():
    xb, state, g = _two_by_two()
    costs = ChipCosts()
    x = jnp.asarray([0.5, 1.0])
    _, read = xa.forward(xb, state, x, jax.random.key(1))
    # n = round(-lr x d / dw_min) = [[1, 1.5 -> 2], [2, 3]]: rows held 2 and 3 slots, columns pulse 3 and 5 times.
    _, upd = xa.update(xb, state, jnp.asarray([1.0, 2.0]), jnp.asarray([-1.0, -1.5]), 0.01, jax.random.key(2))
    spec = layer_spec(xb, g)
    e_read = layer_energy(read.events, spec, costs)
    t_read, v = costs.t_read, 0.2
    # Each row drives its 2 devices on G+ and 2 on G-: sum over driven devices of V^2 G t.
    assert float(e_read["array_read"]) == pytest.approx(4 * ((0.5 * v) ** 2 + (1.0 * v) ** 2) * g * t_read, rel=1e-6)
    assert float(e_read["dac"]) == pytest.approx(2 * 5e-15 * 2**7, rel=1e-6)
    assert float(e_read["adc"]) == pytest.approx(2 * 20e-15 * 2**9, rel=1e-6)
    assert float(e_read["integrator"]) == pytest.approx(2 * 80e-15, rel=1e-6)
    assert float(e_read["digital"]) == pytest.approx((2 + 2) * 1e-12, rel=1e-6)
    e_upd = layer_energy(upd.events, spec, costs)
    vp = costs.v_pulse
    # Per array: 8 coincidences; half-selected: row 0 (2 slots) 1, row 1 (3 slots) 1, column 0 (1 + 2 pulses)
    # 1 + 2, column 1 (2 + 3 pulses) 2 + 3: 10. Line pulses: rows 2 + 3, columns 3 + 5. Two arrays.
    assert float(upd.events["update.coincidences"]) == 16
    assert float(upd.events.half_selected(2, 2)) == 20
    assert float(e_upd["device_pulses"]) == pytest.approx(16 * vp**2 * g * costs.t_pulse, rel=1e-6)
    assert float(e_upd["half_selected"]) == pytest.approx(20 * (vp / 2) ** 2 * g * costs.t_pulse, rel=1e-6)
    lines = 2 * (5 + 8)
    assert float(e_upd["line_drivers"]) == pytest.approx(
        lines * costs.e_line_driver + costs.c_line_per_device * (vp / 2) ** 2 * 2 * (5 * 2 + 8 * 2), rel=1e-6)
    assert float(layer_time(upd.events, costs)["update"]) == pytest.approx(5 * costs.t_pulse)


def _array(rows=20, cols=12, scheme="stochastic", pair="reference", batch_mode="auto"):
    xb = xa.make_crossbar(make_device("gokmen_vlasov"), rows, cols, pair=pair,
                          update_scheme=PulseUpdate(scheme=scheme, bl=10, batch_mode=batch_mode))
    return xb, xa.init(xb, jax.random.key(0))


def _inputs(rows, cols, seed=3):
    k1, k2 = jax.random.split(jax.random.key(seed))
    return jax.random.uniform(k1, (rows,)) * (jax.random.uniform(k2, (rows,)) > 0.3), \
        0.3 * jax.random.normal(k2, (cols,))


@pytest.mark.slow  # 9 s each
@pytest.mark.parametrize("pair", ["reference", "differential"])
def test_counted_update_events_equal_those_of_the_pulse_trains(pair):
    """Exact: the update's events equal the coincidences and line pulses of the same trains, drawn again."""
    from crossbar.update import pulse_trains

    xb, state = _array(pair=pair)
    x, d = _inputs(xb.rows, xb.cols)
    key = jax.random.key(7)
    _, counters = xa.update(xb, state, x, d, 0.05, key)
    k_counts = jax.random.split(jax.random.split(key, 1)[0])[0]  # the key `update` gives the trains
    trains, _ = pulse_trains(xb.update_scheme, x, d, 0.05, xb.dw_min, k_counts)
    counts = np.abs(np.asarray(trains.counts()))
    arrays = 2 if pair == "differential" else 1
    ev = counters.events
    assert counts.sum() > 0
    assert float(ev["update.coincidences"]) == arrays * counts.sum()
    popcount = np.vectorize(lambda w: bin(int(w)).count("1"))
    assert float(ev["update.row_pulses"]) == arrays * popcount(np.asarray(trains.rows)).sum()
    assert float(ev["update.col_pulses"]) == arrays * popcount(np.asarray(trains.cols)).sum()
    rows, cols, n = trains.line_pulses()
    assert int(n) == counts.sum() and int(rows.sum()) * arrays == float(ev["update.row_pulses"])
    assert float(ev["update.slots"]) == 10 and float(ev["update.samples"]) == 1


def test_counted_coincidences_match_their_expectation():
    """Statistical (fixed keys): the mean count over 400 updates lies within 4 standard errors of
    BL sum_ij p_i q_j, p_i = C_x |x_i|, q_j = C_d |d_j|."""
    from crossbar.update import probability_scales

    xb, state = _array()
    x, d = _inputs(xb.rows, xb.cols)
    lr = 0.05
    counts = jax.vmap(lambda k: xa.update(xb, state, x, d, lr, k)[1].events["update.coincidences"])(
        jax.random.split(jax.random.key(11), 400))
    c_x, c_d, bl = probability_scales(xb.update_scheme, x, d, lr, xb.dw_min)
    p, q = np.clip(float(c_x) * np.abs(np.asarray(x)), 0, 1), np.clip(float(c_d) * np.abs(np.asarray(d)), 0, 1)
    expected = float(bl) * np.sum(np.outer(p, q))
    counts = np.asarray(counts)
    assert abs(counts.mean() - expected) < 4 * counts.std() / np.sqrt(len(counts))
    rows = jax.vmap(lambda k: xa.update(xb, state, x, d, lr, k)[1].events["update.row_pulses"])(
        jax.random.split(jax.random.key(12), 400))
    assert abs(float(np.mean(rows)) - float(bl) * p.sum()) < 4 * float(np.std(rows)) / np.sqrt(400)


def test_deterministic_events_are_the_counts():
    from crossbar.update import deterministic_counts

    xb, state = _array(scheme="deterministic")
    x, d = _inputs(xb.rows, xb.cols)
    _, counters = xa.update(xb, state, x, d, 0.05, jax.random.key(1))
    n = np.abs(np.asarray(deterministic_counts(xb.update_scheme, x, d, 0.05, xb.dw_min)[0]))
    assert n.sum() > 0
    assert float(counters.events["update.coincidences"]) == n.sum()
    assert float(counters.events["update.row_pulses"]) == n.max(axis=1).sum()
    assert float(counters.events["update.col_pulses"]) == n.sum()


def test_summed_batch_counts_the_same_events_as_sample_by_sample():
    xb_seq, state = _array(batch_mode="sequential")
    xb_sum, _ = _array(batch_mode="summed")
    xs = jnp.stack([_inputs(xb_seq.rows, xb_seq.cols, seed=s)[0] for s in range(4)])
    ds = jnp.stack([_inputs(xb_seq.rows, xb_seq.cols, seed=s)[1] for s in range(4)])
    _, seq = xa.update(xb_seq, state, xs, ds, 0.05, jax.random.key(5))
    _, summed = xa.update(xb_sum, state, xs, ds, 0.05, jax.random.key(5))
    assert float(seq.events["update.coincidences"]) > 0
    np.testing.assert_array_equal(np.asarray(seq.events.values), np.asarray(summed.events.values))


def test_read_events_count_reads_rereads_and_drive():
    xb = xa.make_crossbar(make_device("gokmen_vlasov"), 6, 4, pair="reference",
                          periphery=Periphery(output_bound=0.05, output_noise=0.0, max_rereads=3))
    state = xa.init(xb, jax.random.key(0), 0.5 * jnp.ones((6, 4)))
    x = jnp.ones((3, 6))
    _, counters = xa.forward(xb, state, x, jax.random.key(1))
    ev = counters.events
    assert int(counters.bound_rereads) > 0
    assert float(ev["forward.rereads"]) == int(counters.bound_rereads)
    assert float(ev["forward.reads"]) == 3 + int(counters.bound_rereads)
    # Every row drives its 4 devices and the reference column's: the first reads have u = 1 on all 6 rows.
    assert float(ev["forward.drive"] - ev["forward.reread_drive"]) == pytest.approx(3 * 6 * 5 * 1.0, rel=1e-6)
    assert 0 < float(ev["forward.reread_drive"]) < float(ev["forward.drive"])
    _, back = xa.transpose(xb, state, jnp.ones((2, 4)), jax.random.key(2))
    assert float(back.events["backward.reads"]) >= 2 and float(back.events["forward.reads"]) == 0


@pytest.mark.slow  # over 6 s; the default run stays under 6 minutes (CI runs the slow tests too)
def test_network_events_are_per_layer_and_round_trip():
    from crossbar.training import mlp
    from crossbar.training.backends import CrossbarBackend

    cfg = mlp.MLPConfig(sizes=(8, 5, 3), lr=0.05, epochs=1)
    backend = CrossbarBackend(make_device("gokmen_vlasov"), pair="reference")
    layers = mlp.init_network(cfg, backend, jax.random.key(0))
    xs = jax.random.uniform(jax.random.key(1), (6, 1, 8))
    ys = jnp.zeros((6, 1), jnp.int32)
    _, _, counters = mlp.train_samples(cfg, backend, layers, xs, ys, cfg.lr, jax.random.key(2))
    ev = counters.events
    assert ev.values.shape == (2, len(FIELDS))
    np.testing.assert_array_equal(np.asarray(ev["forward.reads"]), [6, 6])
    np.testing.assert_array_equal(np.asarray(ev["backward.reads"]), [0, 6])  # no transpose read of layer 0
    np.testing.assert_array_equal(np.asarray(ev["update.samples"]), [6, 6])
    back = Events.from_dicts(ev.as_dicts())
    np.testing.assert_array_equal(np.asarray(back.values), np.asarray(ev.values))
    assert set(counters.as_dict()) == {"adc_saturated", "dac_clipped", "bound_rereads", "probability_clipped",
                                       "count_clipped", "nonfinite", "unconverged_solves"}


@pytest.mark.parametrize("name", ENERGY_FIELDS)
def test_negative_energies_are_rejected_naming_them(name):
    with pytest.raises(ValueError, match=name):
        ChipCosts(**{name: -1e-15}).validate()


@pytest.mark.parametrize("name", TIME_FIELDS + ("v_pulse",))
def test_zero_times_are_rejected_naming_them(name):
    with pytest.raises(ValueError, match=name):
        make_costs(**{name: 0.0})


def test_bad_cost_names_and_pulse_amplitudes_are_rejected():
    with pytest.raises(ValueError, match="adc_bits"):
        make_costs(adc_bits=8)
    with pytest.raises(ValueError, match="v_pulse"):
        make_costs(v_pulse=2.5).check_device(1.0)
    assert make_costs(v_pulse=1.5).check_device(1.0).v_pulse == 1.5
    with pytest.raises(ValueError, match="unknown event"):
        Events.of({"update.pulses": 1.0})


def test_costs_vmap_like_a_sweep():
    """The accounting under vmap over a batch of costs equals the loop over them."""
    ev = Events.of({"forward.reads": 10.0, "forward.drive": 40.0, "update.coincidences": 5.0,
                    "update.row_pulses": 3.0, "update.col_pulses": 2.0})
    spec = _spec()
    grid = [dataclasses.replace(ChipCosts(), adc_fom=f) for f in (1e-15, 1e-14, 1e-13)]
    stacked = jax.tree_util.tree_map(lambda *v: jnp.asarray(v), *grid)
    swept = jax.vmap(lambda c: layer_energy(ev, spec, c))(stacked)
    for i, c in enumerate(grid):
        for k in COMPONENTS:
            np.testing.assert_allclose(float(swept[k][i]), float(layer_energy(ev, spec, c)[k]), rtol=1e-6)
    assert float(swept["adc"][2]) == pytest.approx(100 * float(swept["adc"][0]), rel=1e-6)


def test_gpu_estimate_from_flops_and_datasheet():
    assert training_flops((2, 3), 1) == 4 * 3 * 3  # no transpose product into the input layer
    assert training_flops((2, 3, 4), 10) == 10 * (4 * 9 + 6 * 16)
    v100 = GPUS["V100"]
    est = gpu_estimate((784, 256, 128, 10), 1000, v100)
    assert est["peak"]["time_s"] == pytest.approx(est["flops"] / 15.7e12)
    assert est["peak"]["energy_j"] == pytest.approx(est["peak"]["time_s"] * 300.0)
    assert est["latency"]["time_s"] >= est["peak"]["time_s"]


def test_reads_through_wires_are_priced_by_their_solved_power():
    """A solved read's array energy is its device power x t_read, not the nominal drive's; the wires get their own."""
    costs, spec = ChipCosts(), _spec()
    nominal = layer_energy(Events.of({"forward.reads": 2.0, "forward.drive": 50.0}), spec, costs)
    solved = layer_energy(Events.of({"forward.reads": 2.0, "forward.drive": 50.0, "forward.solved_reads": 2.0,
                                     "forward.solved_drive": 50.0, "forward.device_power": 3e-4,
                                     "forward.wire_power": 2e-5}), spec, costs)
    np.testing.assert_allclose(float(solved["array_read"]), 3e-4 * costs.t_read, rtol=1e-6)
    np.testing.assert_allclose(float(solved["wires"]), 2e-5 * costs.t_read, rtol=1e-6)
    assert float(nominal["wires"]) == 0.0 and float(nominal["array_read"]) > 0
    for k in ("dac", "adc", "integrator"):
        assert float(solved[k]) == float(nominal[k])


def test_a_wired_array_reports_the_power_of_its_devices_and_wires():
    """Energy conservation: what the drivers deliver is what the devices and the wires dissipate; more wire
    resistance moves power from the devices to the wires."""
    from crossbar.circuit import WireResistance
    from crossbar.periphery import ideal_periphery

    x = jax.random.uniform(jax.random.key(2), (3, 6))
    powers = []
    for r in (1.0, 30.0):
        xb = xa.make_crossbar(make_device("gokmen_vlasov"), 6, 5, pair="reference", periphery=ideal_periphery(),
                              wires=WireResistance(r_row=r, r_col=r, r_source=2.0, r_sense=3.0))
        state = xa.init(xb, jax.random.key(0), jax.random.uniform(jax.random.key(1), (6, 5), minval=-.5, maxval=.5))
        _, counters = xa.forward(xb, state, x, jax.random.key(3))
        ev = counters.events
        g_plus, g_ref = xa.conductances(xb, state)
        g_all = np.concatenate([np.asarray(g_plus, np.float64), np.asarray(g_ref, np.float64)], axis=1)
        from crossbar.circuit import CircuitSolver
        sol = CircuitSolver(g_all, xb.wires).forward(np.asarray(x, np.float64) * xb.v_read, return_voltages=True)
        delivered = np.sum(np.asarray(x, np.float64) * xb.v_read * np.sum(g_all * (sol.v_row - sol.v_col), axis=2))
        assert float(ev["forward.solved_reads"]) == 3.0
        np.testing.assert_allclose(float(ev["forward.device_power"] + ev["forward.wire_power"]), delivered,
                                   rtol=1e-4)
        powers.append((float(ev["forward.device_power"]), float(ev["forward.wire_power"])))
    assert powers[1][1] > powers[0][1] and powers[1][0] < powers[0][0]
