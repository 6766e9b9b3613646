"""Digital eligibility traces (per synapse and factorised): their decay time constants, what the factorised trace
approximates, the rank-one transfer, and the validation of their parameters."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from crossbar.array import init, make_crossbar, weights
from crossbar.local import DigitalTrace, FactorisedTrace, make_trace
from crossbar.update import PulseUpdate
from devices import ConstantStep, Variation

PRE = jnp.array([1.0, 0.5, 0.0, -0.3])
POST = jnp.array([0.2, -0.5, 0.7])


def _run(trace, steps):
    """Accumulate PRE x POST once, then `steps` steps without activity; the eligibility after each step."""
    state = trace.accumulate(trace.init(jax.random.key(0)), PRE, POST, jax.random.key(1))
    out = [trace.eligibility(state)]
    for i in range(steps):
        state = trace.accumulate(state, jnp.zeros(4), jnp.zeros(3), jax.random.key(2 + i))
        out.append(trace.eligibility(state))
    return np.stack(out)


@pytest.mark.parametrize("kind", ["digital", "factorised"])
@pytest.mark.parametrize("tau, dt", [(1.0, 0.1), (0.05, 0.01), (2.0, 1e-3)])
def test_a_pairing_decays_with_the_stated_time_constant(kind, tau, dt):
    trace = make_trace(kind, 4, 3, tau=tau, dt=dt)
    e = _run(trace, 12)
    n = np.arange(13)[:, None, None]
    np.testing.assert_allclose(e, np.exp(-n * dt / tau) * np.outer(PRE, POST)[None], rtol=1e-5, atol=1e-7)


def test_each_factor_of_the_factorised_trace_decays_with_twice_tau():
    trace = make_trace("factorised", 4, 3, tau=0.5, dt=0.1)
    state = trace.accumulate(trace.init(), PRE, POST)
    for _ in range(5):
        state = trace.accumulate(state, jnp.zeros(4), jnp.zeros(3))
    np.testing.assert_allclose(state.p, np.exp(-0.5 / (2 * 0.5)) * PRE, rtol=1e-6)
    np.testing.assert_allclose(state.q, np.exp(-0.5 / (2 * 0.5)) * POST, rtol=1e-6)


def test_factorised_trace_differs_from_per_synapse_by_the_cross_terms_only():
    lam, dt = 0.8, 0.1
    digital, factorised = make_trace("digital", 4, 3, lam=lam, dt=dt), make_trace("factorised", 4, 3, lam=lam, dt=dt)
    rng = np.random.default_rng(0)
    pres, posts = rng.normal(size=(3, 4)).astype(np.float32), rng.normal(size=(3, 3)).astype(np.float32)
    e, f = digital.init(), factorised.init()
    for a, b in zip(pres, posts, strict=True):
        a, b = jnp.asarray(a), jnp.asarray(b)
        e, f = digital.accumulate(e, a, b), factorised.accumulate(f, a, b)
    ages = np.array([2, 1, 0])  # steps since each pairing
    cross = sum(lam ** ((ages[s] + ages[r]) / 2) * np.outer(pres[s], posts[r])
                for s in range(3) for r in range(3) if s != r)
    np.testing.assert_allclose(factorised.eligibility(f) - e, cross, rtol=1e-4, atol=1e-5)
    assert np.abs(cross).max() > 0.1  # the approximation is not exact in general


def test_lambda_and_tau_describe_the_same_decay():
    by_lam = make_trace("digital", 4, 3, lam=0.9, dt=0.1)
    assert math.isclose(float(by_lam.lam), 0.9, rel_tol=1e-6)
    assert math.isclose(by_lam.tau, -0.1 / math.log(0.9), rel_tol=1e-12)


def test_factorised_transfer_is_a_rank_one_coincidence_with_expectation_lr_s_p_qT():
    device = ConstantStep(dg=1e-8, variation=Variation(c2c=0.3))
    xb = make_crossbar(device, 4, 3, update_scheme=PulseUpdate(bl=31))
    xb_state = init(xb, jax.random.key(0))
    trace = make_trace("factorised", 4, 3, tau=1.0, dt=0.1)
    state = trace.accumulate(trace.accumulate(trace.init(), PRE, POST), 0.5 * PRE, -POST)
    lr, success = 0.002, -2.0

    def one(key):
        new, _, _ = trace.transfer(xb, xb_state, state, success, lr, key)
        return weights(xb, new) - weights(xb, xb_state)

    n = 2000
    dw = np.asarray(jax.jit(jax.vmap(one))(jax.random.split(jax.random.key(5), n)), np.float64)
    rule = lr * success * np.asarray(trace.eligibility(state))
    assert np.all(np.abs(dw.mean(0) - rule) <= 4 * dw.std(0) / np.sqrt(n) + 1e-12)


def test_traces_jit_and_vmap():
    trace = make_trace("digital", 4, 3, tau=1.0, dt=0.1)
    batch = jax.vmap(trace.accumulate)(jnp.zeros((5, 4, 3)), jnp.tile(PRE, (5, 1)), jnp.tile(POST, (5, 1)))
    np.testing.assert_allclose(batch[3], np.outer(PRE, POST), rtol=1e-6)


@pytest.mark.parametrize("lam", [0.0, 1.0, 1.5, -0.2])
def test_lambda_outside_the_open_unit_interval_raises_naming_it(lam):
    with pytest.raises(ValueError, match=rf"`lam`.*got lam={lam}"):
        make_trace("digital", 4, 3, lam=lam)


@pytest.mark.parametrize("name, kwargs", [("tau", dict(tau=-1.0)), ("tau", dict(tau=0.0)),
                                          ("dt", dict(tau=1.0, dt=-0.1)), ("dt", dict(lam=0.5, dt=0.0))])
def test_negative_time_constants_raise_naming_them(name, kwargs):
    with pytest.raises(ValueError, match=rf"`{name}`"):
        make_trace("factorised", 4, 3, **kwargs)
    if "tau" in kwargs:
        with pytest.raises(ValueError, match=rf"`{name}`"):
            DigitalTrace(rows=4, cols=3, **kwargs).validate()


def test_other_bad_arguments_raise_naming_them():
    with pytest.raises(ValueError, match="kind"):
        make_trace("analog", 4, 3, tau=1.0)
    with pytest.raises(ValueError, match="tau.*lam"):
        make_trace("digital", 4, 3, tau=1.0, lam=0.5)
    with pytest.raises(ValueError, match="rows"):
        make_trace("digital", 0, 3, tau=1.0)
    with pytest.raises(ValueError, match="max_pulses"):
        FactorisedTrace(rows=4, cols=3, max_pulses=0).validate()
    for kind in ("digital", "factorised"):
        trace = make_trace(kind, 4, 3, tau=1.0)
        with pytest.raises(ValueError, match="pre.*post"):
            trace.accumulate(trace.init(), jnp.ones(3), POST)
        with pytest.raises(ValueError, match="post"):
            trace.accumulate(trace.init(), PRE, jnp.ones((3, 1)))
