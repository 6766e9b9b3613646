"""IR drop in a crossbar with wire resistance: output error vs array size, and the per-device voltage map.

    python -m experiments.ir_drop --out DIR [--sizes 16 32 64 128 256 512] [--rg 1e-5 1e-4 1e-3] [--quick]

For each array size N (N x N) and each product r*G_max of wire segment resistance and the largest device
conductance, random conductances in [G_max/100, G_max] are read with random row voltages in [0, v_read]; the error
is ||I - I_ideal|| / ||I_ideal|| over the batch, with I_ideal = V @ G. The heat map shows, for one array driven
with v_read on every row, the fraction of the applied voltage that each device actually sees,
|V_row_node - V_col_node| / V_applied. Writes ir_drop.png, ir_drop.npz and ir_drop.json into DIR.

The currents and the map come from the JAX solve the crossbar's reads use (`crossbar.circuit.read_currents`,
`node_voltages`, in float64 here); every point is also solved by the float64 reference (`CircuitSolver`, checked
against ngspice), and the largest relative difference of the two is reported as `reference_disagreement`.
"""

from __future__ import annotations

import argparse
import json
import pathlib

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import jax  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from crossbar.circuit import CircuitSolver, WireResistance, read_currents  # noqa: E402
from crossbar.circuit.kirchhoff import node_voltages  # noqa: E402

TOL = 1e-10  # the JAX solve's tolerance here (float64): far below the differences the figure shows


def relative_error(n: int, rg: float, g_max: float, v_read: float, batch: int,
                   rng: np.random.Generator) -> tuple[float, float]:
    """(||I - V @ G|| / ||V @ G||, relative difference from the reference solver) for one random n x n array with
    segment resistance r = rg / g_max (ohm)."""
    g = rng.uniform(g_max / 100, g_max, (n, n))
    v = rng.uniform(0.0, v_read, (batch, n))
    r = rg / g_max
    with jax.enable_x64(True):
        currents = np.asarray(read_currents(g, v, WireResistance(r, r), tol=TOL))
    reference = CircuitSolver(g, WireResistance(r, r), transfer=False).forward(v)
    ideal = v @ g
    return (float(np.linalg.norm(currents - ideal) / np.linalg.norm(ideal)),
            float(np.linalg.norm(currents - reference) / np.linalg.norm(reference)))


def voltage_map(n: int, rg: float, g_max: float, v_read: float, rng: np.random.Generator) -> np.ndarray:
    """[n, n] fraction of the applied voltage across each device, all rows driven at v_read."""
    g = rng.uniform(g_max / 100, g_max, (n, n))
    r = rg / g_max
    with jax.enable_x64(True):
        v_row, v_col, _, _ = node_voltages(g, np.full(n, v_read), WireResistance(r, r), tol=TOL)
    return np.abs(np.asarray(v_row - v_col)[0]) / v_read


def run(sizes=(16, 32, 64, 128, 256, 512), rgs=(1e-5, 1e-4, 1e-3), g_max: float = 1e-4, v_read: float = 0.2,
        batch: int = 8, map_size: int = 128, map_rg: float = 1e-4, seed: int = 0) -> dict:
    """Compute the error table and the voltage map.

    Args:
        sizes: array sizes N (N x N).
        rgs: products r * G_max (dimensionless) of segment resistance (ohm) and largest conductance (S).
        g_max: largest device conductance (S); devices are uniform in [g_max / 100, g_max].
        v_read: largest read voltage (V).
        batch: input vectors per point.
        map_size, map_rg: size and r * G_max of the array in the voltage map.
        seed: random seed.

    Returns:
        dict with "sizes", "rgs", "error" [len(rgs), len(sizes)], "reference_disagreement" (the largest relative
        difference of the JAX solve from the float64 reference), "voltage_map" [map_size, map_size] and the
        parameters.
    """
    rng = np.random.default_rng(seed)
    both = np.array([[relative_error(n, rg, g_max, v_read, batch, rng) for n in sizes] for rg in rgs])
    error, disagreement = both[..., 0], float(both[..., 1].max())
    vmap = voltage_map(map_size, map_rg, g_max, v_read, rng)
    return {"sizes": list(sizes), "rgs": list(rgs), "error": error, "reference_disagreement": disagreement,
            "voltage_map": vmap, "g_max": g_max,
            "v_read": v_read, "batch": batch, "map_size": map_size, "map_rg": map_rg, "seed": seed}


def plot(results: dict, path: pathlib.Path) -> None:
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for rg, err in zip(results["rgs"], results["error"], strict=True):
        ax1.loglog(results["sizes"], err, "o-", label=f"r·G_max = {rg:g}")
    ax1.set_xticks(results["sizes"], [str(n) for n in results["sizes"]])
    ax1.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # log-axis minor labels overlap
    ax1.set_xlabel("array size N (N × N)")
    ax1.set_ylabel("relative output error ‖I − V·G‖ / ‖V·G‖")
    ax1.set_title("IR-drop error vs array size")
    ax1.grid(True, which="both", alpha=0.3)
    ax1.legend()
    im = ax2.imshow(results["voltage_map"], cmap="viridis", origin="upper")
    ax2.set_title(f"|V_row − V_col| / V_applied, N={results['map_size']}, r·G_max={results['map_rg']:g}")
    ax2.set_xlabel("column j (row drivers at left)")
    ax2.set_ylabel("row i (sense amplifiers at bottom)")
    fig.colorbar(im, ax=ax2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def disagreement_text(results: dict) -> str:
    return f"{results['reference_disagreement']:.1e}"


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 32, 64, 128, 256, 512])
    parser.add_argument("--rg", type=float, nargs="+", default=[1e-5, 1e-4, 1e-3], help="r * G_max products")
    parser.add_argument("--g-max", type=float, default=1e-4, help="largest conductance (S)")
    parser.add_argument("--v-read", type=float, default=0.2, help="largest read voltage (V)")
    parser.add_argument("--map-size", type=int, default=128)
    parser.add_argument("--map-rg", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="sizes 16..64, small map (smoke run)")
    args = parser.parse_args(argv)
    for name in ("g_max", "v_read", "map_rg"):
        if not (np.isfinite(getattr(args, name)) and getattr(args, name) > 0):
            parser.error(f"--{name.replace('_', '-')} must be finite and > 0; got {getattr(args, name)!r}")
    if any(rg <= 0 for rg in args.rg) or any(n < 1 for n in args.sizes) or args.map_size < 1:
        parser.error(f"--rg, --sizes and --map-size must be positive; got {args.rg}, {args.sizes}, {args.map_size}")
    sizes, map_size = ([16, 32, 64], 32) if args.quick else (args.sizes, args.map_size)
    results = run(sizes, args.rg, args.g_max, args.v_read, map_size=map_size, map_rg=args.map_rg, seed=args.seed)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    png, npz, js = out / "ir_drop.png", out / "ir_drop.npz", out / "ir_drop.json"
    plot(results, png)
    np.savez(npz, sizes=np.array(results["sizes"]), rgs=np.array(results["rgs"]), error=results["error"],
             voltage_map=results["voltage_map"])
    summary = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in results.items() if k != "voltage_map"}
    summary["voltage_map_min"] = float(results["voltage_map"].min())
    js.write_text(json.dumps(summary, indent=2))
    print(f"JAX solve against the float64 reference: largest relative difference {disagreement_text(results)}")
    for p in (png, npz, js):
        print(p)
    return results


if __name__ == "__main__":
    main()
