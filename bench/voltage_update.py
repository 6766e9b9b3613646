"""Benchmark: a GV2016 training step with the voltage-level update, with and without wires, against the
coincidence count, in one run.

784-256-128-10, sigmoid, batch 1, lr 0.01 on MNIST, the `gokmen_vlasov` device, BL 10. Back ends:
- coincidence: the default stochastic pulse-coincidence update (ideal wires);
- voltage: the voltage-level update (`PulseUpdate(scheme="voltage")`, four sign phases, half-select disturb
  through the default kinetics law), ideal wires;
- coincidence + wires: the coincidence update, reads solved through the wires (`--r-wire` ohm per segment);
- voltage + wires: the voltage-level update with the write's IR drop (first-order line model), same wires.
Each timing is one jitted `lax.scan` over `--samples` samples, repeated; medians and ratios to the coincidence
scheme are reported, measured side by side in one process.

Usage:
    python bench/voltage_update.py [--samples 300] [--repeats 3] [--pair reference] [--r-wire 1.0] [--out FILE]
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small matrices: BLAS threading only adds noise

import argparse  # noqa: E402
import statistics  # noqa: E402

from _common import machine, mnist_batches  # noqa: E402  (this folder's helper)
from train_throughput import samples_per_second  # noqa: E402

from crossbar.circuit import WireResistance  # noqa: E402
from crossbar.training import mlp  # noqa: E402
from crossbar.training.backends import CrossbarBackend  # noqa: E402
from crossbar.training.checkpoint import save_json  # noqa: E402
from crossbar.update import PulseUpdate  # noqa: E402
from devices import presets  # noqa: E402


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--samples", type=int, default=300)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--pair", default="reference", choices=["reference", "differential"])
    p.add_argument("--r-wire", type=float, default=1.0, help="wire segment resistance (ohm), rows and columns")
    p.add_argument("--mnist-dir", default=os.environ.get("MNIST_DIR", "data/mnist"),
                   help="MNIST IDX files (default $MNIST_DIR, else data/mnist)")
    p.add_argument("--out", default="bench/results/voltage_update.json")
    args = p.parse_args(argv)

    [(xs, ys)] = mnist_batches(args.mnist_dir, args.samples, (1,))
    cfg = mlp.gokmen_vlasov_config()
    device = presets.gokmen_vlasov()
    wires = WireResistance(r_row=args.r_wire, r_col=args.r_wire)
    voltage = PulseUpdate(scheme="voltage")
    backends = {
        "coincidence": CrossbarBackend(device, pair=args.pair),
        "voltage": CrossbarBackend(device, pair=args.pair, update_scheme=voltage),
        "coincidence + wires": CrossbarBackend(device, pair=args.pair, wires=wires),
        "voltage + wires": CrossbarBackend(device, pair=args.pair, update_scheme=voltage, wires=wires),
    }
    rates = {name: samples_per_second(cfg, b, xs, ys, args.repeats) for name, b in backends.items()}
    medians = {name: statistics.median(r) for name, r in rates.items()}
    base = medians["coincidence"]
    result = {
        "network": "784-256-128-10 sigmoid, batch 1, lr 0.01, MNIST, gokmen_vlasov device, BL 10",
        "pair": args.pair, "r_wire_ohm": args.r_wire, "samples_per_run": args.samples, "repeats": args.repeats,
        "samples_per_s": rates, "median_samples_per_s": medians,
        "time_ratio_over_coincidence": {name: base / m for name, m in medians.items()},
        "machine": machine(),
    }
    for name, m in medians.items():
        runs = ", ".join(f"{r:.0f}" for r in rates[name])
        print(f"{name:>20}: {m:8.1f} samples/s, {base / m:5.1f}x the coincidence step's time (runs {runs})")
    save_json(args.out, result)
    print(f"written: {args.out}")
    return result


if __name__ == "__main__":
    main()
