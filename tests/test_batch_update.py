"""Mini-batch updates: the summed coincidences of a batch against the sample-by-sample path.

The summed path draws the very trains of the sequential one, so its counts are checked exactly; the devices'
response is checked in distribution (weights after a batch: per-device mean and spread within a few standard
errors over many keys).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from crossbar import array as xa
from crossbar.update import PulseUpdate, coincidence_counts, summed_counts
from devices import ConstantStep, SoftBounds, Variation

ROWS, COLS, BATCH, LR = 12, 8, 16, 0.05


def _batch(key, negative_inputs: bool):
    k_x, k_d = jax.random.split(key)
    x = jax.random.uniform(k_x, (BATCH, ROWS), minval=-1.0 if negative_inputs else 0.0, maxval=1.0)
    d = 0.3 * jax.random.normal(k_d, (BATCH, COLS))
    return x, d


@pytest.mark.parametrize("negative_inputs", [pytest.param(False, marks=pytest.mark.slow), True])
def test_summed_counts_equal_the_sum_of_the_per_sample_counts(negative_inputs):
    upd = PulseUpdate(bl=10)
    x, d = _batch(jax.random.key(0), negative_inputs)
    keys = jax.random.split(jax.random.key(1), BATCH)
    n_up, n_down, _ = summed_counts(upd, x, d, LR, 0.01, keys)
    per_sample = [np.asarray(coincidence_counts(upd, x[b], d[b], LR, 0.01, keys[b])[0]) for b in range(BATCH)]
    np.testing.assert_array_equal(np.asarray(n_up - n_down), np.sum(per_sample, axis=0))
    np.testing.assert_array_equal(np.asarray(n_up + n_down), np.sum(np.abs(per_sample), axis=0))
    assert int(jnp.sum(n_up + n_down)) > 0


def _weights_after_batch(device, mode: str, pair: str, n_keys: int = 300):
    xb = xa.make_crossbar(device, ROWS, COLS, pair=pair, update_scheme=PulseUpdate(bl=10, batch_mode=mode))
    state = xa.init(xb, jax.random.key(2), jnp.zeros((ROWS, COLS)))  # mid-range: far from the bounds
    x, d = _batch(jax.random.key(3), negative_inputs=True)

    @jax.jit
    def one(key):
        st, _ = xa.update(xb, state, x, d, LR, key)
        return xa.weights(xb, st)

    return np.asarray(jax.vmap(one)(jax.random.split(jax.random.key(4), n_keys)), np.float64)


def _assert_same_distribution(a, b, n_se=4.0):
    """Per-device means and variances of two [keys, rows, cols] samples agree within n_se standard errors."""
    n = a.shape[0]
    se_mean = np.sqrt((a.var(0) + b.var(0)) / n) + 1e-12
    assert np.mean(np.abs(a.mean(0) - b.mean(0)) <= n_se * se_mean) > 0.99
    # Var of a sample variance ~ 2 sigma^4 / (n - 1) for near-normal data.
    se_var = np.sqrt(2.0 * (a.var(0) ** 2 + b.var(0) ** 2) / (n - 1)) + 1e-15
    assert np.mean(np.abs(a.var(0) - b.var(0)) <= n_se * se_var) > 0.99


@pytest.mark.parametrize("pair", ["reference", "differential"])
def test_summed_batch_equals_sequential_in_distribution_for_a_constant_step(pair):
    device = ConstantStep(g_min=0.0, g_max=10e-6, dg=10e-6 / 600,
                          variation=Variation(dg_d2d=0.3, c2c=0.3, up_down=0.05, up_down_d2d=0.02))
    seq = _weights_after_batch(device, "sequential", pair)
    summed = _weights_after_batch(device, "summed", pair)
    assert np.abs(seq.mean(0)).max() > 0.003  # the batch moved the weights by several steps
    _assert_same_distribution(seq, summed)


def test_auto_sums_constant_steps_and_keeps_state_dependent_devices_sequential():
    upd = PulseUpdate(batch_mode="auto")
    assert upd.sums_batches(ConstantStep()) and not upd.sums_batches(SoftBounds())
    assert PulseUpdate(batch_mode="summed").sums_batches(SoftBounds())
    assert not PulseUpdate(scheme="deterministic", batch_mode="summed").sums_batches(ConstantStep())


def test_summed_batch_of_soft_bounds_stays_within_its_second_order_error():
    """Soft bounds evaluate their steps once per batch: a bias of order (pulses per batch x rate)^2 of the range."""
    device = SoftBounds(g_min=0.0, g_max=10e-6, dg=10e-6 / 200, variation=Variation(c2c=0.1))
    seq = _weights_after_batch(device, "sequential", "reference")
    summed = _weights_after_batch(device, "summed", "reference")
    w_range = 2 * 0.6  # reference layout: one device spans [-w_max, w_max]
    rate = 1.0 / 200  # fraction of the distance to the bound covered per pulse
    # The most pulses any device takes in the batch (the counts of one key; others are alike).
    x, d = _batch(jax.random.key(3), negative_inputs=True)
    n_up, n_down, _ = summed_counts(PulseUpdate(bl=10), x, d, LR, w_range * rate, jax.random.split(jax.random.key(5),
                                                                                                   BATCH))
    pulses = int(jnp.max(n_up + n_down))
    bound = w_range * (pulses * rate) ** 2
    diff = np.abs(seq.mean(0) - summed.mean(0)).max()
    assert diff <= bound, (diff, bound)
    _assert_same_distribution(seq, summed, n_se=6.0)


def test_invalid_batch_mode_is_rejected_by_name():
    with pytest.raises(ValueError, match="batch_mode"):
        PulseUpdate(batch_mode="parallel").validate()
