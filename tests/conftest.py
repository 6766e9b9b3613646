"""Test-wide JAX settings: rank promotion is an error, and compiled programs are shared within a test run."""

import os
import shutil
import tempfile

import jax

# Any implicit broadcast between arrays of different ranks is an error in tests: it catches row/column
# broadcasting bugs (scalars still broadcast freely).
jax.config.update("jax_numpy_rank_promotion", "raise")

_CACHE_ENV = "JAX_COMPILATION_CACHE_DIR"
_made_here: list[str] = []  # the cache directory this process created (and removes at the end)


def pytest_configure(config):
    """Share XLA's compiled programs between the processes of one test run.

    The persistent cache is keyed by the program itself, so a program compiled by one xdist worker, or by a test's
    spawned process pool or dask workers, is loaded rather than compiled again by the others (the cluster tests
    train the same networks in three processes). Within one process it gains little (measured neutral on
    `tests/test_energy.py` and `tests/test_crossbar_update.py`). A fresh directory per run keeps runs independent
    and timings honest; set `JAX_COMPILATION_CACHE_DIR` to keep one across runs.
    """
    if not os.environ.get(_CACHE_ENV):
        # The controller (or a plain run) makes the directory; xdist workers inherit it through the environment.
        os.environ[_CACHE_ENV] = tempfile.mkdtemp(prefix="crossbar-tests-jax-cache-")
        _made_here.append(os.environ[_CACHE_ENV])
    jax.config.update("jax_compilation_cache_dir", os.environ[_CACHE_ENV])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)  # small programs add up: cache them all
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def pytest_unconfigure(config):
    for directory in _made_here:
        shutil.rmtree(directory, ignore_errors=True)
