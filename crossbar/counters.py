"""Event counters returned by every crossbar operation, so that nothing is clipped or skipped silently."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from crossbar.events import INDEX, Events
from devices.pytree import pytree_dataclass

Array = jax.Array


@pytree_dataclass
@dataclass(frozen=True)
class Counters:
    """Counts (int32 scalars) of the non-ideal events of one or more crossbar operations.

    Attributes:
        adc_saturated: Outputs that hit the ADC's output bound in their final read.
        dac_clipped: Inputs clipped at the DAC's input bound.
        bound_rereads: Extra reads done by bound management (input halved after a saturation).
        probability_clipped: Pulse probabilities C|x| or C|d| above 1, clipped to 1.
        count_clipped: Pulse counts of the deterministic scheme capped at BL.
        nonfinite: Non-finite inputs met (the affected outputs are NaN).
        unconverged_solves: Kirchhoff solves of reads through wires (`crossbar.circuit`; one per input vector and
            array, so two per vector for a differential pair) that stopped at their iteration limit above their
            tolerance (their outputs are the last iterate).
        events: The physical events of the operations (`crossbar.events.Events`: reads, conversions, pulses),
            float32, [n_layers, ...] once a network stacks them (`crossbar.training.mlp`); the energy model
            (`crossbar.energy`) prices them.
    """

    adc_saturated: Array = 0
    dac_clipped: Array = 0
    bound_rereads: Array = 0
    probability_clipped: Array = 0
    count_clipped: Array = 0
    nonfinite: Array = 0
    unconverged_solves: Array = 0
    events: Events = field(default_factory=Events.zeros)

    @staticmethod
    def zeros(n_layers: int | None = None) -> Counters:
        """Zero counts; the events are scalars, or [n_layers] vectors for a network's per-layer events."""
        z = jnp.zeros((), jnp.int32)
        return Counters(z, z, z, z, z, z, z, Events.zeros(n_layers))

    def replace(self, **counts) -> Counters:
        """A copy with the named counts set (int32 scalars; `events` an `Events`)."""
        return dataclasses.replace(self, **{k: v if k == "events" else jnp.asarray(v, jnp.int32)
                                            for k, v in counts.items()})

    def __add__(self, other: Counters) -> Counters:
        counts = {k: jnp.asarray(getattr(self, k), jnp.int32) + jnp.asarray(getattr(other, k), jnp.int32)
                  for k in COUNT_NAMES}
        return Counters(**counts, events=self.events + other.events)

    def in_layer(self, index: int, n_layers: int) -> Counters:
        """The same counts with the events placed at `index` of [n_layers] vectors (zero elsewhere), so that a
        network's sum of counters keeps every layer's events apart."""
        onehot = (jnp.arange(n_layers) == index)[:, None]
        return dataclasses.replace(self, events=Events(jnp.where(onehot, self.events.values[None, :], 0.0)))

    def as_dict(self) -> dict[str, int]:
        """Plain Python ints of the non-ideal counts, for JSON results (the events: `events.as_dicts()`)."""
        return {k: int(getattr(self, k)) for k in COUNT_NAMES}


COUNT_NAMES = ("adc_saturated", "dac_clipped", "bound_rereads", "probability_clipped", "count_clipped", "nonfinite",
               "unconverged_solves")


def stack_layers(per_layer, digital_ops=None) -> Counters:
    """One `Counters` of a network from each layer's operations: the counts summed, the events stacked per layer
    ([n_layers, len(FIELDS)]) with the network's digital work added.

    Args:
        per_layer: One sequence of `Counters` per layer (its reads and updates of a step).
        digital_ops: [n_layers] digital operations per layer (`events` field `digital_ops`); static (numpy: it
            depends on shapes only), added as one constant. None: none.

    Summing per layer first and stacking once keeps the number of small ops per step low (each costs a kernel
    launch on CPU).
    """
    flat = [c for cs in per_layer for c in cs]
    counts = {k: sum(jnp.asarray(getattr(c, k), jnp.int32) for c in flat) for k in COUNT_NAMES}
    values = jnp.stack([sum(c.events.values for c in cs) for cs in per_layer])
    if digital_ops is not None:
        digital = np.zeros(values.shape, np.float32)
        digital[:, INDEX["digital_ops"]] = digital_ops
        values = values + digital
    return Counters(**counts, events=Events(values))
