"""Feedback alignment (FA) and direct feedback alignment (DFA): the MLP's hidden errors by fixed random matrices,
without transpose reads (`crossbar.training.feedback`)."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from crossbar.periphery import ideal_periphery
from crossbar.training import data as datasets
from crossbar.training import mlp
from crossbar.training.backends import CrossbarBackend, FloatBackend
from crossbar.training.feedback import feedback_matrices
from devices.presets import make_device

SIZES = (5, 4, 3, 2)


def _sigmoid(h):
    return 1.0 / (1.0 + np.exp(-h))


def _reference_step(weights, x, y, lr, rule, seed):
    """One FA / DFA step written out in numpy: W_l -= lr / batch x_l^T delta_l, bias rows last."""
    inputs, pre, a = [], [], x
    for i, w in enumerate(weights):
        x_in = np.concatenate([a, np.ones((a.shape[0], 1))], axis=1)
        h = x_in @ w
        inputs.append(x_in)
        pre.append(h)
        a = h if i == len(weights) - 1 else _sigmoid(h)
    p = np.exp(a - a.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    e = p - np.eye(SIZES[-1])[y]
    b = feedback_matrices(SIZES, rule, seed)
    deltas = [None, None, e]
    for k in (1, 0):
        source = deltas[k + 1] if rule == "fa" else e
        s = _sigmoid(pre[k])
        deltas[k] = (source @ b[k]) * s * (1 - s)
    return [w - lr / x.shape[0] * xi.T @ d for w, xi, d in zip(weights, inputs, deltas, strict=True)]


@pytest.mark.parametrize("rule", ["fa", "dfa"])
def test_float_feedback_rules_equal_the_hand_written_equations(rule):
    cfg = mlp.MLPConfig(sizes=SIZES, lr=0.3, batch_size=3, rule=rule, seed=4)
    layers = mlp.init_network(cfg, FloatBackend(), jax.random.key(0))
    x = np.asarray(jax.random.uniform(jax.random.key(1), (3, SIZES[0])), np.float64)
    y = np.array([0, 1, 1])
    new, _, counters = mlp.train_step(cfg, FloatBackend(), layers, jnp.asarray(x, jnp.float32), jnp.asarray(y),
                                      cfg.lr, jax.random.key(2))
    want = _reference_step([np.asarray(layer.w, np.float64) for layer in layers], x, y, cfg.lr, rule, cfg.seed)
    for layer, w in zip(new, want, strict=True):
        np.testing.assert_allclose(layer.w, w, rtol=1e-5, atol=1e-6)
    backprop = mlp.train_step(mlp.MLPConfig(sizes=SIZES, lr=0.3, batch_size=3, seed=4), FloatBackend(), layers,
                              jnp.asarray(x, jnp.float32), jnp.asarray(y), cfg.lr, jax.random.key(2))[0]
    assert not np.allclose(backprop[0].w, new[0].w, atol=1e-6)  # the hidden layers learn otherwise
    np.testing.assert_allclose(backprop[-1].w, new[-1].w, rtol=1e-5)  # the top layer as backprop
    n_fb = SIZES[2] if rule == "fa" else SIZES[-1]  # the feedback products are counted as digital work
    assert float(counters.events["digital_ops"][0]) >= 3 * n_fb * SIZES[1]


@pytest.mark.slow  # a crossbar training program to compile; the float rules run by default
@pytest.mark.parametrize("rule", ["dfa", "fa"])
def test_feedback_rules_read_no_transpose_on_crossbars(rule):
    """Backprop reads layers 1 and 2 transposed once per sample (`test_energy`); FA and DFA read none."""
    backend = CrossbarBackend(make_device("gokmen_vlasov"), periphery=ideal_periphery())
    xs = jax.random.uniform(jax.random.key(1), (4, 1, SIZES[0]))
    ys = jnp.zeros((4, 1), jnp.int32)
    cfg = mlp.MLPConfig(sizes=SIZES, lr=0.1, rule=rule)
    layers = mlp.init_network(cfg, backend, jax.random.key(0))
    new, _, counters = mlp.train_samples(cfg, backend, layers, xs, ys, cfg.lr, jax.random.key(2))
    np.testing.assert_array_equal(np.asarray(counters.events["forward.reads"]), [4, 4, 4])
    np.testing.assert_array_equal(np.asarray(counters.events["backward.reads"]), [0, 0, 0])
    assert np.all(np.asarray(counters.events["update.coincidences"]) > 0)  # every layer learns
    for old, layer in zip(layers, new, strict=True):
        assert not np.allclose(old.weights, layer.weights)


@pytest.mark.parametrize("rule", [pytest.param("fa", marks=pytest.mark.slow), "dfa"])
def test_feedback_matrices_on_arrays_read_what_they_hold(rule):
    """`feedback='array'`: each B_l on a fixed array of the next layer's device; its read of an error equals the
    digital product within a few percent of the output range (ideal periphery; without the device's spread of
    bounds, which clips some programmed weights)."""
    from crossbar.training.feedback import feedback_arrays, feedback_product

    backend = CrossbarBackend(make_device("gokmen_vlasov", {"variation.bounds_d2d": 0.0}), periphery=ideal_periphery())
    cfg = mlp.MLPConfig(sizes=SIZES, rule=rule, feedback="array").validate()
    layers = mlp.init_network(cfg, backend, jax.random.key(0))
    arrays = feedback_arrays(cfg, layers)
    assert arrays is not None and len(arrays) == len(SIZES) - 2
    assert feedback_arrays(mlp.MLPConfig(sizes=SIZES, rule=rule), layers) is None  # digital by default
    for k, b in enumerate(feedback_matrices(SIZES, rule, cfg.seed)):
        source = 0.3 * jax.random.normal(jax.random.key(k), (5, b.shape[0]))
        product, counters = feedback_product(arrays, k, source, b, jax.random.key(9))
        exact = np.asarray(source) @ b
        assert np.max(np.abs(np.asarray(product) - exact)) < 0.05 * np.max(np.abs(exact))
        assert float(counters.events["forward.reads"]) == 5  # one read per vector, counted
    with pytest.raises(ValueError, match="feedback"):
        mlp.MLPConfig(sizes=SIZES, rule=rule, feedback="optical").validate()


@pytest.mark.slow  # a crossbar training program to compile
def test_feedback_arrays_count_their_reads_on_the_layer_they_feed():
    """DFA with feedback arrays: the hidden layers read once forward and once through their feedback array per
    sample, no transpose read anywhere, and the feedback products leave the digital work."""
    backend = CrossbarBackend(make_device("gokmen_vlasov"), periphery=ideal_periphery())
    xs = jax.random.uniform(jax.random.key(1), (4, 1, SIZES[0]))
    ys = jnp.zeros((4, 1), jnp.int32)
    counts = {}
    for feedback in ("digital", "array"):
        cfg = mlp.MLPConfig(sizes=SIZES, lr=0.1, rule="dfa", feedback=feedback)
        layers = mlp.init_network(cfg, backend, jax.random.key(0))
        new, _, counters = mlp.train_samples(cfg, backend, layers, xs, ys, cfg.lr, jax.random.key(2))
        counts[feedback] = {k: np.asarray(counters.events[k]) for k in ("forward.reads", "backward.reads",
                                                                         "digital_ops")}
        assert all(not np.allclose(o.weights, n.weights) for o, n in zip(layers, new, strict=True))
    np.testing.assert_array_equal(counts["array"]["forward.reads"], [8, 8, 4])
    np.testing.assert_array_equal(counts["array"]["backward.reads"], [0, 0, 0])
    saved = counts["digital"]["digital_ops"] - counts["array"]["digital_ops"]
    np.testing.assert_allclose(saved, [4 * SIZES[-1] * SIZES[1], 4 * SIZES[-1] * SIZES[2], 0])


@pytest.mark.parametrize("rule", ["fa", "dfa"])
def test_float_networks_learn_the_digits_by_feedback_alignment(rule):
    data = datasets.load_digits()
    cfg = mlp.MLPConfig(sizes=(64, 32, 10), lr=0.05, batch_size=1, rule=rule)
    layers = mlp.init_network(cfg, FloatBackend(), jax.random.key(0))
    xs = jnp.asarray(data.x_train).reshape(-1, 1, 64)
    ys = jnp.asarray(data.y_train).reshape(-1, 1)
    layers, _, _ = jax.jit(lambda l_, k: mlp.train_samples(cfg, FloatBackend(), l_, xs, ys, cfg.lr, k))(
        layers, jax.random.key(1))
    pred, _ = mlp.predict(cfg, FloatBackend(), layers, jnp.asarray(data.x_test), jax.random.key(2))
    assert np.mean(np.asarray(pred) != data.y_test) < 0.3  # after one epoch; chance is 0.9


@pytest.mark.slow  # over 6 s; the default run stays under 6 minutes (CI runs the slow tests too)
def test_feedback_rules_train_hardware_aware_layers_too():
    """An HWA layer (a float layer with noise in its forward read) takes the same tape: without noise, the FA step
    equals the float layer's."""
    from crossbar.nn.hwa import HWANoise
    from crossbar.training.backends import HWABackend

    cfg = mlp.MLPConfig(sizes=SIZES, lr=0.3, batch_size=2, rule="fa")
    x, y = jax.random.uniform(jax.random.key(1), (2, SIZES[0])), jnp.array([0, 1])
    quiet = HWABackend(noise=HWANoise(weight_noise=0.0))  # ideal periphery by default
    hwa = mlp.train_step(cfg, quiet, mlp.init_network(cfg, quiet, jax.random.key(0)), x, y, cfg.lr,
                         jax.random.key(2))[0]
    plain = mlp.train_step(cfg, FloatBackend(), mlp.init_network(cfg, FloatBackend(), jax.random.key(0)), x, y,
                           cfg.lr, jax.random.key(2))[0]
    for a, b in zip(hwa, plain, strict=True):
        np.testing.assert_allclose(a.weights, b.weights, rtol=1e-6)


def test_bad_rules_are_named():
    with pytest.raises(ValueError, match="rule"):
        mlp.MLPConfig(sizes=SIZES, rule="hebb").validate()
    with pytest.raises(ValueError, match="rule"):
        feedback_matrices(SIZES, "backprop", 0)


@pytest.mark.slow  # two CLI training runs
def test_the_feedback_study_compares_rules_and_resumes(tmp_path):
    from experiments import feedback_rules

    argv = ["--devices", "gokmen_vlasov", "--rules", "backprop", "dfa", "--epochs", "1", "--out", str(tmp_path),
            "--", "--limit-train", "200"]
    summary = feedback_rules.main(argv)
    runs = {r["rule"]: r for r in summary["runs"]}
    # One hidden layer: backprop reads the top layer transposed once per sample; DFA reads nothing transposed.
    assert runs["dfa"]["transpose_reads_per_sample"] == 0 and runs["backprop"]["transpose_reads_per_sample"] == 1
    assert all(r["coincidences_per_sample"] > 0 and r["energy_per_sample_j"] > 0 for r in runs.values())
    for rule, r in runs.items():  # the chip's energy per sample, not its sum with the time per sample
        report = json.loads((tmp_path / f"gokmen_vlasov_{rule}" / "energy.json").read_text())
        assert r["energy_per_sample_j"] == report["chip"]["per_sample"]["energy_j"]
        assert r["chip_time_per_sample_s"] == report["chip"]["per_sample"]["time_s"]
        np.testing.assert_allclose(sum(r["energy_per_sample_by_component_j"].values()), r["energy_per_sample_j"],
                                   rtol=1e-6)
    stamp = (tmp_path / "gokmen_vlasov_dfa" / "results.json").stat().st_mtime_ns
    feedback_rules.main(argv)  # finished runs are kept, not trained again
    assert (tmp_path / "gokmen_vlasov_dfa" / "results.json").stat().st_mtime_ns == stamp
    assert (tmp_path / "feedback_rules.png").exists()
