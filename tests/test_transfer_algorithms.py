"""The transfer algorithms' equations on hand-made cases (deterministic: ideal converters, noise-free constant-step
devices, A's gradient written exactly), and their bad hyperparameters named. Each algorithm's step compiles once
(seconds), so only Tiki-Taka's schedule runs by default; the buffer, chopper, AGAD and mixed-precision cases are
marked slow (CI runs them)."""

from __future__ import annotations

from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from crossbar import array
from crossbar import transfer as T
from crossbar.events import INDEX
from crossbar.periphery import ideal_periphery
from crossbar.update import PulseUpdate
from devices import ConstantStep, set_conductance

ROWS, COLS = 3, 4
DEVICE = ConstantStep(g_min=0.0, g_max=10e-6, dg=10e-6 / 1000)  # dw_min = 0.002 on a reference pair, w_max 1
IDEAL = PulseUpdate(scheme="ideal")
XB = array.make_crossbar(DEVICE, ROWS, COLS, pair="reference", w_max=1.0, periphery=ideal_periphery(),
                         update_scheme=IDEAL)
CMP = T.make_compound(XB, transfer_forward=ideal_periphery(), transfer_update=IDEAL, reference="nominal")
DW = XB.dw_min
M = jnp.asarray(np.arange(ROWS * COLS).reshape(ROWS, COLS) * 0.01 - 0.05, jnp.float32)  # A's hand-set weights
ZX, ZD = jnp.zeros((1, ROWS)), jnp.zeros((1, COLS))  # a sample with no gradient: only the schedule acts


_INIT = jax.jit(lambda w, fast: T.init(CMP, jax.random.key(0), w, fast=fast)[0], static_argnums=1)


def fresh(alg, c0=0.0, a=M):
    state = _INIT(jnp.full((ROWS, COLS), c0, jnp.float32), alg.uses_fast)
    if alg.uses_fast:
        state = replace(state, a=replace(state.a, plus=set_conductance(state.a.plus,
                                                                        state.a.minus.g + a * XB.scale)))
    return state


def c_weights(state):
    return np.asarray(array.weights(XB, state.c))


@pytest.fixture(scope="module")
def step():
    """One jitted step per algorithm object (hashable pytree): update(alg, state, x, d, lr, key)."""
    return jax.jit(lambda alg, st, x, d, lr, k: alg.update(CMP, st, x, d, lr, k))


def test_tiki_taka_transfers_every_k_samples_the_next_line(step):
    alg = T.TikiTaka(transfer_every=3, units_in_mbatch=False, transfer_lr=2.0)
    start = fresh(alg, c0=0.3, a=jnp.zeros((ROWS, COLS)))  # C holds its initial weights, A starts at zero
    np.testing.assert_allclose(c_weights(start), 0.3, atol=1e-6)
    np.testing.assert_allclose(np.asarray(array.weights(XB, start.a)), 0.0, atol=1e-6)
    state = fresh(alg)
    lr = 0.1
    for k in range(1, 7):
        state, _ = step(alg, state, ZX, ZD, lr, jax.random.key(k))
        expected = np.zeros((ROWS, COLS))
        done = k // 3  # transfers so far, of lines 0, 1, ...
        expected[:done] = 2.0 * lr * np.asarray(M[:done])  # C[i] += transfer_lr lr A[i], exactly once
        np.testing.assert_allclose(c_weights(state), expected, atol=1e-6, err_msg=f"after sample {k}")
    assert int(state.reads) == 2 and int(state.count) == 6


@pytest.mark.slow
def test_tiki_taka_units_in_mbatch_counts_mini_batches(step):
    alg = T.TikiTaka(transfer_every=2, units_in_mbatch=True)  # every 2 batches of 3 samples = 6 samples
    state = fresh(alg)
    for k in range(2):
        state, _ = step(alg, state, jnp.zeros((3, ROWS)), jnp.zeros((3, COLS)), 0.1, jax.random.key(k))
    assert int(state.reads) == 1 and int(state.count) == 6


@pytest.mark.slow
def test_fast_array_takes_the_gradient_at_fast_lr_times_lr(step):
    alg = T.TikiTaka(transfer_every=0, fast_lr=0.5)
    state = fresh(alg, a=jnp.zeros((ROWS, COLS)))
    x, d = jnp.asarray([[1.0, -0.5, 0.0]]), jnp.asarray([[0.2, 0.0, -0.4, 1.0]])
    state, _ = step(alg, state, x, d, 0.1, jax.random.key(0))
    np.testing.assert_allclose(np.asarray(array.weights(XB, state.a)), -0.05 * np.outer(x[0], d[0]), atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("forget_buffer, momentum", [(True, 0.1), (False, 0.1)])
def test_ttv2_buffer_fires_whole_pulses_past_its_threshold_and_keeps_the_rest(step, forget_buffer, momentum):
    alg = T.TTv2(transfer_every=1, units_in_mbatch=False, thres_scale=2.0, momentum=momentum,
                 forget_buffer=forget_buffer, max_steps=2)
    state = fresh(alg)
    h0 = jnp.zeros((ROWS, COLS)).at[0].set(jnp.asarray([0.001, -0.002, 0.0035, 0.02]))
    state = replace(state, h=h0)
    lr = 0.1
    state, _ = step(alg, state, ZX, ZD, lr, jax.random.key(0))
    g = 2.0 * DW  # thres_scale x C's dw_min
    h = np.asarray(h0[0]) + lr * np.asarray(M[0])  # transfer_lr x lr x A[0]
    n = np.clip(np.trunc(h / g), -2, 2)
    np.testing.assert_allclose(c_weights(state)[0], n * DW, atol=1e-6)  # n whole pulses of dw_min each
    np.testing.assert_allclose(c_weights(state)[1:], 0.0, atol=1e-7)
    rest = np.where(n != 0, momentum * h if forget_buffer else h - (1 - momentum) * n * g, h)
    np.testing.assert_allclose(np.asarray(state.h[0]), rest, rtol=1e-5, atol=1e-8)
    assert np.any(n != 0) and np.any(n == 0) and np.any(np.abs(h / g) > 2)  # the case covers every branch


@pytest.mark.slow
def test_chopper_signs_are_undone_in_the_buffer(step):
    """A takes the chopped gradient (signs flipped on chopped lines); the buffer sees the unchopped one."""
    alg = T.ChoppedTTv2(in_chop_prob=0.0, fast_lr=0.5, transfer_every=1, buffer_granularity=100.0)
    x, d = jnp.asarray([[1.0, 0.0, 0.0]]), jnp.asarray([[0.2, -0.4, 0.6, 1.0]])
    plain = fresh(alg, a=jnp.zeros((ROWS, COLS)))
    chopped = replace(plain, in_chop=plain.in_chop.at[0].set(True), out_chop=plain.out_chop.at[2].set(True))
    plain, _ = step(alg, plain, x, d, 0.1, jax.random.key(0))
    chopped, _ = step(alg, chopped, x, d, 0.1, jax.random.key(0))
    s_out = np.where(np.arange(COLS) == 2, -1.0, 1.0)
    np.testing.assert_allclose(np.asarray(array.weights(XB, chopped.a))[0],
                               -0.5 * np.asarray(d[0]) * -1.0 * s_out, atol=1e-6)  # chopped on A
    expected_h = -0.5 * np.asarray(d[0]) * 0.1 / (100.0 * DW)  # lr_t A / b, unchopped, in pulse units
    np.testing.assert_allclose(np.asarray(chopped.h[0]), expected_h, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(plain.h[0]), expected_h, rtol=1e-5)


@pytest.mark.slow
def test_regular_chopper_flips_at_the_last_pass_of_each_period(step):
    alg = T.ChoppedTTv2(in_chop_prob=0.5, in_chop_random=False, transfer_every=1)  # period 2 passes
    state = fresh(alg, a=jnp.zeros((ROWS, COLS)))
    flags = []
    for k in range(4 * ROWS):
        state, _ = step(alg, state, ZX, ZD, 0.1, jax.random.key(k))
        flags.append(bool(state.in_chop[0]))
    # line 0 is read at samples 1, 4, 7, 10 (passes 0..3); it flips after its reads in passes 1 and 3
    assert [flags[i] for i in (0, 3, 6, 9)] == [False, True, True, False]


def agad_reference(values, h0, period, beta, lr_scale, max_steps=1):
    """AGAD on one line in numpy: the reads `values` [t, cols] in order, one per pass."""
    mean = np.zeros_like(values[0])
    past = np.zeros_like(values[0])
    h, chop, switched, written = h0.copy(), False, False, []
    for t, v in enumerate(values):
        mu = mean if switched else past
        past = mu
        h = h + (-1.0 if chop else 1.0) * (v - mu) * lr_scale
        n = np.clip(np.trunc(h), -max_steps, max_steps)
        h = np.where(n != 0, 0.0 * h, h)  # forget_buffer with momentum 0
        written.append(n if t > period else 0 * n)
        mean = (1 - beta) * mean + beta * v
        switched = (t % period) + 1 == period
        chop = chop ^ switched
    return np.array(written), h, mu


@pytest.mark.slow
def test_agad_compares_each_read_with_the_running_mean_at_the_last_chopper_switch(step):
    """One-line array (rows = 1): A is set by hand before each transfer; every pulse written and the buffer
    follow the equations of `crossbar.transfer.agad` (period 2, beta = min(1 / 2, 1))."""
    xb1 = replace(XB, rows=1)
    cmp1 = T.make_compound(xb1, transfer_forward=ideal_periphery(), transfer_update=IDEAL, reference="nominal")
    alg = T.AGAD(in_chop_prob=0.5, tail_weightening=1.0, transfer_every=1, buffer_granularity=5.0)
    rng = np.random.default_rng(0)
    values = np.round(rng.normal(0.0, 0.05, (8, COLS)), 3).astype(np.float32)
    state, _ = T.init(cmp1, jax.random.key(0), fast=True)
    f = jax.jit(lambda st, k: alg.update(cmp1, st, jnp.zeros((1, 1)), ZD, 0.1, k))
    written = []
    for t, v in enumerate(values):
        state = replace(state, a=replace(state.a, plus=set_conductance(state.a.plus,
                                                                        state.a.minus.g + v[None] * xb1.scale)))
        before = np.asarray(array.weights(xb1, state.c))[0]
        state, _ = f(state, jax.random.key(t))
        written.append(np.round((np.asarray(array.weights(xb1, state.c))[0] - before) / DW))
    lr_scale = 0.1 / (5.0 * DW)
    expected, h, mu = agad_reference(values, np.zeros(COLS, np.float32), 2, 0.5, lr_scale)
    np.testing.assert_allclose(np.array(written), expected, atol=1e-3)
    np.testing.assert_allclose(np.asarray(state.h[0]), h, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.asarray(state.past_mean[0]), mu, rtol=1e-5, atol=1e-7)
    assert np.abs(expected[3:]).sum() > 0  # pulses were written after the warm-up


@pytest.mark.slow
def test_mixed_precision_writes_whole_granules_and_keeps_the_remainder(step):
    alg = T.MixedPrecision(granularity=0.004)
    state = fresh(alg)
    x, d = jnp.asarray([[1.0, 0.5, 0.0]]), jnp.asarray([[0.1, -0.25, 0.03, 1.0]])
    state, _ = step(alg, state, x, d, 0.1, jax.random.key(0))
    chi = -0.1 * np.outer(x[0], d[0])
    n = np.trunc(chi / 0.004)
    np.testing.assert_allclose(c_weights(state), n * DW, atol=1e-6)
    np.testing.assert_allclose(np.asarray(state.h), chi - n * 0.004, atol=1e-7)


@pytest.mark.slow
def test_transfer_reads_and_pulses_are_counted_as_events(step):
    alg = T.TTv2(transfer_every=1, units_in_mbatch=False, thres_scale=0.5)
    _, counters = step(alg, fresh(alg), ZX, ZD, 1.0, jax.random.key(0))
    values = np.asarray(counters.events.values)
    assert values[INDEX["forward.reads"]] == 1  # the transfer read of line 0
    n = np.clip(np.trunc(np.asarray(M[0]) / (0.5 * DW)), -1, 1)
    assert values[INDEX["update.coincidences"]] == np.abs(n).sum()
    # ... and marked as the transfer's own
    assert values[INDEX["transfer_reads"]] == 1 and values[INDEX["transfer_writes"]] == 1
    assert values[INDEX["transfer_pulses"]] == np.abs(n).sum() > 0


@pytest.mark.parametrize("name", ["ttv2", pytest.param("tiki_taka", marks=pytest.mark.slow)])
def test_transfer_events_are_the_transfers_share_of_the_counts(name):
    """A batch of 3 samples with a transfer after each: 3 transfer reads and row writes, and transfer pulses equal
    to the coincidences the batch counts beyond those of the same batch with no transfer (same keys: A's pulses
    are the same draws). Pulsed A (stochastic trains), so A's own coincidences are counted too."""
    upd = PulseUpdate(bl=10)
    xb = array.make_crossbar(DEVICE, ROWS, COLS, pair="reference", w_max=1.0, periphery=ideal_periphery(),
                             update_scheme=upd)
    cmp = T.make_compound(xb, transfer_forward=ideal_periphery(), transfer_update=upd, reference="nominal")
    state = T.init(cmp, jax.random.key(0))[0]
    state = replace(state, a=replace(state.a, plus=set_conductance(state.a.plus, state.a.minus.g + M * xb.scale)))
    x = jnp.asarray(np.linspace(0.2, 1.0, 3 * ROWS).reshape(3, ROWS), jnp.float32)
    d = jnp.asarray(np.linspace(-1.0, 0.5, 3 * COLS).reshape(3, COLS), jnp.float32)
    hyper = {"ttv2": {"max_steps": 5, "thres_scale": 0.5}, "tiki_taka": {}}[name]

    counted = jax.jit(lambda alg: alg.update(cmp, state, x, d, 0.5, jax.random.key(1))[1].events.values)

    def events(every):  # transfer_every is a leaf: one compiled step for both
        return np.asarray(counted(T.make_algorithm(name, transfer_every=every, units_in_mbatch=False, **hyper)))

    with_transfers, without = events(1.0), events(0.0)
    assert with_transfers[INDEX["transfer_reads"]] == with_transfers[INDEX["transfer_writes"]] == 3
    assert without[INDEX["transfer_reads"]] == without[INDEX["transfer_pulses"]] == 0
    assert without[INDEX["update.coincidences"]] > 0
    extra = with_transfers[INDEX["update.coincidences"]] - without[INDEX["update.coincidences"]]
    assert with_transfers[INDEX["transfer_pulses"]] == extra > 0
    assert with_transfers[INDEX["forward.reads"]] - without[INDEX["forward.reads"]] == 3


@pytest.mark.parametrize("name, bad", [
    ("tiki_taka", {"transfer_lr": -1.0}), ("tiki_taka", {"fast_lr": 0.0}), ("ttv2", {"momentum": 1.5}),
    ("ttv2", {"max_steps": 0}), ("c_ttv2", {"in_chop_prob": 2.0}), ("c_ttv2", {"auto_granularity": -1.0}),
    ("agad", {"in_chop_prob": 0.0}), ("agad", {"buffer_cap": -1.0}), ("mixed_precision", {"granularity": -0.1}),
    ("ttv2", {"thres_scal": 1.0}),
])
def test_bad_hyperparameters_are_named(name, bad):
    (key, value), = bad.items()
    with pytest.raises((ValueError, TypeError), match=key):
        T.make_algorithm(name, **bad)
    with pytest.raises(ValueError, match="unknown algorithm"):
        T.make_algorithm("sgd2")


@pytest.mark.slow
@pytest.mark.parametrize("batch", [2, pytest.param(8, marks=pytest.mark.slow)])
def test_a_batch_transfers_after_its_update_as_the_interleaved_order_where_a_is_still(batch):
    """With no gradient A does not move, so a mini-batch's transfers made together after its update (one read
    of the due lines, one delivery) equal those made right after each sample (aihwkit's order,
    `Compound.interleaved`): the same lines in turn across the wrap, the same buffer, pulses, choppers and counts;
    also for a batch larger than A's lines."""
    alg = T.ChoppedTTv2(transfer_every=1, in_chop_prob=0.5, in_chop_random=False, buffer_granularity=0.5,
                        out_chop_prob=0.0)
    results = []
    for interleaved in (False, True):
        cmp = replace(CMP, interleaved=interleaved)
        f = jax.jit(lambda st, k, cmp=cmp: alg.update(cmp, st, jnp.zeros((batch, ROWS)), jnp.zeros((batch, COLS)),
                                                      0.1, k))
        state, total = fresh(alg), None
        # 8 samples: lines 0 1 | 2 0 | 1 2 | 0 1, a pass ending inside the second batch; or one batch of 8 samples,
        # more than A's 3 lines (a convolution's patches): cut into chunks of 2
        for k in range(8 // batch):
            state, counters = f(state, jax.random.key(k))
            total = counters if total is None else total + counters
        results.append((state, total))
    (batched, c1), (inter, c2) = results
    assert int(batched.reads) == int(inter.reads) == 8 and int(batched.passes) == int(inter.passes) == 2
    np.testing.assert_allclose(c_weights(batched), c_weights(inter), atol=1e-6)
    np.testing.assert_allclose(np.asarray(batched.h), np.asarray(inter.h), atol=1e-6)
    np.testing.assert_array_equal(np.asarray(batched.in_chop), np.asarray(inter.in_chop))
    assert np.abs(c_weights(batched)).max() > 0  # something was written
    np.testing.assert_allclose(np.asarray(c1.events.values), np.asarray(c2.events.values))
    assert c1.events["forward.reads"] == 8
