"""The MLP and its training loop: float and crossbar back ends, checkpoints, resume, the CLI."""

import json
from dataclasses import replace

import jax
import numpy as np
import pytest

from crossbar import training
from crossbar.periphery import ideal_periphery
from crossbar.training import data as datasets
from crossbar.training import mlp
from crossbar.training.backends import CrossbarBackend, FloatBackend
from crossbar.update import PulseUpdate
from devices import presets
from experiments import train_mlp
from tests.test_data import MNIST_DIR, needs_mnist

SMALL = mlp.MLPConfig(sizes=(64, 64, 10), activation="sigmoid", lr=0.05, epochs=8, batch_size=1, seed=0)


@pytest.fixture(scope="module")
def digits():
    return datasets.load_digits()


@pytest.fixture(scope="module")
def float_and_ideal(digits):
    """Float and an idealised crossbar (tiny noise-free steps, exact pulse counts, ideal converters, and
    bounds (+-3) beyond the float weights (which reach about +-1.8 here))."""
    ideal = CrossbarBackend(device=presets.ideal(), w_max=3.0, periphery=ideal_periphery(),
                            update_scheme=PulseUpdate(scheme="deterministic", bl=1_000_000))
    return training.train_compare(SMALL, {"float": FloatBackend(), "ideal": ideal}, digits, progress=False,
                                  retention_times={"1 day": 86400.0})


def test_float_reaches_95_percent_on_digits(float_and_ideal):
    assert float_and_ideal["backends"]["float"]["test_error"][-1] <= 0.05


def test_idealised_crossbar_tracks_float(float_and_ideal):
    res = float_and_ideal["backends"]
    # Pulse counts quantise each update to dw_min = 6e-5: the two runs stay within two of 450 test digits of
    # each other at every epoch, and every weight within a few percent of the largest.
    assert np.max(np.abs(np.subtract(res["ideal"]["test_error"], res["float"]["test_error"]))) <= 2 / 450
    layers = float_and_ideal["layers"]
    for layer_float, layer_ideal in zip(layers["float"], layers["ideal"], strict=True):
        w_float = FloatBackend().weights(layer_float)
        w_ideal = CrossbarBackend(device=presets.ideal()).weights(layer_ideal)
        assert np.max(np.abs(w_float - w_ideal)) < 0.05 * np.max(np.abs(w_float))


def test_ideal_device_keeps_its_weights_over_time(float_and_ideal):
    res = float_and_ideal["backends"]["ideal"]
    assert res["retention"]["1 day"]["test_error"] == pytest.approx(res["test_error"][-1], abs=1e-9)


@pytest.mark.slow  # over 10 s; the default run stays under 6 minutes (CI runs the slow tests too)
@needs_mnist
def test_gokmen_vlasov_device_learns_mnist_subset():
    """One epoch of 3000 MNIST digits: well above chance (10%) and within 10 points of float."""
    data = datasets.load_mnist(MNIST_DIR, limit_train=3000, limit_test=1000)
    cfg = mlp.MLPConfig(sizes=(784, 64, 10), lr=0.01, epochs=1, batch_size=1, seed=1)
    res = training.train_compare(cfg, {"float": FloatBackend(), "gv": CrossbarBackend(presets.gokmen_vlasov())},
                                 data, progress=False, retention_times={})["backends"]
    assert res["gv"]["test_error"][-1] < 0.30
    assert res["gv"]["test_error"][-1] - res["float"]["test_error"][-1] < 0.10
    assert res["gv"]["counters"]["nonfinite"] == 0


def _tiny(digits):
    data = datasets.Dataset(digits.x_train[:300], digits.y_train[:300], digits.x_test[:100], digits.y_test[:100],
                            "digits", 10)
    cfg = replace(SMALL, sizes=(64, 16, 10), epochs=2)
    return cfg, {"float": FloatBackend(), "crossbar": CrossbarBackend(presets.gokmen_vlasov())}, data


@pytest.mark.slow  # over 10 s; the default run stays under 6 minutes (CI runs the slow tests too)
def test_resume_equals_uninterrupted_run(digits, tmp_path):
    cfg, backends, data = _tiny(digits)
    whole = training.train_compare(cfg, backends, data, out_dir=tmp_path / "a", progress=False)
    training.train_compare(replace(cfg, epochs=1), backends, data, out_dir=tmp_path / "b", progress=False)
    resumed = training.train_compare(cfg, backends, data, out_dir=tmp_path / "b", resume=True, progress=False)
    for name in backends:
        assert resumed["backends"][name]["test_error"] == whole["backends"][name]["test_error"]
        assert resumed["backends"][name]["train_loss"] == whole["backends"][name]["train_loss"]
    for a, b in zip(jax.tree_util.tree_leaves(whole["layers"]), jax.tree_util.tree_leaves(resumed["layers"]),
                    strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.slow  # 14 s; resume itself is tested in the default run
def test_resume_refuses_another_configuration(digits, tmp_path):
    cfg, backends, data = _tiny(digits)
    training.train_compare(replace(cfg, epochs=1), backends, data, out_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match="another configuration"):
        training.train_compare(replace(cfg, lr=0.1), backends, data, out_dir=tmp_path, resume=True, progress=False)
    with pytest.raises(ValueError, match="no checkpoint"):
        training.train_compare(cfg, backends, data, out_dir=tmp_path / "empty", resume=True, progress=False)


@pytest.mark.slow  # 15 s
def test_results_json_has_the_documented_fields(digits, tmp_path):
    cfg, backends, data = _tiny(digits)
    training.train_compare(cfg, backends, data, out_dir=tmp_path, progress=False, meta={"dataset": "digits"})
    results = json.loads((tmp_path / training.RESULTS_NAME).read_text())
    assert results["epochs_done"] == cfg.epochs and results["config"]["seed"] == cfg.seed
    for res in results["backends"].values():
        assert len(res["train_loss"]) == len(res["test_error"]) == cfg.epochs
        assert set(res["retention"]) == set(training.RETENTION_TIMES)
        assert res["wall_time_s"] > 0 and set(res["counters"]) >= {"adc_saturated", "probability_clipped"}
        assert 0 <= res["initial_test_error"] <= 1


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    """A write interrupted half-way (Ctrl-C) leaves the previous checkpoint intact and no stray file."""
    from crossbar.training import checkpoint

    tree = {"w": np.arange(3.0)}
    checkpoint.save_pytree(tmp_path / "c.npz", tree, {"epoch": 1})

    def interrupted_savez(f, **arrays):
        f.write(b"half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint.np, "savez", interrupted_savez)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save_pytree(tmp_path / "c.npz", {"w": np.arange(3.0) + 1}, {"epoch": 2})
    monkeypatch.undo()
    loaded, meta = checkpoint.load_pytree(tmp_path / "c.npz", tree)
    assert meta == {"epoch": 1} and list(tmp_path.iterdir()) == [tmp_path / "c.npz"]
    np.testing.assert_array_equal(loaded["w"], np.arange(3.0))


@pytest.mark.parametrize("argv, message", [
    (["--dataset", "cifar"], "valid: digits, mnist"),
    (["--device", "unobtainium"], "valid presets"),
    (["--sizes", "a,b"], "--sizes"),
    (["--config", "huge"], "valid: gokmen_vlasov, small"),
    (["--dataset", "mnist", "--mnist-dir", "/nonexistent/mnist"], "/nonexistent/mnist"),
    (["--set", "variation.c2c=-1"], "c2c"),
    (["--bl", "0"], "bl"),
    (["--epochs", "0"], "epochs"),
])
def test_cli_rejects_bad_input_before_training(argv, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        train_mlp.main([*argv, "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_cli_rejects_unwritable_output_directory(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(SystemExit):
        train_mlp.main(["--out", str(blocker / "out")])
    assert "not writable" in capsys.readouterr().err


def test_mlp_config_rejects_sizes_that_do_not_fit_the_data():
    with pytest.raises(ValueError, match="sizes\\[0\\]"):
        SMALL.validate(n_features=784, n_classes=10)
    with pytest.raises(ValueError, match="activation"):
        replace(SMALL, activation="swish").validate()
