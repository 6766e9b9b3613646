"""AGAD: chopped transfer whose reference is the running mean of A's reads, not a fixed symmetry point.

A takes the chopped gradient as in c-TTv2. A transfer reads line i of A (v = A[i], not sign-corrected) and
compares it with the reference mu[i], the running mean of that line's reads at its last chopper switch:

    H[i, j] <- H[i, j] + s_in[i] s_out[j] (v_j - mu[i, j]) lr_t / b      (b: c-TTv2's buffer granularity)
    running mean m[i, j] <- (1 - beta) m[i, j] + beta v_j,  beta = min(tail_weightening / n, 1)

with n = max(ceil(1 / in_chop_prob), 2) passes per chopper period; at the first read after line i's chopper
switched, mu[i] <- m[i] (the mean is not reset). Where |H| >= 1, n = trunc(H) pulses (at most `max_steps`) go to
C once more than n passes have been made (before that the buffer fills but nothing is written); H is reduced as
TTv2's, and without `forget_buffer` clipped to +-buffer_cap max_steps (buffer_cap > 0). The input chopper of
line i switches at the last pass of every period (`in_chop_random` False, the default), and also with
probability in_chop_prob where `in_chop_random`. A's drift toward its symmetry point is common to both chopper
phases and cancels in v - mu, so a reference offset does not bias C.

aihwkit (`DynamicTransferCompound`, rpu_dynamic_transfer_device.cpp) -> here: as `c_ttv2`, and

| aihwkit | here | note |
|---|---|---|
| tail_weightening (5) | the same | beta = min(tail_weightening / n, 1) |
| buffer_cap (0) | the same | only without forget_buffer |
| in_chop_prob (0.1), in_chop_random (False) | the same | regular switches at the period's last pass |
| out_chop_prob | not a parameter | the C++ dynamic transfer never flips output choppers |
| experimental_* | not modelled | |

aihwkit's documentation says no update is made where the difference is not significant by a running std (a
variance gate); its code has no such gate, and this module follows the code.

References:
    Rasch et al., "Fast and robust analog in-memory deep neural network training", Nat. Commun. 15:7133 (2024)
    (AGAD); aihwkit `DynamicTransferCompound`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import ClassVar

import jax
import jax.numpy as jnp

from crossbar.transfer.chopped import buffer_granularity, chopped_fast_rate
from crossbar.transfer.compound import Compound, TransferState
from crossbar.transfer.steps import (
    advance_rows,
    as_batch,
    every_samples,
    fire,
    pulse_rows,
    read_rows,
    row_chop_signs,
    run_batch,
    transfer_rate,
)
from crossbar.transfer.validation import check_hyper
from devices.pytree import pytree_dataclass


@pytree_dataclass
@dataclass(frozen=True)
class AGAD:
    """AGAD's hyperparameters (aihwkit's names and defaults; see the module docstring)."""

    transfer_every: float = 1.0
    fast_lr: float = 1.0
    transfer_lr: float = 1.0
    gamma: float = 0.0
    in_chop_prob: float = 0.1
    buffer_granularity: float = 1.0
    auto_granularity: float = 0.0
    momentum: float = 0.0
    auto_momentum: float = 0.99
    tail_weightening: float = 5.0
    buffer_cap: float = 0.0
    in_chop_random: bool = field(default=False, metadata=dict(static=True))
    units_in_mbatch: bool = field(default=False, metadata=dict(static=True))
    scale_fast_lr: bool = field(default=False, metadata=dict(static=True))
    scale_transfer_lr: bool = field(default=True, metadata=dict(static=True))
    forget_buffer: bool = field(default=True, metadata=dict(static=True))
    auto_scale: bool = field(default=False, metadata=dict(static=True))
    max_steps: int = field(default=1, metadata=dict(static=True))

    name: ClassVar[str] = "agad"
    uses_fast: ClassVar[bool] = True

    def validate(self) -> AGAD:
        check_hyper(self, positive=("fast_lr", "transfer_lr", "buffer_granularity", "in_chop_prob",
                                    "tail_weightening"),
                    nonnegative=("transfer_every", "gamma", "auto_granularity", "buffer_cap"),
                    probabilities=("in_chop_prob", "momentum", "auto_momentum"),
                    flags=("in_chop_random", "units_in_mbatch", "scale_fast_lr", "scale_transfer_lr",
                           "forget_buffer", "auto_scale"), counts=("max_steps",))
        return self

    @property
    def period(self) -> jax.Array:
        """Passes per chopper period: max(ceil(1 / in_chop_prob), 2) (aihwkit's `getNumInChopSamples`)."""
        return jnp.maximum(jnp.ceil(1.0 / self.in_chop_prob), 2).astype(jnp.int32)

    def update(self, cmp: Compound, state: TransferState, x, d, lr, key):
        """One SGD step at rate `lr` on A (chopped) with AGAD's transfers into C; see `TikiTaka.update`."""
        x, d = as_batch(x, d)
        scale = transfer_rate(self.transfer_lr, self.scale_transfer_lr, lr) / buffer_granularity(self, cmp)
        eta, state = chopped_fast_rate(self, state, cmp, x, d, lr)
        n_period = self.period
        beta = jnp.minimum(self.tail_weightening / n_period, 1.0)

        def transfer(st, rows, active, passes, after_wrap, k):
            k_read, k_write, k_in = jax.random.split(k, 3)
            v, c_read = read_rows(cmp, st, rows, active, k_read)
            switched = st.switched[rows][:, None]
            mu = jnp.where(switched, st.mean[rows], st.past_mean[rows])  # a new period: its reference
            n, h = fire(st.h[rows] + row_chop_signs(st, rows, st.out_chop) * (v - mu) * scale, self.max_steps,
                        self.momentum, self.forget_buffer, self.buffer_cap)
            n = jnp.where((passes > n_period)[:, None], n, 0.0)  # the first periods only fill the buffer
            keep = active[:, None]
            c, c_write = pulse_rows(cmp, st.c, rows, jnp.where(keep, n, 0.0), active, k_write)
            flip = (passes % n_period) + 1 == n_period
            if self.in_chop_random:
                flip = flip | (jax.random.uniform(k_in, passes.shape) < self.in_chop_prob)
            flip = flip & active

            def put(a, new):
                return a.at[rows].set(jnp.where(keep if new.ndim == 2 else active, new, a[rows]))

            st = replace(st, c=c, h=put(st.h, h), past_mean=put(st.past_mean, mu),
                         mean=put(st.mean, (1 - beta) * st.mean[rows] + beta * v),
                         in_chop=st.in_chop.at[rows].set(st.in_chop[rows] ^ flip),
                         switched=put(st.switched, flip))
            return advance_rows(cmp, st, rows, active), c_read + c_write

        every = every_samples(self.transfer_every, self.units_in_mbatch, x.shape[0])
        return run_batch(cmp, state, x, d, eta, every, transfer, key)
