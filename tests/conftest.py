"""Test-wide JAX settings: rank promotion is an error, and compiled programs are shared within a test run."""

import os
import tempfile

import jax

# Any implicit broadcast between arrays of different ranks is an error in tests: it catches row/column
# broadcasting bugs (scalars still broadcast freely).
jax.config.update("jax_numpy_rank_promotion", "raise")

_CACHE_ENV = "JAX_COMPILATION_CACHE_DIR"


def pytest_configure(config):
    """Share XLA's compiled programs between the tests of one run (and the xdist workers).

    Compilation is most of the default run's time, and many tests compile the same program through a new
    `jax.jit` wrapper (each experiment's `main` jits its own step), which JAX's in-memory cache does not
    recognise; the persistent cache is keyed by the program itself. A fresh directory per run keeps runs
    independent (and timings honest); set `JAX_COMPILATION_CACHE_DIR` to keep one across runs.
    """
    if not os.environ.get(_CACHE_ENV):
        # The controller (or a plain run) makes the directory; xdist workers inherit it through the environment.
        os.environ[_CACHE_ENV] = tempfile.mkdtemp(prefix="crossbar-tests-jax-cache-")
    jax.config.update("jax_compilation_cache_dir", os.environ[_CACHE_ENV])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)  # small programs add up: cache them all
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
