"""LIF neurons and three-factor STDP traces against their discrete-time equations, written out here in numpy."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from crossbar.array import init, make_crossbar, weights
from crossbar.local.lif import LIF, crossbar_step
from crossbar.local.stdp import STDP
from crossbar.periphery import ideal_periphery
from crossbar.update import PulseUpdate
from devices.presets import ideal


def _lif_reference(lam_m, theta, currents):
    """u <- lam_m u + I; fire at u >= theta and reset to 0: the lecture's equations, in float32 numpy."""
    u = np.zeros(currents.shape[1], np.float32)
    us, spikes = [], []
    for current in currents:
        u = np.float32(lam_m) * u + current
        fired = u >= np.float32(theta)
        u = np.where(fired, np.float32(0), u)
        us.append(u)
        spikes.append(fired.astype(np.float32))
    return np.stack(us), np.stack(spikes)


def test_lif_matches_the_discrete_time_equations_exactly():
    lif = LIF(tau_m=20e-3, dt=1e-3, threshold=1.0).validate()
    currents = np.random.default_rng(0).uniform(0, 0.15, size=(300, 6)).astype(np.float32)

    def step(u, current):
        u, s = lif.step(u, current)
        return u, (u, s)

    _, (us, spikes) = jax.jit(lambda c: jax.lax.scan(step, lif.init(6), c))(jnp.asarray(currents))
    ref_u, ref_s = _lif_reference(np.float32(lif.lam_m), 1.0, currents)
    np.testing.assert_array_equal(np.asarray(spikes), ref_s)
    # Potentials to float32 rounding (XLA may fuse the multiply-add, which rounds once instead of twice).
    np.testing.assert_allclose(np.asarray(us), ref_u, rtol=1e-6, atol=1e-7)
    assert 10 < ref_s.sum() < 300 * 6  # the currents make the neurons fire, not always


def test_lif_driven_by_a_crossbar_read_integrates_s_times_w():
    xb = make_crossbar(ideal(), 5, 3, periphery=ideal_periphery(), update_scheme=PulseUpdate(scheme="ideal"))
    w = jnp.asarray(np.random.default_rng(1).uniform(0, 0.4, size=(5, 3)), jnp.float32)
    state = init(xb, jax.random.key(0), w)
    lif = LIF(tau_m=10e-3).validate()
    spikes_in = (np.random.default_rng(2).uniform(size=(100, 5)) < 0.2).astype(np.float32)
    u, out = lif.init(3), []
    for t, s in enumerate(spikes_in):
        u, spikes, _ = crossbar_step(lif, xb, state, u, jnp.asarray(s), jax.random.key(t))
        out.append(np.asarray(spikes))
    _, ref_s = _lif_reference(np.float32(lif.lam_m), 1.0, spikes_in @ np.asarray(weights(xb, state)))
    np.testing.assert_array_equal(np.stack(out), ref_s)
    assert ref_s.sum() > 0


def test_lif_vmaps_over_populations():
    lif = LIF().validate()
    u, s = jax.vmap(lif.step)(jnp.zeros((4, 3)), jnp.full((4, 3), 1.2))
    np.testing.assert_array_equal(s, 1.0)
    np.testing.assert_array_equal(u, 0.0)


def _stdp_reference(p: STDP, pre, post):
    lp, lm, le = (np.exp(-p.dt / tau) for tau in (p.tau_plus, p.tau_minus, p.tau_e))
    x, y = np.zeros(pre.shape[1]), np.zeros(post.shape[1])
    e = np.zeros((pre.shape[1], post.shape[1]))
    for s_pre, s_post in zip(pre, post, strict=True):
        x = lp * x + s_pre
        y_old = lm * y
        e = le * e + p.a_plus * np.outer(x, s_post) - p.a_minus * np.outer(s_pre, y_old)
        y = y_old + s_post
    return e


def test_pre_then_post_potentiates_and_post_then_pre_depresses_with_the_stated_time_constants():
    p = STDP(a_plus=1.0, a_minus=0.5).validate()  # tau_+ = tau_- = 10 ms, tau_e = 1 s, 1 ms steps
    state = p.init(2, 2)
    k, m = 7, 300  # post 7 ms after pre (synapse 0 -> neuron 0); pre 7 ms after post (synapse 1 -> neuron 1)
    pre = np.zeros((k + m + 1, 2), np.float32)
    post = np.zeros_like(pre)
    pre[0, 0], post[k, 0] = 1, 1
    post[0, 1], pre[k, 1] = 1, 1
    step = jax.jit(p.step)
    for s_pre, s_post in zip(pre, post, strict=True):
        state = step(state, jnp.asarray(s_pre), jnp.asarray(s_post))
    e = np.asarray(state.e)
    np.testing.assert_allclose(e[0, 0], np.exp(-k * 1e-3 / 10e-3) * np.exp(-m * 1e-3 / 1.0), rtol=1e-4)
    np.testing.assert_allclose(e[1, 1], -0.5 * np.exp(-k * 1e-3 / 10e-3) * np.exp(-m * 1e-3 / 1.0), rtol=1e-4)
    # Spikes in the same step count as pre before post: synapse 0 / neuron 1 at step 0, synapse 1 / neuron 0 at k.
    np.testing.assert_allclose(e[0, 1], np.exp(-(k + m) * 1e-3 / 1.0), rtol=1e-4)
    np.testing.assert_allclose(e[1, 0], np.exp(-m * 1e-3 / 1.0), rtol=1e-4)
    np.testing.assert_allclose(state.x, np.exp(-np.array([k + m, m]) * 1e-3 / 10e-3), rtol=1e-4)


def test_stdp_matches_the_discrete_time_equations_on_random_trains():
    p = STDP(tau_plus=10e-3, tau_minus=20e-3, tau_e=0.5, a_plus=1.0, a_minus=0.7).validate()
    rng = np.random.default_rng(3)
    pre = (rng.uniform(size=(400, 5)) < 0.05).astype(np.float32)
    post = (rng.uniform(size=(400, 3)) < 0.05).astype(np.float32)

    def step(state, spikes):
        return p.step(state, *spikes), None

    state, _ = jax.lax.scan(step, p.init(5, 3), (jnp.asarray(pre), jnp.asarray(post)))
    np.testing.assert_allclose(state.e, _stdp_reference(p, pre, post), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["tau_plus", "tau_minus", "tau_e", "dt"])
def test_stdp_rejects_nonpositive_time_constants_naming_them(name):
    with pytest.raises(ValueError, match=rf"`{name}`.*-0.01"):
        STDP(**{name: -0.01}).validate()


@pytest.mark.parametrize("name", ["tau_m", "dt", "threshold"])
def test_lif_rejects_nonpositive_parameters_naming_them(name):
    with pytest.raises(ValueError, match=rf"`{name}`"):
        LIF(**{name: 0.0}).validate()


def test_mismatched_shapes_raise():
    with pytest.raises(ValueError, match="current"):
        LIF().step(jnp.zeros(3), jnp.zeros(4))
    p = STDP()
    with pytest.raises(ValueError, match="s_pre"):
        p.step(p.init(5, 3), jnp.zeros(4), jnp.zeros(3))
    with pytest.raises(ValueError, match="STDP|a_minus"):
        STDP(a_minus=-1.0).validate()
