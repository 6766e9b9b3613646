"""Which ADC resolution minimises the training energy at a given accuracy? (digits, converged networks)

For each ADC resolution, trains the `small` digits network (64-64-10) on crossbars (GV2016 device, reference
column, BL 10) to convergence, and prices its counted events with the cited `ChipCosts`: the energy per
training sample falls with fewer bits (the ADC's 2^b) until the test error rises (quantisation) and
bound management re-reads more. The answer is the cheapest resolution whose test error stays within
`--tolerance` of the best one.

Usage:
    python -m experiments.adc_energy [--bits 3 4 5 6 7 9] [--epochs 15] [--out experiments/results/energy/adc]

Writes `adc_energy.json` (per resolution: test error, energy per sample by component, re-reads) and
`adc_energy.png`.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import jax

from crossbar import energy
from crossbar.periphery import Periphery
from crossbar.training import data as datasets
from crossbar.training import mlp, train_compare
from crossbar.training.backends import CrossbarBackend
from crossbar.training.checkpoint import save_json
from devices.presets import make_device


def run(bits: list[int], epochs: int, seed: int, tolerance: float, out: Path) -> dict:
    data = datasets.load_digits()
    cfg = mlp.MLPConfig(sizes=(64, 64, 10), activation="sigmoid", lr=0.05, epochs=epochs, seed=seed)
    rows = []
    for b in bits:
        backend = CrossbarBackend(make_device("gokmen_vlasov"), pair="reference", periphery=Periphery(adc_bits=b))
        res = train_compare(cfg, {"crossbar": backend}, data, progress=False, retention_times={})
        initial = mlp.init_network(cfg, backend, jax.random.fold_in(jax.random.key(cfg.seed), 0))
        specs = energy.layer_specs(initial, res["layers"]["crossbar"])
        report = energy.training_report(res["backends"]["crossbar"], specs, cfg.sizes)
        n = report["samples"]
        rows.append({"adc_bits": b, "test_error": res["backends"]["crossbar"]["test_error"][-1],
                     "energy_per_sample_j": report["chip"]["per_sample"]["energy_j"],
                     "energy_per_sample_by_component_j": {k: v / n for k, v in report["chip"]["energy_j"].items()},
                     "rereads_per_sample": sum(la["events"]["forward.rereads"] + la["events"]["backward.rereads"]
                                               for la in report["layers"]) / n})
        print(f"ADC {b} bits: test error {100 * rows[-1]['test_error']:.2f}%, "
              f"{1e9 * rows[-1]['energy_per_sample_j']:.3g} nJ/sample", flush=True)
    best = min(r["test_error"] for r in rows)
    ok = [r for r in rows if r["test_error"] <= best + tolerance]
    choice = min(ok, key=lambda r: r["energy_per_sample_j"])
    result = {"config": {**dataclasses.asdict(cfg), "sizes": list(cfg.sizes)}, "tolerance": tolerance,
              "costs": dataclasses.asdict(energy.ChipCosts()), "runs": rows, "choice_adc_bits": choice["adc_bits"]}
    out.mkdir(parents=True, exist_ok=True)
    save_json(out / "adc_energy.json", result)
    plot(result, out / "adc_energy.png")
    return result


def plot(result: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = result["runs"]
    b = [r["adc_bits"] for r in runs]
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    ax.semilogy(b, [1e9 * r["energy_per_sample_j"] for r in runs], "o-", color="C0", label="energy / sample")
    ax.semilogy(b, [1e9 * r["energy_per_sample_by_component_j"]["adc"] for r in runs], "s--", color="C2",
                label="of which ADC")
    ax.set(xlabel="ADC resolution (bits)", ylabel="energy per training sample (nJ)",
           title=f"digits 64-64-10: cheapest within {100 * result['tolerance']:.0f}% of the best error: "
                 f"{result['choice_adc_bits']} bits")
    ax.grid(True, which="both", alpha=0.3)
    ax2 = ax.twinx()
    ax2.plot(b, [100 * r["test_error"] for r in runs], "^-", color="C3", label="test error")
    ax2.set_ylabel("test error (%)", color="C3")
    lines = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    ax.legend(lines, [h.get_label() for h in lines], fontsize=8, loc="upper center")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bits", type=int, nargs="+", default=[3, 4, 5, 6, 7, 9])
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tolerance", type=float, default=0.01, help="accepted test-error excess over the best")
    p.add_argument("--out", default="experiments/results/energy/adc")
    args = p.parse_args(argv)
    if any(b < 2 or b > 24 for b in args.bits):
        p.error(f"--bits must lie in 2..24; got {args.bits}")
    result = run(args.bits, args.epochs, args.seed, args.tolerance, Path(args.out))
    print(f"cheapest resolution within {args.tolerance:.0%} of the best error: {result['choice_adc_bits']} bits")
    return result


if __name__ == "__main__":
    main()
