"""Three-factor STDP in discrete time: pre and post traces, eligibility, and a weight change on success.

At every step of `dt` (1 ms by default), with lambda = exp(-dt / tau) for each time constant:

    x_j <- lambda_+ x_j + s_j                 presynaptic trace (tau_+ = 10 ms), +1 at a pre spike
    y_i <- lambda_- y_i + s_i                 postsynaptic trace (tau_- = 10 ms), +1 at a post spike
    e_ji <- lambda e_ji + a_+ x_j s_i - a_- s_j (lambda_- y_i^old)      eligibility (tau = 1 s)

so a post spike potentiates by the pre trace (pre before post, including a pre spike in the same step), and a
pre spike depresses by the post trace as it was before this step's post spikes (post before pre): the
two-sided STDP window, held in e until the success signal S arrives and dw_ji = lr S e_ji
(`crossbar.local.modulated.transfer`). Arrays are in the crossbar's layout: inputs j on rows, neurons i on columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jax
import jax.numpy as jnp

from crossbar.local.modulated import transfer
from crossbar.local.traces import decay_factor
from devices.pytree import pytree_dataclass
from devices.validation import check_int, check_nonnegative, check_positive

Array = jax.Array


@pytree_dataclass
@dataclass(frozen=True)
class STDPState:
    """x [rows] pre traces, y [cols] post traces, e [rows, cols] eligibility traces."""

    x: Array
    y: Array
    e: Array


@pytree_dataclass
@dataclass(frozen=True)
class STDP:
    """Parameters of three-factor STDP.

    Attributes:
        tau_plus: Presynaptic trace time constant (s).
        tau_minus: Postsynaptic trace time constant (s).
        tau_e: Eligibility trace time constant (s).
        dt: Time step (s).
        a_plus: Potentiation amplitude (1), >= 0.
        a_minus: Depression amplitude (1), >= 0.
        max_pulses: Most pulses per device in one transfer to the array (static).
    """

    tau_plus: float = 10e-3
    tau_minus: float = 10e-3
    tau_e: float = 1.0
    dt: float = 1e-3
    a_plus: float = 1.0
    a_minus: float = 1.0
    max_pulses: int = field(default=100, metadata=dict(static=True))

    def validate(self) -> STDP:
        for name in ("tau_plus", "tau_minus", "tau_e", "dt"):
            check_positive(name, getattr(self, name))
        check_nonnegative("a_plus", self.a_plus)
        check_nonnegative("a_minus", self.a_minus)
        check_int("max_pulses", self.max_pulses, 1)
        return self

    def init(self, rows: int, cols: int) -> STDPState:
        return STDPState(jnp.zeros(rows, jnp.float32), jnp.zeros(cols, jnp.float32),
                         jnp.zeros((rows, cols), jnp.float32))

    def step(self, state: STDPState, s_pre: Array, s_post: Array) -> STDPState:
        """One step with this step's spikes s_pre [rows] and s_post [cols] (float 0/1)."""
        if s_pre.shape != state.x.shape or s_post.shape != state.y.shape:
            raise ValueError(f"`s_pre` and `s_post` must have shapes {state.x.shape} and {state.y.shape}; "
                             f"got {s_pre.shape} and {s_post.shape}")
        x = decay_factor(self.tau_plus, self.dt) * state.x + s_pre
        y_old = decay_factor(self.tau_minus, self.dt) * state.y
        e = (decay_factor(self.tau_e, self.dt) * state.e + self.a_plus * jnp.outer(x, s_post)
             - self.a_minus * jnp.outer(s_pre, y_old))
        return STDPState(x, y_old + s_post, e)

    def eligibility(self, state: STDPState, key=None) -> Array:
        """The eligibility traces e [rows, cols]."""
        return state.e

    def transfer(self, xb, xb_state, state: STDPState, success, lr, key):
        """dw = lr S e onto the array `xb` by pulse counts (`modulated.transfer`): (state, counters, pulses)."""
        return transfer(xb, xb_state, state.e, success, lr, key, self.max_pulses)
