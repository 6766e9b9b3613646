"""Event counters returned by every crossbar operation, so that nothing is clipped or skipped silently."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import jax
import jax.numpy as jnp

Array = jax.Array


@jax.tree_util.register_dataclass
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
    """

    adc_saturated: Array = 0
    dac_clipped: Array = 0
    bound_rereads: Array = 0
    probability_clipped: Array = 0
    count_clipped: Array = 0
    nonfinite: Array = 0

    @staticmethod
    def zeros() -> Counters:
        z = jnp.zeros((), jnp.int32)
        return Counters(z, z, z, z, z, z)

    def replace(self, **counts) -> Counters:
        """A copy with the named counts set (int32 scalars)."""
        return dataclasses.replace(self, **{k: jnp.asarray(v, jnp.int32) for k, v in counts.items()})

    def __add__(self, other: Counters) -> Counters:
        return jax.tree_util.tree_map(lambda a, b: jnp.asarray(a, jnp.int32) + jnp.asarray(b, jnp.int32), self, other)

    def as_dict(self) -> dict[str, int]:
        """Plain Python ints, for JSON results."""
        return {k: int(v) for k, v in vars(self).items()}
