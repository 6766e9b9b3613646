"""Benchmark: the GV2016 network trained through `crossbar.nn` layers vs the MLP back end, side by side.

The same 784-256-128-10 sigmoid network, GV2016 device against a reference column, BL 10, lr 0.01, on MNIST:
once with `crossbar.training.mlp.train_samples` (the training loop's MLP; since it was rewritten on `crossbar.nn`
layers this measures what its bookkeeping, per-layer counters and digital work, adds), once as three
`nn.analog_dense` layers (biases on the arrays) in a hand-written loss trained with `jax.grad` and
`nn.analog_sgd`, each a jitted `lax.scan` over `--samples` samples, interleaved repeats; medians and the
nn / MLP time ratio. Also the float twins, and the GOH2017 CNN (`experiments.lenet`) on crossbars.

Usage:
    python bench/nn_layers.py [--samples 1024] [--repeats 5] [--batch-size 1] [--out FILE]
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small matrices: BLAS threading only adds noise

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from functools import partial  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from _common import machine, mnist_batches  # noqa: E402  (this folder's helper)

from crossbar import array, nn  # noqa: E402
from crossbar.counters import Counters  # noqa: E402
from crossbar.training import mlp  # noqa: E402
from crossbar.training.backends import CrossbarBackend, FloatBackend  # noqa: E402
from crossbar.training.checkpoint import save_json  # noqa: E402
from devices import presets  # noqa: E402
from experiments import lenet  # noqa: E402


def _mlp_runner(cfg, backend, xs, ys):
    layers = mlp.init_network(cfg, backend, jax.random.key(0))
    train = jax.jit(partial(mlp.train_samples, cfg, backend))
    return lambda key: train(layers, xs, ys, cfg.lr, key)


def _nn_layers(kind: str, batch: int):
    sizes = (784, 256, 128, 10)
    keys = jax.random.split(jax.random.key(0), len(sizes) - 1)
    out = []
    for k, (n_in, n_out) in zip(keys, zip(sizes[:-1], sizes[1:], strict=True), strict=True):
        w = jax.random.uniform(k, (n_in + 1, n_out), minval=-0.1, maxval=0.1)
        if kind == "float":
            out.append(nn.float_dense(w, batch=batch, bias_line=True))
        else:
            xb = array.make_crossbar(presets.gokmen_vlasov(), n_in + 1, n_out, pair="reference")
            out.append(nn.analog_dense(xb, k, w, batch=batch, bias_line=True))
    return tuple(out)


def _mlp_loss(layers, x, y, key):
    keys = jax.random.split(key, len(layers))
    h = x
    for i, layer in enumerate(layers):
        h = nn.dense(layer, h, keys[i])
        if i < len(layers) - 1:
            h = jax.nn.sigmoid(h)
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(h), y[:, None], axis=1))


def _nn_runner(params, loss, xs, ys, lr):
    opt = nn.analog_sgd(lr)

    @jax.jit
    def train(params, key):
        # The counters are summed and returned, as the MLP back end does (discarded, XLA would drop their work).
        def one(carry, batch):
            params, state, total = carry
            x, y, k = batch
            k_read, k_update = jax.random.split(k)
            grads = jax.grad(loss, allow_int=True)(params, x, y, k_read)
            params, state, counters = opt.update(grads, state, params, k_update)
            return (params, state, total + counters), None

        keys = jax.random.split(key, xs.shape[0])
        return jax.lax.scan(one, (params, opt.init(params), Counters.zeros()), (xs, ys, keys))[0]

    return lambda key: train(params, key)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--samples", type=int, default=1024)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--cnn-batch-size", type=int, default=16)
    p.add_argument("--mnist-dir", default=os.environ.get("MNIST_DIR", "data/mnist"),
                   help="MNIST IDX files (default $MNIST_DIR, else data/mnist; get them with "
                        "python -m crossbar.training.download mnist data/mnist)")
    p.add_argument("--out", default=None, help="default bench/results/nn_layers[_batchB].json")
    args = p.parse_args(argv)
    b = args.batch_size
    if b < 1 or args.samples % b or args.samples % args.cnn_batch_size:
        p.error("--batch-size and --cnn-batch-size must divide --samples")
    cb = args.cnn_batch_size
    (xs, ys), (xc, yc) = mnist_batches(args.mnist_dir, args.samples, (b, cb))
    cfg = mlp.gokmen_vlasov_config(batch_size=b)
    cnn = lenet.analog_network(lambda r, c: array.make_crossbar(presets.gokmen_vlasov(), r, c, pair="reference"),
                               jax.random.key(0), cb)
    runners = {
        "mlp_backend_float": _mlp_runner(cfg, FloatBackend(), xs, ys),
        "mlp_backend_crossbar": _mlp_runner(cfg, CrossbarBackend(presets.gokmen_vlasov(), pair="reference"), xs, ys),
        "nn_float": _nn_runner(_nn_layers("float", b), _mlp_loss, xs, ys, cfg.lr),
        "nn_crossbar": _nn_runner(_nn_layers("crossbar", b), _mlp_loss, xs, ys, cfg.lr),
        f"cnn_crossbar_batch{cb}": _nn_runner(cnn, lenet.loss, xc, yc, 0.05),
    }
    for run in runners.values():
        jax.block_until_ready(run(jax.random.key(1)))  # compile
    rates = {name: [] for name in runners}
    for i in range(args.repeats):  # interleaved, so that a busy spell hits every variant alike
        for name, run in runners.items():
            t0 = time.perf_counter()
            jax.block_until_ready(run(jax.random.key(2 + i)))
            rates[name].append(args.samples / (time.perf_counter() - t0))
    medians = {name: statistics.median(r) for name, r in rates.items()}
    result = {
        "what": f"784-256-128-10 sigmoid GV2016 network, batch {b}, through the MLP back end and crossbar.nn layers; "
                f"GOH2017 CNN on crossbars at batch {cb}; samples/s, median of interleaved repeats",
        "batch_size": b, "samples_per_run": args.samples, "repeats": args.repeats,
        "samples_per_s": rates, "median_samples_per_s": medians,
        "time_ratio_nn_over_mlp_crossbar": medians["mlp_backend_crossbar"] / medians["nn_crossbar"],
        "time_ratio_nn_over_mlp_float": medians["mlp_backend_float"] / medians["nn_float"],
        "machine": machine(),
    }
    for name, m in medians.items():
        print(f"{name:>22}: {m:8.0f} samples/s")
    print(f"nn / MLP back end time: crossbar {result['time_ratio_nn_over_mlp_crossbar']:.2f}, "
          f"float {result['time_ratio_nn_over_mlp_float']:.2f}")
    out = args.out or f"bench/results/nn_layers{'' if b == 1 else f'_batch{b}'}.json"
    save_json(out, result)
    print(f"written: {out}")
    return result


if __name__ == "__main__":
    main()
