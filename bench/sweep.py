"""Vectorised parameter sweeps against the same points run one by one in a Python loop.

Two workloads, each timed both ways in one run (compilation excluded from the timed calls and reported apart):
  1. pulse curves: a `--points`-point x `--seeds`-seed grid (dg x variation.c2c of `soft_bounds`) of
     `--pulses`-up/`--pulses`-down curves over `--devices` devices each (`PulseCurveMetric`);
  2. training: `--networks` MLPs (64-`--hidden`-10, batch-1 SGD on `--samples` digits each) on crossbars of the
     GV2016 device, one per value of variation.c2c (`TrainingMetric`), vmapped against a loop.
The loop calls one jitted, compiled function per point and seed (the fair sequential baseline: no
recompilation); the sweep makes one vectorised call per workload.

Usage:
    python -m bench.sweep [--points 32] [--seeds 4] [--devices 1000] [--pulses 200] [--networks 16]
        [--samples 300] [--hidden 16] [--repeats 3] [--out bench/results/sweep.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import jax
import numpy as np

from crossbar.sweep.grid import _compiled, _stack, grid_points, run_chunk, sweep_keys
from crossbar.sweep.metrics import PulseCurveMetric, TrainingMetric
from crossbar.training import mlp
from crossbar.training.checkpoint import save_json
from devices.presets import make_device


def _time(fn, repeats: int) -> float:
    """Median wall time (s) of `repeats` calls of `fn` (each blocking until the results are ready)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def compare(metric, base, grid: dict, seeds: int, repeats: int) -> dict:
    """Time the vectorised grid call and the loop over points and seeds of the same metric."""
    points = grid_points(base, grid)
    params = [metric.prepare(p.config) for p in points]
    stacked = _stack(params)
    keys = sweep_keys(0, seeds)
    key_data = np.asarray(jax.random.key_data(keys))
    single = _compiled("point", metric)
    single_keys = [jax.random.key_data(k) for k in keys]

    t0 = time.perf_counter()
    vec = run_chunk(metric, stacked, key_data)  # compiles
    compile_vec = time.perf_counter() - t0
    t0 = time.perf_counter()
    jax.block_until_ready(single(params[0], single_keys[0]))
    compile_loop = time.perf_counter() - t0

    def loop():
        return [single(p, k) for p in params for k in single_keys]

    vec_s = _time(lambda: run_chunk(metric, stacked, key_data), repeats)
    loop_s = _time(loop, repeats)
    looped = loop()
    name = next(iter(vec))
    flat = np.asarray([np.asarray(o[name]) for o in looped]).reshape(vec[name].shape)
    return {"points": len(points), "seeds": seeds, "vectorised_s": round(vec_s, 4), "loop_s": round(loop_s, 4),
            "speedup": round(loop_s / vec_s, 2), "compile_vectorised_s": round(compile_vec, 2),
            "compile_loop_s": round(compile_loop, 2),
            "speedup_with_compile": round((loop_s + compile_loop) / (vec_s + compile_vec), 2),
            f"max_abs_diff_{name}": float(np.max(np.abs(flat - vec[name])))}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(prog="python -m bench.sweep", description=__doc__.split("\n")[0])
    p.add_argument("--points", type=int, default=32, help="grid points of the pulse-curve sweep")
    p.add_argument("--seeds", type=int, default=4, help="seeds of the pulse-curve sweep")
    p.add_argument("--devices", type=int, default=1000, help="devices per pulse curve set")
    p.add_argument("--pulses", type=int, default=200, help="potentiation pulses, then as many depression")
    p.add_argument("--networks", type=int, default=16, help="networks trained at once")
    p.add_argument("--samples", type=int, default=300, help="training samples per network")
    p.add_argument("--hidden", type=int, default=16, help="hidden units of the 64-H-10 MLP")
    p.add_argument("--repeats", type=int, default=3, help="timed calls (median)")
    p.add_argument("--skip", choices=("pulses", "training"), default=None, help="leave one workload out")
    p.add_argument("--out", default="bench/results/sweep.json", help="JSON output path")
    args = p.parse_args(argv)

    results = {"jax": jax.__version__, "backend": jax.default_backend(), "cpu_count": os.cpu_count(),
               "machine": platform.machine(), "load_avg_1min": os.getloadavg()[0], "args": vars(args)}
    if args.skip != "pulses":
        n_dg = max(1, args.points // 4)
        c2c = [0.0, 0.1, 0.3, 1.0][: args.points // n_dg]
        grid = {"dg": list(np.geomspace(1e-8, 1e-7, n_dg)), "variation.c2c": c2c}
        metric = PulseCurveMetric(n_pulses=args.pulses, n_devices=args.devices)
        results["pulse_curves"] = compare(metric, make_device("soft_bounds"), grid, args.seeds, args.repeats)
        print("pulse curves:", results["pulse_curves"], flush=True)
    if args.skip != "training":
        metric = TrainingMetric(cfg=mlp.MLPConfig(sizes=(64, args.hidden, 10), lr=0.05), n_samples=args.samples)
        grid = {"variation.c2c": list(np.linspace(0.0, 1.0, args.networks))}
        results["training"] = compare(metric, make_device("gokmen_vlasov"), grid, 1, args.repeats)
        print("training:", results["training"], flush=True)
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    save_json(args.out, results)
    print(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
