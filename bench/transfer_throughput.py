"""Benchmark: training throughput (samples/s) of every transfer algorithm beside plain pulsed SGD and float, on the
GV2016 network, at batch 1 and 10, in one run.

784-256-128-10, sigmoid, MNIST; the crossbar back ends use the `reram_sb_aihwkit` device with its array preset
(`crossbar.presets`: reference per device at its symmetry point, 7/9-bit converters, BL 31 with update management)
and each algorithm with the hyperparameters `experiments.train_mlp` gives it (aihwkit's ReRamSB presets with a
transfer every sample and up to 31 pulses per transfer), c-TTv2 and AGAD also with aihwkit's own presets, and c-TTv2
with A at plain SGD's rate (`c_ttv2@sgd_rate`: the transfers' own cost, without `auto_scale`'s pulses). Each
timing is one jitted `lax.scan` over `--samples` samples, after a compiling run, repeated; the median, and each
algorithm's step time over plain SGD's, are reported.

Usage:
    python bench/transfer_throughput.py [--samples 1000] [--repeats 3] [--batch-sizes 1,10] [--out FILE]
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small matrices: BLAS threading only adds noise

import argparse  # noqa: E402
import statistics  # noqa: E402

from _common import machine, mnist_batches  # noqa: E402  (this folder's helper)
from train_throughput import samples_per_second  # noqa: E402

from crossbar import transfer  # noqa: E402
from crossbar.presets import ARRAY_PRESETS  # noqa: E402
from crossbar.training import mlp  # noqa: E402
from crossbar.training.backends import CrossbarBackend, FloatBackend, TransferBackend  # noqa: E402
from crossbar.training.checkpoint import save_json  # noqa: E402
from devices import presets  # noqa: E402
from experiments.train_mlp import AIHWKIT_PRESETS, ALGORITHM_DEFAULTS  # noqa: E402


def backends() -> dict:
    """float, plain SGD and every transfer algorithm on the `reram_sb_aihwkit` arrays (train_mlp's defaults), and
    c-TTv2 and AGAD with aihwkit's own presets (`NAME@aihwkit`: one pulse per transfer)."""
    arrays = CrossbarBackend(presets.get("reram_sb_aihwkit"), **ARRAY_PRESETS["reram_sb_aihwkit"]())
    out = {"float": FloatBackend(), "sgd": arrays}
    for name in transfer.ALGORITHMS:
        out[name] = TransferBackend(arrays=arrays, algorithm=transfer.make_algorithm(name, **ALGORITHM_DEFAULTS[name]))
    for name in ("c_ttv2", "agad"):
        out[f"{name}@aihwkit"] = TransferBackend(arrays=arrays,
                                                 algorithm=transfer.make_algorithm(name, **AIHWKIT_PRESETS[name]))
    # The transfers' own cost: c-TTv2 with A at plain SGD's rate (no auto_scale), so that A takes the pulses SGD's
    # array takes and the difference is the reads, buffers and writes of the transfers.
    out["c_ttv2@sgd_rate"] = TransferBackend(arrays=arrays, algorithm=transfer.make_algorithm(
        "c_ttv2", **{**ALGORITHM_DEFAULTS["c_ttv2"], "auto_scale": False, "fast_lr": 1.0, "scale_fast_lr": True}))
    return out


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batch-sizes", default="1,10")
    p.add_argument("--lr", type=float, default=0.5)
    p.add_argument("--mnist-dir", default=os.environ.get("MNIST_DIR", "data/mnist"),
                   help="MNIST IDX files (default $MNIST_DIR, else data/mnist; get them with "
                        "python -m crossbar.training.download mnist data/mnist)")
    p.add_argument("--out", default="bench/results/transfer_throughput.json")
    args = p.parse_args(argv)
    sizes = tuple(int(s) for s in args.batch_sizes.split(","))
    if any(b < 1 or args.samples % b for b in sizes):
        p.error(f"every batch size must be >= 1 and divide --samples; got {sizes}")
    result = {"network": "784-256-128-10 sigmoid, MNIST", "device": "reram_sb_aihwkit", "lr": args.lr,
              "samples_per_run": args.samples, "repeats": args.repeats, "batches": {}, "machine": machine()}
    for batch, (xs, ys) in zip(sizes, mnist_batches(args.mnist_dir, args.samples, sizes), strict=True):
        cfg = mlp.gokmen_vlasov_config(batch_size=batch, lr=args.lr)
        rates = {}
        for name, backend in backends().items():
            rates[name] = samples_per_second(cfg, backend, xs, ys, args.repeats)
            print(f"batch {batch:>3} {name:>16}: {statistics.median(rates[name]):8.0f} samples/s", flush=True)
        medians = {name: statistics.median(r) for name, r in rates.items()}
        result["batches"][str(batch)] = {
            "samples_per_s": rates, "median_samples_per_s": medians,
            "step_time_over_sgd": {name: medians["sgd"] / m for name, m in medians.items()},
        }
    save_json(args.out, result)
    print(f"written: {args.out}")
    return result


if __name__ == "__main__":
    main()
