"""Many resumable training runs (crossbar.sweep.runs) and the compilation they share (training.loop._runner)."""

import dataclasses
import functools
import json
from functools import partial

import jax
import numpy as np
import pytest

from crossbar.sweep.runs import TrainingRun, run_all, run_status
from crossbar.training import data as datasets
from crossbar.training import loop, mlp
from crossbar.training.backends import CrossbarBackend, FloatBackend
from devices.params import replace_parameters
from devices.presets import gokmen_vlasov

CFG = mlp.MLPConfig(sizes=(64, 8, 10), lr=0.05, epochs=1)
LOAD = functools.partial(datasets.load_digits)


def _crossbar(c2c=0.3):
    return CrossbarBackend(device=replace_parameters(gokmen_vlasov(), **{"variation.c2c": c2c}), pair="reference")


def _runs(epochs=1):
    cfg = dataclasses.replace(CFG, epochs=epochs)
    return [TrainingRun("float_seed0", cfg, {"float": FloatBackend()}),
            TrainingRun("c2c=0.3_seed0", cfg, {"crossbar": _crossbar(0.3)}, meta={"value": 0.3}),
            TrainingRun("c2c=1_seed1", dataclasses.replace(cfg, seed=1), {"crossbar": _crossbar(1.0)})]


@pytest.mark.slow  # over 10 s; the default run stays under 6 minutes (CI runs the slow tests too)
def test_runs_are_saved_per_network_and_finished_ones_are_not_trained_again(tmp_path):
    runs = _runs()
    results = run_all(runs, LOAD, tmp_path, progress=False)
    assert list(results) == [r.name for r in runs]
    for r in runs:
        assert run_status(tmp_path, r) == ("done", 1)
        saved = json.loads((tmp_path / r.name / "results.json").read_text())
        assert saved["backends"].keys() == results[r.name]["backends"].keys() == r.backends.keys()
        assert 0.0 <= saved["backends"][next(iter(r.backends))]["test_error"][0] < 0.9  # it learned
    stamps = {r.name: (tmp_path / r.name / "results.json").stat().st_mtime_ns for r in runs}
    again = run_all(runs, LOAD, tmp_path, progress=False)
    assert {r.name: (tmp_path / r.name / "results.json").stat().st_mtime_ns for r in runs} == stamps
    assert json.dumps(again, sort_keys=True) == json.dumps(results, sort_keys=True)


@pytest.mark.slow  # 13 s; the study CLIs' own resume tests are in the default run
def test_an_interrupted_study_continues_to_the_result_of_an_uninterrupted_one(tmp_path):
    (run,) = [r for r in _runs(epochs=2) if r.name.startswith("c2c=0.3")]
    whole = run_all([run], LOAD, tmp_path / "whole", progress=False)[run.name]
    # "Interrupted" after its first epoch: the same run with one epoch, then the study asks for two.
    first = dataclasses.replace(run, cfg=dataclasses.replace(run.cfg, epochs=1))
    run_all([first], LOAD, tmp_path / "cut", progress=False)
    assert run_status(tmp_path / "cut", run) == ("partial", 1)
    resumed = run_all([run], LOAD, tmp_path / "cut", progress=False)[run.name]
    for key in ("test_error", "train_loss"):
        assert resumed["backends"]["crossbar"][key] == whole["backends"]["crossbar"][key]


def test_a_failing_run_is_reported_by_name_after_the_others_are_saved(tmp_path):
    good, bad = _runs()[0], dataclasses.replace(_runs()[1], cfg=dataclasses.replace(CFG, sizes=(63, 8, 10)))
    with pytest.raises(RuntimeError, match="c2c=0.3_seed0.*sizes"):
        run_all([bad, good], LOAD, tmp_path, progress=False)
    assert run_status(tmp_path, good)[0] == "done"


def test_bad_studies_fail_before_training(tmp_path):
    run = _runs()[0]
    with pytest.raises(ValueError, match="unique.*float_seed0"):
        run_all([run, run], LOAD, tmp_path, progress=False)
    with pytest.raises(ValueError, match="workers"):
        run_all([run], LOAD, tmp_path, workers=0, progress=False)
    for name in ("", "a/b", ".hidden"):
        with pytest.raises(ValueError, match="run name"):
            TrainingRun(name, CFG, {"float": FloatBackend()})


def test_back_ends_differing_only_in_values_share_one_compilation_and_give_their_own_results():
    a, b = _crossbar(0.3), _crossbar(2.0)
    shared = loop._runner(CFG, a)
    assert loop._runner(dataclasses.replace(CFG, seed=3, epochs=7), b) is shared
    assert loop._runner(CFG, FloatBackend()) is not shared
    # Through the shared jitted step, b's layers train as b's own step trains them (b's c2c, not a's).
    data = datasets.load_digits()
    layers = mlp.init_network(CFG, b, jax.random.key(0))
    x, y = data.x_train[:64].reshape(64, 1, -1), data.y_train[:64].reshape(64, 1)
    own = jax.jit(partial(mlp.train_samples, CFG, b))(layers, x, y, CFG.lr, jax.random.key(1))
    via_shared = shared.train(layers, x, y, CFG.lr, jax.random.key(1))
    np.testing.assert_array_equal(np.asarray(own[1]), np.asarray(via_shared[1]))
    g_own, g_shared = (np.asarray(t[0][0].state.plus.g) for t in (own, via_shared))
    np.testing.assert_array_equal(g_own, g_shared)
    other = shared.train(mlp.init_network(CFG, a, jax.random.key(0)), x, y, CFG.lr, jax.random.key(1))
    assert not np.array_equal(np.asarray(other[0][0].state.plus.g), g_own)  # the value did reach the step


@pytest.mark.slow
def test_worker_processes_give_the_same_results_as_this_process(tmp_path):
    runs = _runs()[1:]
    here = run_all(runs, LOAD, tmp_path / "here", progress=False)
    there = run_all(runs, LOAD, tmp_path / "there", workers=2, progress=False)
    for r in runs:
        assert there[r.name]["backends"]["crossbar"]["test_error"] == here[r.name]["backends"]["crossbar"]["test_error"]
