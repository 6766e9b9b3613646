"""What the training benchmarks share: MNIST in step-sized batches, and the machine a result was measured on.

Imported as `_common` by the scripts beside it (run as `python bench/NAME.py`, their folder is on the path).
"""

from __future__ import annotations

import os
import platform
import statistics
import time

import jax
import jax.numpy as jnp

from crossbar.training.data import load_mnist


def mnist_batches(mnist_dir, samples: int, batch_sizes: tuple[int, ...]) -> list[tuple[jax.Array, jax.Array]]:
    """The first `samples` MNIST training images as (xs [samples / B, B, 784], ys [samples / B, B]) per B."""
    data = load_mnist(mnist_dir, limit_train=samples, limit_test=1)
    return [(jnp.asarray(data.x_train).reshape(samples // b, b, -1), jnp.asarray(data.y_train).reshape(samples // b, b))
            for b in batch_sizes]


def machine() -> dict:
    """CPU count, platform, JAX version and the 1-minute load average at the time of the measurement."""
    return {"cpu_count": os.cpu_count(), "platform": platform.platform(), "jax": jax.__version__,
            "load_average_1min": os.getloadavg()[0]}


def median_seconds(fn, *args, repeats: int = 3) -> float:
    """Median wall time (s) of `repeats` calls of the jitted `fn(*args)`, after one compiling call."""
    fn = jax.jit(fn)
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    return statistics.median(times)
