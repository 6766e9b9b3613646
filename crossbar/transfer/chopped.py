"""Chopped TTv2 (c-TTv2): TTv2 with chopper signs on A's inputs and outputs, undone in the buffer.

A takes the gradient with its signs chopped: A <- A - eta (s_in x)(s_out d)^T, s = +-1 per input line and output
line. A transfer reads line i of A and adds it to the buffer in pulse units with the signs undone,
H[i, j] <- H[i, j] + s_in[i] s_out[j] lr_t A[i, j] / b, b = buffer_granularity x dw_min(A) (x auto_granularity /
(rows transfer_every) where auto_granularity > 0); where |H| >= 1, n = trunc(H) pulses (at most `max_steps`) go to
C and H is reduced as TTv2's. After line i is read its input chopper flips with probability `in_chop_prob`
(or regularly every max(ceil(1 / in_chop_prob), 2) passes, `in_chop_random` False); after the last line each
output chopper flips with probability `out_chop_prob`. A's offset (its symmetry point off the reference) is
written with alternating signs and averages out of H; the gradient is not.

eta = fast_lr (absolute, `scale_fast_lr` False by default as in aihwkit), or with `auto_scale`
fast_lr x BL(A) x dw_min(A) / (x_max d_max), x_max and d_max running averages of each sample's max |x| and
max |d| (started at the first sample, then weight (1 - auto_momentum) / batch per sample, as aihwkit's
`updateAutoScale`), taken before the batch's pulses.

aihwkit (`ChoppedTransferCompound`, rpu_chopped_transfer_device.cpp) -> here: the shared names as `ttv2`, and

| aihwkit | here | note |
|---|---|---|
| in_chop_prob (0.1), in_chop_random (True), out_chop_prob (0) | the same | |
| buffer_granularity, auto_granularity | the same | threshold in A's granularity, as coded |
| momentum (0), forget_buffer (True) | the same | |
| auto_scale, auto_momentum | the same | |
| units_in_mbatch (False), scale_fast_lr (False) | the same | |
| thres_scale | not a parameter | the C++ chopped transfer ignores it (its threshold is the above) |
| no_buffer, correct_gradient_magnitudes | not modelled | |

aihwkit's documentation calls the threshold "thres_scale x buffer_granularity x dw_min_A"; its code
(`getBufferGranularity`) has no thres_scale, and this module follows the code.

References:
    Rasch et al., "Fast and robust analog in-memory deep neural network training", Nat. Commun. 15:7133 (2024);
    aihwkit `ChoppedTransferCompound`.
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
    row_chop_signs,
    run_batch,
    transfer_rate,
)
from crossbar.transfer.validation import check_hyper
from devices.pytree import pytree_dataclass


def buffer_granularity(alg, cmp: Compound) -> jax.Array:
    """b: the weight of one buffer unit (aihwkit's `getBufferGranularity`, which has no thres_scale)."""
    b = alg.buffer_granularity * cmp.fast.dw_min
    period = cmp.rows * jnp.abs(alg.transfer_every)
    return jnp.where(alg.auto_granularity > 0, b * alg.auto_granularity / jnp.maximum(period, 1e-30), b)


def chopped_fast_rate(alg, state: TransferState, cmp: Compound, x, d, lr) -> tuple[jax.Array, TransferState]:
    """A's learning rate (with `auto_scale`, from the running max |x| and |d|) and the state with them updated."""
    eta = fast_rate(alg.fast_lr, alg.scale_fast_lr, lr)
    if not alg.auto_scale:
        return eta, state
    tau = (1 - alg.auto_momentum) / x.shape[0]

    def running(m, v):  # aihwkit's updateAutoScale, once per sample: the first value, then a running average
        return jnp.where(m <= 0, v, jnp.where(v > 0, (1 - tau) * m + tau * v, m)), None

    x_max, _ = jax.lax.scan(running, state.x_max, jnp.max(jnp.abs(x), axis=1))
    d_max, _ = jax.lax.scan(running, state.d_max, jnp.max(jnp.abs(d), axis=1))
    scale = cmp.fast.update_scheme.bl * cmp.fast.dw_min / jnp.maximum(x_max * d_max, 1e-12)
    return eta * scale, replace(state, x_max=x_max, d_max=d_max)


def flip_in_chopper(alg, passes, key, random: bool) -> jax.Array:
    """[m] whether each slot's input chopper flips after its read (`passes` [m]: the full passes before it): with
    probability in_chop_prob, or (regular) at the last of every n = max(ceil(1 / in_chop_prob), 2) passes."""
    p = alg.in_chop_prob
    if random:
        return (p > 0) & (jax.random.uniform(key, passes.shape) < p)
    n = jnp.maximum(jnp.ceil(1.0 / jnp.maximum(p, 1e-30)), 2).astype(jnp.int32)
    return (p > 0) & ((passes % n) + 1 == n)


@pytree_dataclass
@dataclass(frozen=True)
class ChoppedTTv2:
    """c-TTv2's hyperparameters (aihwkit's names and defaults; see the module docstring)."""

    transfer_every: float = 1.0
    fast_lr: float = 1.0
    transfer_lr: float = 1.0
    gamma: float = 0.0
    in_chop_prob: float = 0.1
    out_chop_prob: float = 0.0
    buffer_granularity: float = 1.0
    auto_granularity: float = 0.0
    momentum: float = 0.0
    auto_momentum: float = 0.99
    in_chop_random: bool = field(default=True, metadata=dict(static=True))
    units_in_mbatch: bool = field(default=False, metadata=dict(static=True))
    scale_fast_lr: bool = field(default=False, metadata=dict(static=True))
    scale_transfer_lr: bool = field(default=True, metadata=dict(static=True))
    forget_buffer: bool = field(default=True, metadata=dict(static=True))
    auto_scale: bool = field(default=False, metadata=dict(static=True))
    max_steps: int = field(default=1, metadata=dict(static=True))

    name: ClassVar[str] = "c_ttv2"
    uses_fast: ClassVar[bool] = True

    def validate(self) -> ChoppedTTv2:
        check_hyper(self, positive=("fast_lr", "transfer_lr", "buffer_granularity"),
                    nonnegative=("transfer_every", "gamma", "auto_granularity"),
                    probabilities=("in_chop_prob", "out_chop_prob", "momentum", "auto_momentum"),
                    flags=("in_chop_random", "units_in_mbatch", "scale_fast_lr", "scale_transfer_lr",
                           "forget_buffer", "auto_scale"), counts=("max_steps",))
        return self

    def update(self, cmp: Compound, state: TransferState, x, d, lr, key):
        """One SGD step at rate `lr` on A (chopped) with its buffered transfers into C; see `TikiTaka.update`."""
        x, d = as_batch(x, d)
        scale = transfer_rate(self.transfer_lr, self.scale_transfer_lr, lr) / buffer_granularity(self, cmp)
        eta, state = chopped_fast_rate(self, state, cmp, x, d, lr)

        def transfer(st, rows, active, passes, after_wrap, k):
            k_read, k_write, k_in, k_out = jax.random.split(k, 4)
            a_rows, c_read = read_rows(cmp, st, rows, active, k_read)
            # Output choppers flip after the last line's read: slots after it see the new signs.
            out_flip = jnp.any(active & (rows == cmp.rows - 1)) & (jax.random.uniform(k_out, (cmp.cols,))
                                                                  < self.out_chop_prob)
            out_chop = st.out_chop[None] ^ (after_wrap[:, None] & out_flip[None])
            n, h = fire(st.h[rows] + row_chop_signs(st, rows, out_chop) * a_rows * scale, self.max_steps,
                        self.momentum, self.forget_buffer)
            keep = active[:, None]
            c, c_write = pulse_rows(cmp, st.c, rows, jnp.where(keep, n, 0.0), active, k_write)
            flip = flip_in_chopper(self, passes, k_in, self.in_chop_random) & active
            st = replace(st, c=c, h=st.h.at[rows].set(jnp.where(keep, h, st.h[rows])),
                         in_chop=st.in_chop.at[rows].set(st.in_chop[rows] ^ flip), out_chop=st.out_chop ^ out_flip)
            return advance_rows(cmp, st, rows, active), c_read + c_write

        every = every_samples(self.transfer_every, self.units_in_mbatch, x.shape[0])
        return run_batch(cmp, state, x, d, eta, every, transfer, key)
