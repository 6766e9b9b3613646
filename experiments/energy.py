"""The energy report of a training run: JSON, markdown and a figure (`python -m experiments.train_mlp --energy`).

`write_energy_report(results, cfg, backends, out_dir)` prices the crossbar run's counted events
(`crossbar.energy.training_report`), writes `energy.json`, `energy.md` and `energy.png` (energy by component,
stacked, for the chip's layers beside the GPU estimates; and the time; log scales).
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
    save_json(out / "energy.json", report)
    text = energy.markdown(report, title or f"Energy and time of training ({report['meta'].get('dataset', '')})")
    (out / "energy.md").write_text(text)
    plot(report, out / "energy.png")
    return report


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
    ax.set_xticks([0, 1, 2], ["chip\n(simulated)", "GPU peak\n(estimate)", "GPU batch-1\n(estimate)"])
    ax.set(yscale="log", ylabel="energy (J)", ylim=(low, gpu["latency"]["energy_j"] * 5),
           title=f"chip vs {gpu['gpu']}")
    ax.grid(True, axis="y", which="both", alpha=0.3)
    times = {"chip": chip["time_s"], "GPU peak": gpu["peak"]["time_s"], "GPU batch-1": gpu["latency"]["time_s"]}
    for label, seconds in report["measured"].items():
        if seconds:
            times["this CPU\n" + ("float" if "float" in label else "crossbar sim")] = seconds
    ax_t.bar(range(len(times)), list(times.values()), color=["C0", "0.4", "0.4", "C3", "C3"][:len(times)])
    ax_t.set_xticks(range(len(times)), list(times), fontsize=8)
    ax_t.set(yscale="log", ylabel="time (s)", title="training time (CPU: measured here)")
    ax_t.grid(True, axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path, dpi=120)
