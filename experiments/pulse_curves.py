"""Pulse-response curves and retention of device models: the abrupt HfO2 baseline against the bilayer device.

Figure 1 (`pulse_curves.png`): conductance (uS) against pulse number for `--pulses` potentiation then as many
depression pulses, on `--devices` devices per model: median and the 5-95% band across devices.
Figure 2 (`retention.png`): intermediate states programmed by 0, 1/4, 1/2, 3/4 and all of the potentiation
pulses, then read at `--v-read` (0.2 V, below every threshold) from 1 s to 1000 s with drift and read noise.

Usage:
    python -m experiments.pulse_curves [--out DIR] [--devices N] [--pulses 200] [--seed S]
        [--device NAME ...] [--set [DEVICE:]NAME=VALUE ...]

`NAME` of `--device` is a preset (`devices.presets.PRESETS`) or a model class with its default parameters
(`devices.MODELS`). `--set variation.c2c=0.1` changes a parameter of every selected device;
`--set bilayer_ibm:gamma=0.3` of one. Writes the PNGs, the raw traces (`traces.npz`) and the settings
(`settings.json`) to `--out`, each atomically.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from crossbar.training.checkpoint import atomic_write
from devices.params import parse_assignment
from devices.presets import device_names, make_device
from devices.traces import pulse_train, read_train, up_down_voltages

DEFAULT_DEVICES = ("hfo2_baseline", "bilayer_ibm")
BAND = (5.0, 95.0)  # percentiles of the spread band across devices
DEFAULT_AMPLITUDE = 1.5  # V, above the 1 V thresholds of both mission devices


def parse_overrides(assignments: Sequence[str], names: Sequence[str]) -> dict[str, dict[str, float]]:
    """Per-device overrides from `[DEVICE:]NAME=VALUE` strings; no `DEVICE:` prefix means every device."""
    per_device: dict[str, dict[str, float]] = {name: {} for name in names}
    for text in assignments:
        target, sep, rest = text.partition(":")
        if sep:
            if target not in per_device:
                raise ValueError(f"--set {text!r} names device {target!r}, which is not selected; "
                                 f"selected: {', '.join(names)}")
            key, value = parse_assignment(rest)
            per_device[target][key] = value
        else:
            key, value = parse_assignment(text)
            for name in names:
                per_device[name][key] = value
    return per_device


def simulate(device, n_devices: int, n_pulses: int, key, amplitude: float = 1.5, v_read: float = 0.2,
             read_times: np.ndarray | None = None, levels: Sequence[int] | None = None) -> dict[str, np.ndarray]:
    """Pulse-response trace and retention of `n_devices` devices of one model.

    Args:
        device: Device model.
        n_devices: Number of devices (device-to-device spread drawn once).
        n_pulses: Potentiation pulses, followed by as many depression pulses.
        key: Random key.
        amplitude: Pulse amplitude (V).
        v_read: Read voltage (V).
        read_times: `[n_reads]` read times after programming (s); default 1 s to 1000 s, 31 points.
        levels: Numbers of potentiation pulses that program the retention states; default 0, n/4, n/2, 3n/4, n.

    Returns:
        Dict with `g_trace` `[2 n_pulses + 1, n_devices]` (S), `read_times` `[n_reads]` (s), `levels`
        `[n_levels]`, `g_programmed` `[n_levels, n_devices]` (S) and `g_read` `[n_reads, n_levels, n_devices]` (S).
    """
    if read_times is None:
        read_times = np.logspace(0.0, 3.0, 31)
    if levels is None:
        levels = [round(n_pulses * f) for f in (0.0, 0.25, 0.5, 0.75, 1.0)]
    k_init, k_train, k_ret_init, k_prog, k_read = jax.random.split(key, 5)
    state = device.init(k_init, (n_devices,))
    _, g_trace = pulse_train(device, state, up_down_voltages(n_pulses, n_pulses, amplitude), k_train)

    # Retention: one row of devices per level; row l gets levels[l] pulses, then zero-volt (no-op) pulses.
    levels_arr = jnp.asarray(levels)
    ret_state = device.init(k_ret_init, (len(levels), n_devices))
    n_prog = max(max(levels), 1)
    pulse_index = jnp.arange(n_prog)[:, None, None]
    volts = jnp.where(pulse_index < levels_arr[None, :, None], amplitude, 0.0)
    volts = jnp.broadcast_to(volts, (n_prog, len(levels), n_devices))
    programmed, _ = pulse_train(device, ret_state, volts, k_prog)
    _, g_read = read_train(device, programmed, jnp.asarray(read_times), k_read, v_read)
    return {"g_trace": np.asarray(g_trace), "read_times": np.asarray(read_times), "levels": np.asarray(levels),
            "g_programmed": np.asarray(programmed.g), "g_read": np.asarray(g_read)}


def plot_pulse_curve(ax, name: str, g_trace: np.ndarray, n_pulses: int) -> None:
    """Median and 5-95% band across devices of a `[2 n_pulses + 1, n_devices]` conductance trace (S) on `ax`."""
    g = g_trace * 1e6
    pulses = np.arange(g.shape[0])
    lo, hi = np.percentile(g, BAND, axis=1)
    ax.fill_between(pulses, lo, hi, alpha=0.3, label=f"{BAND[0]:g}-{BAND[1]:g}% of devices")
    ax.plot(pulses, np.median(g, axis=1), lw=1.5, label="median")
    ax.axvline(n_pulses, color="grey", lw=0.5, ls="--")
    ax.set(title=f"{name} ({g.shape[1]} devices)", xlabel="pulse number", ylabel="conductance (uS)")
    ax.legend(loc="best", fontsize=8)


def _plot(results: dict[str, dict[str, np.ndarray]], out: Path, n_pulses: int) -> dict[str, Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    paths = {}

    fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 4), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        plot_pulse_curve(ax, name, results[name]["g_trace"], n_pulses)
    fig.suptitle(f"{n_pulses} potentiation then {n_pulses} depression pulses")
    fig.tight_layout()
    paths["pulse_curves_png"] = out / "pulse_curves.png"
    atomic_write(paths["pulse_curves_png"], lambda f: fig.savefig(f, format="png", dpi=120))
    plt.close(fig)

    fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 4), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        r = results[name]
        for i, level in enumerate(r["levels"]):
            g = r["g_read"][:, i, :] * 1e6
            lo, hi = np.percentile(g, BAND, axis=1)
            line, = ax.plot(r["read_times"], np.median(g, axis=1), label=f"{level} pulses")
            ax.fill_between(r["read_times"], lo, hi, alpha=0.15, color=line.get_color())
        ax.set_xscale("log")
        ax.set(title=f"{name}: retention", xlabel="time after programming (s)", ylabel="read conductance (uS)")
        ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    paths["retention_png"] = out / "retention.png"
    atomic_write(paths["retention_png"], lambda f: fig.savefig(f, format="png", dpi=120))
    plt.close(fig)
    return paths


def run(names: Sequence[str] = DEFAULT_DEVICES, n_devices: int = 1000, n_pulses: int = 200, seed: int = 0,
        overrides: Sequence[str] = (), out: str | os.PathLike = "results/pulse_curves",
        amplitude: float | None = None, v_read: float = 0.2, plot: bool = True) -> dict:
    """Simulate and plot the pulse curves and retention of the named devices.

    Args:
        names: Presets or model names (see `device_names()`).
        n_devices: Devices per model.
        n_pulses: Potentiation pulses, then as many depression pulses.
        seed: Random seed; every device gets its own key folded from it.
        overrides: `[DEVICE:]NAME=VALUE` parameter assignments.
        out: Output directory (created).
        amplitude: Programming pulse amplitude (V); None: 1.5 V, or a device's largest threshold where higher.
        v_read: Read voltage (V).
        plot: Write the PNG figures.

    Returns:
        Dict with `files` (name -> path), `settings` (what was run) and `results` (device name -> the arrays
        of `simulate`).

    Raises:
        ValueError: for unknown device or parameter names and invalid sizes or values.
    """
    if not names:
        raise ValueError("no device selected; valid names: " + ", ".join(device_names()))
    if n_devices < 1 or n_pulses < 1:
        raise ValueError(f"`n_devices` and `n_pulses` must be >= 1; got n_devices={n_devices}, n_pulses={n_pulses}")
    if len(set(names)) != len(names):
        raise ValueError(f"a device is selected twice: {list(names)}")
    per_device = parse_overrides(overrides, names)
    models = {name: make_device(name, per_device[name]) for name in names}
    amplitudes = {name: max(DEFAULT_AMPLITUDE, float(model.switching_threshold)) if amplitude is None else amplitude
                  for name, model in models.items()}
    for name, model in models.items():
        if amplitudes[name] < float(model.switching_threshold):
            print(f"warning: amplitude {amplitudes[name]} V is below a switching threshold of {name} "
                  f"({float(model.switching_threshold)} V); its curve will be flat", file=sys.stderr)

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    key = jax.random.key(seed)
    start = time.perf_counter()
    results = {name: simulate(model, n_devices, n_pulses, jax.random.fold_in(key, i), amplitudes[name], v_read)
               for i, (name, model) in enumerate(models.items())}
    elapsed = time.perf_counter() - start

    files = {}
    arrays = {f"{name}/{k}": v for name, r in results.items() for k, v in r.items()}
    files["traces_npz"] = out / "traces.npz"
    atomic_write(files["traces_npz"], lambda f: np.savez_compressed(f, **arrays))
    if plot:
        files.update(_plot(results, out, n_pulses))
    settings = {"devices": list(names), "n_devices": n_devices, "n_pulses": n_pulses, "seed": seed,
                "overrides": {name: o for name, o in per_device.items() if o}, "amplitude_V": amplitudes,
                "v_read_V": v_read, "band_percentiles": list(BAND), "simulation_s": round(elapsed, 3),
                "parameters": {name: repr(model) for name, model in models.items()},
                "npz_keys": "<device>/g_trace [2*n_pulses+1, n_devices] S; <device>/g_read [n_reads, n_levels, "
                            "n_devices] S; <device>/read_times [n_reads] s; <device>/levels; <device>/g_programmed"}
    files["settings_json"] = out / "settings.json"
    atomic_write(files["settings_json"], lambda f: f.write(json.dumps(settings, indent=2).encode()))
    return {"files": files, "settings": settings, "results": results}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m experiments.pulse_curves", description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="results/pulse_curves", help="output directory")
    parser.add_argument("--devices", type=int, default=1000, help="devices per model")
    parser.add_argument("--pulses", type=int, default=200, help="potentiation pulses, then as many depression")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--device", nargs="+", default=list(DEFAULT_DEVICES), metavar="NAME",
                        help="presets or models: " + ", ".join(device_names()) + ", or PATH.json device files")
    parser.add_argument("--set", nargs="+", default=[], metavar="[DEVICE:]NAME=VALUE", dest="overrides",
                        help="override a parameter, e.g. variation.c2c=0.1 or bilayer_ibm:gamma=0.3")
    parser.add_argument("--amplitude", type=float, default=None,
                        help=f"programming pulse amplitude (V); default {DEFAULT_AMPLITUDE} V or a device's "
                             "largest threshold where higher")
    parser.add_argument("--v-read", type=float, default=0.2, help="read voltage (V)")
    parser.add_argument("--no-plot", action="store_true", help="write only the traces and settings")
    return parser


def main(argv: Sequence[str] | None = None) -> dict:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = run(args.device, args.devices, args.pulses, args.seed, args.overrides, args.out, args.amplitude,
                     args.v_read, plot=not args.no_plot)
    except ValueError as err:
        parser.error(str(err))  # exits with status 2 and the message, no traceback
    for label, path in result["files"].items():
        print(f"{label}: {path}")
    print(f"simulated in {result['settings']['simulation_s']} s")
    return result


if __name__ == "__main__":
    main()
