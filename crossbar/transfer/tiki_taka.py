"""Tiki-Taka (TTv1): the gradient on a fast array A, transferred one line at a time into the slow array C.

Every update pulses A with the gradient: A <- A - fast_lr lr x d^T (pulse coincidence, A's own update scheme).
Every `transfer_every` samples (or mini-batches, `units_in_mbatch`), line i (sequentially, wrapping) of A is read
with a one-hot input (a real read through `Compound.transfer_forward`) and written into C by pulse coincidence
(`Compound.transfer_update`): C[i] <- C[i] + transfer_lr lr A[i]. The weight is W = gamma A + C.

aihwkit (`TransferCompound`, rpu_transfer_device.cpp) -> here:

| aihwkit | here | note |
|---|---|---|
| transfer_every, units_in_mbatch (True) | the same | counted in samples (mat-vecs), x batch with units_in_mbatch |
| fast_lr, scale_fast_lr (True) | the same | A's rate fast_lr x lr (or fast_lr) |
| transfer_lr, scale_transfer_lr (True) | the same | |
| gamma | gamma | W = gamma A + C (two devices only: gamma_vec, transfer_lr_vec not modelled) |
| n_reads_per_transfer (1), random_selection, with_reset_prob | not modelled | one line per transfer, sequential |
| transfer_columns (True) | always | a one-hot *input*: aihwkit's column of its [out, in] weight, row i here |
| transfer_forward, transfer_update | `Compound.transfer_forward`, `Compound.transfer_update` | |

Known difference: a mini-batch's transfers are made after its update (`transfer.steps.run_batch`; aihwkit makes
each right after its sample: `Compound.interleaved` restores that order).

References:
    Gokmen & Haensch, "Algorithm for training neural networks on resistive device arrays", Front. Neurosci.
    14:103 (2020); aihwkit `TransferCompound`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import ClassVar

import jax
import jax.numpy as jnp

from crossbar.transfer.compound import Compound, TransferState
from crossbar.transfer.steps import (
    advance_rows,
    as_batch,
    every_samples,
    fast_rate,
    read_rows,
    run_batch,
    train_rows,
    transfer_rate,
)
from crossbar.transfer.validation import check_hyper
from devices.pytree import pytree_dataclass


@pytree_dataclass
@dataclass(frozen=True)
class TikiTaka:
    """Tiki-Taka's hyperparameters (aihwkit's names and defaults; see the module docstring)."""

    transfer_every: float = 1.0
    fast_lr: float = 1.0
    transfer_lr: float = 1.0
    gamma: float = 0.0
    units_in_mbatch: bool = field(default=True, metadata=dict(static=True))
    scale_fast_lr: bool = field(default=True, metadata=dict(static=True))
    scale_transfer_lr: bool = field(default=True, metadata=dict(static=True))

    name: ClassVar[str] = "tiki_taka"
    uses_fast: ClassVar[bool] = True

    def validate(self) -> TikiTaka:
        check_hyper(self, positive=("fast_lr", "transfer_lr"), nonnegative=("transfer_every", "gamma"),
                    flags=("units_in_mbatch", "scale_fast_lr", "scale_transfer_lr"))
        return self

    def update(self, cmp: Compound, state: TransferState, x, d, lr, key):
        """One SGD step at rate `lr` on A (x [batch, rows], d [batch, cols]) with its transfers into C.

        Returns:
            (new state, counters of A's update, the transfer reads and the transfer pulses).
        """
        x, d = as_batch(x, d)
        lr_t = transfer_rate(self.transfer_lr, self.scale_transfer_lr, lr)
        slow = replace(cmp.slow, update_scheme=cmp.transfer_update)

        def transfer(st, rows, active, passes, after_wrap, k):
            k_read, k_write = jax.random.split(k)
            a_rows, c_read = read_rows(cmp, st, rows, active, k_read)
            # C <- C - lr_t e_i (-A[i]) per slot: the transfer write is an SGD step with the read line as the
            # error (inactive slots: a zero input, no pulses, not counted)
            c, c_write = train_rows(slow, st.c, rows, jnp.where(active[:, None], -a_rows, 0.0), lr_t, active,
                                    k_write)
            return advance_rows(cmp, replace(st, c=c), rows, active), c_read + c_write

        every = every_samples(self.transfer_every, self.units_in_mbatch, x.shape[0])
        return run_batch(cmp, state, x, d, fast_rate(self.fast_lr, self.scale_fast_lr, lr), every, transfer, key)
