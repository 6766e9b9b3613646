"""Studies on a dask cluster: run_all(executor=), crossbar.sweep.cluster and the study CLIs' --scheduler.

One LocalCluster of two single-threaded worker processes on 127.0.0.1 serves the whole file. The networks are
GV2016's on the digits (64-4-10, 2 epochs) so that the study CLI's networks are the same programs; the workers
share a JAX compilation cache, so the file compiles them once (most of its time) rather than once per process.
The tests that need the cluster are marked slow (starting it and training on it takes half a minute of the
default run's budget); CI runs them in its slow step (`.ci/run`).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import shutil
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from crossbar.sweep import cluster as cluster_mod
from crossbar.sweep.runs import TrainingRun, run_all, run_status
from crossbar.training import data as datasets
from crossbar.training import mlp
from crossbar.training.backends import FloatBackend
from experiments.gv2016_axes import AXES

distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed (pip install -e '.[dask]')")

CFG = mlp.gokmen_vlasov_config(sizes=(64, 4, 10), lr=0.05, epochs=2)
LOAD = functools.partial(datasets.load_digits)
UNREACHABLE = "tcp://127.0.0.1:9"  # the discard port: nothing listens there
RUNS = [TrainingRun("float_seed0", CFG, {"float": FloatBackend()}),
        TrainingRun("c2c=0.3_seed0", CFG, {"crossbar": AXES["c2c"].setting(0.3).backend()}),
        TrainingRun("c2c=1_seed1", dataclasses.replace(CFG, seed=1), {"crossbar": AXES["c2c"].setting(1.0).backend()})]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    cache = {"JAX_COMPILATION_CACHE_DIR": str(tmp_path_factory.mktemp("jax_cache")),
             "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None, preload=["crossbar.sweep.cluster"], env=cache) as local, \
            distributed.Client(local, set_as_default=False) as c:
        yield c


@pytest.fixture(scope="module")
def here(client, tmp_path_factory):
    """The study trained by one process, one run after another (workers=1): what every cluster run must reproduce.

    That process is one of the cluster's, so that its compilation fills the cache the other worker reads.
    """
    out = tmp_path_factory.mktemp("here")
    return out, client.submit(run_all, RUNS, LOAD, out, workers=1, progress=False, pure=False).result()


def _curves(results):
    return {name: {b: (res["test_error"], res["train_loss"]) for b, res in r["backends"].items()}
            for name, r in results.items()}


@pytest.mark.slow
def test_a_cluster_trains_the_same_networks_as_this_process(client, here, tmp_path):
    there = run_all(RUNS, LOAD, tmp_path, executor=client.get_executor(pure=False), progress=False)
    assert _curves(there) == _curves(here[1])
    for r in RUNS:  # written by the workers, into the run's own directory
        assert run_status(tmp_path, r) == ("done", CFG.epochs)


@pytest.mark.slow
def test_a_study_a_killed_worker_left_completes_to_the_same_results_and_trains_nothing_twice(client, here, tmp_path):
    """As a killed worker leaves a study: one run finished, one cut after its first epoch, one not started."""
    executor = client.get_executor(pure=False)
    done, cut, new = RUNS
    shutil.copytree(here[0] / done.name, tmp_path / done.name)
    run_all([dataclasses.replace(cut, cfg=dataclasses.replace(CFG, epochs=1))], LOAD, tmp_path, executor=executor,
            progress=False)
    (tmp_path / cut.name / "tmpk3j2_x.results.json").write_bytes(b'{"epochs_do')  # a write the kill cut short
    assert [run_status(tmp_path, r)[0] for r in RUNS] == ["done", "partial", "new"]
    done_file = tmp_path / done.name / "results.json"
    done_stamp, done_bytes = done_file.stat().st_mtime_ns, done_file.read_bytes()
    first_epoch = json.loads((tmp_path / cut.name / "results.json").read_text())["backends"]["crossbar"]

    resumed = run_all(RUNS, LOAD, tmp_path, executor=executor, progress=False)
    assert _curves(resumed) == _curves(here[1])
    # Nothing recomputed: the finished run's file is untouched, and the cut run kept its first epoch's record (its
    # measured speed is a fresh number each time an epoch is trained).
    assert (done_file.stat().st_mtime_ns, done_file.read_bytes()) == (done_stamp, done_bytes)
    assert resumed[cut.name]["backends"]["crossbar"]["samples_per_s"][0] == first_epoch["samples_per_s"][0]
    stamps = {r.name: (tmp_path / r.name / "results.json").stat().st_mtime_ns for r in RUNS}
    again = run_all(RUNS, LOAD, tmp_path, executor=executor, progress=False)
    assert {r.name: (tmp_path / r.name / "results.json").stat().st_mtime_ns for r in RUNS} == stamps
    assert json.dumps(again, sort_keys=True) == json.dumps(resumed, sort_keys=True)


@pytest.mark.slow
def test_a_run_whose_worker_is_killed_mid_way_resumes_on_another_worker(client, tmp_path):
    run = dataclasses.replace(RUNS[1], cfg=dataclasses.replace(CFG, epochs=10))  # seconds to kill it in
    whole = client.submit(run_all, [run], LOAD, tmp_path / "whole", workers=1, progress=False, pure=False).result()
    out = tmp_path / "killed"
    with ThreadPoolExecutor(1) as driver:  # the study's loop, while this thread kills its worker
        study = driver.submit(run_all, [run], LOAD, out, executor=client.get_executor(pure=False), progress=False,
                              poll_s=0.1)
        deadline = time.monotonic() + 120
        # An epoch's checkpoint is written just before its results.json: wait for both, so `before` can be read.
        while run_status(out, run)[1] < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        busy = [w for w, keys in client.processing().items() if keys]
        before = json.loads((out / run.name / "results.json").read_text())
        for pid in client.run(os.getpid, workers=busy).values():
            os.kill(pid, signal.SIGKILL)  # as the OOM killer or a lost node ends it: no clean-up
        resumed = study.result(timeout=300)[run.name]
    assert len(busy) == 1 and busy[0] not in client.scheduler_info()["workers"]  # it died (its nanny restarts it)
    assert before["epochs_done"] < run.cfg.epochs
    assert _curves({run.name: resumed}) == _curves(whole)
    # Resumed from the checkpoint, not started again: the epochs finished before the kill kept their records.
    n = before["epochs_done"]
    assert resumed["backends"]["crossbar"]["samples_per_s"][:n] == before["backends"]["crossbar"]["samples_per_s"]


@pytest.mark.slow
def test_study_errors_are_clear(client, tmp_path):
    with pytest.raises(ValueError, match="workers=2.*executor"):
        run_all(RUNS, LOAD, tmp_path, workers=2, executor=client.get_executor(), progress=False)
    with pytest.raises(ValueError, match="executor must be"):
        run_all(RUNS, LOAD, tmp_path, executor="tcp://127.0.0.1:8786", progress=False)


@pytest.mark.slow
def test_dask_workers_preloaded_with_the_cluster_module_pin_themselves_to_cores_of_their_own(client):
    cores = client.run(lambda: sorted(os.sched_getaffinity(0)))
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one core: nothing to share out")
    assert all(len(c) == 1 for c in cores.values()) and len({c[0] for c in cores.values()}) == len(cores)


def test_a_core_is_claimed_by_one_process_at_a_time(tmp_path):
    held = len(cluster_mod._HELD)
    try:
        assert [cluster_mod.claim_core(tmp_path, cores=[5, 7]) for _ in range(3)] == [5, 7, None]
        cluster_mod._HELD.pop(held).close()  # core 5's holder ends
        assert cluster_mod.claim_core(tmp_path, cores=[5, 7]) == 5
    finally:
        while len(cluster_mod._HELD) > held:
            cluster_mod._HELD.pop().close()


@pytest.mark.slow
def test_the_helper_reaches_the_cluster_and_fails_fast_and_clearly_without_one(client, tmp_path):
    with cluster_mod.executor_from_scheduler(client.scheduler.address) as executor:
        assert executor.submit(os.getpid).result() != os.getpid()  # it ran in a worker process
    t0 = time.monotonic()
    with pytest.raises(ConnectionError, match=f"{UNREACHABLE}.*within 1 s.*dask scheduler"):
        with cluster_mod.executor_from_scheduler(UNREACHABLE, timeout_s=1):
            pass
    assert time.monotonic() - t0 < 10
    with pytest.raises(ConnectionError, match="scheduler file"):
        with cluster_mod.executor_from_scheduler(str(tmp_path / "scheduler.json")):
            pass
    with pytest.raises(ValueError, match="timeout_s"):
        with cluster_mod.executor_from_scheduler("tcp://127.0.0.1:8786", timeout_s=0):
            pass


@pytest.mark.slow
def test_gv2016_study_runs_on_the_cluster_given_by_scheduler(client, tmp_path, capsys, monkeypatch):
    from experiments import gv2016_sensitivity as study

    argv = ["--dataset", "digits", "--axes", "c2c", "--seeds", "1", "--epochs", "1", "--sizes", "4", "--lr", "0.05",
            "--out", str(tmp_path), "--no-progress"]
    with pytest.raises(SystemExit):
        study.main([*argv, "--workers", "2", "--scheduler", client.scheduler.address])
    assert "not allowed with argument" in capsys.readouterr().err
    monkeypatch.setattr(cluster_mod, "CONNECT_TIMEOUT_S", 1.0)
    with pytest.raises(SystemExit):
        study.main([*argv, "--scheduler", UNREACHABLE])
    assert f"--scheduler: no dask scheduler answered at '{UNREACHABLE}'" in capsys.readouterr().err

    with distributed.get_task_stream(client=client) as tasks:
        summary = study.main([*argv, "--scheduler", client.scheduler.address])
    trained = [t for t in tasks.data if t["key"].startswith("_train-")]
    assert len(trained) == 4  # float, baseline, c2c=1, c2c=3: each a task of the cluster
    assert summary["axes"]["c2c"]["seeds_finished"] == [1, 1, 1]


def test_neurosim_table_scheduler_option_fails_clearly_without_a_cluster(tmp_path, capsys, monkeypatch):
    from experiments import neurosim_table

    monkeypatch.setattr(cluster_mod, "CONNECT_TIMEOUT_S", 1.0)
    with pytest.raises(SystemExit):
        neurosim_table.main(["--only", "neurosim_epiram", "--epochs", "1", "--out", str(tmp_path),
                             "--scheduler", UNREACHABLE])
    assert f"--scheduler: no dask scheduler answered at '{UNREACHABLE}'" in capsys.readouterr().err


@pytest.mark.slow
def test_neurosim_table_trains_its_devices_on_the_cluster_given_by_scheduler(client, tmp_path, capsys):
    from experiments import neurosim_table

    argv = ["--only", "neurosim_epiram", "neurosim_pcmo", "--epochs", "1", "--limit-train", "300",
            "--out", str(tmp_path), "--no-progress"]
    with distributed.get_task_stream(client=client) as tasks:
        summary = neurosim_table.main([*argv, "--scheduler", client.scheduler.address])
    assert sorted(t["key"].split("-")[0] for t in tasks.data if t["key"].startswith("_run_device")) == [
        "_run_device_task"] * 2
    for row in summary["rows"]:  # the table is the numbers the workers wrote
        res = json.loads((tmp_path / row["device"] / "results.json").read_text())
        assert row["crossbar_test_error"] == res["backends"]["crossbar"]["test_error"][-1]
    capsys.readouterr()
    assert neurosim_table.main([*argv, "--scheduler", UNREACHABLE])["rows"] == summary["rows"]  # all kept: no cluster
    assert capsys.readouterr().out.count("finished earlier, kept") == 2
