"""Energy and time of counted events (`crossbar.events.Events`) on one layer's arrays, priced by `ChipCosts`.

Pure jnp functions of (events, layer, costs): `jax.vmap` over a batch of `ChipCosts` (or of `LayerSpec`s)
prices one simulation under many cost assumptions.

Energy of one layer, by component (J):
    array_read     V_read^2 G t_read x drive, drive = sum over reads and driven devices of u^2 (Ohm's law power
                   of every driven device during the integration; G: the layer's mean device conductance); for
                   reads through wires solved one by one (`crossbar.circuit`), their solved device power x t_read
                   instead (the IR drop lowers the devices' voltages)
    wires          the solved power of the wires, drivers' and sense inputs' resistances x t_read (wired reads)
    dac            conversions x dac_fom 2^dac_bits (rows per forward read, columns per transpose read)
    adc            conversions x adc_fom 2^adc_bits (columns per forward read, rows per transpose read)
    integrator     output lines x reads x e_integrator
    rereads        the part of the four above spent on bound-management re-reads (taken out of them)
    line_drivers   line pulses x (e_line_driver + c_line_per_device x devices on the line x (V/2)^2)
    device_pulses  coincidences x V^2 G t_pulse; those of the voltage-level update (`crossbar.voltage`) at their
                   own device voltages and conductances instead (the wires' drop included), sum of V^2 G x t_pulse
    half_selected  half-selected device-pulses x (V/2)^2 G t_pulse; the voltage-level update's at their own
    digital        digital operations x e_digital_op: the counted ones (activations, slopes, errors) and, per
                   read, the input scaling and output rescaling of every line (rows + cols), per sample update
                   the pulse probability of every line (rows + cols)
Time of one layer (s): reads x (t_read + t_digital) + update slots x t_pulse. Layers run one after the other
and the forward, transpose and update phases of a sample in sequence (no pipelining: an upper bound); inside a
phase every line of an array works in parallel.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jax
import jax.numpy as jnp

from crossbar.energy.costs import ChipCosts
from crossbar.events import Events
from devices.pytree import pytree_dataclass

Array = jax.Array

COMPONENTS = ("array_read", "wires", "dac", "adc", "integrator", "rereads", "line_drivers", "device_pulses",
              "half_selected", "digital")


@pytree_dataclass
@dataclass(frozen=True)
class LayerSpec:
    """What the pricing needs of one layer's arrays.

    Attributes:
        rows, cols: Array shape (input lines x output lines), static.
        g_mean: Mean conductance of its devices (S).
        v_read: Read voltage at a DAC output of 1 (V).
        dac_levels, adc_levels: 2^bits of the forward converters (DAC on rows, ADC on columns); 0 for ideal ones,
            which are not priced.
        dac_levels_backward, adc_levels_backward: The same of the transpose read (DAC on columns, ADC on rows).
    """

    rows: int = field(metadata=dict(static=True))
    cols: int = field(metadata=dict(static=True))
    g_mean: float
    v_read: float
    dac_levels: float
    adc_levels: float
    dac_levels_backward: float
    adc_levels_backward: float


def layer_spec(xb, g_mean) -> LayerSpec:
    """The `LayerSpec` of a `crossbar.array.Crossbar` whose devices have mean conductance `g_mean` (S)."""
    def levels(bits):
        return float(2**bits) if bits else 0.0

    pf, pb = xb.periphery, xb.periphery_backward
    return LayerSpec(rows=xb.rows, cols=xb.cols, g_mean=g_mean, v_read=xb.v_read, dac_levels=levels(pf.dac_bits),
                     adc_levels=levels(pf.adc_bits), dac_levels_backward=levels(pb.dac_bits),
                     adc_levels_backward=levels(pb.adc_bits))


def _read_energy(reads, drive, spec: LayerSpec, c: ChipCosts, transposed: bool) -> dict:
    n_in, n_out = (spec.cols, spec.rows) if transposed else (spec.rows, spec.cols)
    dac_levels = spec.dac_levels_backward if transposed else spec.dac_levels
    adc_levels = spec.adc_levels_backward if transposed else spec.adc_levels
    return {"array_read": spec.v_read**2 * spec.g_mean * c.t_read * drive,
            "dac": reads * n_in * c.dac_fom * dac_levels,
            "adc": reads * n_out * c.adc_fom * adc_levels,
            "integrator": reads * n_out * c.e_integrator}


def layer_energy(events: Events, spec: LayerSpec, costs: ChipCosts) -> dict[str, Array]:
    """Energy (J) of one layer's events by component (`COMPONENTS`); events of one layer ([len(FIELDS)])."""
    out = dict.fromkeys(COMPONENTS, jnp.zeros(()))
    rereads = jnp.zeros(())
    for direction, transposed in (("forward", False), ("backward", True)):
        total = _read_energy(events[f"{direction}.reads"], events[f"{direction}.drive"], spec, costs, transposed)
        again = _read_energy(events[f"{direction}.rereads"], events[f"{direction}.reread_drive"], spec, costs,
                             transposed)
        for name in total:
            out[name] = out[name] + total[name] - again[name]
            rereads = rereads + again[name]
        # Reads whose circuit was solved: their own device power, in place of the nominal drive's.
        solved_nominal = spec.v_read**2 * spec.g_mean * costs.t_read * events[f"{direction}.solved_drive"]
        out["array_read"] = out["array_read"] - solved_nominal + costs.t_read * events[f"{direction}.device_power"]
        out["wires"] = out["wires"] + costs.t_read * events[f"{direction}.wire_power"]
    out["rereads"] = rereads
    v, v_half = costs.v_pulse, 0.5 * costs.v_pulse
    row_pulses, col_pulses = events["update.row_pulses"], events["update.col_pulses"]
    devices_on_pulsed_lines = row_pulses * spec.cols + col_pulses * spec.rows
    out["line_drivers"] = ((row_pulses + col_pulses) * costs.e_line_driver
                           + costs.c_line_per_device * v_half**2 * devices_on_pulsed_lines)
    # Pulses whose device voltages the voltage-level update computed are priced by their own power, the others at
    # the nominal amplitudes and the layer's mean conductance.
    nominal_coincidences = events["update.coincidences"] - events["update.solved_coincidences"]
    nominal_half = events.half_selected(spec.rows, spec.cols) - events["update.solved_half_selected"]
    t = costs.t_pulse
    out["device_pulses"] = (nominal_coincidences * v**2 * spec.g_mean + events["update.coincidence_power"]) * t
    out["half_selected"] = (nominal_half * v_half**2 * spec.g_mean + events["update.half_selected_power"]) * t
    lines = spec.rows + spec.cols
    per_line = events["forward.reads"] + events["backward.reads"] + events["update.samples"]
    ops = events["digital_ops"] + per_line * lines
    out["digital"] = ops * costs.e_digital_op
    return out


def layer_time(events: Events, costs: ChipCosts) -> dict[str, Array]:
    """Time (s) of one layer's events: {"reads": ..., "digital": ..., "update": ...}."""
    reads = events["forward.reads"] + events["backward.reads"]
    return {"reads": reads * costs.t_read, "digital": reads * costs.t_digital,
            "update": events["update.slots"] * costs.t_pulse}


def network_energy(events: Events, specs: tuple[LayerSpec, ...], costs: ChipCosts) -> dict[str, Array]:
    """{component: [n_layers] J} of a network's events ([n_layers, len(FIELDS)])."""
    per_layer = [layer_energy(Events(events.values[i]), spec, costs) for i, spec in enumerate(specs)]
    return {name: jnp.stack([layer[name] for layer in per_layer]) for name in COMPONENTS}


def network_time(events: Events, costs: ChipCosts) -> dict[str, Array]:
    """{phase: [n_layers] s} of a network's events; the network's time is the sum (layers in sequence)."""
    return layer_time(events, costs)
