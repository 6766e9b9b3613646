"""Benchmark: where a training step on crossbars spends its time, read by read and layer by layer.

Times, inside jitted scans over MNIST batches, (a) the whole training step, (b) the forward and transpose reads
of all layers without updates, (c) the update of each layer alone (inputs: the images for the first layer,
uniform activations in [0, 1) for the others; errors ~ N(0, 0.05^2)). The parts do not add up exactly to the
whole (the glue of backprop, and XLA schedules the fused step differently), but they show what dominates.

Usage:
    python bench/train_breakdown.py [--batch-size 1] [--samples 2000] [--out bench/results/train_breakdown.json]
"""

from __future__ import annotations

import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"  # the simulator's work, not BLAS threading, is measured

import argparse  # noqa: E402
from functools import partial  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from _common import median_seconds  # noqa: E402  (this folder's helper)

from crossbar import array as xa  # noqa: E402
from crossbar.nn import with_batch  # noqa: E402
from crossbar.training import mlp  # noqa: E402
from crossbar.training.backends import CrossbarBackend  # noqa: E402
from crossbar.training.checkpoint import save_json  # noqa: E402
from crossbar.training.data import load_mnist  # noqa: E402
from devices import presets  # noqa: E402


def reads_only(cfg, backend, layers, xs, ys, key):
    """Forward reads of every layer and transpose reads of the upper ones (`jax.grad` through the layers, as in
    training), without updates."""
    def step(carry, args):
        x, y, k = args

        def loss(taped):
            logits, _ = mlp.forward(cfg, backend, taped, x, k)
            return -jnp.sum(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1))

        grads = jax.grad(loss, allow_int=True)(with_batch(layers, x.shape[0]))
        return carry + sum(jnp.sum(g.tape.d) for g in grads), None

    return jax.lax.scan(step, 0.0, (xs, ys, jax.random.split(key, xs.shape[0])))[0]


def update_only(xb, state, xs, ds, lr, key):
    """The update of one layer for every batch of xs [n_batches, batch, rows] and ds [n_batches, batch, cols]."""
    def step(st, args):
        x, d, k = args
        return xa.update(xb, st, x, d, lr, k)[0], None

    return jax.lax.scan(step, state, (xs, ds, jax.random.split(key, xs.shape[0])))[0]


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--samples", type=int, default=2000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--mnist-dir", default=os.environ.get("MNIST_DIR", "data/mnist"),
                   help="MNIST IDX files (default $MNIST_DIR, else data/mnist; get them with "
                        "python -m crossbar.training.download mnist data/mnist)")
    p.add_argument("--out", default="bench/results/train_breakdown.json")
    args = p.parse_args(argv)
    if args.batch_size < 1 or args.samples % args.batch_size:
        p.error(f"--batch-size must be >= 1 and divide --samples; got {args.batch_size}")
    n_batches, batch = args.samples // args.batch_size, args.batch_size
    data = load_mnist(args.mnist_dir, limit_train=args.samples, limit_test=1)
    xs = jnp.asarray(data.x_train).reshape(n_batches, batch, -1)
    ys = jnp.asarray(data.y_train).reshape(n_batches, batch)
    cfg = mlp.gokmen_vlasov_config(batch_size=batch)
    backend = CrossbarBackend(presets.gokmen_vlasov(), pair="reference")
    layers = mlp.init_network(cfg, backend, jax.random.key(0))
    per_sample = 1e6 / args.samples  # seconds per run -> us per sample
    result = {"batch_size": batch, "samples": args.samples, "jax": jax.__version__, "us_per_sample": {}}
    times = result["us_per_sample"]
    times["train_step"] = per_sample * median_seconds(partial(mlp.train_samples, cfg, backend), layers, xs, ys,
                                                      cfg.lr, jax.random.key(1), repeats=args.repeats)
    times["reads_only"] = per_sample * median_seconds(partial(reads_only, cfg, backend), layers, xs, ys,
                                                      jax.random.key(1), repeats=args.repeats)
    for i, layer in enumerate(layers):
        xb, state = layer.xb, layer.state
        if i == 0:
            x_in = jnp.concatenate([xs, jnp.ones((n_batches, batch, 1))], axis=2)
        else:
            x_in = jax.random.uniform(jax.random.key(5 + i), (n_batches, batch, xb.rows))
        d = 0.05 * jax.random.normal(jax.random.key(3 + i), (n_batches, batch, xb.cols))
        times[f"update_layer_{i}_{xb.rows}x{xb.cols}"] = per_sample * median_seconds(
            partial(update_only, xb), state, x_in, d, cfg.lr / batch, jax.random.key(2), repeats=args.repeats)
    for name, us in times.items():
        print(f"{name:>28}: {us:8.1f} us/sample")
    save_json(args.out, result)
    print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
