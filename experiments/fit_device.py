"""Fit device models to measured pulse-response curves; write the fitted devices, a figure and a report; then,
with `--train`, train the digits MLP on crossbars of the fitted and the lookup-table device beside float.

Usage:
    python -m experiments.fit_device                       # CrossSim v2 RRAM data (set.csv / reset.csv) in
                                                           # --data-dir ($MEASURED_DATA_DIR, else the copy
                                                           # shipped in devices/fit/measured/crosssim_v2_rram)
    python -m experiments.fit_device --up set.csv --down reset.csv --out DIR      # your own files (CSV / NPZ)
    python -m experiments.fit_device --both curves.csv     # one file with a pulse_sign column
    python -m experiments.fit_device --train --epochs 3    # and a short digits run with the fitted devices

Writes to `--out` (default: a new `fit_device-N` directory in the working directory; written only once
everything has been computed, so a bad file stops it before anything is written): `fitted_device.json` (the
best-ranked model with its spreads, data source and fit quality: use it as `--device DIR/fitted_device.json` in
any CLI), `lookup_table.json` (the data-driven device), `fit.json` (every model's parameters, RMSE, held-out
score, AIC/BIC, spreads, and the data quality: columns used and columns left out with the reason), `fit.png`
and `report.md`; with `--train` also `training/` (results.json, test_error.png) and the test errors in the
report.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path

import jax

from devices.device_file import save_device
from devices.fit.data import load_pulse_data
from devices.fit.example_data import EXAMPLE_DATA, example_data_dir
from devices.fit.figure import plot_fit
from devices.fit.lookup import lookup_table_from_curves
from devices.fit.select import fit_models
from devices.fit.synthetic import replay_curves
from devices.io import atomic_write

DATA_ENV = "MEASURED_DATA_DIR"
DESCRIPTION = ("Fit device models to measured pulse-response curves (by default the CrossSim v2 RRAM sample shipped "
               "with the package) and write the fitted device, a lookup-table device, a figure and a report, "
               "with --train also comparing them on a digits MLP.")
OUT_PREFIX = "fit_device"  # default outputs: a new OUT_PREFIX-N directory in the working directory
DEFAULT_DATA = "the shipped devices/fit/" + "/".join(EXAMPLE_DATA)  # for --help; the path is example_data_dir()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m experiments.fit_device", description=DESCRIPTION,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data-dir", default=None,
                   help=f"directory with set.csv and reset.csv (else ${DATA_ENV}, else {DEFAULT_DATA})")
    p.add_argument("--up", default=None, help="potentiation (SET) curves, CSV or NPZ (overrides --data-dir)")
    p.add_argument("--down", default=None, help="depression (RESET) curves, CSV or NPZ")
    p.add_argument("--both", default=None, help="one file with a pulse_sign column (instead of --up/--down)")
    p.add_argument("--models", nargs="+", default=None, help="fit only these models (default: every candidate)")
    p.add_argument("--bins", type=int, default=20, help="conductance bins of the lookup table")
    p.add_argument("--out", default=None,
                   help=f"output directory (default: a new {OUT_PREFIX}-N directory in the working directory, so no "
                        "earlier results are overwritten)")
    p.add_argument("--train", action="store_true", help="then train digits on crossbars of the fitted devices")
    p.add_argument("--epochs", type=int, default=3, help="training epochs (with --train)")
    p.add_argument("--seed", type=int, default=0)
    return p


def new_out_dir(parent: Path | None = None) -> Path:
    """The first `OUT_PREFIX-N` (N = 1, 2, ...) that does not exist yet in `parent` (the working directory)."""
    parent = Path.cwd() if parent is None else Path(parent)
    n = 1
    while (parent / f"{OUT_PREFIX}-{n}").exists():
        n += 1
    return parent / f"{OUT_PREFIX}-{n}"


def data_files(args) -> dict:
    """{up, down, both} paths from the options (the CrossSim data by default)."""
    if args.both or args.up or args.down:
        return {"up": args.up, "down": args.down, "both": args.both}
    folder = Path(args.data_dir or os.environ.get(DATA_ENV) or example_data_dir())
    return {"up": folder / "set.csv", "down": folder / "reset.csv", "both": None}


def report_text(fits: dict, data, files: dict, training: dict | None) -> str:
    """A short Markdown report: data, ranking, best model, spreads, lookup table, training."""
    lines = ["# Device fit", "", f"Data: {', '.join(f'{k} (sha256 {v[:12]})' for k, v in data.files.items())}; "
             f"{data.describe()}", "", "| rank | model | params | RMSE (uS) | held-out RMSE (uS) +- SE | BIC | "
             "c2c | dg_d2d | up_down |", "|---|---|---|---|---|---|---|---|---|"]
    for row in fits["ranking"]:
        lines.append(f"| {row['rank']} | {row['model']} | {row['n_params']} | {1e6 * row['rmse_S']:.3f} | "
                     f"{1e6 * row['heldout_rmse_S']:.3f} +- {1e6 * row['heldout_se_S']:.3f} | {row['bic']:.0f} | "
                     f"{row['c2c']:.3f} | {row['dg_d2d']:.3f} | {row['parameters']['up_down']:.3f} |")
    best = fits["ranking"][0]
    lines += ["", f"Best model: **{best['model']}**, parameters (S): "
              + ", ".join(f"{k}={v:.4g}" for k, v in best["parameters"].items()),
              f"Reading (write) noise {1e6 * best['read_noise_S']:.3f} uS ({100 * best['read_noise_relative']:.3f}% "
              f"of G). The readings' white noise by the model-free smoother, "
              f"{1e6 * fits['readings']['white_noise_S']:.3f} uS against a median step of "
              f"{1e6 * fits['readings']['median_step_S']:.3f} uS: "
              + ("modelled as hidden states plus white noise." if fits["readings"]["noisy"] else
                 "good to a step, so the readings are taken as the states."),
              "", f"Lookup table: {fits['lookup_table']['n_bins']} bins over "
              f"{1e6 * fits['lookup_table']['g_min']:.1f}-{1e6 * fits['lookup_table']['g_max']:.1f} uS; "
              f"replayed on the measured protocol (each curve's pulses from its first reading) its median curve is off "
              f"the measured median by RMSE {1e6 * fits['lookup_table']['replay_rmse_S']:.3f} uS."]
    bounds = best.get("bounds", {})
    if bounds:
        lines += ["", "Each device's own bounds, where its curves settle: " + "; ".join(
            f"{k} {1e6 * b['mean_S']:.1f} uS with a d2d spread of {b['d2d']:.3f} of the half range "
            f"({b['n_settled']} settled curves)" if b["n_settled"] >= 3 else f"{k} not resolved "
            f"({b['n_settled']} settled curves)" for k, b in bounds.items()) + "."]
    lines += ["", "## Data quality", ""]
    for polarity, q in fits["data_quality"].items():
        lines.append(f"- {polarity}: {len(q['used'])} column(s) used, {len(q['dropped'])} dropped"
                     + (":" if q["dropped"] else "."))
        lines += [f"  - {why}" for why in q["dropped"].values()]
    if training:
        n = len(next(iter(training.values())))
        lines += ["", "## Digits on crossbars (test error after each epoch, %)", "",
                  "| back end | " + " | ".join(f"epoch {i + 1}" for i in range(n)) + " |", "|---" * (1 + n) + "|"]
        lines += [f"| {name} | " + " | ".join(f"{100 * e:.2f}" for e in errs) + " |" for name, errs in training.items()]
    return "\n".join(lines) + "\n"


def _replay_rmse(data, sim) -> float:
    """RMSE (S) between the median measured curve and the median replayed one, per polarity, pooled."""
    import numpy as np

    sq, n = 0.0, 0
    for sign, c in data.by_sign().items():
        s = np.where(np.isnan(c.g), np.nan, sim.by_sign()[sign].g)  # replayed readings where measured ones exist
        keep = np.sum(~np.isnan(c.g), axis=1) >= c.n_curves // 2
        d = np.nanmedian(c.g[keep], axis=1) - np.nanmedian(s[keep], axis=1)
        sq, n = sq + float(np.sum(d * d)), n + d.size
    return (sq / n) ** 0.5


def train(devices: dict, epochs: int, seed: int, out: Path) -> dict:
    """Digits MLP (64-64-10, the `small` config of experiments.train_mlp) on float and on each device."""
    from crossbar import training
    from crossbar.periphery import Periphery
    from crossbar.training import data as datasets
    from crossbar.training import mlp
    from crossbar.training.backends import CrossbarBackend, FloatBackend
    from crossbar.update import PulseUpdate

    data = datasets.load_digits()
    cfg = mlp.MLPConfig(sizes=(data.n_features, 64, data.n_classes), activation="sigmoid", lr=0.05, epochs=epochs,
                        batch_size=1, seed=seed).validate(data.n_features, data.n_classes)
    backends = {"float": FloatBackend()}
    for name, device in devices.items():
        backends[name] = CrossbarBackend(device=device, pair="reference", periphery=Periphery(output_noise=0.06),
                                         update_scheme=PulseUpdate(scheme="stochastic", bl=10), name=name)
    results = training.train_compare(cfg, backends, data, out_dir=out, progress=False,
                                     meta={"dataset": data.name, "device": " / ".join(devices), "pair": "reference"})
    from experiments.train_mlp import plot

    plot(results, out / "test_error.png")
    return {name: res["test_error"] for name, res in results["backends"].items()}


def run(args) -> dict:
    """Load, fit, build the lookup table, plot; write everything at the end (nothing on failure)."""
    t0 = time.perf_counter()
    data = load_pulse_data(**data_files(args))
    report = fit_models(data, names=args.models)
    best_fit = report.best
    table, stats = lookup_table_from_curves(data, n_bins=args.bins, hidden=best_fit.hidden, c2c=best_fit.spread.c2c,
                                            dg_d2d=best_fit.spread.dg_d2d, scales=best_fit.spread.scales)
    sim = replay_curves(table, data, jax.random.key(args.seed))  # the lookup table on the measured protocol
    fits = {"ranking": report.ranking(), "selection": "held-out RMSE per curve, one-SE rule (fewest parameters)",
            "source": data.describe(), "data_quality": data.quality(),
            "readings": {"noisy": report.noisy, "white_noise_S": report.reading_noise,
                         "median_step_S": report.typical_step},
            "lookup_table": {"n_bins": args.bins, "g_min": table.g_min, "g_max": table.g_max,
                             "counts": {k: v["count"].tolist() for k, v in stats.items()},
                             "replay_rmse_S": _replay_rmse(data, sim)}}
    best = report.best.summary()
    out = Path(args.out) if args.out else new_out_dir()
    out.mkdir(parents=True, exist_ok=True)
    save_device(out / "fitted_device.json", report.best.device, source=data.describe(),
                fit={k: best[k] for k in best if k != "parameters"} | {"rank": 1, "ranked": [r["model"] for r in
                                                                                           fits["ranking"]]})
    save_device(out / "lookup_table.json", table, source=data.describe(), fit=fits["lookup_table"])
    plot_fit(report, out / "fit.png", lookup=(table, stats), lookup_curves=sim)
    training = None
    if args.train:
        training = train({f"fitted {report.best.candidate.name}": report.best.device, "lookup_table": table},
                         args.epochs, args.seed,
                         out / "training")
        fits["training_test_error"] = training
    text = report_text(fits, data, {}, training)
    atomic_write(out / "fit.json", lambda f: f.write(json.dumps(fits, indent=1).encode()))  # no partial files
    atomic_write(out / "report.md", lambda f: f.write(text.encode()))
    print(text)
    print(f"written to {out} ({time.perf_counter() - t0:.0f} s)")
    return fits


def main(argv: Sequence[str] | None = None) -> dict:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.bins < 2 or args.epochs < 1:
        parser.error(f"--bins must be >= 2 and --epochs >= 1; got --bins {args.bins}, --epochs {args.epochs}")
    try:
        return run(args)
    except (ValueError, TypeError, FileNotFoundError) as err:
        parser.error(str(err))


if __name__ == "__main__":
    main()
