"""Eligibility traces held digitally: per synapse (the reference) or factorised into a pre and a post trace.

A three-factor rule with an eligibility trace (time in steps of `dt` seconds, lambda = exp(-dt / tau)):

    e_ji <- lambda e_ji + pre_j post_i          (every step: decay, then the Hebbian product of this step)
    dw_ji = lr S e_ji                           (when the success signal S arrives)

`DigitalTrace` stores e [rows, cols] exactly (memory O(N M)). `FactorisedTrace` stores only p [rows] and
q [cols], each decaying with sqrt(lambda) (time constant 2 tau), and uses e ~ p q^T (memory O(N + M)):

    p q^T = sum_s sum_s' lambda^((t - s) / 2 + (t - s') / 2) pre(s) post(s')^T

Its diagonal terms s = s' are exactly the per-synapse trace (a single pairing is remembered exactly, with the
time constant tau); the approximation is the cross terms s != s', pre of one step times post of another. They
vanish where only one step contributes (tau << dt, or sparse activity), and for a post factor with zero mean
given the past (a_i - <a_i> of a softmax policy) the terms s' > s (post after pre) average out; the terms
with post before pre do not, and are the bias. Its payoff on a crossbar: p q^T is rank one, so the
transfer is one pulse coincidence (rows from p, columns from S q) instead of a count per device.

Every trace type here and in `crossbar.local.volatile` answers the same calls: `init(key)`,
`accumulate(state, pre, post, key)`, `eligibility(state, key)` and `transfer(xb, xb_state, state, success, lr, key)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jax
import jax.numpy as jnp

from crossbar.local.modulated import modulated_update, transfer
from devices.pytree import pytree_dataclass
from devices.validation import check_int, check_open_range, check_positive

Array = jax.Array


def decay_factor(tau, dt) -> Array:
    """lambda = exp(-dt / tau): the factor by which a trace of time constant `tau` (s) decays in one step `dt` (s)."""
    return jnp.exp(-jnp.asarray(dt, jnp.float32) / jnp.asarray(tau, jnp.float32))


def check_trace_parameters(tau, dt) -> None:
    """Raise naming the parameter unless tau > 0 and dt > 0 (s), i.e. lambda = exp(-dt / tau) lies in (0, 1)."""
    check_positive("tau", tau)
    check_positive("dt", dt)


def check_lambda(name: str, lam) -> None:
    """Raise unless a decay factor lies in the open interval (0, 1)."""
    check_open_range(name, lam, 0.0, 1.0)


def check_factors(pre, post, rows: int, cols: int) -> tuple[Array, Array]:
    pre, post = jnp.asarray(pre), jnp.asarray(post)
    if pre.shape != (rows,) or post.shape != (cols,):
        raise ValueError(f"`pre` and `post` must have shapes [{rows}] and [{cols}]; "
                         f"got pre.shape={pre.shape}, post.shape={post.shape}")
    return pre, post


def _validate(trace):
    """The checks shared by the digital traces (the same fields); returns the trace."""
    check_int("rows", trace.rows, 1)
    check_int("cols", trace.cols, 1)
    check_trace_parameters(trace.tau, trace.dt)
    check_int("max_pulses", trace.max_pulses, 1)
    return trace


@pytree_dataclass
@dataclass(frozen=True)
class DigitalTrace:
    """Per-synapse eligibility traces e [rows, cols] in digital memory, decaying with time constant `tau`.

    Attributes:
        rows, cols: Shape of the synapse array (static).
        tau: Trace time constant (s).
        dt: Time step (s).
        max_pulses: Most pulses per device in one transfer (static); more are capped and counted.
    """

    rows: int = field(metadata=dict(static=True))
    cols: int = field(metadata=dict(static=True))
    tau: float = 1.0
    dt: float = 0.1
    max_pulses: int = field(default=100, metadata=dict(static=True))

    def validate(self) -> DigitalTrace:
        return _validate(self)

    @property
    def accumulate_ops(self) -> int:
        """Digital operations of one `accumulate`: a decay and an outer-product add per synapse."""
        return 2 * self.rows * self.cols

    @property
    def lam(self) -> Array:
        """Decay per step, exp(-dt / tau)."""
        return decay_factor(self.tau, self.dt)

    def init(self, key=None) -> Array:
        return jnp.zeros((self.rows, self.cols), jnp.float32)

    def accumulate(self, e: Array, pre: Array, post: Array, key=None) -> Array:
        """e <- lambda e + pre post^T. pre: [rows]; post: [cols]."""
        pre, post = check_factors(pre, post, self.rows, self.cols)
        return self.lam * e + jnp.outer(pre, post)

    def eligibility(self, e: Array, key=None) -> Array:
        return e

    def transfer(self, xb, xb_state, e: Array, success, lr, key):
        """dw = lr S e onto the array `xb` by pulse counts (`modulated.transfer`): (state, counters, pulses)."""
        return transfer(xb, xb_state, e, success, lr, key, self.max_pulses)


@pytree_dataclass
@dataclass(frozen=True)
class FactorState:
    """The two factor traces: p [rows] (pre) and q [cols] (post)."""

    p: Array
    q: Array


@pytree_dataclass
@dataclass(frozen=True)
class FactorisedTrace:
    """Factorised eligibility e ~ p q^T: a pre trace p [rows] and a post trace q [cols], each decaying with
    sqrt(lambda) per step, so that one pairing decays with `tau` (see the module docstring for what it
    approximates). Memory O(rows + cols); the transfer is one rank-one pulse coincidence.

    Attributes: as `DigitalTrace` (`max_pulses` unused: the coincidence is bounded by BL).
    """

    rows: int = field(metadata=dict(static=True))
    cols: int = field(metadata=dict(static=True))
    tau: float = 1.0
    dt: float = 0.1
    max_pulses: int = field(default=100, metadata=dict(static=True))

    def validate(self) -> FactorisedTrace:
        return _validate(self)

    @property
    def accumulate_ops(self) -> int:
        """Digital operations of one `accumulate`: a decay and an add per factor element."""
        return 2 * (self.rows + self.cols)

    @property
    def lam(self) -> Array:
        """Decay per step of a pairing, exp(-dt / tau); each factor decays with its square root."""
        return decay_factor(self.tau, self.dt)

    def init(self, key=None) -> FactorState:
        return FactorState(jnp.zeros(self.rows, jnp.float32), jnp.zeros(self.cols, jnp.float32))

    def accumulate(self, state: FactorState, pre: Array, post: Array, key=None) -> FactorState:
        """p <- sqrt(lambda) p + pre; q <- sqrt(lambda) q + post."""
        pre, post = check_factors(pre, post, self.rows, self.cols)
        root = jnp.sqrt(self.lam)
        return FactorState(root * state.p + pre, root * state.q + post)

    def eligibility(self, state: FactorState, key=None) -> Array:
        return jnp.outer(state.p, state.q)

    def transfer(self, xb, xb_state, state: FactorState, success, lr, key):
        """dw = lr S p q^T by one pulse coincidence (rows from p, columns from S q): (state, counters, pulses)."""
        return modulated_update(xb, xb_state, state.p, state.q, success, lr, key)
