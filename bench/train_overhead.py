"""Benchmark: per-sample cost of a GV2016 crossbar training pass, robust to a busy machine (for A/B comparisons).

On a shared machine the wall-clock median moves by 2x between runs; the least-disturbed run (the minimum wall
time) and the process's CPU time per sample move far less. This script times one jitted `lax.scan` of
`mlp.train_samples` over `--samples` MNIST samples, `--repeats` times, and reports both. Run it once per code
version, alternating (each run imports the `crossbar` it is started next to), to compare two versions.

Usage:
    python bench/train_overhead.py [--samples 1000] [--repeats 15] [--batch-size 1] [--out FILE]
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small matrices: BLAS threading only adds noise

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from functools import partial  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from crossbar.training import mlp  # noqa: E402
from crossbar.training.backends import CrossbarBackend  # noqa: E402
from crossbar.training.data import load_mnist  # noqa: E402
from devices import presets  # noqa: E402


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--mnist-dir", default=os.environ.get("MNIST_DIR", "../shared/data/mnist"))
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    data = load_mnist(args.mnist_dir, limit_train=args.samples, limit_test=1)
    b = args.batch_size
    xs = jnp.asarray(data.x_train).reshape(args.samples // b, b, -1)
    ys = jnp.asarray(data.y_train).reshape(args.samples // b, b)
    cfg = mlp.gokmen_vlasov_config(batch_size=b)
    backend = CrossbarBackend(presets.gokmen_vlasov(), pair="reference")
    layers = mlp.init_network(cfg, backend, jax.random.key(0))
    train = jax.jit(partial(mlp.train_samples, cfg, backend))
    jax.block_until_ready(train(layers, xs, ys, cfg.lr, jax.random.key(1)))
    wall, cpu = [], []
    for i in range(args.repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        jax.block_until_ready(train(layers, xs, ys, cfg.lr, jax.random.key(2 + i)))
        wall.append((time.perf_counter() - t0) / args.samples * 1e6)
        cpu.append((time.process_time() - c0) / args.samples * 1e6)
    result = {"us_per_sample_wall_min": min(wall), "us_per_sample_wall_median": statistics.median(wall),
              "us_per_sample_cpu_min": min(cpu), "us_per_sample_cpu_median": statistics.median(cpu),
              "samples": args.samples, "repeats": args.repeats, "batch_size": b,
              "load_average_1min": os.getloadavg()[0]}
    print(json.dumps(result))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == "__main__":
    main()
