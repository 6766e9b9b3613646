"""Benchmark: training throughput (samples/s) of the GV2016 network, in float and on crossbars, in one run.

784-256-128-10, sigmoid, batch 1, lr 0.01 on MNIST; the crossbar back end uses the `gokmen_vlasov` device
(one device per weight against a reference column, as the RPU of the paper, or `--pair differential`),
BL 10 and the default periphery. Each timing is one jitted `lax.scan` over `--samples` samples (as in
training), repeated; the median and the analog/float ratio are reported.

Usage:
    python bench/train_throughput.py [--samples 2000] [--repeats 5] [--pair reference] [--out FILE]
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small matrices: BLAS threading only adds noise

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from functools import partial  # noqa: E402

import jax  # noqa: E402
from _common import machine, mnist_batches  # noqa: E402  (this folder's helper)

from crossbar.training import mlp  # noqa: E402
from crossbar.training.backends import CrossbarBackend, FloatBackend  # noqa: E402
from crossbar.training.checkpoint import save_json  # noqa: E402
from devices import presets  # noqa: E402


def samples_per_second(cfg, backend, xs, ys, repeats: int) -> list[float]:
    """Throughputs of `repeats` timed runs of one scanned training pass over xs, after a compiling run."""
    layers = mlp.init_network(cfg, backend, jax.random.key(0))
    train = jax.jit(partial(mlp.train_samples, cfg, backend))
    jax.block_until_ready(train(layers, xs, ys, cfg.lr, jax.random.key(1)))
    rates = []
    for i in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(train(layers, xs, ys, cfg.lr, jax.random.key(2 + i)))
        rates.append(xs.shape[0] * xs.shape[1] / (time.perf_counter() - t0))  # [batches, batch, features]
    return rates


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--samples", type=int, default=2000)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--pair", default="reference", choices=["reference", "differential"])
    p.add_argument("--batch-size", type=int, default=1, help="samples per SGD step (GV2016: 1)")
    p.add_argument("--mnist-dir", default=os.environ.get("MNIST_DIR", "data/mnist"),
                   help="MNIST IDX files (default $MNIST_DIR, else data/mnist; get them with "
                        "python -m crossbar.training.download mnist data/mnist)")
    p.add_argument("--out", default="bench/results/train_throughput.json")
    args = p.parse_args(argv)

    if args.batch_size < 1 or args.samples % args.batch_size:
        p.error(f"--batch-size must be >= 1 and divide --samples; got {args.batch_size}")
    [(xs, ys)] = mnist_batches(args.mnist_dir, args.samples, (args.batch_size,))
    cfg = mlp.gokmen_vlasov_config(batch_size=args.batch_size)
    backends = {"float": FloatBackend(), "crossbar": CrossbarBackend(presets.gokmen_vlasov(), pair=args.pair)}
    rates = {name: samples_per_second(cfg, b, xs, ys, args.repeats) for name, b in backends.items()}
    medians = {name: statistics.median(r) for name, r in rates.items()}
    result = {
        "network": f"784-256-128-10 sigmoid, batch {args.batch_size}, lr 0.01, MNIST", "pair": args.pair,
        "batch_size": args.batch_size,
        "samples_per_run": args.samples, "repeats": args.repeats,
        "samples_per_s": rates, "median_samples_per_s": medians,
        "time_ratio_crossbar_over_float": medians["float"] / medians["crossbar"],
        "machine": machine(),
    }
    for name, m in medians.items():
        runs = ", ".join(f"{r:.0f}" for r in rates[name])
        print(f"{name:>9}: {m:8.0f} samples/s (median of {args.repeats}; runs {runs})")
    print(f"time ratio crossbar / float: {result['time_ratio_crossbar_over_float']:.1f}")
    save_json(args.out, result)
    print(f"written: {args.out}")
    return result


if __name__ == "__main__":
    main()
