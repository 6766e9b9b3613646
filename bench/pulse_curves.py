"""Throughput of the pulse-curve simulation: device-pulses per second for every device model.

Times `devices.traces.pulse_train` (jitted `lax.scan`, one pulse per step, the programmed conductance
recorded after each) on `--devices` devices for `--pulses` potentiation then as many depression pulses:
one warm-up call (compilation), then the median of `--repeats` timed calls, each ending in
`block_until_ready`.

Usage:
    python -m bench.pulse_curves [--devices 10000] [--pulses 200] [--repeats 7] [--model NAME ...]
        [--out bench/results/pulse_curves.json]

`NAME` is a model class of `devices.MODELS` (default parameters) or a preset of `devices.presets.PRESETS`.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import jax
import numpy as np

import devices
from crossbar.training.checkpoint import save_json
from devices import presets
from devices.traces import pulse_train, up_down_voltages


def _device(name: str):
    if name in devices.MODELS:
        return devices.MODELS[name]().validate()
    if name in presets.PRESETS:
        return presets.PRESETS[name]()
    raise ValueError(f"unknown model {name!r}; valid models: {', '.join(devices.MODELS)}; "
                     f"valid presets: {', '.join(presets.PRESETS)}")


def bench_one(device, n_devices: int, n_pulses: int, repeats: int, seed: int = 0) -> dict:
    """Time `pulse_train` for one device model.

    Returns:
        Dict with `compile_s` (first call, s), `median_s`, `min_s` (timed calls, s) and
        `device_pulses_per_s` (n_devices * 2 n_pulses / median_s).
    """
    key = jax.random.key(seed)
    state = device.init(key, (n_devices,))
    volts = up_down_voltages(n_pulses, n_pulses)
    start = time.perf_counter()
    jax.block_until_ready(pulse_train(device, state, volts, jax.random.fold_in(key, 1)))
    compile_s = time.perf_counter() - start
    times = []
    for i in range(repeats):
        k = jax.random.fold_in(key, i + 2)  # a fresh key each run, as a real simulation would use
        start = time.perf_counter()
        jax.block_until_ready(pulse_train(device, state, volts, k))
        times.append(time.perf_counter() - start)
    median = float(np.median(times))
    return {"compile_s": round(compile_s, 4), "median_s": round(median, 5), "min_s": round(min(times), 5),
            "device_pulses_per_s": n_devices * 2 * n_pulses / median}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.pulse_curves", description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=10_000, help="devices per model")
    parser.add_argument("--pulses", type=int, default=200, help="potentiation pulses, then as many depression")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs after the warm-up")
    parser.add_argument("--model", nargs="+", default=list(devices.MODELS), metavar="NAME",
                        help="models or presets (default: every model)")
    parser.add_argument("--out", default="bench/results/pulse_curves.json", help="JSON output path")
    args = parser.parse_args(argv)
    try:
        models = {name: _device(name) for name in args.model}
    except ValueError as err:
        parser.error(str(err))

    results = {}
    for name, device in models.items():
        results[name] = bench_one(device, args.devices, args.pulses, args.repeats)
        print(f"{name:>20}: {results[name]['device_pulses_per_s'] / 1e6:8.1f} M device-pulses/s "
              f"(median {results[name]['median_s'] * 1e3:.1f} ms, compile {results[name]['compile_s']:.2f} s)")
    report = {"n_devices": args.devices, "n_pulses_total": 2 * args.pulses, "repeats": args.repeats,
              "jax": jax.__version__, "backend": jax.default_backend(), "cpu_count": os.cpu_count(),
              "machine": platform.processor() or platform.machine(), "results": results}
    save_json(args.out, report)
    print(f"wrote {args.out}")
    return report


if __name__ == "__main__":
    main()
