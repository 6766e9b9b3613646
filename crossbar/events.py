"""Physical events a crossbar operation performs, counted for the energy and time model (`crossbar.energy`).

`Counters` (non-ideal events: saturations, clips) carries one `Events` in its `events` field: what the
operation did in hardware terms. A read counts its vector reads (each a DAC -> array -> integrator/ADC pass over
every line), the bound-management re-reads among them, and its drive, sum over the driven devices of u_i^2
(u: the DAC output, normalised to 1 at the read voltage). An update counts its pulse-train slots, the pulses
fired on row and column lines and the coincidences (full-amplitude device pulses); the half-selected
device-pulses follow from them and the array's shape (`Events.half_selected`).

Conductances are not counted: the energy model prices the drive and the device pulses with the layer's mean
conductance (`crossbar.energy`). Weighting every event with its device's own conductance would need a row
or column sum of G per operation, which costs as much as the read itself (measured 25-33 us against 20 us for
the 785 x 256 read at batch 1), and a dozen more small kernels per operation made the GV2016 step 25-40%
slower.

All counts are float32: a training run's counts exceed int32 (a GV2016 epoch has ~10^10 half-selected
device-pulses, 30 epochs ~3 x 10^11); counts below 2**24 are exact, and the training loop sums chunks on the
host in float64.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from devices.pytree import pytree_dataclass

Array = jax.Array

READ_FIELDS = ("reads", "rereads", "drive", "reread_drive", "solved_reads", "solved_drive", "device_power",
               "wire_power")
UPDATE_FIELDS = ("samples", "slots", "row_pulses", "col_pulses", "coincidences", "disturb_switches",
                 "disturb_conductance", "solved_coincidences", "solved_half_selected", "coincidence_power",
                 "half_selected_power")
# A transfer algorithm's own reads and writes (`crossbar.transfer`), counted again here: they are already among the
# forward reads and the update's row writes and coincidences above, which the energy model prices.
TRANSFER_FIELDS = ("transfer_reads", "transfer_writes", "transfer_pulses")
FIELDS = (tuple(f"forward.{f}" for f in READ_FIELDS) + tuple(f"backward.{f}" for f in READ_FIELDS)
          + tuple(f"update.{f}" for f in UPDATE_FIELDS) + ("digital_ops",) + TRANSFER_FIELDS)
INDEX = {name: i for i, name in enumerate(FIELDS)}
FIELD_DOCS = {
    "reads": "vector reads done, re-reads included (each converts every input and output line once)",
    "rereads": "the bound-management re-reads among the reads",
    "drive": "sum over reads and driven devices of u_i^2 (u: DAC output, 1 = the read voltage); times "
             "V_read^2 G t_read it is the array's read energy",
    "reread_drive": "the part of the drive of the re-reads",
    "solved_reads": "vector reads through wires whose currents were solved one by one (`crossbar.circuit`): their "
                    "power below is the circuit's own",
    "solved_drive": "the part of the drive of those reads (the energy model prices it by their solved power instead)",
    "device_power": "sum over solved reads of the power the devices dissipate, sum of I^2 / G (W); times t_read "
                    "it is their array read energy with IR drop",
    "wire_power": "sum over solved reads of the power the wires, drivers and sense inputs dissipate, sum of I^2 R "
                  "(W); times t_read it is the wires' energy",
    "samples": "sample updates done (each one BL-slot pulse train, or one deterministic count)",
    "slots": "pulse slots run one after the other (update time = slots x pulse width)",
    "row_pulses": "pulses fired on row (input) lines, summed over lines, slots and arrays",
    "col_pulses": "pulses fired on column (error) lines",
    "coincidences": "device pulses at full amplitude (row and column both fire in a slot)",
    "disturb_switches": "half-selected device-pulses that switched their device (the voltage-level update, "
                        "`crossbar.voltage`; the coincidence count never switches them)",
    "disturb_conductance": "the conductance those disturbs moved, summed over them (S): each priced at its "
                           "device's mean step before the update",
    "solved_coincidences": "coincidences whose device voltage the voltage-level update computed (with the wires' "
                           "drop where the array has wires): the energy model prices them by their power below",
    "solved_half_selected": "half-selected device-pulses whose voltage it computed, likewise",
    "coincidence_power": "sum over the solved coincidences of V^2 G (W); times t_pulse it is their energy",
    "half_selected_power": "sum over the solved half-selected device-pulses of V^2 G (W)",
    "transfer_reads": "a transfer algorithm's reads of its fast array A, one line each (among the forward reads)",
    "transfer_writes": "its row writes of the slow array C (among the update samples)",
    "transfer_pulses": "the device pulses of those writes (among the coincidences)",
    "digital_ops": "scalar digital operations of the network: activations, slopes, output errors (the scaling "
                   "of every read and the pulse probabilities are priced from the reads and samples)",
}


@pytree_dataclass
@dataclass(frozen=True)
class Events:
    """Everything one or more crossbar operations did, as one float32 vector of named counts (`FIELDS`).

    One array, not a leaf per count: a training step adds the events of three operations per layer, and on CPU
    every small op is a kernel launch of its own.

    Fields (`ev["forward.reads"]`; forward = x -> x W reads, backward = d -> d W^T reads, update = pulsed
    updates, summed over the physical arrays: a differential pair has two):
        {forward,backward}.reads, .rereads, .drive, .reread_drive, .solved_reads, .solved_drive, .device_power,
        .wire_power; update.samples, .slots, .row_pulses, .col_pulses, .coincidences, .disturb_switches,
        .disturb_conductance, .solved_coincidences, .solved_half_selected, .coincidence_power,
        .half_selected_power; digital_ops; transfer_reads, transfer_writes, transfer_pulses (a transfer
        algorithm's share of the reads, writes and coincidences; see `FIELD_DOCS`).

    The devices on a pulsed line that are not at a coincidence are half-selected (they see V/2): see
    `half_selected`.

    Attributes:
        values: [..., len(FIELDS)] float32: [len(FIELDS)] for one array, [n_layers, len(FIELDS)] once a network
            stacks its layers (`crossbar.counters.Counters.in_layer`).
    """

    values: Array

    @staticmethod
    def zeros(n_layers: int | None = None) -> Events:
        """All-zero events, for one array or [n_layers]."""
        shape = (len(FIELDS),) if n_layers is None else (n_layers, len(FIELDS))
        return Events(jnp.zeros(shape, jnp.float32))

    @staticmethod
    def of(counts: dict) -> Events:
        """Events of one array with the named counts set (scalars) and the others zero."""
        unknown = set(counts) - set(INDEX)
        if unknown:
            raise ValueError(f"unknown event names {sorted(unknown)}; valid: {', '.join(FIELDS)}")
        return Events(jnp.stack([jnp.asarray(counts.get(name, 0.0), jnp.float32).reshape(()) for name in FIELDS]))

    def __getitem__(self, name: str) -> Array:
        return self.values[..., INDEX[name]]

    def __add__(self, other: Events) -> Events:
        return Events(jnp.asarray(self.values, jnp.float32) + jnp.asarray(other.values, jnp.float32))

    def scaled(self, factor) -> Events:
        """Every count multiplied by `factor` (e.g. per sample: 1 / samples)."""
        return Events(self.values * factor)

    def half_selected(self, rows: int, cols: int) -> Array:
        """Half-selected device-pulses of an array of rows x cols devices: every device on a pulsed line that
        is not at a coincidence, row_pulses cols + col_pulses rows - 2 coincidences."""
        return self["update.row_pulses"] * cols + self["update.col_pulses"] * rows - 2.0 * self["update.coincidences"]

    def as_dicts(self) -> list[dict]:
        """Plain Python floats for JSON, one {name: count} per layer (a one-element list for one array)."""
        v = np.asarray(jax.device_get(self.values), np.float64).reshape(-1, len(FIELDS))
        return [dict(zip(FIELDS, map(float, row), strict=True)) for row in v]

    @staticmethod
    def from_dicts(layers: list[dict]) -> Events:
        """Inverse of `as_dicts`: [n_layers, len(FIELDS)] values (missing names are zero)."""
        return Events(jnp.asarray([[d.get(name, 0.0) for name in FIELDS] for d in layers], jnp.float32))


def add_dicts(a: list[dict] | None, b: list[dict]) -> list[dict]:
    """Per-layer event dicts (`Events.as_dicts`) summed in float64 on the host (None: nothing yet)."""
    if a is None:
        return [dict(d) for d in b]
    return [{k: x.get(k, 0.0) + y.get(k, 0.0) for k in {**x, **y}} for x, y in zip(a, b, strict=True)]
