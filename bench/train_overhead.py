"""Benchmark: what counting the physical events (`crossbar.events`) costs a GV2016 training step, in one run.

Two compilations of the same jitted `lax.scan` of `mlp.train_samples` over `--samples` MNIST samples: as the
library runs it, and with `Events.of` replaced by a constant zero vector while tracing, so that XLA removes
every computation that only fed the counts (reads' drive sums, line-pulse popcounts, coincidences). Everything
else is identical, so the ratio of the two is the counting overhead; repeats are interleaved, so that a busy
spell of the machine hits both alike. Medians and minima per sample, wall and process CPU time.

Usage:
    python bench/train_overhead.py [--samples 1000] [--repeats 15] [--batch-size 1] [--out FILE]
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small matrices: BLAS threading only adds noise

import argparse  # noqa: E402
import contextlib  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from functools import partial  # noqa: E402
from unittest import mock  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from _common import machine, mnist_batches  # noqa: E402  (this folder's helper)

from crossbar import events  # noqa: E402
from crossbar.training import mlp  # noqa: E402
from crossbar.training.backends import CrossbarBackend  # noqa: E402
from crossbar.training.checkpoint import save_json  # noqa: E402
from devices import presets  # noqa: E402


def _no_events(counts: dict) -> events.Events:
    """`Events.of` that counts nothing: a constant, so XLA drops whatever computed the counts."""
    return events.Events(jnp.zeros((len(events.FIELDS),), jnp.float32))


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--samples", type=int, default=1024)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--mnist-dir", default=os.environ.get("MNIST_DIR", "data/mnist"),
                   help="MNIST IDX files (default $MNIST_DIR, else data/mnist; get them with "
                        "python -m crossbar.training.download mnist data/mnist)")
    p.add_argument("--out", default=None, help="default bench/results/train_overhead[_batchB].json")
    args = p.parse_args(argv)
    b = args.batch_size
    if b < 1 or args.samples % b:
        p.error(f"--batch-size must be >= 1 and divide --samples; got {b}")
    [(xs, ys)] = mnist_batches(args.mnist_dir, args.samples, (b,))
    cfg = mlp.gokmen_vlasov_config(batch_size=b)
    backend = CrossbarBackend(presets.gokmen_vlasov(), pair="reference")
    layers = mlp.init_network(cfg, backend, jax.random.key(0))
    compiled = {}
    for name in ("counted", "not_counted"):
        patch = mock.patch.object(events.Events, "of", staticmethod(_no_events))
        with patch if name == "not_counted" else contextlib.nullcontext():
            train = jax.jit(partial(mlp.train_samples, cfg, backend))
            compiled[name] = train.lower(layers, xs, ys, cfg.lr, jax.random.key(1)).compile()
    for run in compiled.values():
        jax.block_until_ready(run(layers, xs, ys, cfg.lr, jax.random.key(1)))
    wall = {name: [] for name in compiled}
    cpu = {name: [] for name in compiled}
    for i in range(args.repeats):
        for name, run in compiled.items():
            t0, c0 = time.perf_counter(), time.process_time()
            jax.block_until_ready(run(layers, xs, ys, cfg.lr, jax.random.key(2 + i)))
            wall[name].append((time.perf_counter() - t0) / args.samples * 1e6)
            cpu[name].append((time.process_time() - c0) / args.samples * 1e6)
    med = {name: statistics.median(v) for name, v in wall.items()}
    result = {
        "what": f"GV2016 step (784-256-128-10, GV device, reference column, batch {b}, MNIST), us per sample, "
                f"with and without event counting, {args.repeats} interleaved repeats of {args.samples} samples",
        "us_per_sample_wall_median": med,
        "us_per_sample_wall_min": {name: min(v) for name, v in wall.items()},
        "us_per_sample_cpu_median": {name: statistics.median(v) for name, v in cpu.items()},
        "overhead_wall_median": med["counted"] / med["not_counted"] - 1.0,
        "overhead_wall_min": min(wall["counted"]) / min(wall["not_counted"]) - 1.0,
        "batch_size": b, "samples": args.samples, "repeats": args.repeats,
        "machine": machine(),
    }
    print(f"counted {med['counted']:.1f} us/sample, not counted {med['not_counted']:.1f} (medians): overhead "
          f"{100 * result['overhead_wall_median']:.1f}% (minima: {100 * result['overhead_wall_min']:.1f}%)")
    out = args.out or f"bench/results/train_overhead{'' if b == 1 else f'_batch{b}'}.json"
    save_json(out, result)
    print(f"written: {out}")
    return result


if __name__ == "__main__":
    main()
