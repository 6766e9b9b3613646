"""The sweeps' training metric with a transfer algorithm (`TrainingMetric(algorithm=...)`): under `jax.vmap` over
two device parameter values it equals the two separate runs (same keys), on a symmetric device it trains, and bad
algorithms and hyperparameters are named."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from crossbar import transfer as T
from crossbar.periphery import ideal_periphery
from crossbar.sweep import evaluate_point, grid_points, sweep, sweep_keys
from crossbar.sweep.metrics import TrainingMetric
from crossbar.training import mlp
from crossbar.training.backends import TransferBackend
from devices import SoftBounds

# A symmetric soft-bounds device (symmetry point mid-range, no spread or noise): the transfer algorithms' ideal case.
DEVICE = SoftBounds(g_min=0.0, g_max=10e-6, dg=2 * 10e-6 / 200)
# dw_min 0.02 and 0.04 (dg 1e-7, 2e-7); a single-layer network keeps the compilations short, and so does the
# mid-range reference, which is this device's symmetry point (computing it per device compiles a bisection).
GRID = {"dg": [1e-7, 2e-7]}
HYPER = {"fast_lr": 0.2, "transfer_lr": 20.0, "max_steps": 31}
METRIC = TrainingMetric(cfg=mlp.MLPConfig(sizes=(64, 10), lr=0.1, activation="tanh"), n_samples=200,
                        periphery=ideal_periphery(), pair="reference", w_max=1.0, curve_points=4,
                        algorithm="c_ttv2", hyperparameters=HYPER, reference="nominal")


@pytest.fixture(scope="module")
def swept():
    """The two grid points in one vmapped call (one compilation)."""
    res = sweep(METRIC, DEVICE, GRID, seeds=1, progress=False)
    assert res.attrs["compiled_groups"] == 1 and res.attrs["chunks"] == 1
    return res


@pytest.mark.slow  # 12 s of compilation; the default run keeps the metric's construction tests
def test_a_transfer_sweep_trains_on_a_symmetric_device(swept):
    errors, curves = np.asarray(swept["test_error"][:, 0]), np.asarray(swept["train_loss_curve"][:, 0])
    assert errors[0] != errors[1]  # the swept dw_min changes the training
    assert np.all(errors < 0.45), errors  # chance: 0.9 (measured 0.26 and 0.33; float SGD: 0.14)
    assert np.all(curves[:, -1] < 0.6 * curves[:, 0]), curves
    described = swept.attrs["metric"]
    assert described["algorithm"] == "c_ttv2" and described["hyperparameters"]["transfer_lr"] == 20.0


@pytest.mark.slow  # a second compilation (the unbatched metric), 10 s
def test_a_vmapped_transfer_sweep_equals_the_separate_runs(swept):
    key = sweep_keys(0, 1)[0]
    for i, point in enumerate(grid_points(DEVICE, GRID)):
        single = evaluate_point(METRIC, point.config, key)
        for name, value in single.items():
            np.testing.assert_allclose(swept[name][i, 0], value, rtol=1e-5, atol=1e-6, err_msg=f"{name} at {point}")


def test_the_metric_builds_the_transfer_layers_it_is_asked_for():
    cmps = METRIC.prepare(DEVICE)
    assert [(c.rows, c.cols) for c in cmps] == [(65, 10)] and all(isinstance(c, T.Compound) for c in cmps)
    assert isinstance(METRIC.backend(DEVICE), TransferBackend)
    assert METRIC.transfer_algorithm == T.make_algorithm("c_ttv2", **HYPER)
    # The fields stay as given: `replace` rebuilds the algorithm from its name and hyperparameters.
    assert replace(METRIC, n_samples=100).transfer_algorithm == METRIC.transfer_algorithm
    built = TrainingMetric(algorithm=T.make_algorithm("agad", in_chop_prob=0.2))
    assert built.transfer_algorithm.in_chop_prob == 0.2
    assert TrainingMetric().transfer_algorithm is None and TrainingMetric(algorithm="sgd").transfer_algorithm is None


@pytest.mark.parametrize("kwargs, error, match", [
    ({"algorithm": "adam"}, ValueError, "algorithm"),
    ({"algorithm": "c_ttv2", "hyperparameters": {"thres_scale": 1.0}}, ValueError, "thres_scale"),
    ({"algorithm": "agad", "hyperparameters": {"fast_lr": -1.0}}, ValueError, "fast_lr"),
    ({"algorithm": "ttv2", "hyperparameters": {"gamma": 0.5}}, ValueError, "gamma"),
    ({"algorithm": "sgd", "hyperparameters": {"fast_lr": 0.1}}, ValueError, "hyperparameters"),
    ({"algorithm": T.make_algorithm("ttv2"), "hyperparameters": {"fast_lr": 0.1}}, ValueError, "hyperparameters"),
    ({"algorithm": 3}, TypeError, "algorithm"),
    ({"algorithm": "c_ttv2", "reference": "guessed"}, ValueError, "reference"),
    ({"algorithm": "c_ttv2", "reference_std": -0.1}, ValueError, "reference_std"),
])
def test_bad_algorithms_and_hyperparameters_are_named(kwargs, error, match):
    with pytest.raises(error, match=match):
        TrainingMetric(**kwargs)
