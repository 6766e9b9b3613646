"""The success-modulated update by pulse coincidence: its expectation is the three-factor rule dw = lr S pre post^T.

Statistical tests use fixed keys; means must agree with the rule within 4 standard errors.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from crossbar.array import init, make_crossbar, weights
from crossbar.local import coincidences, modulated_update, transfer
from crossbar.update import PulseUpdate, sample_pulses
from devices import MODELS, ConstantStep, Variation

PRE = jnp.array([1.0, 0.5, 0.0, -0.3, 0.8, -1.0])
POST = jnp.array([0.2, -0.5, 0.1, 0.25, -0.05])
N_KEYS = 2000


def _weight_changes(xb, success, lr, n_keys=N_KEYS, seed=1):
    state = init(xb, jax.random.key(0))

    def one(key):
        new, _, pulses = modulated_update(xb, state, PRE, POST, success, lr, key)
        return weights(xb, new) - weights(xb, state), pulses

    return jax.jit(jax.vmap(one))(jax.random.split(jax.random.key(seed), n_keys))


@pytest.mark.parametrize("success", [-1.5, 0.4, 3.0])
@pytest.mark.parametrize("pair", ["differential", "reference"])
def test_expected_weight_change_is_the_rule_with_sign_and_magnitude_of_success(success, pair):
    # A constant step with cycle-to-cycle noise only: one coincidence moves the weight by dw_min on average.
    device = ConstantStep(dg=1e-8, variation=Variation(c2c=0.3))
    xb = make_crossbar(device, 6, 5, pair=pair, update_scheme=PulseUpdate(bl=31))
    lr = 0.002
    dw, _ = _weight_changes(xb, success, lr)
    dw = np.asarray(dw, np.float64)
    rule = lr * success * np.outer(PRE, POST)
    se = dw.std(0) / np.sqrt(N_KEYS)
    assert np.all(np.abs(dw.mean(0) - rule) <= 4 * se + 1e-12), (dw.mean(0), rule)
    # Where the rule is zero nothing moves at all.
    assert np.all(dw[:, 2] == 0)
    # And the test can fail: the opposite sign of S is far outside.
    assert np.any(np.abs(dw.mean(0) + rule) > 4 * se)


def test_a_neuron_specific_third_factor_scales_each_column_by_its_own_modulator():
    """m per output neuron: E[dw_ji] = lr m_i pre_j post_i (per neuron, signs included); a constant m is S."""
    device = ConstantStep(dg=1e-8, variation=Variation(c2c=0.3))
    xb = make_crossbar(device, 6, 5, pair="reference", update_scheme=PulseUpdate(bl=31))
    lr, m = 0.002, jnp.array([2.0, -1.0, 0.5, 0.0, 3.0])
    dw, _ = _weight_changes(xb, m, lr)
    dw = np.asarray(dw, np.float64)
    rule = lr * np.outer(PRE, np.asarray(m) * np.asarray(POST))
    se = dw.std(0) / np.sqrt(N_KEYS)
    assert np.all(np.abs(dw.mean(0) - rule) <= 4 * se + 1e-12), (dw.mean(0), rule)
    assert np.all(dw[:, :, 3] == 0)  # m_3 = 0: that neuron's synapses are not pulsed
    assert np.any(np.abs(dw.mean(0) - lr * np.outer(PRE, POST)) > 4 * se)  # and it differs from S = 1
    same, _ = _weight_changes(xb, jnp.full(5, 0.4), lr, n_keys=8)
    scalar, _ = _weight_changes(xb, 0.4, lr, n_keys=8)
    np.testing.assert_array_equal(same, scalar)  # an m that is the same for every neuron is the global S


def test_pulses_counted_are_the_coincidences_times_devices_per_weight():
    xb = make_crossbar(ConstantStep(dg=1e-8), 6, 5, update_scheme=PulseUpdate(bl=20))
    key = jax.random.key(3)
    k_pulses = jax.random.split(key)[0]  # modulated_update draws its trains with the first half of its key
    counted = jax.jit(lambda k: (lambda p: (jnp.sum(jnp.abs(p.counts())), coincidences(p)))(
        sample_pulses(xb.update_scheme, PRE, -2.0 * POST, 0.002, xb.dw_min, k)[0]))
    total, total_by_slots = (int(v) for v in counted(k_pulses))
    assert total > 0
    assert total_by_slots == total
    update = jax.jit(lambda st, k: modulated_update(xb, st, PRE, POST, 2.0, 0.002, k))
    _, _, sent = update(init(xb, jax.random.key(0)), key)
    assert int(sent) == 2 * total  # a differential pair pulses G+ and G-


def test_expected_pulses_equal_rule_over_dw_min():
    xb = make_crossbar(ConstantStep(dg=1e-8), 6, 5, update_scheme=PulseUpdate(bl=31))
    lr, success = 0.002, -1.2
    _, pulses = _weight_changes(xb, success, lr, n_keys=1000)
    expected = 2 * lr * abs(success) * np.abs(np.outer(PRE, POST)).sum() / xb.dw_min
    pulses = np.asarray(pulses, np.float64)
    assert abs(pulses.mean() - expected) <= 4 * pulses.std() / np.sqrt(pulses.size)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_device_model_follows_the_rule(name):
    # Each model steps by its own state-dependent amount, so the mean change is the rule times a device factor:
    # it must be proportional to the rule (correlation), whatever the model.
    device = MODELS[name]()
    xb = make_crossbar(device, 6, 5, dw_min=None if hasattr(device, "dg") else 0.001)
    dw, _ = _weight_changes(xb, -1.5, 0.01, n_keys=400)
    rule = -1.5 * 0.01 * np.outer(PRE, POST)
    mask = rule != 0
    mean = np.asarray(dw.mean(0))
    assert np.all(np.isfinite(mean))
    assert np.corrcoef(mean[mask], rule[mask])[0, 1] > 0.95


def test_transfer_of_a_trace_matrix_is_unbiased():
    device = ConstantStep(dg=1e-8, variation=Variation(c2c=0.3))
    xb = make_crossbar(device, 4, 3)
    state = init(xb, jax.random.key(0))
    e = jnp.array([[3.0, -1.0, 0.0], [0.25, 2.0, -4.0], [0.0, 0.0, 1.0], [-0.5, 0.1, 7.0]])
    lr, success = 0.001, -0.7

    def one(key):
        new, counters, pulses = transfer(xb, state, e, success, lr, key)
        return weights(xb, new) - weights(xb, state), counters.count_clipped

    dw, capped = jax.jit(jax.vmap(one))(jax.random.split(jax.random.key(2), N_KEYS))
    dw = np.asarray(dw, np.float64)
    rule = lr * success * np.asarray(e)
    se = dw.std(0) / np.sqrt(N_KEYS)
    assert np.all(np.abs(dw.mean(0) - rule) <= 4 * se + 1e-12)
    assert int(capped.sum()) == 0
    # Capping is counted, not silent.
    _, counters, pulses = transfer(xb, state, e, success, lr, jax.random.key(0), max_pulses=2)
    assert int(counters.count_clipped) > 0 and int(pulses) <= 2 * 2 * e.size


def test_bad_arguments_raise_naming_them():
    xb = make_crossbar(ConstantStep(), 6, 5)
    state = init(xb, jax.random.key(0))
    with pytest.raises(ValueError, match="pre"):
        modulated_update(xb, state, jnp.ones(5), POST, 1.0, 0.01, jax.random.key(0))
    with pytest.raises(ValueError, match="post"):
        modulated_update(xb, state, PRE, jnp.ones(6), 1.0, 0.01, jax.random.key(0))
    with pytest.raises(ValueError, match="success"):  # a modulator has one value per output neuron
        modulated_update(xb, state, PRE, POST, [1.0, 2.0], 0.01, jax.random.key(0))
    with pytest.raises(TypeError, match="success"):
        modulated_update(xb, state, PRE, POST, "high", 0.01, jax.random.key(0))
    with pytest.raises(ValueError, match="success"):
        modulated_update(xb, state, PRE, POST, float("nan"), 0.01, jax.random.key(0))
    with pytest.raises(ValueError, match="lr"):
        modulated_update(xb, state, PRE, POST, 1.0, -0.01, jax.random.key(0))
    with pytest.raises(ValueError, match="e"):
        transfer(xb, state, jnp.ones((5, 6)), 1.0, 0.01, jax.random.key(0))
    with pytest.raises(ValueError, match="max_pulses"):
        transfer(xb, state, jnp.ones((6, 5)), 1.0, 0.01, jax.random.key(0), max_pulses=0)
