"""Benchmark: one training step of a 784x256 crossbar layer (forward + transpose + pulsed update) against the
same three operations in plain float, at batch 1 as in Gokmen & Vlasov 2016.

The per-sample time is measured inside one jitted `lax.scan` over many samples, so Python dispatch is
amortised as it is in training; the per-call jitted step (one dispatch per sample) is timed for reference.

Usage:
    python bench/update.py [--samples 1000] [--repeats 7] [--out bench/results/update.json]

MNIST is read from `--mnist-dir`, else `$MNIST_DIR`, else data/mnist (relative to the working directory; get it
with `python -m crossbar.training.download mnist data/mnist`).
"""

from __future__ import annotations

import os

# One BLAS thread: the comparison is of the simulator's work, not of how many cores a BLAS call grabs.
os.environ["OPENBLAS_NUM_THREADS"] = "1"

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from crossbar import array as xa  # noqa: E402
from crossbar.training.checkpoint import save_json  # noqa: E402
from crossbar.training.data import load_mnist  # noqa: E402
from crossbar.update import PulseUpdate  # noqa: E402
from devices import presets  # noqa: E402

ROWS, COLS = 784, 256
LR = 0.01
D_STD = 0.05
DEFAULT_MNIST = "data/mnist"  # where `python -m crossbar.training.download mnist data/mnist` puts it


def make_layer(key, pair: str):
    """The GV2016 baseline layer: gokmen_vlasov device (+-30% d2d, 30% c2c, 30% bound spread), BL 10,
    default periphery; weights drawn uniformly in +-1/sqrt(rows)."""
    xb = xa.make_crossbar(presets.gokmen_vlasov(), ROWS, COLS, update_scheme=PulseUpdate(bl=10), pair=pair)
    k_w, k_init = jax.random.split(key)
    bound = 1.0 / np.sqrt(ROWS)
    w0 = jax.random.uniform(k_w, (ROWS, COLS), minval=-bound, maxval=bound)
    return xb, xa.init(xb, k_init, w0), w0


def load_inputs(n: int, mnist_dir: str, key):
    """n MNIST training images in [0, 1] ([n, 784]) and n errors d ~ N(0, D_STD^2) ([n, 256])."""
    data = load_mnist(mnist_dir, limit_train=n, limit_test=1)
    xs = jnp.asarray(data.x_train)
    ds = D_STD * jax.random.normal(key, (n, COLS))
    return xs, ds


def crossbar_step(xb, state, x, d, key):
    """Forward, transpose and update of one sample; returns the new state and a checksum of the reads."""
    k_f, k_t, k_u = jax.random.split(key, 3)
    y, _ = xa.forward(xb, state, x, k_f)
    z, _ = xa.transpose(xb, state, d, k_t)
    state, _ = xa.update(xb, state, x, _after(d, y, z), LR, k_u)
    return state, jnp.sum(y) + jnp.sum(z)


def _after(d, y, z):
    """`d`, made to depend on the reads as in training (where the error follows the forward read).

    Without the dependence XLA may run the in-place update of the conductances before a read that uses them,
    and copies the whole matrix to do so; a training step never pays that copy.
    """
    return d + 0.0 * (jnp.sum(y) + jnp.sum(z))


def float_step(w, x, d):
    """The same three operations in float32: x W, d W^T, W - lr x d^T."""
    y = x @ w
    z = d @ w.T
    return w - LR * jnp.outer(x, _after(d, y, z)), jnp.sum(y) + jnp.sum(z)


def scanned(xb):
    """Jitted scans over samples: (crossbar run, float run)."""

    @jax.jit
    def run_crossbar(state, xs, ds, key):
        keys = jax.random.split(key, xs.shape[0])

        def body(st, args):
            return crossbar_step(xb, st, *args)

        state, sums = jax.lax.scan(body, state, (xs, ds, keys))
        return state, jnp.sum(sums)

    @jax.jit
    def run_float(w, xs, ds):
        w, sums = jax.lax.scan(lambda w, a: float_step(w, *a), w, (xs, ds))
        return w, jnp.sum(sums)

    return run_crossbar, run_float


def _block(tree):
    jax.tree_util.tree_map(lambda a: a.block_until_ready() if hasattr(a, "block_until_ready") else a, tree)
    return tree


def time_runs(fn, repeats: int) -> list[float]:
    """Wall times (s) of `repeats` calls of fn(), after one warm-up call (which compiles)."""
    _block(fn())
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        _block(fn())
        times.append(time.perf_counter() - t0)
    return times


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=1000, help="samples per scanned run")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs (median reported)")
    parser.add_argument("--per-call-samples", type=int, default=200, help="samples of the per-call timing")
    parser.add_argument("--mnist-dir", default=os.environ.get("MNIST_DIR", DEFAULT_MNIST))
    parser.add_argument("--out", default="bench/results/update.json")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pair", default="reference", choices=["reference", "differential"],
                        help="one device per weight (the RPU of GV2016) or a G+/G- pair")
    args = parser.parse_args(argv)
    if args.samples < 1 or args.repeats < 1 or args.per_call_samples < 1:
        parser.error("--samples, --repeats and --per-call-samples must be >= 1")

    key = jax.random.key(args.seed)
    k_layer, k_d, k_run = jax.random.split(key, 3)
    xb, state, w0 = make_layer(k_layer, args.pair)
    xs, ds = load_inputs(args.samples, args.mnist_dir, k_d)
    run_crossbar, run_float = scanned(xb)
    n = args.samples

    t0 = time.perf_counter()
    _block(run_crossbar(state, xs, ds, k_run))
    compile_crossbar = time.perf_counter() - t0
    xb_times = time_runs(lambda: run_crossbar(state, xs, ds, k_run), args.repeats)
    fl_times = time_runs(lambda: run_float(w0, xs, ds), args.repeats)

    # Per-call: one jitted step per sample, dispatched from Python (what an un-scanned training loop pays).
    step = jax.jit(lambda st, x, d, k: crossbar_step(xb, st, x, d, k))
    fstep = jax.jit(float_step)
    m = min(args.per_call_samples, n)
    keys = list(jax.random.split(k_run, m))
    xs_list, ds_list = list(xs[:m]), list(ds[:m])  # sliced once, outside the timing

    def per_call_crossbar():
        st = state
        for i in range(m):
            st, s = step(st, xs_list[i], ds_list[i], keys[i])
        return st, s

    def per_call_float():
        w = w0
        for i in range(m):
            w, s = fstep(w, xs_list[i], ds_list[i])
        return w, s

    pc_xb = time_runs(per_call_crossbar, max(3, args.repeats // 2))
    pc_fl = time_runs(per_call_float, max(3, args.repeats // 2))

    med = statistics.median
    res = {
        "config": {"rows": ROWS, "cols": COLS, "device": "presets.gokmen_vlasov", "bl": xb.update_scheme.bl,
                   "lr": LR, "update_management": xb.update_scheme.update_management,
                   "periphery": "default (7-bit DAC, 9-bit ADC, "
                   "noise 0.06, bound 12, abs_max noise management, iterative bound management)",
                   "pair": xb.pair, "d_std": D_STD, "samples": n, "repeats": args.repeats,
                   "per_call_samples": m},
        "machine": {"backend": jax.default_backend(), "devices": [str(d) for d in jax.devices()],
                    "cpu_count": os.cpu_count(), "python": platform.python_version(), "jax": jax.__version__},
        "scan": {
            "crossbar_us_per_sample": med(xb_times) / n * 1e6,
            "float_us_per_sample": med(fl_times) / n * 1e6,
            "ratio": med(xb_times) / med(fl_times),
            "crossbar_runs_s": xb_times, "float_runs_s": fl_times,
            "crossbar_first_call_s": compile_crossbar,
        },
        "per_call": {
            "crossbar_us_per_sample": med(pc_xb) / m * 1e6,
            "float_us_per_sample": med(pc_fl) / m * 1e6,
            "ratio": med(pc_xb) / med(pc_fl),
            "crossbar_runs_s": pc_xb, "float_runs_s": pc_fl,
        },
    }
    s, p = res["scan"], res["per_call"]
    print(f"784x256 layer, batch 1, forward + transpose + update ({jax.default_backend()}, {n} samples/scan, "
          f"median of {args.repeats})")
    print(f"{'':22s}{'crossbar us/sample':>20s}{'float us/sample':>18s}{'ratio':>9s}")
    print(f"{'jitted lax.scan':22s}{s['crossbar_us_per_sample']:20.1f}{s['float_us_per_sample']:18.1f}"
          f"{s['ratio']:9.1f}")
    print(f"{'jitted per call':22s}{p['crossbar_us_per_sample']:20.1f}{p['float_us_per_sample']:18.1f}"
          f"{p['ratio']:9.1f}")
    print(f"first scanned call (compile + run): {compile_crossbar:.1f} s")
    save_json(args.out, res)
    print(f"wrote {args.out}")
    return res


if __name__ == "__main__":
    main()
