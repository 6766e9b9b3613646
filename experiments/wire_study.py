"""GV2016's array-size question in training: test error against array size, device resistance and switching
nonlinearity, with the voltage-level update (half-select disturb, IR drop during writes) and wired reads.

Setting: the digits network of `experiments.train_mlp` (64-64-10, sigmoid, lr 0.05, batch 1, GV2016 device with a
reference column, w_max 2), affordable on a CPU. The same network trains in float, on the coincidence update
(ideal wires), and on the voltage-level update (`PulseUpdate(scheme="voltage")`) in two series:
- disturb: ideal wires, switching nonlinearity k = step(V) / step(V/2) from 3 to a sharp threshold;
- array size x device resistance: Jo et al.'s k = 126, every read and write through wires.

Array size. To first order the IR drop of a line of N devices of conductance G on segments of r ohm is set by
rho = r G N^2 (the far end loses about rho / 2 of the line's voltage; `crossbar.voltage`). A layer of the small
network stands in for an N x N array of the same device resistance by segments of r (N / n)^2 ohm on its lines of
n devices (rows: r (N / cols)^2, columns: r (N / rows)^2), so its reads and writes see the drops of the big
array. Device resistance: the GV2016 device's conductances scaled to the mean 1 / R (the weights, steps and
noise in weight units unchanged). So every (N, R) point is a value of rho, and the answer carries to other r.

A run's test error is its mean over the last 3 epochs (one epoch's varies by about 1% at this learning rate), and
a setting is tolerated when its mean over the seeds stays within `--margin` (0.3%) of float's.

Every network is its own resumable run (`crossbar.sweep.runs`): rerun the command after an interruption and it
continues; finished runs are read back. Writes `OUT/summary.json`, `OUT/summary.md`, `OUT/array_size.png`,
`OUT/nonlinearity.png` and `OUT/rho.png`.

Usage:
    python -m experiments.wire_study [--epochs 10] [--seeds 2] [--workers 2] [--out DIR]
    python -m experiments.wire_study --report-only --out DIR

References:
    Gokmen & Vlasov, Front. Neurosci. 10:333 (2016); Jo, Kim & Lu, Nano Lett. 9:496 (2009).
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from crossbar import array
from crossbar.circuit import WireResistance
from crossbar.sweep.runs import TrainingRun, run_all, run_status
from crossbar.training import data as datasets
from crossbar.training import mlp
from crossbar.training.backends import CrossbarBackend, FloatBackend
from crossbar.training.checkpoint import save_json
from crossbar.update import PulseUpdate
from devices.io import save_figure
from devices.kinetics import JO2009_NONLINEARITY, SwitchingKinetics
from devices.presets import gokmen_vlasov

ARRAY_SIZES = (256, 1024, 4096)  # lines of the emulated square array
DEVICE_RESISTANCES = (240e6, 24e6, 8e6, 2.4e6, 240e3)  # ohm, mean device resistance; 24 MOhm is GV2016's
LAST_EPOCHS = 3  # the test error of a run: its mean over the last epochs (one epoch's varies by +-1% at lr 0.05)
NONLINEARITIES = (3.0, 10.0, 30.0, JO2009_NONLINEARITY, math.inf)
W_MAX = 2.0  # the digits network's weight bound (see experiments.train_mlp)


@dataclass(frozen=True)
class ArraySizeBackend(CrossbarBackend):
    """Crossbar layers whose wires give the IR drop of an `array_size` x `array_size` array (see the module).

    Attributes:
        array_size: N, lines of the emulated array; 0 for ideal wires.
        r_segment: Wire resistance per segment of the emulated array (ohm).
    """

    array_size: int = 0
    r_segment: float = 1.0

    def crossbar(self, rows: int, cols: int) -> array.Crossbar:
        wires = None
        if self.array_size:
            wires = WireResistance(r_row=self.r_segment * (self.array_size / cols) ** 2,
                                   r_col=self.r_segment * (self.array_size / rows) ** 2)
        return array.make_crossbar(self.device, rows, cols, w_max=self.w_max, dw_min=self.dw_min, pair=self.pair,
                                   periphery=self.periphery, periphery_backward=self.periphery_backward,
                                   update_scheme=self.update_scheme, wires=wires)


def device_of_resistance(r_device: float):
    """The GV2016 device with its conductances scaled to the mean 1 / r_device (S)."""
    base = gokmen_vlasov()
    s = (1.0 / r_device) / (0.5 * (base.g_min + base.g_max))
    return replace(base, g_min=base.g_min * s, g_max=base.g_max * s, dg=base.dg * s).validate()


def rho(array_size: int, r_device: float, r_segment: float) -> float:
    """The IR-drop parameter r G N^2 of an array (dimensionless)."""
    return r_segment * array_size**2 / r_device


def _name(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:g}"


def study_runs(cfg: mlp.MLPConfig, seeds: int, r_segment: float) -> list[TrainingRun]:
    """Float, coincidence, the disturb series and the array-size x resistance grid, each for every seed."""
    runs = []
    for s in range(seeds):
        c = mlp.MLPConfig(**{**cfg.__dict__, "seed": s})
        base = gokmen_vlasov()
        runs.append(TrainingRun(f"float_seed{s}", c, {"float": FloatBackend()}, meta={"series": "float"}))
        runs.append(TrainingRun(f"coincidence_seed{s}", c, {"crossbar": CrossbarBackend(base, w_max=W_MAX,
                                                                                        pair="reference")},
                                meta={"series": "coincidence"}))
        for k in NONLINEARITIES:
            upd = PulseUpdate(scheme="voltage", kinetics=SwitchingKinetics(nonlinearity=k))
            runs.append(TrainingRun(f"disturb_k={_name(k)}_seed{s}", c, {"crossbar": CrossbarBackend(
                base, w_max=W_MAX, pair="reference", update_scheme=upd)}, meta={"series": "disturb", "k": k}))
        for n in ARRAY_SIZES:
            for r_dev in DEVICE_RESISTANCES:
                backend = ArraySizeBackend(device_of_resistance(r_dev), w_max=W_MAX, pair="reference",
                                           update_scheme=PulseUpdate(scheme="voltage"), array_size=n,
                                           r_segment=r_segment)
                runs.append(TrainingRun(f"size_N={n}_R={r_dev / 1e6:g}M_seed{s}", c, {"crossbar": backend},
                                        meta={"series": "size", "N": n, "R": r_dev,
                                              "rho": rho(n, r_dev, r_segment)}))
    return runs


def _final(out: Path, run: TrainingRun) -> float | None:
    path = out / "runs" / run.name / "results.json"
    if not path.exists():
        return None
    res = json.loads(path.read_text())
    if res.get("epochs_done") != run.cfg.epochs:
        return None
    (backend,) = res["backends"].values()
    return float(np.mean(backend["test_error"][-LAST_EPOCHS:]))


def write_report(out: Path, runs: Sequence[TrainingRun], margin: float, description: dict) -> dict:
    """Figures, table and summary from the finished runs (missing ones are left out)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = []
    for run in runs:
        err = _final(out, run)
        if err is not None:
            rows.append({**run.meta, "seed": run.cfg.seed, "test_error": err})

    def errors(**match):
        return [r["test_error"] for r in rows if all(r.get(k) == v for k, v in match.items())]

    def mean(xs):
        return float(np.mean(xs)) if xs else None

    float_err = mean(errors(series="float"))
    coincidence = mean(errors(series="coincidence"))
    disturb = [{"k": k, "test_error": mean(errors(series="disturb", k=k)), "seeds": len(errors(series="disturb", k=k))}
               for k in NONLINEARITIES]
    size = [{"N": n, "R": r, "rho": rho(n, r, description["r_segment"]),
             "test_error": mean(errors(series="size", N=n, R=r)), "seeds": len(errors(series="size", N=n, R=r))}
            for n in ARRAY_SIZES for r in DEVICE_RESISTANCES]

    def tolerance(reference):
        """The answers against one reference error (float, or the coincidence update on the same devices)."""
        lim = None if reference is None else reference + margin

        def ok(e):
            return e is not None and lim is not None and e <= lim

        tolerated_k = [d["k"] for d in disturb if ok(d["test_error"])]
        r_needed = {}
        for n in ARRAY_SIZES:
            passing = [c["R"] for c in size if c["N"] == n and ok(c["test_error"])]
            failing = [c["R"] for c in size if c["N"] == n and c["test_error"] is not None and not ok(c["test_error"])]
            # The smallest resistance that passes with every larger one passing too.
            r_needed[n] = min([r for r in passing if not failing or r > max(failing)], default=None)
        rho_ok = [c["rho"] for c in size if ok(c["test_error"])]
        rho_bad = [c["rho"] for c in size if c["test_error"] is not None and not ok(c["test_error"])]
        return {"limit": lim, "smallest_tolerated_nonlinearity": min(tolerated_k) if tolerated_k else None,
                "device_resistance_needed": r_needed,
                "largest_rho_within_margin": max([r for r in rho_ok if not rho_bad or r < min(rho_bad)],
                                                 default=None)}

    answers = {"float": tolerance(float_err), "coincidence": tolerance(coincidence)}
    summary = {"description": description, "margin": margin, "float_test_error": float_err,
               "coincidence_test_error": coincidence, "disturb": disturb, "size": size, "tolerance": answers}
    save_json(out / "summary.json", summary)

    def pct(e):
        return "-" if e is None else f"{100 * e:.2f}%"

    lines = [f"# Wire study ({description['dataset']}, {description['epochs']} epochs, {description['seeds']} seeds, "
             f"r = {description['r_segment']:g} ohm per segment)", "",
             f"Test error: each run's mean over its last {LAST_EPOCHS} epochs, averaged over the seeds.", "",
             f"Float {pct(float_err)}; coincidence update (same devices, ideal writes) {pct(coincidence)}; margin "
             f"{100 * margin:.1f}%.", "", "## Half-select disturb (ideal wires)", "",
             "| nonlinearity k | s(V/2) = 1/k | test error |", "|---|---|---|"]
    lines += [f"| {_name(d['k'])} | {0 if math.isinf(d['k']) else 1 / d['k']:.3g} | {pct(d['test_error'])} |"
              for d in disturb]
    lines += ["", "## Array size x device resistance (k = 126, reads and writes through wires)", "",
              "| N \\ R | " + " | ".join(f"{r / 1e6:g} MOhm" for r in DEVICE_RESISTANCES) + " |",
              "|---|" + "---|" * len(DEVICE_RESISTANCES)]
    for n in ARRAY_SIZES:
        cells = [c for c in size if c["N"] == n]
        lines.append(f"| {n} | " + " | ".join(f"{pct(c['test_error'])} (rho {c['rho']:.2g})" for c in cells) + " |")
    lines += ["", "## Tolerances", "", "| within the margin of | smallest nonlinearity k | largest rho | device "
              "resistance needed |", "|---|---|---|---|"]
    for ref, a in answers.items():
        rho_star = a["largest_rho_within_margin"]
        k_min = a["smallest_tolerated_nonlinearity"]
        lines.append(f"| {ref} ({pct(a['limit'])}) | {'-' if k_min is None else _name(k_min)} | "
                     f"{'-' if rho_star is None else f'{rho_star:.3g}'} | " + ", ".join(
                         f"N = {n}: {'-' if r is None else f'>= {r / 1e6:g} MOhm'}"
                         for n, r in a["device_resistance_needed"].items()) + " |")
    (out / "summary.md").write_text("\n".join(lines) + "\n")

    from matplotlib.ticker import FormatStrFormatter

    def finish(fig, ax, name):
        ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.yaxis.set_minor_formatter(FormatStrFormatter("%g"))
        ax.tick_params(axis="y", which="minor", labelsize=7)
        fig.tight_layout()
        save_figure(fig, out / name)
        plt.close(fig)

    def guides(ax):
        if float_err is not None:
            ax.axhline(100 * float_err, color="k", lw=1, label="float")
            ax.axhline(100 * (float_err + margin), color="k", lw=1, ls=":", label=f"float + {100 * margin:.1f}%")
        if coincidence is not None:
            ax.axhline(100 * coincidence, color="tab:gray", lw=1, ls="--", label="coincidence update")

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for r in DEVICE_RESISTANCES:
        pts = [(c["N"], c["test_error"]) for c in size if c["R"] == r and c["test_error"] is not None]
        if pts:
            ax.plot(*zip(*[(n, 100 * e) for n, e in pts], strict=True), "o-", label=f"R = {r / 1e6:g} MOhm")
    guides(ax)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("array size N (lines)")
    ax.set_yscale("log")  # a few percent and chance (90%) on one axis
    ax.set_ylabel("test error (%)")
    ax.set_title(f"IR drop in training, r = {description['r_segment']:g} ohm/segment, k = 126")
    ax.legend(fontsize=8)
    finish(fig, ax, "array_size.png")

    fig, ax = plt.subplots(figsize=(5.5, 4))
    pts = [(1e4 if math.isinf(d["k"]) else d["k"], 100 * d["test_error"]) for d in disturb
           if d["test_error"] is not None]
    if pts:
        ax.plot(*zip(*pts, strict=True), "o-", color="tab:red", label="voltage update (inf: sharp threshold)")
    guides(ax)
    ax.set_xscale("log")
    ax.set_xlabel("switching nonlinearity k = step(V) / step(V/2)  (1e4: sharp)")
    ax.set_yscale("log")
    ax.set_ylabel("test error (%)")
    ax.set_title("Half-select disturb in training (ideal wires)")
    ax.legend(fontsize=8)
    finish(fig, ax, "nonlinearity.png")

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for r in DEVICE_RESISTANCES:
        pts = [(c["rho"], 100 * c["test_error"]) for c in size if c["R"] == r and c["test_error"] is not None]
        if pts:
            ax.plot(*zip(*pts, strict=True), "o", label=f"R = {r / 1e6:g} MOhm")
    guides(ax)
    ax.set_xscale("log")
    ax.set_xlabel("rho = r G N^2")
    ax.set_yscale("log")
    ax.set_ylabel("test error (%)")
    ax.set_title("Every (N, R) point by its IR-drop parameter")
    ax.legend(fontsize=8)
    finish(fig, ax, "rho.png")
    return summary


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m experiments.wire_study", description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--r-segment", type=float, default=1.0, help="wire resistance per segment of the emulated "
                                                                "arrays (ohm)")
    p.add_argument("--margin", type=float, default=0.003, help="tolerated excess test error over float (fraction)")
    p.add_argument("--workers", type=int, default=None, help="networks trained at once, one process per core")
    p.add_argument("--out", default="experiments/results/wire_study")
    p.add_argument("--report-only", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> dict:
    parser = build_parser()
    args = parser.parse_args(argv)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    if args.epochs < 1 or args.seeds < 1 or not args.r_segment > 0 or not 0 < args.margin < 1:
        parser.error(f"--epochs and --seeds must be >= 1, --r-segment > 0, --margin in (0, 1); got {args.epochs}, "
                     f"{args.seeds}, {args.r_segment}, {args.margin}")
    load = functools.partial(datasets.load, "digits")
    data = load()
    cfg = mlp.MLPConfig(sizes=(data.n_features, 64, data.n_classes), activation="sigmoid", lr=0.05,
                        epochs=args.epochs, batch_size=1).validate(data.n_features, data.n_classes)
    out = Path(args.out)
    runs = study_runs(cfg, args.seeds, args.r_segment)
    done = sum(run_status(out / "runs", r)[0] == "done" for r in runs)
    print(f"{data!r}\n{len(runs)} networks ({done} already done); writing to {out}", flush=True)
    if not args.report_only:
        run_all(runs, load, out / "runs", workers=args.workers, progress=not args.no_progress)
    description = {"dataset": data.name, "sizes": list(cfg.sizes), "lr": cfg.lr, "epochs": args.epochs,
                   "seeds": args.seeds, "r_segment": args.r_segment, "w_max": W_MAX, "pair": "reference",
                   "command": "python -m experiments.wire_study " + " ".join(sys.argv[1:] if argv is None else argv)}
    summary = write_report(out, runs, args.margin, description)
    print(f"summary: {out / 'summary.md'}")
    return summary


if __name__ == "__main__":
    main()
