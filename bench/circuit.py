"""Benchmark of the Kirchhoff crossbar solver (a script, not a test).

    python bench/circuit.py [--out bench/results/circuit.json] [--quick]

Measures, single-threaded BLAS: the per-vector solve time at 256 x 256 after set-up, a batch of 1000 vectors at
256 x 256, one 1024 x 1024 solve (time and peak memory, in a fresh process so that maxrss is its own), and the
scaling with N. Prints medians and writes JSON.
"""

from __future__ import annotations

import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"  # before numpy is imported: measure one core, reproducibly
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import argparse  # noqa: E402
import json  # noqa: E402
import pathlib  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from crossbar.circuit import CircuitSolver, WireResistance  # noqa: E402

WIRES = WireResistance(r_row=2.0, r_col=2.0, r_source=10.0, r_sense=10.0)  # ohm; r*G up to 2e-4


def _problem(n: int, batch: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(1e-6, 1e-4, (n, n)), rng.uniform(-0.5, 0.5, (batch, n))


def _timed(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def per_vector(n: int = 256, repeats: int = 15) -> dict:
    """Set-up (factorisation) once, then single-vector solves of the nodal equations (no transfer matrix)."""
    g, v = _problem(n, repeats)
    setup, solver = _timed(lambda: CircuitSolver(g, WIRES, transfer=False))
    first, _ = _timed(lambda: solver.forward(v[0]))  # includes the lazy factorisation
    times = [_timed(lambda x=x: solver.forward(x))[0] for x in v[1:]]
    cg = CircuitSolver(g, WIRES, method="cg", transfer=False)
    cg.forward(v[0])
    cg_times = [_timed(lambda x=x: cg.forward(x))[0] for x in v[1:6]]
    return {"n": n, "method": solver._side(10.0, 10.0).method, "setup_s": setup + first,
            "per_vector_median_s": statistics.median(times), "cg_per_vector_median_s": statistics.median(cg_times)}


def batch(n: int = 256, size: int = 1000) -> dict:
    """A batch of `size` vectors, set-up included: auto mode builds the transfer matrix (n solves), then matmul."""
    g, v = _problem(n, size)
    total, _ = _timed(lambda: CircuitSolver(g, WIRES).forward(v))
    return {"n": n, "batch": size, "total_s": total, "per_vector_s": total / size,
            "method": "lu factorisation + transfer matrix (n solves) + matmul"}


def single(n: int, method: str = "auto") -> dict:
    """One vector from scratch: set-up plus solve."""
    g, v = _problem(n, 1)
    t, solver = _timed(lambda: CircuitSolver(g, WIRES, method=method))
    t2, sol = _timed(lambda: solver.forward(v, return_voltages=True))
    return {"n": n, "method": sol.info.method, "setup_plus_solve_s": t + t2, "iterations": sol.info.iterations,
            "residual": sol.info.residual, "maxrss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
            "vmhwm_gb": _vmhwm_gb()}


def _vmhwm_gb() -> float | None:
    """Peak resident memory of this process image (Linux VmHWM). Unlike ru_maxrss it is not inherited across
    fork + exec from the (larger) parent, so it is the child's own peak."""
    try:
        for line in pathlib.Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return None


def single_in_fresh_process(n: int, method: str = "auto") -> dict:
    out = subprocess.run([sys.executable, __file__, "--single", str(n), "--method", method],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="bench/results/circuit.json", help="JSON output path")
    parser.add_argument("--quick", action="store_true", help="smaller sizes (smoke run)")
    parser.add_argument("--single", type=int, help=argparse.SUPPRESS)  # child process mode
    parser.add_argument("--method", default="auto", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.single:
        print(json.dumps(single(args.single, args.method)))
        return {}
    big = 256 if args.quick else 1024
    results = {"blas_threads": 1, "wires": {"r_row": 2.0, "r_col": 2.0, "r_source": 10.0, "r_sense": 10.0},
               "g_range_S": [1e-6, 1e-4]}
    results["single_1024"] = single_in_fresh_process(big)  # first, while this process is still small
    print(f"one {big}x{big} solve (fresh process): {results['single_1024']}")
    results["per_vector_256"] = per_vector(128 if args.quick else 256)
    print(f"per-vector solve after set-up: {results['per_vector_256']}")
    results["batch_1000_256"] = batch(128 if args.quick else 256, 100 if args.quick else 1000)
    print(f"batch: {results['batch_1000_256']}")
    sizes = [64, 128, 256] if args.quick else [64, 128, 256, 512, 1024]
    results["scaling"] = []
    for n in sizes:
        for method in ("lu", "cg"):
            if method == "lu" and n > 512:
                continue  # LU factorisation time and fill grow too fast; auto uses CG there
            row = single_in_fresh_process(n, method)
            results["scaling"].append(row)
            print(f"scaling N={n:5d} {row['method']:3s}: set-up+solve {row['setup_plus_solve_s']:.3f} s, "
                  f"peak {row['vmhwm_gb'] or row['maxrss_gb']:.2f} GB, CG iterations {row['iterations']}")
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}")
    return results


if __name__ == "__main__":
    main()
