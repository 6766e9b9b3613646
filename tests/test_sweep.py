"""Parameter sweeps: vmapped grids equal point-by-point evaluation; executors; bad grids; labelled results."""

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import jax
import numpy as np
import pytest

from crossbar.periphery import ideal_periphery
from crossbar.sweep import evaluate_point, grid_points, sweep, sweep_keys
from crossbar.sweep.metrics import PulseCurveMetric, TrainingMetric, dg_for_dw_min, dw_min_of
from crossbar.sweep.result import SweepResult
from crossbar.training import mlp
from crossbar.update import PulseUpdate
from devices.presets import make_device

PULSES = PulseCurveMetric(n_pulses=16, n_devices=32)
GRID = {"dg": [2e-8, 1e-7], "variation.c2c": [0.0, 2.0]}


def _bases():
    return {"soft": make_device("soft_bounds"), "const": make_device("constant_step")}


@pytest.fixture(scope="module")
def pulse_result():
    # Chunks of 2 points: the executor tests below reuse the compiled chunk functions.
    return sweep(PULSES, _bases(), GRID, seeds=2, seed=3, chunk_size=2, progress=False)


def _assert_point_by_point(metric, result, base, grid, seeds, seed, mode="product", rtol=1e-6):
    keys = sweep_keys(seed, seeds)
    for point in grid_points(base, grid, mode):
        for s in range(seeds):
            single = evaluate_point(metric, point.config, keys[s])
            for name, value in single.items():
                finite = np.abs(result[name][np.isfinite(result[name])])
                atol = rtol * (finite.max() if finite.size else 1.0)  # values near 0 (asymmetry) by their scale
                np.testing.assert_allclose(result[name][point.index + (s,)], value, rtol=rtol, atol=atol,
                                           err_msg=f"{name} at {point.describe()}, seed {s}")


def test_pulse_sweep_equals_point_by_point(pulse_result):
    res = pulse_result
    assert res.dims["n_levels"] == ("config", "dg", "variation.c2c", "seed")
    assert res["n_levels"].shape == (2, 2, 2, 2)
    assert res.attrs["compiled_groups"] == 2  # two device classes: two pytree structures
    _assert_point_by_point(PULSES, res, _bases(), GRID, seeds=2, seed=3)


def test_pulse_metrics_are_physical(pulse_result):
    const = pulse_result.sel(config="const", **{"variation.c2c": 0.0})
    # A constant-step device without noise or asymmetry: range / step levels, symmetric, linear.
    device = make_device("constant_step")
    np.testing.assert_allclose(const["n_levels"][0], (device.g_max - device.g_min) / 2e-8, rtol=1e-3)
    np.testing.assert_allclose(const["asymmetry"], 0.0, atol=1e-5)
    assert np.all(const["nonlinearity"][0] < 1e-3)
    soft = pulse_result.sel(config="soft", dg=1e-7, **{"variation.c2c": 0.0})
    assert np.all(soft["nonlinearity"] > const["nonlinearity"][1])  # soft bounds bend the curve
    noisy = pulse_result.sel(config="const", dg=2e-8)
    assert np.all(noisy["n_levels_resolved"][1] < noisy["n_levels_resolved"][0])  # noise above the step blurs levels


def test_asymmetry_tracks_up_down():
    res = sweep(PULSES, make_device("constant_step"), {"variation.up_down": [-0.2, 0.0, 0.3]}, progress=False)
    np.testing.assert_allclose(res["asymmetry"][:, 0], [-0.2, 0.0, 0.3], atol=1e-4)


@pytest.mark.slow  # two training programs to compile; the pulse sweep checks the same path point by point
def test_training_sweep_equals_point_by_point():
    metric = TrainingMetric(cfg=mlp.MLPConfig(sizes=(64, 4, 10), lr=0.05), n_samples=16,
                            periphery=ideal_periphery())
    base = make_device("gokmen_vlasov")
    grid = {"variation.c2c": [0.0, 0.5]}
    res = sweep(metric, base, grid, seeds=2, progress=False)
    assert res["test_error"].shape == (2, 2)
    assert np.all((res["test_error"] >= 0) & (res["test_error"] <= 1))
    _assert_point_by_point(metric, res, base, grid, seeds=2, seed=0, rtol=1e-5)


@pytest.mark.slow  # a wired training program under vmap to compile
def test_a_training_sweep_reads_through_the_wires_it_is_given():
    from crossbar.circuit import WireResistance

    cfg = mlp.MLPConfig(sizes=(64, 4, 10), lr=0.05)
    base, grid = make_device("gokmen_vlasov"), {"variation.c2c": [0.0, 0.5]}
    results = [sweep(TrainingMetric(cfg=cfg, n_samples=16, periphery=ideal_periphery(), wires=wires), base, grid,
                     progress=False)
               for wires in (None, WireResistance(r_row=1e-9, r_col=1e-9), WireResistance(r_row=500.0, r_col=500.0))]
    ideal, negligible, strong = (np.asarray(r["test_error"]) for r in results)
    np.testing.assert_allclose(negligible, ideal, atol=1 / 450)  # 1e-9 ohm: the ideal training, up to a sample
    assert not np.allclose(strong, ideal)  # 500 ohm segments (an IR drop of tens of percent) change it


def test_dask_executor_equals_local(pulse_result):
    distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed "
                                      "(pip install 'memristor-crossbar[dask]')")
    with distributed.LocalCluster(processes=False, n_workers=1, threads_per_worker=1,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        res = sweep(PULSES, _bases(), GRID, seeds=2, seed=3, executor=client.get_executor(), chunk_size=2,
                    progress=False)
    assert res.attrs["chunks"] == 4
    for name in pulse_result.variables:
        np.testing.assert_array_equal(res[name], pulse_result[name], err_msg=name)


def test_process_pool_equals_local():
    metric = PulseCurveMetric(n_pulses=8, n_devices=16)
    grid = {"dg": [2e-8, 5e-8, 1e-7]}
    local = sweep(metric, make_device("soft_bounds"), grid, seeds=2, chunk_size=2, progress=False)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        remote = sweep(metric, make_device("soft_bounds"), grid, seeds=2, executor=pool, chunk_size=2,
                       progress=False)
    for name in local.variables:
        np.testing.assert_array_equal(remote[name], local[name], err_msg=name)


class _MustNotRun:
    """A metric that fails the test if anything is computed."""

    def prepare(self, device):
        return device

    def __call__(self, params, key):
        raise AssertionError("compute started before the grid was checked")


@pytest.mark.parametrize("grid, mode, match", [
    ({"dgg": [1e-8]}, "product", r"unknown parameter 'dgg'.*valid names: .*dg"),
    ({"variation.c2": [0.1]}, "product", r"valid names: .*variation\.c2c"),
    ({"dg": []}, "product", r"grid axis 'dg' is empty"),
    ({}, "product", r"empty grid"),
    ({"dg": [1e-8, 2e-8], "variation.c2c": [0.1]}, "zip", r"equal lengths.*'dg': 2.*'variation.c2c': 1"),
    ({"dg": [1e-8, -1e-8]}, "product", r"grid point dg=-1e-08: `dg` must be > 0"),
    ({"dg": [1e-8], "variation.c2c": [0.1, -0.2]}, "product", r"grid point dg=1e-08, variation.c2c=-0.2: `c2c`"),
    ({"g_max": [1e-5, 1e-12]}, "zip", r"grid point g_max=1e-12: `g_max - g_min` must exceed `dg`"),
])
def test_bad_grids_rejected_before_compute(grid, mode, match):
    with pytest.raises(ValueError, match=match):
        sweep(_MustNotRun(), make_device("soft_bounds"), grid, mode=mode, progress=False)


def test_bad_point_of_a_named_config_is_named():
    with pytest.raises(ValueError, match=r"grid point config='b', dg=8e-06: `g_max - g_min` must exceed `dg`"):
        sweep(_MustNotRun(), {"a": make_device("soft_bounds"), "b": make_device("soft_bounds", {"g_max": 5e-6})},
              {"dg": [1e-8, 8e-6]}, progress=False)
    with pytest.raises(ValueError, match=r"`seeds` must be an int >= 1"):
        sweep(_MustNotRun(), make_device("soft_bounds"), {"dg": [1e-8]}, seeds=0)


def test_zip_mode_and_result_io(tmp_path):
    grid = {"dg": [2e-8, 5e-8], "variation.c2c": [0.0, 0.2]}
    res = sweep(PULSES, make_device("soft_bounds"), grid, mode="zip", seeds=2, progress=False,
                out=tmp_path / "zipped")
    assert res.dims["n_levels"] == ("point", "seed")
    assert res.coords["variation.c2c"][0] == "point"
    np.testing.assert_array_equal(res.sel(dg=5e-8)["n_levels"], res["n_levels"][1])
    loaded = SweepResult.load(tmp_path / "zipped")
    assert (tmp_path / "zipped.npz").exists() and (tmp_path / "zipped.json").exists()
    for name in res.variables:
        np.testing.assert_array_equal(loaded[name], res[name])
    assert loaded.dims == res.dims and loaded.attrs["grid"] == {k: list(v) for k, v in grid.items()}
    assert res.mean("seed")["n_levels"].shape == (2,)
    with pytest.raises(KeyError, match="not on the grid"):
        res.sel(dg=3e-8)


def test_result_plots(pulse_result, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2)
    pulse_result.sel(config="soft").plot("n_levels", x="dg", y="variation.c2c", ax=a)
    pulse_result.sel(config="soft", dg=1e-7).plot("nonlinearity", ax=b)
    fig.savefig(tmp_path / "p.png")
    plt.close(fig)
    assert (tmp_path / "p.png").stat().st_size > 0


def test_dw_min_helpers():
    device = make_device("gokmen_vlasov")
    assert dw_min_of(device) == pytest.approx(0.001)
    np.testing.assert_allclose(dg_for_dw_min(device, 0.001), device.dg, rtol=1e-9)
    assert isinstance(jax.random.key_data(sweep_keys(0, 3)), jax.Array)


@pytest.mark.slow  # two training programs to compile
def test_float_reference_is_paired_with_the_crossbar_networks_of_the_same_seeds():
    # A crossbar of the "ideal" update scheme and ideal periphery is float arithmetic in conductances: paired by
    # seed, its network must match the float reference (same initial weights, sample order); a GV device not.
    cfg = mlp.MLPConfig(sizes=(64, 8, 10), lr=0.05)
    exact = TrainingMetric(cfg=cfg, n_samples=400, periphery=ideal_periphery(), curve_points=4,
                           update_scheme=PulseUpdate(scheme="ideal"), w_max=50.0)
    keys = sweep_keys(0, 3)
    ref = jax.vmap(exact.float_reference)(keys)
    res = sweep(exact, make_device("ideal"), {"g_max": [10e-6]}, seeds=3, progress=False)
    np.testing.assert_allclose(res["test_error"][0], np.asarray(ref["test_error"]), atol=1 / 450 + 1e-6)
    np.testing.assert_allclose(res["train_loss_curve"][0], np.asarray(ref["train_loss_curve"]), rtol=1e-3)
    assert res.dims["train_loss_curve"] == ("g_max", "seed", "stretch")
    curve = np.asarray(ref["train_loss_curve"])
    assert curve.shape == (3, 4) and np.all(curve[:, -1] < curve[:, 0])  # it learns: the loss falls
    with pytest.raises(ValueError, match="curve_points"):
        TrainingMetric(cfg=cfg, n_samples=400, curve_points=3)
