"""Energy and time of a training run on the simulated chip, by component and layer, beside a GPU estimate.

`training_report` prices the events a `crossbar.training.train_compare` run counted (its `events["train"]`,
per layer) with `ChipCosts`, and puts beside it the same training on a named GPU (`crossbar.energy.gpu`) and
the measured wall time of this machine's float run. `markdown` renders it as a table.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from crossbar.energy.account import COMPONENTS, LayerSpec, layer_energy, layer_spec, layer_time
from crossbar.energy.costs import ChipCosts
from crossbar.energy.gpu import GPU, GPUS, gpu_estimate
from crossbar.events import Events


def mean_conductance(state) -> float:
    """Mean device conductance (S) of a `crossbar.array.CrossbarState` (both devices of a pair)."""
    g = [np.asarray(state.plus.g)]
    if hasattr(state.minus, "g") and np.ndim(state.minus.g) == 2 and np.shape(state.minus.g) == g[0].shape:
        g.append(np.asarray(state.minus.g))
    return float(np.mean(np.stack(g)))


def layer_specs(initial_layers, final_layers) -> tuple[LayerSpec, ...]:
    """Specs of a network's crossbar layers (`crossbar.nn` layers: `AnalogDense`, or a `Conv2d` on one).

    The mean conductance is the average of the layer's mean before and after training (conductances drift
    little on average over a run; the events are not weighted by each device's own conductance, see
    `crossbar.events`).
    """
    def arrays(layer):  # a convolution holds its array in its dense layer; a transfer layer's weights are on C
        layer = getattr(layer, "dense", layer)
        return layer.slow_view() if hasattr(layer, "slow_view") else layer

    return tuple(layer_spec(arrays(a).xb, 0.5 * (mean_conductance(arrays(a).state)
                                                 + mean_conductance(arrays(b).state)))
                 for a, b in zip(initial_layers, final_layers, strict=True))


def training_report(run: dict, specs: tuple[LayerSpec, ...], sizes: tuple[int, ...] | None,
                    costs: ChipCosts | None = None, gpu: GPU | str = "V100", float_run: dict | None = None,
                    extrapolate_to: int | None = None, batch_size: int = 1, matrices=None,
                    network: str | None = None) -> dict:
    """Energy and time of training on the chip, by component and layer, and on a GPU.

    Args:
        run: The crossbar back end's results (`train_compare(...)["backends"][name]`): `events`, `train_samples`,
            `wall_time_s`.
        specs: One `LayerSpec` per layer (`layer_specs`).
        sizes: An MLP's layer widths (for the GPU's FLOPs), or None with `matrices`.
        costs: Chip costs (default: the cited `ChipCosts()`), validated here.
        gpu: A `GPU` or a key of `GPUS`.
        float_run: The float back end's results, for its measured wall time on this machine.
        extrapolate_to: Also scale the per-sample numbers to this many training samples (e.g. a full run).
        batch_size: Samples per SGD step (the GPU's latency estimate counts steps).
        matrices: For any other network, its weight matrices ((rows, cols, uses per sample), ...; see
            `crossbar.energy.gpu.matrix_training_flops`).
        network: The network's name in the report (default: the sizes joined by dashes).

    Returns:
        A JSON-able dict: `layers` (per layer: events, energy_j by component, time_s by phase), `chip`
        (energy_j by component and total, time_s, per_sample), `gpu` (both estimates), `measured` (this
        machine's wall times, labelled), `costs`, and `extrapolated` when asked.
    """
    costs = (costs or ChipCosts()).validate()
    gpu = GPUS[gpu] if isinstance(gpu, str) else gpu
    samples = int(run["train_samples"])
    events = Events.from_dicts(run["events"]["train"])
    layers, energy_total, time_total = [], dict.fromkeys(COMPONENTS, 0.0), 0.0
    for i, spec in enumerate(specs):
        ev = Events(events.values[i])
        energy = {k: float(v) for k, v in layer_energy(ev, spec, costs).items()}
        times = {k: float(v) for k, v in layer_time(ev, costs).items()}
        layers.append({"rows": spec.rows, "cols": spec.cols, "g_mean_s": float(spec.g_mean),
                       "events": run["events"]["train"][i],
                       "half_selected": float(ev.half_selected(spec.rows, spec.cols)),
                       "energy_j": {**energy, "total": sum(energy.values())},
                       "time_s": {**times, "total": sum(times.values())}})
        for k in COMPONENTS:
            energy_total[k] += energy[k]
        time_total += sum(times.values())
    chip_energy = sum(energy_total.values())
    report = {
        "samples": samples, "network": network or "-".join(map(str, sizes or ())),
        "sizes": None if sizes is None else list(sizes), "layers": layers,
        "chip": {"energy_j": {**energy_total, "total": chip_energy}, "time_s": time_total,
                 "per_sample": {"energy_j": chip_energy / samples, "time_s": time_total / samples}},
        "gpu": gpu_estimate(sizes, samples, gpu, batch_size, matrices=matrices),
        "measured": {"crossbar_simulation_wall_s (this machine, CPU, JAX)": run.get("wall_time_s")},
        "costs": dataclasses.asdict(costs),
    }
    if float_run is not None:
        report["measured"]["float_training_wall_s (this machine, CPU, JAX float32)"] = float_run.get("wall_time_s")
    if extrapolate_to:
        scale = extrapolate_to / samples
        report["extrapolated"] = {
            "samples": extrapolate_to, "note": f"per-sample numbers of this run x {scale:.4g}",
            "chip": {"energy_j": chip_energy * scale, "time_s": time_total * scale},
            "gpu": gpu_estimate(sizes, extrapolate_to, gpu, batch_size, matrices=matrices)}
    return jax.tree_util.tree_map(lambda v: float(v) if isinstance(v, np.floating) else v, report)


def _eng(x: float, unit: str) -> str:
    """1.23e-6 J -> '1.23 uJ'."""
    if x == 0:
        return f"0 {unit}"
    prefixes = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1, ""), (1e-3, "m"), (1e-6, "u"), (1e-9, "n"),
                (1e-12, "p"), (1e-15, "f")]
    for scale, p in prefixes:
        if abs(x) >= scale:
            return f"{x / scale:.3g} {p}{unit}"
    return f"{x:.3g} {unit}"


def markdown(report: dict, title: str = "Energy and time of training") -> str:
    """The report as markdown: totals, GPU comparison, breakdown by component and layer."""
    chip, gpu, n = report["chip"], report["gpu"], report["samples"]
    lines = [f"# {title}", "", f"{n} training samples, network {report['network']}.", "",
             "| | energy | time | energy / sample | time / sample |", "|---|---|---|---|---|",
             f"| simulated chip (event counts x cited costs) | {_eng(chip['energy_j']['total'], 'J')} | "
             f"{_eng(chip['time_s'], 's')} | {_eng(chip['energy_j']['total'] / n, 'J')} | "
             f"{_eng(chip['time_s'] / n, 's')} |"]
    batch = gpu.get("batch_size", 1)
    for key, label in (("peak", "peak FP32 at board power (lower bound)"),
                       ("latency", f"kernel latency at batch {batch}")):
        e = gpu[key]
        lines.append(f"| {gpu['gpu']}, {label}, estimate | {_eng(e['energy_j'], 'J')} | {_eng(e['time_s'], 's')} | "
                     f"{_eng(e['energy_j'] / n, 'J')} | {_eng(e['time_s'] / n, 's')} |")
    for label, seconds in report["measured"].items():
        if seconds:
            lines.append(f"| measured: {label} | - | {_eng(seconds, 's')} | - | {_eng(seconds / n, 's')} |")
    lines += ["", f"GPU FLOPs: {gpu['flops']:.3g} ({gpu['source']}).", "",
              "## Chip energy by component and layer (J)", "",
              "| component | " + " | ".join(f"layer {i} ({la['rows']}x{la['cols']})"
                                           for i, la in enumerate(report["layers"])) + " | total | share |",
              "|---|" + "---|" * (len(report["layers"]) + 2)]
    total = chip["energy_j"]["total"]
    for k in COMPONENTS:
        cells = " | ".join(f"{la['energy_j'][k]:.3g}" for la in report["layers"])
        lines.append(f"| {k} | {cells} | {chip['energy_j'][k]:.3g} | {100 * chip['energy_j'][k] / total:.1f}% |")
    lines += ["", "## Chip time by phase and layer (s)", "", "| phase | " + " | ".join(
        f"layer {i}" for i in range(len(report["layers"]))) + " |", "|---|" + "---|" * len(report["layers"])]
    for k in ("reads", "digital", "update"):
        lines.append(f"| {k} | " + " | ".join(f"{la['time_s'][k]:.3g}" for la in report["layers"]) + " |")
    if "extrapolated" in report:
        ex = report["extrapolated"]
        chip_x, peak, late = ex["chip"], ex["gpu"]["peak"], ex["gpu"]["latency"]
        lines += ["", f"Extrapolated to {ex['samples']} samples ({ex['note']}): chip {_eng(chip_x['energy_j'], 'J')} "
                  f"in {_eng(chip_x['time_s'], 's')}; GPU peak {_eng(peak['energy_j'], 'J')} in "
                  f"{_eng(peak['time_s'], 's')}, latency-bound at batch {batch} {_eng(late['energy_j'], 'J')} in "
                  f"{_eng(late['time_s'], 's')}."]
    lines += ["", "Costs: " + ", ".join(f"{k}={v:.3g}" for k, v in report["costs"].items()) +
              " (sources: `crossbar/energy/costs.py`)."]
    return "\n".join(lines) + "\n"
