"""Mixed precision: the gradient accumulated digitally in chi, written to the array C as whole pulses.

chi <- chi - lr sum_b x_b d_b^T (float32, per mini-batch); every `transfer_every` samples, n = trunc(chi / eps)
pulses go to every device of C and chi <- chi - n eps, eps = `granularity` (C's dw_min where 0). There is no
fast array: the forward and backward reads are C's.

aihwkit (`MixedPrecisionCompound`, rpu_mixedprec_device.cpp) -> here:

| aihwkit | here | note |
|---|---|---|
| transfer_every (1) | the same | in samples; checked after each mini-batch |
| granularity (0: the device's) | the same | C's dw_min where 0 |
| transfer_lr (1) | the same | round(transfer_lr n) pulses |
| n_rows_per_transfer (-1) | always -1 | the whole matrix per transfer |
| n_x_bins, n_d_bins, stoc_round_* | not modelled | chi takes the float product |

Known differences: aihwkit adds each sample into chi and transfers after each (transfer_every 1), and writes n
as a stochastic pulse train of rate eps transfer_lr; here chi takes a mini-batch at once and the transfer
after it, as n whole pulses (the same expected change).

References:
    Nandakumar et al., "Mixed-precision deep learning based on computational memory", Front. Neurosci. 14:406
    (2020); aihwkit `MixedPrecisionCompound`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

import jax
import jax.numpy as jnp

from crossbar import array
from crossbar.counters import Counters
from crossbar.transfer.compound import Compound, TransferState
from crossbar.transfer.steps import as_batch, transfer_write_events
from crossbar.transfer.validation import check_hyper
from crossbar.update import PulseCounts
from devices.pytree import pytree_dataclass


@pytree_dataclass
@dataclass(frozen=True)
class MixedPrecision:
    """Mixed precision's hyperparameters (aihwkit's names and defaults; see the module docstring)."""

    transfer_every: float = 1.0
    granularity: float = 0.0
    transfer_lr: float = 1.0

    name: ClassVar[str] = "mixed_precision"
    uses_fast: ClassVar[bool] = False
    gamma: ClassVar[float] = 0.0  # no fast array: W = C

    def validate(self) -> MixedPrecision:
        check_hyper(self, positive=("transfer_lr",), nonnegative=("transfer_every", "granularity"))
        return self

    def update(self, cmp: Compound, state: TransferState, x, d, lr, key):
        """chi takes the batch's -lr x^T d; C takes whole pulses where a transfer is due.

        Returns:
            (new state, counters of the pulses written, as row-by-row writes).
        """
        x, d = as_batch(x, d)
        eps = jnp.where(self.granularity > 0, self.granularity, cmp.slow.dw_min)
        chi = state.h - lr * (x.T @ d)
        count = state.count + x.shape[0]
        every = jnp.round(jnp.asarray(self.transfer_every, jnp.float32)).astype(jnp.int32)
        due = (every > 0) & (count // jnp.maximum(every, 1) > state.count // jnp.maximum(every, 1))

        def transfer(chi, c):
            n = jnp.trunc(chi / eps)
            pulses = jnp.round(self.transfer_lr * n).astype(jnp.int32)
            new = array.apply_pulses(cmp.slow, c, pulses, key)
            events = array.pulse_events(cmp.slow, PulseCounts(pulses), Counters.zeros())
            return chi - n * eps, new, Counters.zeros().replace(events=transfer_write_events(events, jnp.any(
                pulses != 0, axis=1)))

        chi, c, counters = jax.lax.cond(due, transfer, lambda chi, c: (chi, c, Counters.zeros()), chi, state.c)
        return replace(state, h=chi, c=c, count=count), counters
