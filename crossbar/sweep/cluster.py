"""A study on a dask cluster: the connection a study CLI's `--scheduler` opens, and core pinning for its workers.

`executor_from_scheduler(address)` connects to a running dask scheduler (an address such as
`tcp://node01:8786`, or the JSON file `dask scheduler --scheduler-file` writes) and yields a
`concurrent.futures.Executor` for `crossbar.sweep.runs.run_all(executor=...)` or `crossbar.sweep.sweep(executor=...)`;
the connection closes when the `with` block ends. dask is an optional dependency (`pip install -e '.[dask]'`),
imported only here and only when called.

Pinning: a study trains at batch 1, where one single-threaded process per core, each pinned to its own core, trains
the most networks per hour (see `crossbar.sweep.runs`). Local worker processes (`run_all(workers=N)`) are pinned by
`run_all`; dask workers pin themselves when started with this module as a preload:

    dask worker ADDRESS --nworkers N --nthreads 1 --preload crossbar.sweep.cluster

Each worker process then takes a core of its own host that no other worker holds (a lock file per core in the
temporary directory, held for the worker's lifetime), before JAX starts; when every core is taken it runs unpinned.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from concurrent.futures import Executor
from pathlib import Path

from devices.validation import check_positive

__all__ = ["CONNECT_TIMEOUT_S", "executor_from_scheduler", "claim_core", "dask_setup"]

#: Seconds to wait for a scheduler to answer before giving up (a wrong address fails fast, not after dask's 30 s).
CONNECT_TIMEOUT_S = 10.0

_INSTALL = "dask.distributed is not installed: pip install -e '.[dask]'"


def _distributed():
    try:
        import distributed
    except ImportError as err:
        raise ImportError(f"{_INSTALL} (needed to run on a dask cluster)") from err
    return distributed


@contextlib.contextmanager
def executor_from_scheduler(address: str, *, timeout_s: float | None = None) -> Iterator[Executor]:
    """An executor running tasks on the dask cluster whose scheduler is at `address`.

    Args:
        address: The scheduler's address (`tcp://host:8786`, `host:8786`) or the path of a scheduler file
            (`dask scheduler --scheduler-file PATH`).
        timeout_s: Seconds to wait for the scheduler (default `CONNECT_TIMEOUT_S`).

    Yields:
        A `concurrent.futures.Executor` whose tasks run on the cluster's workers; every submission is a new task
        (`pure=False`: training writes files, so two equal calls are two runs, never one cached result).

    Raises:
        ImportError: dask.distributed is missing, naming `pip install -e '.[dask]'`.
        ValueError: `address` is empty or `timeout_s` is not positive.
        ConnectionError: no scheduler answered at `address` within `timeout_s`.
    """
    if not isinstance(address, str) or not address.strip():
        raise ValueError(f"scheduler address must be a non-empty string (tcp://host:port); got {address!r}")
    timeout_s = CONNECT_TIMEOUT_S if timeout_s is None else timeout_s
    check_positive("timeout_s", timeout_s)
    distributed = _distributed()
    where = {"scheduler_file": address} if Path(address).is_file() else {"address": address}
    if address.endswith(".json") and "scheduler_file" not in where:
        raise ConnectionError(f"scheduler file {address!r} does not exist (written by `dask scheduler "
                              "--scheduler-file PATH` once the scheduler runs)")
    try:
        client = distributed.Client(**where, timeout=timeout_s, set_as_default=False)
    except (OSError, TimeoutError) as err:  # dask raises OSError (timeouts included) when nobody answers
        raise ConnectionError(f"no dask scheduler answered at {address!r} within {timeout_s:g} s ({err}); start "
                              "one with `dask scheduler` and give the address it prints") from None
    try:
        yield client.get_executor(pure=False)
    finally:
        client.close()


# ---- pinning dask workers -----------------------------------------------------------------------------------------
_HELD: list = []  # the lock file of this process's core: open for the process's lifetime, released when it ends


def claim_core(lock_dir=None, cores=None) -> int | None:
    """A core of `cores` that no other process holds, now held by this one (None when every core is held).

    Args:
        lock_dir: Directory of the lock files, shared by the processes of one host (default: the temporary
            directory).
        cores: Candidate cores (default: this process's allowed cores).

    Returns:
        The core, locked (`flock`) until this process ends or its lock file in `_HELD` is closed.
    """
    import fcntl

    lock_dir = Path(lock_dir or tempfile.gettempdir())
    cores = sorted(os.sched_getaffinity(0) if cores is None else cores)
    for core in cores:
        try:
            handle = open(lock_dir / f"crossbar-core-{os.getuid()}-{core}.lock", "a")  # noqa: SIM115  (held)
        except OSError:
            continue
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # another worker of this host holds it
            handle.close()
            continue
        _HELD.append(handle)
        return core
    return None


def dask_setup(worker=None) -> int | None:
    """dask's preload hook (`dask worker ... --preload crossbar.sweep.cluster`): pin this worker to a free core.

    Runs in each worker process at its start, before any task has started JAX (whose CPU client sizes its thread
    pool from the process's cores). A no-op where the OS has no CPU affinity.

    Returns:
        The core this process is pinned to, or None.
    """
    if not hasattr(os, "sched_setaffinity"):
        return None
    core = claim_core()
    if core is not None:
        os.sched_setaffinity(0, {core})
    return core
