"""The volatile crossbar holding eligibility traces: its devices relax as `ExponentialRelaxation` says, the traces
decay with tau_e, increments are unbiased, and a success transfers them to the non-volatile array."""

from __future__ import annotations

from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from crossbar.array import advance_time, init, make_crossbar, weights
from crossbar.local import make_trace, make_volatile_trace, settle
from devices import ConstantStep, ExponentialRelaxation, Variation
from devices.presets import diffusive_volatile, gokmen_vlasov

from helpers import at_fraction

PRE = jnp.array([1.0, 0.5, 0.0, -0.3])
POST = jnp.array([0.2, -0.5, 0.7])


@pytest.mark.parametrize("tau", [1e-3, 0.5, 20.0])
def test_device_relaxes_exponentially_to_its_rest_state(tau):
    model = diffusive_volatile(tau)
    state = at_fraction(model, 0.8)
    for t in (0.0, 0.3 * tau, tau, 4 * tau):
        expected = state.g_min + (state.g - state.g_min) * np.exp(-t / tau)
        np.testing.assert_allclose(model.read(state, t), expected, rtol=1e-5)


def test_relaxation_is_memoryless_so_settling_changes_no_read():
    xb = make_crossbar(diffusive_volatile(0.2), 4, 3)
    state = advance_time(init(xb, jax.random.key(0), jnp.full((4, 3), 0.3)), 0.15)
    settled = settle(xb, state)
    for dt in (0.0, 0.05, 0.4):
        np.testing.assert_allclose(weights(xb, advance_time(settled, dt)), weights(xb, advance_time(state, dt)),
                                   rtol=1e-4, atol=1e-7)
    assert not np.allclose(settled.plus.g, state.plus.g)  # the programmed conductance did change


@pytest.mark.parametrize("tau, dt", [(1.0, 0.1), (0.05, 0.01)])
def test_volatile_traces_decay_with_tau_e(tau, dt):
    trace = make_trace("volatile", 4, 3, tau=tau, dt=dt)
    state = trace.accumulate(trace.init(jax.random.key(0)), PRE, POST, jax.random.key(1))
    e0 = np.asarray(trace.eligibility(state))
    assert np.abs(e0).max() > 0
    for n in range(1, 9):
        state = trace.accumulate(state, jnp.zeros(4), jnp.zeros(3), jax.random.key(10 + n))
        np.testing.assert_allclose(trace.eligibility(state), e0 * np.exp(-n * dt / tau), rtol=1e-4, atol=1e-6)


def test_volatile_increment_is_unbiased_and_only_potentiates():
    device = replace(diffusive_volatile(1.0), variation=Variation(c2c=0.1))  # no d2d spread: every device alike
    trace = make_volatile_trace(device, 4, 3, e_max=10.0, dt=0.1)
    state0 = trace.init(jax.random.key(0))

    def one(key):
        new = trace.accumulate(state0, PRE, POST, key)
        return trace.eligibility(new), new.plus.g - state0.plus.g, new.minus.g - state0.minus.g

    n = 2000
    e, d_plus, d_minus = jax.jit(jax.vmap(one))(jax.random.split(jax.random.key(3), n))
    # Relaxation over the step comes first; from rest it changes nothing, so E[e] = pre post^T.
    e = np.asarray(e, np.float64)
    assert np.all(np.abs(e.mean(0) - np.outer(PRE, POST)) <= 4 * e.std(0) / np.sqrt(n) + 1e-9)
    assert np.all(np.asarray(d_plus) >= 0) and np.all(np.asarray(d_minus) >= 0)


def test_success_transfers_the_volatile_traces_to_the_nonvolatile_array():
    trace = make_trace("volatile", 4, 3, tau=1.0, dt=0.1)
    state = trace.accumulate(trace.init(jax.random.key(0)), 2 * PRE, POST, jax.random.key(1))
    xb = make_crossbar(ConstantStep(dg=1e-8, variation=Variation(c2c=0.3)), 4, 3)
    xb_state = init(xb, jax.random.key(0))
    lr, success = 0.002, 1.5

    def one(key):
        new, _, pulses = trace.transfer(xb, xb_state, state, success, lr, key)
        return weights(xb, new) - weights(xb, xb_state), pulses

    n = 2000
    dw, pulses = jax.jit(jax.vmap(one))(jax.random.split(jax.random.key(4), n))
    dw = np.asarray(dw, np.float64)
    rule = lr * success * np.asarray(trace.eligibility(state))
    assert np.all(np.abs(dw.mean(0) - rule) <= 4 * dw.std(0) / np.sqrt(n) + 1e-12)
    assert float(pulses.mean()) > 0


def test_volatile_trace_needs_a_relaxing_device_and_valid_parameters():
    with pytest.raises(TypeError, match="device.drift"):
        make_volatile_trace(gokmen_vlasov(), 4, 3)
    with pytest.raises(ValueError, match="e_max"):
        make_volatile_trace(diffusive_volatile(), 4, 3, e_max=-1.0)
    with pytest.raises(ValueError, match="drift.tau"):
        ExponentialRelaxation(tau=-0.5).validate()
    with pytest.raises(ValueError, match="drift.tau"):
        diffusive_volatile(0.0)
    trace = make_trace("volatile", 4, 3, tau=1.0)
    with pytest.raises(ValueError, match="pre.*post"):
        trace.accumulate(trace.init(jax.random.key(0)), jnp.ones(5), POST, jax.random.key(1))
