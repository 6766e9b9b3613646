"""The GOH2017 CNN experiment: it learns on MNIST, resumes to the same result, rejects bad arguments."""

import json

import jax
import numpy as np
import pytest

from crossbar.training.checkpoint import load_pytree
from experiments import lenet, train_cnn
from tests.test_data import MNIST_DIR, _make_mnist, needs_mnist


def _run(tmp_path, name, *extra, batch_size=8):
    return train_cnn.main(["--out", str(tmp_path / name), "--no-progress", "--batch-size", str(batch_size), *extra])


@pytest.mark.slow  # half a minute; the training loop's resume is checked at small size in test_training (CI runs both)
def test_resumed_run_equals_uninterrupted(tmp_path):
    data_dir = tmp_path / "mnist"
    _make_mnist(data_dir, n_train=16, n_test=8)
    # Two chunks of two steps of 4 images per epoch: resumed across chunks, and one chunk shape to compile (a
    # ragged last chunk compiled a second program and doubled this test's time). The conv layers' updates run
    # patch after patch, so the images trained are most of this test's time: as few as show the resume.
    common = ["--mnist-dir", str(data_dir), "--backends", "crossbar", "--steps-per-call", "2"]
    whole = _run(tmp_path, "whole", *common, "--epochs", "2", batch_size=4)
    _run(tmp_path, "parts", *common, "--epochs", "1", batch_size=4)
    resumed = _run(tmp_path, "parts", *common, "--epochs", "2", "--resume", batch_size=4)
    a, b = whole["backends"]["crossbar"], resumed["backends"]["crossbar"]
    assert a["train_loss"] == b["train_loss"] and a["test_error"] == b["test_error"]
    assert a["train_samples"] == b["train_samples"] == 32
    for la, lb in zip(a["events"]["train"], b["events"]["train"], strict=True):  # counted across the resume too
        assert la == pytest.approx(lb, rel=1e-6)
    template = train_cnn.make_network("crossbar", train_cnn.build_parser().parse_args(["--batch-size", "4"]), 4)
    template = (template, train_cnn.nn.analog_sgd(0.05).init(template))
    (p1, _), _ = load_pytree(tmp_path / "whole" / "checkpoint_crossbar.npz", template)
    (p2, _), _ = load_pytree(tmp_path / "parts" / "checkpoint_crossbar.npz", template)
    for name, w in lenet.weights(p1).items():
        np.testing.assert_array_equal(w, lenet.weights(p2)[name], err_msg=name)
    saved = json.loads((tmp_path / "whole" / "results.json").read_text())
    assert saved["network"]["c2"] == [401, 32] and len(saved["backends"]["crossbar"]["test_error"]) == 2


@pytest.mark.slow  # the CNN's CLI end to end (half a minute of compilation; CI runs it): dense layers' events are
# checked at small size in test_energy, the conv layers' tape per patch in test_nn_conv
def test_energy_report_counts_every_patch_read_and_prices_the_run(tmp_path):
    data_dir = tmp_path / "mnist"
    _make_mnist(data_dir, n_train=32, n_test=16)
    res = _run(tmp_path, "energy", "--mnist-dir", str(data_dir), "--backends", "crossbar", "--epochs", "1",
               "--energy", "--cost", "adc_fom=1e-14")
    events = dict(zip(lenet.layer_shapes(), res["backends"]["crossbar"]["events"]["train"], strict=True))
    patches, steps = lenet.patches(), 32 // 8
    for i, (name, ev) in enumerate(events.items()):
        # One forward read per patch (and per image for a dense layer); re-reads come on top.
        assert ev["forward.reads"] - ev["forward.rereads"] == 32 * patches[name], name
        # The first convolution's input is the image: no transpose read; every other layer reads each error back.
        if i == 0:
            assert ev["backward.reads"] == 0
        else:
            assert ev["backward.reads"] - ev["backward.rereads"] == 32 * patches[name], name
        assert ev["digital_ops"] == pytest.approx(steps * lenet.digital_ops(8)[name], rel=1e-6)
        assert ev["update.coincidences"] > 0
    # By hand for the first convolution: a tanh per output (24 x 24 x 16) and 3 comparisons per pooled output
    # (12 x 12 x 16), nothing backward (no transpose read); 32 images.
    assert events["c1"]["digital_ops"] == pytest.approx(32 * (24 * 24 * 16 + 3 * 12 * 12 * 16), rel=1e-6)
    report = json.loads((tmp_path / "energy" / "energy.json").read_text())
    assert report["samples"] == 32 and report["costs"]["adc_fom"] == 1e-14
    # im2col FLOPs by hand, per image: forward + update (4) on K1 26 x 16 at 576 positions, forward + transpose +
    # update (6) on K2 401 x 32 at 64 positions, on W3 513 x 128 and on W4 129 x 10.
    flops = 4 * 26 * 16 * 576 + 6 * 401 * 32 * 64 + 6 * 513 * 128 + 6 * 129 * 10
    assert report["gpu"]["flops"] == pytest.approx(32 * flops, rel=1e-9)
    assert report["chip"]["energy_j"]["total"] == pytest.approx(sum(la["energy_j"]["total"] for la in report["layers"]))
    assert (tmp_path / "energy" / "energy.png").stat().st_size > 10_000


@pytest.mark.slow  # two CNN trainings on MNIST (34 s); the default run keeps the CNN's resume and unit tests
@needs_mnist
def test_both_back_ends_learn_mnist(tmp_path):
    res = _run(tmp_path, "real", "--mnist-dir", str(MNIST_DIR), "--limit-train", "800", "--limit-test", "400",
               "--epochs", "2", "--batch-size", "16")
    for name, r in res["backends"].items():
        assert r["initial_test_error"] > 0.75, name  # untrained: near chance (0.9)
        assert r["test_error"][-1] < 0.35, name  # 1600 images seen: far below chance
        assert r["train_loss"][1] < r["train_loss"][0], name
    assert (tmp_path / "real" / "test_error.png").stat().st_size > 10_000


@pytest.mark.slow  # the CNN compiled twice
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
    (["--energy", "--backends", "float"], "backends must include crossbar"),
    (["--energy", "--gpu", "H9000"], "--gpu"),
    (["--energy", "--cost", "adc_fom=-1"], "adc_fom"),
])
def test_bad_arguments_fail_before_training(tmp_path, args, match):
    with pytest.raises(ValueError, match=match):
        train_cnn.main(["--out", str(tmp_path / "bad"), "--mnist-dir", str(tmp_path / "missing"), *args])
