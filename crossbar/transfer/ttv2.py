"""TTv2: Tiki-Taka with a digital buffer H between the transfer reads of A and the pulses into C.

A takes the gradient as in Tiki-Taka. A transfer reads line i of A into the buffer, H[i] <- H[i] + transfer_lr
lr A[i]; where |H[i, j]| reaches the threshold g = thres_scale dw_min(C), n = trunc(H / g) whole pulses (at most
`max_steps`) go to C[i, j], and H[i, j] becomes momentum H[i, j] (`forget_buffer`) or H[i, j] - (1 - momentum) n g.

aihwkit (`BufferedTransferCompound`, rpu_buffered_transfer_device.cpp) -> here: as `tiki_taka` for the shared
names, and

| aihwkit | here | note |
|---|---|---|
| thres_scale | thres_scale | g = thres_scale x C's dw_min (aihwkit: the *to* device's granularity) |
| momentum (0.1), forget_buffer (True) | the same | forget: H <- momentum H (the whole buffer, as coded) |
| transfer_update.desired_bl (1) | max_steps | the most pulses per transfer and device |
| step | not modelled (1) | each pulse is one step of C's devices |

Known difference: aihwkit writes n pulses as a pulse train of BL = desired_bl at probability 1; here they are n
whole pulses (the same count). aihwkit's `TTv2ReRamSBPreset` is its *chopped* compound with in_chop_prob = 0 (a
threshold in A's granularity, `buffer_granularity`, `auto_granularity`): that is `c_ttv2` with in_chop_prob 0 here.

References:
    Gokmen, "Enabling training of neural networks on noisy hardware", Front. Artif. Intell. 4:699148 (2021);
    aihwkit `BufferedTransferCompound`.
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
    fire,
    pulse_rows,
    read_rows,
    run_batch,
    transfer_rate,
)
from crossbar.transfer.validation import check_hyper
from devices.pytree import pytree_dataclass


@pytree_dataclass
@dataclass(frozen=True)
class TTv2:
    """TTv2's hyperparameters (aihwkit's names and defaults; see the module docstring)."""

    transfer_every: float = 1.0
    fast_lr: float = 1.0
    transfer_lr: float = 1.0
    gamma: float = 0.0
    thres_scale: float = 1.0
    momentum: float = 0.1
    units_in_mbatch: bool = field(default=True, metadata=dict(static=True))
    scale_fast_lr: bool = field(default=True, metadata=dict(static=True))
    scale_transfer_lr: bool = field(default=True, metadata=dict(static=True))
    forget_buffer: bool = field(default=True, metadata=dict(static=True))
    max_steps: int = field(default=1, metadata=dict(static=True))

    name: ClassVar[str] = "ttv2"
    uses_fast: ClassVar[bool] = True

    def validate(self) -> TTv2:
        check_hyper(self, positive=("fast_lr", "transfer_lr", "thres_scale"),
                    nonnegative=("transfer_every", "gamma"), probabilities=("momentum",),
                    flags=("units_in_mbatch", "scale_fast_lr", "scale_transfer_lr", "forget_buffer"),
                    counts=("max_steps",))
        return self

    def update(self, cmp: Compound, state: TransferState, x, d, lr, key):
        """One SGD step at rate `lr` on A with its buffered transfers into C; see `TikiTaka.update`."""
        x, d = as_batch(x, d)
        lr_t = transfer_rate(self.transfer_lr, self.scale_transfer_lr, lr)
        g = self.thres_scale * cmp.slow.dw_min

        def transfer(st, rows, active, passes, after_wrap, k):
            k_read, k_write = jax.random.split(k)
            a_rows, c_read = read_rows(cmp, st, rows, active, k_read)
            n, h = fire((st.h[rows] + lr_t * a_rows) / g, self.max_steps, self.momentum, self.forget_buffer)
            keep = active[:, None]
            c, c_write = pulse_rows(cmp, st.c, rows, jnp.where(keep, n, 0.0), active, k_write)
            h = st.h.at[rows].set(jnp.where(keep, h * g, st.h[rows]))
            return advance_rows(cmp, replace(st, c=c, h=h), rows, active), c_read + c_write

        every = every_samples(self.transfer_every, self.units_in_mbatch, x.shape[0])
        return run_batch(cmp, state, x, d, fast_rate(self.fast_lr, self.scale_fast_lr, lr), every, transfer, key)
