"""Backprop against feedback alignment (FA) and direct feedback alignment (DFA) on crossbars: error, pulses, energy.

    python -m experiments.feedback_rules [--dataset digits] [--devices gokmen_vlasov bilayer_ibm]
        [--rules backprop fa dfa [fa-array dfa-array]] [--epochs 20] [--out results/feedback_rules]

One `experiments.train_mlp` run per (device, rule), float and crossbar side by side, each in its own directory with
its checkpoint and energy report: the study resumes where it stopped (finished runs are kept, a cut one continues
from its last epoch). Then `summary.json`, `summary.md` (final test errors, the float run of the same rule, device
pulses, transpose reads and energy per training sample) and `feedback_rules.png` (test error against epochs per
device; energy per sample by rule). Other `train_mlp` options pass through after `--`, e.g.
`-- --mnist-dir DIR --limit-train 10000`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from crossbar.training import mlp  # noqa: E402
from crossbar.training.checkpoint import save_json  # noqa: E402
from devices.io import save_figure  # noqa: E402
from experiments import train_mlp  # noqa: E402

RULES = (*mlp.RULES, "fa-array", "dfa-array")


def _finished(run_dir: Path, epochs: int) -> bool:
    try:
        results = json.loads((run_dir / "results.json").read_text())
    except (OSError, ValueError):
        return False
    return results.get("epochs_done", 0) >= epochs and (run_dir / "energy.json").exists()


def run_one(run_dir: Path, device: str, rule: str, args, extra: list[str]) -> None:
    """Train (or finish) one (device, rule) run through the MLP's CLI, with its energy report."""
    if _finished(run_dir, args.epochs):
        return
    rule, _, feedback = rule.partition("-")  # "dfa-array": DFA with its feedback matrices on arrays
    argv = ["--dataset", args.dataset, "--device", device, "--rule", rule, "--epochs", str(args.epochs),
            "--out", str(run_dir), "--energy", "--no-progress", *(["--feedback", feedback] if feedback else []),
            *extra]
    if (run_dir / "checkpoint.npz").exists():
        argv.append("--resume")
    train_mlp.main(argv)


def summarise(out: Path, devices, rules) -> dict:
    rows = []
    for device in devices:
        for rule in rules:
            run_dir = out / f"{device}_{rule}"
            results = json.loads((run_dir / "results.json").read_text())
            report = json.loads((run_dir / "energy.json").read_text())
            xb = results["backends"]["crossbar"]
            train = xb["events"]["train"]
            samples = xb["train_samples"]
            rows.append({
                "device": device, "rule": rule,
                "crossbar_test_error": xb["test_error"][-1], "float_test_error":
                    results["backends"]["float"]["test_error"][-1],
                "crossbar_curve": xb["test_error"], "float_curve": results["backends"]["float"]["test_error"],
                "coincidences_per_sample": sum(layer["update.coincidences"] for layer in train) / samples,
                "transpose_reads_per_sample": sum(layer["backward.reads"] for layer in train) / samples,
                "energy_per_sample_j": report["chip"]["per_sample"]["energy_j"],
                "chip_time_per_sample_s": report["chip"]["per_sample"]["time_s"],
                "energy_per_sample_by_component_j": {k: v / samples for k, v in report["chip"]["energy_j"].items()
                                                     if k != "total"},
                "samples_per_s": sorted(xb["samples_per_s"])[len(xb["samples_per_s"]) // 2],
            })
    summary = {"runs": rows}
    save_json(out / "summary.json", summary)
    lines = ["| device | rule | crossbar test error | float test error (same rule) | device pulses / sample | "
             "transpose reads / sample | chip energy / sample (ADC) | chip time / sample | samples/s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['device']} | {r['rule']} | {100 * r['crossbar_test_error']:.2f}% | "
                     f"{100 * r['float_test_error']:.2f}% | {r['coincidences_per_sample']:.0f} | "
                     f"{r['transpose_reads_per_sample']:.1f} | {1e9 * r['energy_per_sample_j']:.2f} nJ "
                     f"({1e9 * r['energy_per_sample_by_component_j']['adc']:.2f} nJ) | "
                     f"{1e9 * r['chip_time_per_sample_s']:.0f} ns | "
                     f"{r['samples_per_s']:.0f} |")
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    plot(rows, devices, rules, out / "feedback_rules.png")
    return summary


def plot(rows, devices, rules, path: Path) -> Path:
    fig, axes = plt.subplots(1, len(devices) + 1, figsize=(4.6 * (len(devices) + 1), 4))
    colors = dict(zip(rules, plt.cm.tab10.colors, strict=False))
    for ax, device in zip(axes, devices, strict=False):
        for r in (r for r in rows if r["device"] == device):
            ax.plot(range(1, len(r["crossbar_curve"]) + 1), [100 * e for e in r["crossbar_curve"]], "-o",
                    ms=3, color=colors[r["rule"]], label=f"{r['rule']} crossbar")
            ax.plot(range(1, len(r["float_curve"]) + 1), [100 * e for e in r["float_curve"]], "--",
                    color=colors[r["rule"]], alpha=0.6, label=f"{r['rule']} float")
        ax.set(title=device, xlabel="epoch", ylabel="test error (%)", yscale="log")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    ax = axes[-1]
    width = 0.8 / len(rules)
    for k, rule in enumerate(rules):
        values = [next(r["energy_per_sample_j"] for r in rows if r["device"] == d and r["rule"] == rule)
                  for d in devices]
        ax.bar([i + k * width for i in range(len(devices))], [1e9 * v for v in values], width, label=rule,
               color=colors[rule])
    ax.set_xticks([i + width * (len(rules) - 1) / 2 for i in range(len(devices))], devices, fontsize=8)
    ax.set(ylabel="chip energy per training sample (nJ)", title="energy per sample")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path, dpi=120)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--devices", nargs="+", default=["gokmen_vlasov", "bilayer_ibm"])
    parser.add_argument("--rules", nargs="+", default=list(mlp.RULES), choices=RULES,
                        help="fa-array and dfa-array hold the feedback matrices on arrays of their own "
                             "(train_mlp --feedback array)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--out", default="results/feedback_rules", help="study directory (resumes what it holds)")
    args, extra = parser.parse_known_args(argv)
    extra = [a for a in extra if a != "--"]
    if args.epochs < 1:
        parser.error(f"--epochs must be >= 1; got {args.epochs}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for device in args.devices:
        for rule in args.rules:
            print(f"== {device}, {rule}", flush=True)
            run_one(out / f"{device}_{rule}", device, rule, args, extra)
    summary = summarise(out, args.devices, args.rules)
    print((out / "summary.md").read_text())
    print(f"written: {out / 'summary.json'}, {out / 'summary.md'}, {out / 'feedback_rules.png'}")
    return summary


if __name__ == "__main__":
    main()
