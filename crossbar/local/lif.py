"""Leaky integrate-and-fire neurons in discrete time, reading their synaptic current from a crossbar.

    u_i <- lambda_m u_i + I_i,   I_i = sum_j w_ji s_j   (the crossbar's forward read of the spike vector s)
    if u_i >= theta: neuron i fires (s_i = 1) and u_i <- 0

with lambda_m = exp(-dt / tau_m). Time is in seconds; one call is one step of `dt`.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from crossbar import array
from devices.pytree import pytree_dataclass
from devices.validation import check_positive

Array = jax.Array


@pytree_dataclass
@dataclass(frozen=True)
class LIF:
    """Parameters of a population of LIF neurons.

    Attributes:
        tau_m: Membrane time constant (s), > 0.
        dt: Time step (s), > 0.
        threshold: Firing threshold theta (weight x input units, the units of the crossbar read), > 0.
    """

    tau_m: float = 20e-3
    dt: float = 1e-3
    threshold: float = 1.0

    def validate(self) -> LIF:
        check_positive("tau_m", self.tau_m)
        check_positive("dt", self.dt)
        check_positive("threshold", self.threshold)
        return self

    @property
    def lam_m(self) -> Array:
        """Membrane decay per step, exp(-dt / tau_m)."""
        return jnp.exp(-jnp.asarray(self.dt, jnp.float32) / self.tau_m)

    def init(self, n: int) -> Array:
        """Membrane potentials u [n] at rest (0)."""
        return jnp.zeros(n, jnp.float32)

    def step(self, u: Array, current: Array) -> tuple[Array, Array]:
        """One step: u <- lambda_m u + current; fire where u >= threshold and reset those to 0.

        Args:
            u: [..., n] membrane potentials.
            current: [..., n] synaptic input of this step.

        Returns:
            (u [..., n] after the step, spikes [..., n] float 0/1).
        """
        if jnp.shape(u) != jnp.shape(current):
            raise ValueError(f"`u` and `current` must have the same shape; got {jnp.shape(u)} and {jnp.shape(current)}")
        u = self.lam_m * u + current
        fired = u >= self.threshold
        return jnp.where(fired, 0.0, u), fired.astype(jnp.float32)


def crossbar_step(lif: LIF, xb: array.Crossbar, xb_state: array.CrossbarState, u: Array, spikes_in: Array,
                  key, bias: Array | float = 0.0):
    """One step of LIF neurons driven through a crossbar: I = forward read of the input spikes, plus `bias`.

    Args:
        lif: Neuron parameters.
        xb: The synapse array's configuration [inputs, neurons].
        xb_state: The synapse array's state; its clock is not advanced here (`array.advance_time`).
        u: [neurons] membrane potentials.
        spikes_in: [inputs] float 0/1 spikes of this step (the read's input vector).
        key: Random key of the read (device read noise, output noise).
        bias: [neurons] or scalar extra current (e.g. noise injected for exploration).

    Returns:
        (u, spikes [neurons], counters of the read).
    """
    current, counters = array.forward(xb, xb_state, spikes_in, key)
    u, spikes = lif.step(u, current + bias)
    return u, spikes, counters
