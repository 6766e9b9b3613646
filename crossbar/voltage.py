"""The voltage-level pulse update (`PulseUpdate(scheme="voltage")`): half pulses on the lines, the voltage every
device sees, half-select disturb, and the IR drop of the wires during the write.

Phases. A line driver has three levels (+V/2, 0, -V/2). A device must see +V where x_i and d_j have opposite signs
and -V where they agree (SGD moves w_ij by -lr x_i d_j), and no choice of one level per row and one per column
gives that for all four sign combinations at once. So every slot of the pulse train runs as up to four phases, one
per sign quadrant (sign x, sign d): in phase (s_x, s_d), with polarity p = -s_x s_d, the rows of sign s_x that
fire in the slot are driven at p V/2 and the columns of sign s_d that fire at -p V/2; every other line is held at
0 V. A line is driven in a phase only when the other group has a line firing in that slot (else the phase could
make no coincidence). The trains are the stochastic scheme's (`crossbar.update.fired_slots`, same key), so the
coincidences are exactly those of the coincidence count.

What each device sees, per slot:
- at a coincidence (its row and column both fire), V in its own quadrant's phase;
- where only one of its lines fires in its own phase, V/2 of the same polarity (a half-select);
- in the phase of the other column sign its row fires alone, and in the phase of the other row sign its column
  fires alone: V/2 of the opposite polarity. With a symmetric law these disturbs cancel on average.

Device response: each pulse of amplitude v takes the device model's full nominal step with probability
s(v) = `devices.kinetics.SwitchingKinetics.scale(v)` (the mean step is s(v) times the nominal one; a sharp
threshold gives back the coincidence update exactly). A device's pulses of a sample are counted by kind (five
kinds above), thinned by binomial draws, and applied as n_up potentiation and n_down depression pulses
(`pulse_up_down`), so every model keeps its own step law, noise and bounds.

IR drop (with `Crossbar.wires`). In a phase the row drivers sit at the left ends and the column drivers at the
bottom ends, both through `r_source`. To first order in the wire resistance, the device voltages are
V_ij = a_i - b_j - S(I0)_ij, with I0 = G (a_i - b_j) the ideal currents and S the wires' prefix-sum operator
(`crossbar.circuit.wire_operator`): one application of S instead of a solve (the exact solve is
(diag(1/G) + S) I = a - b, `solved_voltages`). By linearity S(I0) splits into
- the line's own load: a_i Sr(G)_ij along row i and b_j Sc(G)_ij along column j (every device of a driven line
  conducts: two fields per sample, from G alone);
- the currents the other driven lines inject: Sr(G b) and Sc(a G), taken at their means over the sample's slots
  (the fraction of slots each line fires in a phase): four phases of two fields each.
So a sample costs a dozen prefix sums over the array, not one solve per slot, and its device voltages come in five
values per device (one per kind of pulse). The first-order error grows as the square of the relative drop
(`tests/test_voltage_update.py` checks it against the exact solve); it is the regime that matters for training,
where drops of more than a few percent already stop learning.

Cost: the counts per line are O(BL x lines); the five counts, voltages and thinning are one pass over the devices
on driven lines (with the errors on every column, that is the whole array).

References:
    Gokmen & Vlasov, Front. Neurosci. 10:333 (2016): half pulses of +-V/2 on rows and columns, devices switching
    only at coincidences, the update cycle of BL slots. Jo, Kim & Lu, Nano Lett. 9:496 (2009): switching rate
    exponential in the voltage.
"""

from __future__ import annotations

from dataclasses import replace

import jax
import jax.numpy as jnp

from crossbar.counters import Counters
from crossbar.events import Events
from crossbar.update import fired_slots, probability_scales
from devices.noise import uniform

Array = jax.Array

__all__ = ["line_counts", "wire_factors", "phase_drops", "pulse_voltages", "solved_voltages", "thin",
           "update_sample", "KINDS"]

# The five kinds of pulse a device receives (see the module docstring), in the order of the stacked arrays.
KINDS = ("coincidence", "row_own", "col_own", "row_other", "col_other")


def line_counts(fire_x: Array, fire_d: Array, x_negative: Array, d_negative: Array):
    """How often every line is driven in each phase, from the fired slots.

    Args:
        fire_x: [BL, rows] bool, the slots each row fires in.
        fire_d: [BL, cols] bool, the slots each column fires in.
        x_negative: [rows] bool, x_i < 0 (the row's sign group).
        d_negative: [cols] bool, d_j < 0.

    Returns:
        row_drives: [2, rows] float32: slots in which row i is driven together with the columns of sign group s
            (s = 0: d >= 0, 1: d < 0), i.e. in phase (sign x_i, s).
        col_drives: [2, cols] float32: slots in which column j is driven with the rows of group s (0: x >= 0).
        phase_slots: float32 scalar, the phases run (slot by slot, the quadrants with a line firing on both sides).
    """
    fx, fd = fire_x.astype(jnp.float32), fire_d.astype(jnp.float32)
    row_groups = jnp.stack([~x_negative, x_negative]).astype(jnp.float32)  # [2, rows]
    col_groups = jnp.stack([~d_negative, d_negative]).astype(jnp.float32)
    any_row = ((fx @ row_groups.T) > 0).astype(jnp.float32)  # [BL, 2]: a row of each group fires in the slot
    any_col = ((fd @ col_groups.T) > 0).astype(jnp.float32)
    return any_col.T @ fx, any_row.T @ fd, jnp.sum(any_row.T @ any_col)


def _row_drop(g_load: Array, rr: Array) -> Array:
    """Sr: the drop along each row wire from its driver to every node (V per unit of g_load's voltage)."""
    from crossbar.circuit.wire_operator import prefix_sum

    cols = g_load.ndim - 1
    return prefix_sum(rr * prefix_sum(g_load, cols, reverse=True), cols)


def _col_drop(g_load: Array, rc: Array) -> Array:
    """Sc: the drop along each column wire from its driver (at the bottom end) to every node."""
    from crossbar.circuit.wire_operator import prefix_sum

    rows = g_load.ndim - 2
    return prefix_sum(rc * prefix_sum(g_load, rows), rows, reverse=True)


def _update_resistances(wires, shape):
    """(rr, rc) [rows, cols] of a write: the drivers of rows and columns both through `r_source`."""
    from crossbar.circuit.wire_operator import line_resistances

    rr, rc = line_resistances(replace(wires, r_sense=wires.r_source), shape, False, jnp.float32)
    return rr[0], rc[0]


def wire_factors(g: Array, wires) -> tuple[Array, Array]:
    """The relative drops of a line's own load: Sr(G) and Sc(G), [rows, cols] (dimensionless).

    A row driven at a with every device conducting against 0 V loses a Sr(G)_ij on its wire up to node j (first
    order); a column driven at b loses b Sc(G)_ij.

    Args:
        g: [rows, cols] conductances (S).
        wires: `crossbar.circuit.WireResistance`.
    """
    rr, rc = _update_resistances(wires, g.shape)
    return _row_drop(g, rr), _col_drop(g, rc)


def phase_drops(g: Array, wires, row_fraction: Array, col_fraction: Array) -> Array:
    """The drop (V per volt of half pulse, >= 0) that the other driven lines cause at every device, per phase.

    Args:
        g: [rows, cols] conductances (S).
        wires: `crossbar.circuit.WireResistance`.
        row_fraction: [4, rows] fraction of the slots each row is driven in each phase (0 outside its group).
        col_fraction: [4, cols] the same for the columns.

    Returns:
        [4, rows, cols]: Sr(G col_fraction) + Sc(row_fraction G), to be multiplied by V/2 (first order, the
        other lines at their mean over the slots). Beyond the model's regime (drops near the full voltage) the
        voltages `pulse_voltages` forms from it are clipped at 0: such an array does not train anyway.
    """
    rr, rc = _update_resistances(wires, g.shape)
    return (_row_drop(g[None] * col_fraction[:, None, :], rr[None])
            + _col_drop(row_fraction[:, :, None] * g[None], rc[None]))


def _phase(sx_negative: Array, sd_negative: Array) -> Array:
    """Phase index 2 [x < 0] + [d < 0] of a sign quadrant."""
    return 2 * sx_negative.astype(jnp.int32) + sd_negative.astype(jnp.int32)


def _pick(fields: Array, index: Array) -> Array:
    """fields [4, rows, cols], index [rows, cols] in 0..3 -> [rows, cols]."""
    return jnp.take_along_axis(fields, index[None], axis=0)[0]


def pulse_voltages(g: Array | None, wires, v_pulse, x_negative: Array, d_negative: Array, row_drives: Array,
                   col_drives: Array, slots) -> Array:
    """The amplitude (V, along each pulse's polarity) of the five kinds of pulse at every device, [5, rows, cols].

    Args:
        g: [rows, cols] conductances (S); unused without wires.
        wires: `crossbar.circuit.WireResistance`, or None for ideal wires (then V and V/2 exactly).
        v_pulse: Full amplitude V (V).
        x_negative: [rows] bool.
        d_negative: [cols] bool.
        row_drives: [2, rows], from `line_counts`.
        col_drives: [2, cols], from `line_counts`.
        slots: Number of slots of the train (the fractions' denominator).
    """
    rows, cols = x_negative.shape[0], d_negative.shape[0]
    half = 0.5 * v_pulse
    if wires is None:
        ones = jnp.ones((rows, cols), jnp.float32)
        return jnp.stack([2.0 * half * ones] + [half * ones] * 4)
    own_row, own_col = wire_factors(g, wires)
    # Phase (sx, sd) = index 2 [sx < 0] + [sd < 0]: its rows are those of sign sx, driven row_drives[sd] times.
    xs, ds = jnp.stack([~x_negative, x_negative]), jnp.stack([~d_negative, d_negative])  # [2, rows], [2, cols]
    row_fraction = jnp.stack([xs[a] * row_drives[b] for a in (0, 1) for b in (0, 1)]) / slots  # [4, rows]
    col_fraction = jnp.stack([ds[b] * col_drives[a] for a in (0, 1) for b in (0, 1)]) / slots  # [4, cols]
    others = half * phase_drops(g, wires, row_fraction, col_fraction)  # [4, rows, cols]
    xn, dn = x_negative[:, None], d_negative[None, :]
    own = _pick(others, _phase(xn, dn))
    row_other = _pick(others, _phase(xn, ~dn))
    col_other = _pick(others, _phase(~xn, dn))
    volts = jnp.stack([half * (2.0 - own_row - own_col) - own, half * (1.0 - own_row) - own,
                       half * (1.0 - own_col) - own, half * (1.0 - own_row) - row_other,
                       half * (1.0 - own_col) - col_other])
    return jnp.maximum(volts, 0.0)


def solved_voltages(g: Array, wires, row_volts: Array, col_volts: Array, tol: float = 1e-7,
                    max_iter: int = 500) -> Array:
    """Exact device voltages (V) of one phase: rows driven at `row_volts`, columns at `col_volts`, a Kirchhoff solve.

    The reference for the first-order line model: the write's circuit is linear, so it is the sum of a read driven
    from the rows (columns held at 0 V through their drivers) and one driven from the columns
    (`crossbar.circuit.kirchhoff.node_voltages`, with the column drivers' `r_source` in place of `r_sense`).

    Args:
        g: [rows, cols] conductances (S).
        wires: `crossbar.circuit.WireResistance`.
        row_volts: [rows] row driver voltages (V).
        col_volts: [cols] column driver voltages (V).
        tol: Relative residual of the solves.
        max_iter: Their iteration limit.

    Returns:
        [rows, cols] row-node minus column-node voltage of every device (V).
    """
    from crossbar.circuit.kirchhoff import node_voltages

    both = replace(wires, r_sense=wires.r_source)
    u1, w1, _, _ = node_voltages(g, row_volts[None], both, False, tol=tol, max_iter=max_iter)
    u2, w2, _, _ = node_voltages(g, col_volts[None], both, True, tol=tol, max_iter=max_iter)
    return (u1 - w1 + u2 - w2)[0]


def thin(key, n: Array, p) -> Array:
    """Binomial(n, p) draws: how many of n pulses switch, each independently with probability p.

    By geometric gaps between successes (one uniform per success and device, `-log(u) / -log(1 - p)` trials to the
    next one), counting the rarer outcome: successes where p <= 1/2, failures otherwise. So the loop runs as many
    rounds as the largest count of the rarer outcome (a few for half-select disturbs), not n rounds (measured on a
    GV2016 layer, 785 x 256 with n up to 20 and p = 1/126: 42 ms by inversion over all n terms, 3.7 ms this way).
    Inversion of one uniform through the summed distribution was tried too: in float32 the summed probabilities
    stop short of the largest uniforms, so its loop ran to n.

    Args:
        key: Random key.
        n: [...] int32 pulse counts >= 0.
        p: Switching probabilities in [0, 1], a scalar or [...].

    Returns:
        [...] int32 counts, 0 <= count <= n; exactly n where p = 1 and 0 where p = 0.
    """
    p = jnp.clip(jnp.asarray(p, jnp.float32), 0.0, 1.0)
    flip = p > 0.5
    rare = jnp.where(flip, 1.0 - p, p)
    # Trials per gap scale with 1 / -log(1 - rare); rare = 0 never succeeds (an infinite gap).
    inv_log = jnp.where(rare > 0, -1.0 / jnp.log1p(-jnp.minimum(rare, 0.5)), 0.0)
    nf = n.astype(jnp.float32)

    def gap(i):
        u = uniform(jax.random.fold_in(key, i), n.shape)
        # At least one trial to the next success; u = 0 (probability 2^-24) is a gap of many trials.
        return jnp.where(rare > 0, jnp.floor(-jnp.log(jnp.maximum(u, 2.0**-25)) * inv_log) + 1.0, jnp.inf)

    def cond(carry):
        _, position, _ = carry
        return jnp.any(position <= nf)

    def body(carry):
        i, position, count = carry
        count = count + (position <= nf).astype(jnp.int32)
        return i + 1, position + gap(i + 1), count

    _, _, count = jax.lax.while_loop(cond, body, (jnp.zeros((), jnp.int32), gap(0), jnp.zeros(n.shape, jnp.int32)))
    return jnp.where(flip, n - count, count)


def _respond(device, dev, g: Array | None, wires, kinetics, counts: Array, direction: Array, key, t):
    """One array's devices take their pulses: voltages, thinning, up/down pulses; and what it did.

    Returns:
        (new device state, {event name: scalar}: disturb switches and conductance, solved counts and powers).
    """
    n = counts["n"]  # the five kinds, [rows, cols] int32 each
    k_thin, k_dev = jax.random.split(key)
    g_dev = dev.g if g is None else g
    half_v = 0.5 * kinetics.v_pulse
    own_n, other_n = n[1] + n[2], n[3] + n[4]
    if wires is None:
        # Every coincidence sees V (it switches: s(V) = 1) and every half-select V/2: the four kinds of half-select
        # share one probability, so two draws per device (own direction, opposite) do.
        p_half = kinetics.scale(half_v)
        own_half, other_half = thin(k_thin, jnp.stack([own_n, other_n]), p_half)  # one loop for both
        own = n[0] + own_half
        coincidence_power = jnp.sum(n[0] * g_dev) * kinetics.v_pulse**2
        half_power = jnp.sum((own_n + other_n) * g_dev) * half_v**2
    else:
        stacked = jnp.stack(n)
        volts = pulse_voltages(g, wires, kinetics.v_pulse, *counts["signs"], counts["row_drives"],
                               counts["col_drives"], counts["slots"])
        switched = thin(k_thin, stacked, kinetics.scale(volts))
        own_half, other_half = switched[1] + switched[2], switched[3] + switched[4]
        own = switched[0] + own_half
        power = volts**2 * g_dev[None]  # W per device-pulse
        coincidence_power, half_power = jnp.sum(stacked[0] * power[0]), jnp.sum(stacked[1:] * power[1:])
    up = direction > 0
    n_up, n_down = jnp.where(up, own, other_half), jnp.where(up, other_half, own)
    step_up, step_down = device.step_sizes(dev)
    # Disturbs: the switched half-selects, priced at each device's step before the update (mean conductance change).
    disturb_up = jnp.where(up, own_half, other_half)
    disturb_down = jnp.where(up, other_half, own_half)
    live = ~dev.stuck
    report = {"update.disturb_switches": jnp.sum(jnp.where(live, disturb_up + disturb_down, 0)),
              "update.disturb_conductance": jnp.sum(jnp.where(live, disturb_up * step_up + disturb_down * step_down,
                                                              0.0)),
              "update.solved_coincidences": jnp.sum(n[0], dtype=jnp.float32),
              "update.solved_half_selected": jnp.sum(own_n + other_n, dtype=jnp.float32),
              "update.coincidence_power": coincidence_power,
              "update.half_selected_power": half_power}
    return device.pulse_up_down(dev, n_up, n_down, k_dev, t), report


def update_sample(xb, state, x: Array, d: Array, lr, key):
    """One sample's voltage-level update of a crossbar (`crossbar.array.update` calls it for the "voltage" scheme).

    Args:
        xb: `crossbar.array.Crossbar` whose `update_scheme.scheme` is "voltage".
        state: Its `CrossbarState`.
        x: [rows] layer input.
        d: [cols] layer error.
        lr: Learning rate.
        key: Random key (trains: the stochastic scheme's split; thinning and device noise).

    Returns:
        (new state, Counters with the update's events, both arrays of a pair included).
    """
    from crossbar.array import _on_arrays, conductances
    from crossbar.delivery import written

    upd = xb.update_scheme
    k_counts, k_devices = jax.random.split(key)
    fire_x, fire_d, clipped = fired_slots(upd, x, d, lr, xb.dw_min, k_counts)
    x_negative, d_negative = x < 0, d < 0
    row_drives, col_drives, phase_slots = line_counts(fire_x, fire_d, x_negative, d_negative)
    coincidences = fire_x.astype(jnp.float32).T @ fire_d.astype(jnp.float32)  # [rows, cols]
    slots = probability_scales(upd, x, d, lr, xb.dw_min)[2] if upd.bl_management else float(upd.bl)
    xn, dn = x_negative[:, None], d_negative[None, :]
    # Own phase: the row is driven with the columns of d_j's sign, the column with the rows of x_i's sign.
    row_own = jnp.where(dn, row_drives[1][:, None], row_drives[0][:, None])
    col_own = jnp.where(xn, col_drives[1][None, :], col_drives[0][None, :])
    row_other = jnp.where(dn, row_drives[0][:, None], row_drives[1][:, None])
    col_other = jnp.where(xn, col_drives[0][None, :], col_drives[1][None, :])
    c = jnp.round(coincidences).astype(jnp.int32)
    # The five kinds (KINDS), kept apart: XLA fuses each into the pass that uses it.
    n = [c] + [jnp.round(a).astype(jnp.int32) for a in (row_own - coincidences, col_own - coincidences,
                                                        jnp.broadcast_to(row_other, c.shape),
                                                        jnp.broadcast_to(col_other, c.shape))]
    counts = {"n": n, "signs": (x_negative, d_negative), "row_drives": row_drives, "col_drives": col_drives,
              "slots": slots}
    direction = jnp.where(xn ^ dn, 1, -1)  # SGD: up where x_i and d_j have opposite signs
    g_plus, g_minus = conductances(xb, state) if xb.wires is not None else (None, None)
    k_plus, k_minus = jax.random.split(k_devices)
    plus, report = _respond(xb.device, state.plus, g_plus, xb.wires, upd.switching, counts, direction, k_plus,
                            state.t)
    minus = state.minus
    if xb.pair == "differential":  # G- takes the mirrored pulses, at the voltages of its own array
        minus, report_minus = _respond(xb.device, state.minus, g_minus, xb.wires, upd.switching, counts, -direction,
                                       k_minus, state.t)
        report = {name: report[name] + report_minus[name] for name in report}
    events = Events.of({"update.samples": 1.0, "update.slots": phase_slots,
                        "update.row_pulses": jnp.sum(row_drives), "update.col_pulses": jnp.sum(col_drives),
                        "update.coincidences": jnp.sum(coincidences)})
    events = _on_arrays(xb, events) + Events.of(report)
    # A write: an array with cached wired reads counts it (and refreshes them every `refresh_every` writes).
    return written(xb, replace(state, plus=plus, minus=minus)), Counters.zeros().replace(
        probability_clipped=clipped, events=events)
