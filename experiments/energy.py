"""The energy report of a training run: JSON, markdown and a figure (`--energy` of `experiments.train_mlp` and
`experiments.train_cnn`).

`write_energy_report(results, cfg, backends, out_dir)` prices an MLP run's counted events
(`crossbar.energy.training_report`); `write_report(report, out_dir)` writes any report as `energy.json`,
`energy.md` and `energy.png` (energy by component, stacked, for the chip's layers beside the GPU estimates; and
the time; log scales). `add_energy_arguments` and `energy_options` give every training CLI the same options.
"""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np

from crossbar import energy
from crossbar.training import mlp
from crossbar.training.checkpoint import save_json
from devices.io import save_figure


def write_energy_report(results: dict, cfg: mlp.MLPConfig, backends: dict, out_dir, *, crossbar: str = "crossbar",
                        costs: energy.ChipCosts | None = None, gpu: str = "V100",
                        extrapolate_to: int | None = None, title: str | None = None) -> dict:
    """Write energy.json / energy.md / energy.png for the `crossbar` back end of `results` into `out_dir`.

    Args:
        results: `crossbar.training.train_compare`'s return (with `layers`).
        cfg: The network's configuration; backends: the {name: back end} trained.
        costs: Chip costs (default: the cited defaults). gpu: a key of `crossbar.energy.GPUS`.
        extrapolate_to: Also scale per-sample numbers to this many samples.
    """
    out = Path(out_dir)
    initial = mlp.init_network(cfg, backends[crossbar], jax.random.fold_in(jax.random.key(cfg.seed), 0))
    specs = energy.layer_specs(initial, results["layers"][crossbar])
    float_run = next((r for name, r in results["backends"].items() if name != crossbar), None)
    report = energy.training_report(results["backends"][crossbar], specs, cfg.sizes, costs=costs, gpu=gpu,
                                    float_run=float_run, extrapolate_to=extrapolate_to, batch_size=cfg.batch_size)
    report["meta"] = results.get("meta", {})
    report["test_error"] = {name: r["test_error"][-1] for name, r in results["backends"].items()}
    return write_report(report, out, title)


def write_report(report: dict, out_dir, title: str | None = None) -> dict:
    """Write a `crossbar.energy.training_report` (with `meta`) as energy.json, energy.md and energy.png."""
    out = Path(out_dir)
    save_json(out / "energy.json", report)
    text = energy.markdown(report, title or f"Energy and time of training ({report['meta'].get('dataset', '')})")
    (out / "energy.md").write_text(text)
    plot(report, out / "energy.png")
    return report


def add_energy_arguments(p) -> None:
    """The energy report's options of a training CLI (argparse parser `p`)."""
    p.add_argument("--energy", action="store_true", help="write the energy and time report of the crossbar run")
    p.add_argument("--gpu", default="V100", help=f"GPU of the energy report's comparison: {', '.join(energy.GPUS)}")
    p.add_argument("--extrapolate-samples", type=int, default=None,
                   help="energy report: also scale the per-sample numbers to this many training samples")
    p.add_argument("--cost", nargs="+", default=[], metavar="NAME=VALUE",
                   help="energy report: chip cost parameters (crossbar.energy.ChipCosts), e.g. adc_fom=5e-15")


def energy_options(args, device) -> energy.ChipCosts | None:
    """The validated chip costs of `--cost NAME=VALUE ...` (cited defaults otherwise), checked against the
    device's threshold, and `--gpu`; None without `--energy`. ValueError naming the bad option."""
    if not args.energy:
        return None
    if args.gpu not in energy.GPUS:
        raise ValueError(f"unknown --gpu {args.gpu!r}; valid: {', '.join(energy.GPUS)}")
    changes = {}
    for a in args.cost:
        name, sep, value = a.partition("=")
        if not sep:
            raise ValueError(f"--cost needs NAME=VALUE; got {a!r}")
        try:
            changes[name.strip()] = float(value)
        except ValueError:
            raise ValueError(f"--cost needs NAME=VALUE with a number; got {a!r}") from None
    return energy.make_costs(**changes).check_device(float(device.v_threshold))


def summary(report: dict, out_dir) -> str:
    """One line: the chip's energy and time beside the GPU's, and where the report is."""
    chip, gpu = report["chip"], report["gpu"]
    return (f"energy on the chip: {chip['energy_j']['total']:.3g} J in {chip['time_s']:.3g} s; {gpu['gpu']}: "
            f"{gpu['peak']['energy_j']:.3g}-{gpu['latency']['energy_j']:.3g} J (estimates); report: "
            f"{Path(out_dir) / 'energy.md'}")


def plot(report: dict, path: Path) -> Path:
    """Energy by component (stacked, linear, per layer), chip vs GPU (log; the chip's bar stacked by component)
    and training time (log)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layers, chip, gpu = report["layers"], report["chip"], report["gpu"]
    fig, (ax_l, ax, ax_t) = plt.subplots(1, 3, figsize=(15, 4.8), gridspec_kw={"width_ratios": [2, 1.6, 1.4]})
    colors = dict(zip(energy.COMPONENTS, plt.cm.tab10(np.linspace(0, 1, 10)), strict=False))
    labels = [f"layer {i}\n{la['rows']}x{la['cols']}" for i, la in enumerate(layers)] + ["chip\ntotal"]
    bottom = np.zeros(len(labels))
    for name in energy.COMPONENTS:
        values = np.array([la["energy_j"][name] for la in layers] + [chip["energy_j"][name]])
        ax_l.bar(range(len(labels)), values, bottom=bottom, color=colors[name], label=name)
        bottom += values
    ax_l.set_xticks(range(len(labels)), labels)
    ax_l.set(ylabel="energy (J)", title=f"chip energy by component, {report['samples']} training samples")
    ax_l.legend(fontsize=7, ncol=2)
    ax_l.grid(True, axis="y", alpha=0.3)
    # Log scale: on a log axis the lowest segment looks largest, so the largest component goes at the bottom.
    order = sorted(energy.COMPONENTS, key=lambda k: -chip["energy_j"][k])
    parts = [chip["energy_j"][k] for k in order if chip["energy_j"][k] > 0]
    low = min(parts + [gpu["peak"]["energy_j"]]) / 3
    level = 0.0
    for name in order:
        value = chip["energy_j"][name]
        if value > 0:
            ax.bar(0, value, bottom=level if level > 0 else low, color=colors[name])
            level = (level if level > 0 else low) + value
    ax.bar([1, 2], [gpu["peak"]["energy_j"], gpu["latency"]["energy_j"]], bottom=low, color="0.4", hatch="//")
    latency = f"GPU batch-{gpu.get('batch_size', 1)}"
    ax.set_xticks([0, 1, 2], ["chip\n(simulated)", "GPU peak\n(estimate)", f"{latency}\n(estimate)"])
    ax.set(yscale="log", ylabel="energy (J)", ylim=(low, gpu["latency"]["energy_j"] * 5),
           title=f"chip vs {gpu['gpu']}")
    ax.grid(True, axis="y", which="both", alpha=0.3)
    times = {"chip": chip["time_s"], "GPU peak": gpu["peak"]["time_s"], latency: gpu["latency"]["time_s"]}
    for label, seconds in report["measured"].items():
        if seconds:
            times["this CPU\n" + ("float" if "float" in label else "crossbar sim")] = seconds
    ax_t.bar(range(len(times)), list(times.values()), color=["C0", "0.4", "0.4", "C3", "C3"][:len(times)])
    ax_t.set_xticks(range(len(times)), list(times), fontsize=8)
    ax_t.set(yscale="log", ylabel="time (s)", title="training time (CPU: measured here)")
    ax_t.grid(True, axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path, dpi=120)
