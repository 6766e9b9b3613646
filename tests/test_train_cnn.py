"""The GOH2017 CNN experiment: it learns on MNIST, resumes to the same result, rejects bad arguments."""

import json

import jax
import numpy as np
import pytest

from crossbar.training.checkpoint import load_pytree
from experiments import lenet, train_cnn
from tests.test_data import MNIST_DIR, _make_mnist, needs_mnist


def _run(tmp_path, name, *extra):
    return train_cnn.main(["--out", str(tmp_path / name), "--no-progress", "--batch-size", "8", *extra])


def test_resumed_run_equals_uninterrupted(tmp_path):
    data_dir = tmp_path / "mnist"
    _make_mnist(data_dir, n_train=32, n_test=16)
    common = ["--mnist-dir", str(data_dir), "--backends", "crossbar", "--steps-per-call", "3"]
    whole = _run(tmp_path, "whole", *common, "--epochs", "2")
    _run(tmp_path, "parts", *common, "--epochs", "1")
    resumed = _run(tmp_path, "parts", *common, "--epochs", "2", "--resume")
    a, b = whole["backends"]["crossbar"], resumed["backends"]["crossbar"]
    assert a["train_loss"] == b["train_loss"] and a["test_error"] == b["test_error"]
    template = train_cnn.make_network("crossbar", train_cnn.build_parser().parse_args(["--batch-size", "8"]), 8)
    template = (template, train_cnn.nn.analog_sgd(0.05).init(template))
    (p1, _), _ = load_pytree(tmp_path / "whole" / "checkpoint_crossbar.npz", template)
    (p2, _), _ = load_pytree(tmp_path / "parts" / "checkpoint_crossbar.npz", template)
    for name, w in lenet.weights(p1).items():
        np.testing.assert_array_equal(w, lenet.weights(p2)[name], err_msg=name)
    saved = json.loads((tmp_path / "whole" / "results.json").read_text())
    assert saved["network"]["c2"] == [401, 32] and len(saved["backends"]["crossbar"]["test_error"]) == 2


@needs_mnist
def test_both_back_ends_learn_mnist(tmp_path):
    res = _run(tmp_path, "real", "--mnist-dir", str(MNIST_DIR), "--limit-train", "800", "--limit-test", "400",
               "--epochs", "2", "--batch-size", "16")
    for name, r in res["backends"].items():
        assert r["initial_test_error"] > 0.75, name  # untrained: near chance (0.9)
        assert r["test_error"][-1] < 0.35, name  # 1600 images seen: far below chance
        assert r["train_loss"][1] < r["train_loss"][0], name
    assert (tmp_path / "real" / "test_error.png").stat().st_size > 10_000


def test_float_twin_matches_the_analog_network_at_initialisation():
    key = jax.random.key(0)  # make_network's key for --seed 0
    x = jax.random.uniform(jax.random.key(5), (3, 784))
    floats = lenet.float_network(key, 3)
    ideal = train_cnn.make_network("crossbar", train_cnn.build_parser().parse_args([]), 3)
    w_f, w_a = lenet.weights(floats), lenet.weights(ideal)
    for name in lenet.layer_shapes():
        # The devices hold the same weights, but where a device's own range (30% bound spread device to device)
        # is narrower than its weight: those few are clipped.
        close = np.abs(np.asarray(w_f[name] - w_a[name])) < 1e-4
        assert close.mean() > 0.95, name
    assert lenet.logits(floats, x, key).shape == (3, 10)


@pytest.mark.parametrize("args, match", [
    (["--batch-size", "0"], "batch_size"),
    (["--lr", "-1"], "lr"),
    (["--backends", "float,gpu"], "backends"),
])
def test_bad_arguments_fail_before_training(tmp_path, args, match):
    with pytest.raises(ValueError, match=match):
        train_cnn.main(["--out", str(tmp_path / "bad"), "--mnist-dir", str(tmp_path / "missing"), *args])
