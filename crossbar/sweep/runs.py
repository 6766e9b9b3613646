"""Many resumable training runs: one directory per network, run here, in worker processes or on a cluster.

A study of tens of networks (one per parameter value and seed) is a list of `TrainingRun`s. Each run trains its
network(s) with `crossbar.training.train_compare` into its own directory, which writes a checkpoint and
`results.json` after every epoch (atomically). So an interrupted study continues where it stopped: finished
runs are read back, not recomputed; a run cut mid-way resumes from its last finished epoch (only the epoch in
progress is lost); nothing finished is overwritten.

Where it runs: `workers=1` (the default) trains the runs one after another in this process; `workers=N` spreads
them over N spawned processes (JAX starts fresh in each), each pinned to its own CPU core where the OS allows.
Why pin: at batch 1 a GV2016 network is a chain of small operations, and XLA's CPU thread pool spends more on
handing them between threads than it gains (measured on this 2-core machine: 294 us per sample on one pinned core,
351 us with XLA's two threads), so two pinned workers train about 2.4x the networks per hour of one process.
Mini-batch training (batch 64) does use XLA's threads; there, run fewer workers.

`executor=` runs them on any `concurrent.futures.Executor` instead, e.g. a dask cluster's
(`crossbar.sweep.cluster.executor_from_scheduler`, or `Client.get_executor()`): one task per run, every worker
writing into its run's directory, so `out_dir` must be on a filesystem every worker shares, at the same path.
A run whose worker dies is resubmitted by dask and resumes from its last checkpoint on another worker; a study
whose driver stops continues when the same call is made again. Pinning is then the workers' business (one
single-threaded worker process per core; `crossbar.sweep.cluster` pins dask workers when preloaded).
"""

from __future__ import annotations

import concurrent.futures as futures
import functools
import json
import multiprocessing
import os
import pickle
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from crossbar.training import mlp
from crossbar.training.checkpoint import check_writable
from crossbar.training.loop import CHECKPOINT_NAME, RESULTS_NAME, train_compare
from devices.validation import check_int

__all__ = ["TrainingRun", "run_status", "run_all"]


@dataclass(frozen=True)
class TrainingRun:
    """One network of a study (or several trained side by side, e.g. float and crossbar).

    Attributes:
        name: Directory name of the run, unique within the study (letters, digits, `._=-`).
        cfg: Network and schedule; `cfg.seed` sets its initial weights, sample order and noise.
        backends: {label: back end} trained side by side (`train_compare`).
        meta: JSON-able description stored in its results (the study's axis, value, ...).
        retention_times: {label: seconds} evaluated after training (default: none).
    """

    name: str
    cfg: mlp.MLPConfig
    backends: dict[str, Any]
    meta: dict = field(default_factory=dict)
    retention_times: dict[str, float] = field(default_factory=dict)

    def __post_init__(self):
        if not self.name or not all(c.isalnum() or c in "._=-" for c in self.name) or self.name.startswith("."):
            raise ValueError(f"run name must be letters, digits and ._=- (a directory name); got {self.name!r}")
        if not self.backends:
            raise ValueError(f"run {self.name!r} has no back ends")


def run_status(out_dir, run: TrainingRun) -> tuple[str, int]:
    """("done" | "partial" | "new", epochs finished) of `run` under `out_dir`."""
    run_dir = Path(out_dir) / run.name
    try:
        results = json.loads((run_dir / RESULTS_NAME).read_text())
    except (OSError, ValueError):
        return ("partial" if (run_dir / CHECKPOINT_NAME).exists() else "new"), 0
    epochs = int(results.get("epochs_done", 0))
    finished = epochs >= run.cfg.epochs and all("retention" in b for b in results.get("backends", {}).values())
    return ("done" if finished else "partial"), epochs


def _load_results(out_dir, run: TrainingRun) -> dict:
    return json.loads((Path(out_dir) / run.name / RESULTS_NAME).read_text())


# ---- what a worker runs ------------------------------------------------------------------------------------------
_DATA: dict[bytes, Any] = {}


def _data(load_data: Callable[[], Any]):
    """The dataset of `load_data()`, loaded once per process."""
    token = pickle.dumps(load_data)
    if token not in _DATA:
        _DATA[token] = load_data()
    return _DATA[token]


def _train(run: TrainingRun, load_data: Callable[[], Any], out_dir: str) -> dict:
    """Train (or finish) one run into out_dir/run.name; returns its results (without the layers)."""
    if not Path(out_dir).is_dir():  # the caller made it: absent here means a worker that does not share it
        raise FileNotFoundError(f"study directory {out_dir} does not exist on {socket.gethostname()}: with an "
                                "executor, out_dir must be on a filesystem every worker shares, at the same path")
    status, _ = run_status(out_dir, run)
    if status == "done":
        return _load_results(out_dir, run)
    results = train_compare(run.cfg, run.backends, _data(load_data), out_dir=Path(out_dir) / run.name,
                            resume=status == "partial" and (Path(out_dir) / run.name / CHECKPOINT_NAME).exists(),
                            progress=False, retention_times=run.retention_times, meta=run.meta)
    results.pop("layers", None)
    return results


def _pin(cores) -> None:
    """Worker initialiser: take one core of the queue `cores` as this process's only CPU."""
    core = cores.get()
    if core is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {core})  # before JAX's CPU client starts: it sizes its thread pool from this


def _pinned_pool(workers: int) -> futures.ProcessPoolExecutor:
    """`workers` spawned processes, each pinned to a core of its own when there are enough cores."""
    context = multiprocessing.get_context("spawn")
    cores = context.Queue()
    available = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    for i in range(workers):  # pin only when every worker can have a core of its own
        cores.put(available[i] if workers <= len(available) else None)
    return futures.ProcessPoolExecutor(workers, mp_context=context, initializer=_pin, initargs=(cores,))


def _wait_all(executor: futures.Executor, runs: Sequence[TrainingRun], load_data, out_dir: str, poll_s: float,
              finish: Callable[[TrainingRun, Callable[[], dict]], None], refresh: Callable[[], None]) -> None:
    """Submit every run to `executor`, hand each outcome to `finish` as it comes, `refresh` every `poll_s`."""
    pending = {executor.submit(_train, r, load_data, out_dir): r for r in runs}
    try:
        while pending:
            done, _ = futures.wait(pending, timeout=poll_s, return_when=futures.FIRST_COMPLETED)
            for fut in done:
                finish(pending.pop(fut), fut.result)
            refresh()
    except BaseException:
        for fut in pending:  # the executor may be the caller's: cancel only what this study submitted
            fut.cancel()
        raise


# ---- the study's loop --------------------------------------------------------------------------------------------
def run_all(runs: Sequence[TrainingRun], load_data: Callable[[], Any], out_dir, *, workers: int | None = None,
            executor: futures.Executor | None = None, progress: bool = True,
            poll_s: float = 2.0) -> dict[str, dict]:
    """Train every run that is not finished under `out_dir` and return all their results.

    Args:
        runs: The runs (unique names).
        load_data: Picklable callable returning the `Dataset` (e.g. `functools.partial(load_mnist, path)`);
            called once per process (on a cluster: its paths must exist on the workers).
        out_dir: Study directory; run `r` lives in `out_dir / r.name`. With `executor`, on a filesystem every
            worker shares at the same path (it is made absolute here).
        workers: Local processes to train in (default 1: this process, one run after another). Not used with
            `executor`, so giving both is an error.
        executor: Any `concurrent.futures.Executor` to train on instead, one task per run, e.g. a dask
            cluster's (`crossbar.sweep.cluster.executor_from_scheduler`). It stays open: it is the caller's.
        progress: Show a progress bar over the epochs of all runs (finished ones count as done).
        poll_s: Seconds between progress updates from worker processes.

    Returns:
        {run name: results dict as `train_compare` writes it}.

    Raises:
        ValueError: duplicate names, bad `workers`, `workers` with `executor`, or an unwritable `out_dir`,
            before any training.
        RuntimeError: after all other runs finished, naming the runs that failed and why (e.g. a run whose
            checkpoint was made with another configuration, or whose network does not fit the data).
    """
    if executor is not None and workers is not None:
        raise ValueError(f"workers is not used with an executor (its workers train the runs); got workers={workers} "
                         f"and executor={type(executor).__name__}: give one of them")
    if executor is not None and not isinstance(executor, futures.Executor):
        raise ValueError(f"executor must be a concurrent.futures.Executor; got {type(executor).__name__}")
    workers = 1 if workers is None else workers
    check_int("workers", workers, 1)
    names = [r.name for r in runs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"run names must be unique; repeated: {', '.join(duplicates)}")
    out_dir = check_writable(out_dir).resolve()  # workers elsewhere must not resolve it against their own cwd
    total = sum(r.cfg.epochs for r in runs)
    bar = tqdm(total=total, unit="epoch", desc=f"networks 0/{len(runs)}", disable=not progress)
    done_epochs = {r.name: run_status(out_dir, r)[1] for r in runs}
    bar.update(sum(done_epochs.values()))
    results, failures = {}, {}

    def finish(run: TrainingRun, outcome: Callable[[], dict]) -> None:
        try:
            results[run.name] = outcome()
        except Exception as err:  # noqa: BLE001  (reported with the run's name below)
            failures[run.name] = err

    def refresh():
        for r in runs:
            epochs = min(run_status(out_dir, r)[1], r.cfg.epochs)
            bar.update(epochs - done_epochs[r.name])
            done_epochs[r.name] = epochs
        bar.set_description(f"networks {len(results)}/{len(runs)}")

    try:
        if executor is not None:
            _wait_all(executor, runs, load_data, str(out_dir), poll_s, finish, refresh)
        elif workers == 1:
            for r in runs:
                finish(r, functools.partial(_train, r, load_data, str(out_dir)))
                refresh()
        else:
            pool = _pinned_pool(workers)
            try:
                _wait_all(pool, runs, load_data, str(out_dir), poll_s, finish, refresh)
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)  # Ctrl-C: do not wait for the runs in progress
                raise
            pool.shutdown()
    finally:
        bar.close()
    if failures:
        lines = "; ".join(f"{name}: {type(err).__name__}: {err}" for name, err in failures.items())
        raise RuntimeError(f"{len(failures)} of {len(runs)} runs failed (the others are saved): {lines}")
    return {r.name: results[r.name] for r in runs}
