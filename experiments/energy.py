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
    """Stacked bars of energy by component (each chip layer, the chip, the GPU estimates) and of time; log y."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layers, chip, gpu = report["layers"], report["chip"], report["gpu"]
    labels = [f"layer {i}\n{la['rows']}x{la['cols']}" for i, la in enumerate(layers)] + ["chip\ntotal"]
    fig, (ax, ax_t) = plt.subplots(1, 2, figsize=(12, 4.8), gridspec_kw={"width_ratios": [3, 1.4]})
    x = np.arange(len(labels))
    bottom = np.zeros(len(labels))
    colors = plt.cm.tab10(np.linspace(0, 1, 10))
    for k, name in enumerate(energy.COMPONENTS):
        values = np.array([la["energy_j"][name] for la in layers] + [chip["energy_j"][name]])
        ax.bar(x, values, bottom=bottom, color=colors[k], label=name)
        bottom += values
    # On a log axis stacked segments read as shares only roughly: the total is what the bar's top shows.
    gx = np.arange(len(labels), len(labels) + 2)
    ax.bar(gx, [gpu["peak"]["energy_j"], gpu["latency"]["energy_j"]], color="0.4", hatch="//", label="GPU estimate")
    ax.set_xticks(list(x) + list(gx), labels + ["GPU\npeak", "GPU\nbatch-1"])
    positive = [v for v in list(bottom) + [gpu["peak"]["energy_j"]] if v > 0]
    ax.set(yscale="log", ylabel="energy (J)", ylim=(min(positive) / 20, gpu["latency"]["energy_j"] * 5),
           title=f"training energy, {report['samples']} samples: chip (by component) vs {gpu['gpu']}")
    ax.legend(fontsize=7, ncol=2, loc="upper left")
    ax.grid(True, axis="y", which="both", alpha=0.3)
    times = {"chip": chip["time_s"], "GPU peak": gpu["peak"]["time_s"], "GPU batch-1": gpu["latency"]["time_s"]}
    for label, seconds in report["measured"].items():
        if seconds:
            times["this CPU\n" + ("float" if "float" in label else "crossbar sim")] = seconds
    ax_t.bar(range(len(times)), list(times.values()), color=["C0", "0.4", "0.4", "C3", "C3"][:len(times)])
    ax_t.set_xticks(range(len(times)), list(times), fontsize=8)
    ax_t.set(yscale="log", ylabel="time (s)", title="training time (CPU: measured)")
    ax_t.grid(True, axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(path)
    return path
