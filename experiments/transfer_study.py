"""Which training algorithm a device needs: plain SGD and the transfer algorithms side by side on MNIST.

For every device and algorithm (`sgd`, `tiki_taka`, `ttv2`, `c_ttv2`, `agad`, `mixed_precision`), the GV2016
network (784-256-128-10, sigmoid, mini-batch 10) is trained by `experiments.train_mlp`'s configuration (the same
arrays, periphery and hyperparameters as `python -m experiments.train_mlp --algorithm A --device D`), next to one
float network of the same seed and data. Reported per run: test error after every epoch, device pulses (A's,
C's and the transfers'), transfer reads and samples/s.

Devices (`--devices`, names or groups): the group `aihwkit` (the default) is `reram_sb_aihwkit` (aihwkit's
soft-bounds ReRAM preset: its symmetry point at 37.5% of the range, 1000 states, large write and step noise); as
controls, the same device with its symmetry point moved to mid-range (`reram_sb_symmetric`: symmetry=0.5, the
reference of plain SGD's arrays), and that device as plain SGD would need it (`reram_sb_sgd_spec`: also GV2016's
30% step noise and no write noise; `reram_sb_sgd_spec_10k`: also 10x the states). The group `published` is
`reram_sb_aihwkit` beside the Gong 2022 ReRAM presets, the NeuroSim table's five devices and the RRAM fitted to
CrossSim's measured curves.

Usage:
    python -m experiments.transfer_study --mnist-dir DIR                 # the committed study (see --help)
    python -m experiments.transfer_study --mnist-dir DIR --devices published --limit-train 10000 --epochs 2 \
        --out experiments/results/transfer_study_devices               # the committed device survey
    python -m experiments.transfer_study --mnist-dir DIR --epochs 10 --limit-train 60000 --out DIR2
    python -m experiments.transfer_study --report-only                  # figure and table from what is done

Every network is its own resumable run under `OUT/runs/` (`crossbar.sweep.runs`): the same command after an
interruption continues where it stopped, and finished runs are read back, not retrained. `--workers 2` trains two
networks at once, one per core. Writes `OUT/summary.json`, `OUT/summary.md` and `OUT/test_error.png`.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from crossbar.sweep.runs import TrainingRun, run_all, run_status
from crossbar.training import data as datasets
from crossbar.training.backends import FloatBackend
from crossbar.training.checkpoint import save_json
from devices.io import atomic_write, save_figure
from devices.params import parse_assignment
from devices.presets import make_device
from devices.symmetry import symmetry_point
from experiments import train_mlp

# Study devices: a name -> the train_mlp options that make it.
DEVICES = {
    "reram_sb_aihwkit": ["--device", "reram_sb_aihwkit"],
    "reram_sb_symmetric": ["--device", "reram_sb_aihwkit", "--set", "symmetry=0.5"],
    # What plain SGD would need of it: the symmetry point at the reference, GV2016's 30% step noise, no write noise.
    "reram_sb_sgd_spec": ["--device", "reram_sb_aihwkit", "--set", "symmetry=0.5", "variation.c2c=0.3",
                          "write_noise.std=0"],
    # ... and with 10x the states (10 000, steps a tenth as large, the same dw_min in weight over 10x the weight
    # range), so that the weights the network uses stay within 10% of the range around the symmetry point, where
    # soft bounds' up and down steps differ by at most 10%.
    "reram_sb_sgd_spec_10k": ["--device", "reram_sb_aihwkit", "--w-max", "10", "--set", "symmetry=0.5",
                              "variation.c2c=0.3", "write_noise.std=0", "dg=4e-9"],
    "reram_hfo2_gong2022": ["--device", "reram_hfo2_gong2022"],
    "reram_om_gong2022": ["--device", "reram_om_gong2022"],
    "neurosim_ag_si": ["--device", "neurosim_ag_si"],
    "neurosim_taox_hfox": ["--device", "neurosim_taox_hfox"],
    "neurosim_pcmo": ["--device", "neurosim_pcmo"],
    "neurosim_alox_hfo2": ["--device", "neurosim_alox_hfo2"],
    "neurosim_epiram": ["--device", "neurosim_epiram"],
    # The RRAM fitted to CrossSim's measured curves (experiments/results/fit_crosssim_rram).
    "crosssim_rram_fit": ["--device", "experiments/results/fit_crosssim_rram/fitted_device.json"],
}
# Names `--devices` also accepts for several devices at once.
DEVICE_GROUPS = {
    "aihwkit": ["reram_sb_aihwkit", "reram_sb_symmetric", "reram_sb_sgd_spec", "reram_sb_sgd_spec_10k"],
    "published": ["reram_sb_aihwkit", "reram_hfo2_gong2022", "reram_om_gong2022", "neurosim_ag_si",
                  "neurosim_taox_hfox", "neurosim_pcmo", "neurosim_alox_hfo2", "neurosim_epiram", "crosssim_rram_fit"],
}
ALGORITHMS = train_mlp.ALGORITHMS
DEFAULTS = {"epochs": 3, "limit_train": 20000, "limit_test": None, "lr": 0.5, "batch_size": 10}
OUT = Path("experiments/results/transfer_study")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m experiments.transfer_study", description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--dataset", default="mnist", help="mnist, or digits (the embedded 8x8 digits: quick checks)")
    p.add_argument("--sizes", default=None, help="hidden widths (default 256,128 for MNIST as GV2016)")
    p.add_argument("--mnist-dir", default=os.environ.get(datasets.MNIST_DIR_ENV) or "data/mnist",
                   help=f"MNIST IDX directory (else ${datasets.MNIST_DIR_ENV}, else data/mnist)")
    p.add_argument("--algorithms", default=",".join(ALGORITHMS), help="comma-separated algorithms")
    p.add_argument("--devices", default="aihwkit", help=f"comma-separated devices: {', '.join(DEVICES)}; or groups: "
                   + "; ".join(f"{g} ({', '.join(m)})" for g, m in DEVICE_GROUPS.items()))
    p.add_argument("--epochs", type=int, default=DEFAULTS["epochs"])
    p.add_argument("--limit-train", type=int, default=DEFAULTS["limit_train"], help="training images (0: all 60 000)")
    p.add_argument("--limit-test", type=int, default=DEFAULTS["limit_test"], help="test images (default: all 10 000)")
    p.add_argument("--lr", type=float, default=DEFAULTS["lr"], help="SGD learning rate (batch-mean loss)")
    p.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=None, help="networks trained at once, one process per core")
    p.add_argument("--out", default=str(OUT), help="output directory")
    p.add_argument("--report-only", action="store_true", help="only write the report from the finished runs")
    p.add_argument("--no-progress", action="store_true")
    return p


def load_data(dataset: str, mnist_dir, limit_train, limit_test) -> datasets.Dataset:
    """The study's data, as `experiments.train_mlp.configure` loads it (picklable for worker processes)."""
    if dataset == "mnist":
        return datasets.load_mnist(mnist_dir, limit_train=limit_train, limit_test=limit_test)
    data = datasets.load_digits()
    if limit_train:
        data = datasets.Dataset(data.x_train[:limit_train], data.y_train[:limit_train], data.x_test, data.y_test,
                                data.name, data.n_classes)
    return data


def _names(text: str, valid: Sequence[str], option: str, groups: dict | None = None) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    names = list(dict.fromkeys(n for name in names for n in (groups or {}).get(name, [name])))
    bad = [n for n in names if n not in valid]
    if bad or not names:
        raise ValueError(f"{option}: unknown {', '.join(bad) or '(none given)'}; valid: {', '.join(valid)}")
    return names


def run_options(args, device: str, algorithm: str) -> list[str]:
    """The `experiments.train_mlp` options of one run (what its results record, and how to repeat it alone)."""
    opts = ["--dataset", args.dataset, "--mnist-dir", args.mnist_dir, *DEVICES[device], "--algorithm", algorithm,
            "--batch-size", str(args.batch_size), "--lr", f"{args.lr:g}", "--epochs", str(args.epochs),
            "--seed", str(args.seed)]
    if args.sizes:
        opts += ["--sizes", args.sizes]
    if args.limit_train:
        opts += ["--limit-train", str(args.limit_train)]
    if args.limit_test:
        opts += ["--limit-test", str(args.limit_test)]
    return opts


def _recorded(opts: list[str]) -> str:
    """The command of a run as the results record it: the MNIST folder as the project's (data/mnist)."""
    shown = list(opts)
    shown[shown.index("--mnist-dir") + 1] = "data/mnist"
    return "python -m experiments.train_mlp " + " ".join(shown)


def configure(args) -> dict:
    """Everything checked before training: names, scale, data, the runs. Raises ValueError naming the option."""
    algorithms = _names(args.algorithms, ALGORITHMS, "--algorithms")
    devices = _names(args.devices, list(DEVICES), "--devices", DEVICE_GROUPS)
    for name in ("epochs", "batch_size"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1; got {getattr(args, name)}")
    for name in ("limit_train", "limit_test"):
        if getattr(args, name) is not None and getattr(args, name) < 0:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 0; got {getattr(args, name)}")
    if not args.lr > 0:
        raise ValueError(f"--lr must be > 0; got {args.lr}")
    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers must be >= 1; got {args.workers}")
    if args.dataset not in datasets.LOADERS:
        raise ValueError(f"--dataset: unknown {args.dataset!r}; valid: {', '.join(datasets.LOADERS)}")
    # Resolved here: a worker process may have no $MNIST_DIR.
    mnist_dir = datasets.resolved_mnist_dir(args.mnist_dir) if args.dataset == "mnist" else None
    load = functools.partial(load_data, args.dataset, mnist_dir, args.limit_train or None, args.limit_test or None)
    runs, layout = [], {}
    cfg = None
    for device in devices:
        for algorithm in algorithms:
            opts = run_options(args, device, algorithm)
            parsed = train_mlp.build_parser().parse_args([*opts, "--out", str(Path(args.out) / "runs")])
            cfg, backends, data, meta = train_mlp.configure(parsed)
            name = f"{device}-{algorithm}"
            meta = {**meta, "study_device": device, "command": _recorded(opts)}
            runs.append(TrainingRun(name, cfg, {"crossbar": backends["crossbar"]}, meta=meta))
            layout[name] = {"device": device, "algorithm": algorithm}
    runs.append(TrainingRun("float", cfg, {"float": FloatBackend()}, meta={"dataset": data.name,
                                                                           "n_train": data.n_train,
                                                                           "n_test": data.n_test}))
    return {"runs": runs, "layout": layout, "load": load, "data": data, "cfg": cfg, "out": Path(args.out),
            "devices": devices, "algorithms": algorithms}


def _total(events: list[dict], name: str) -> float | None:
    """The count `name` summed over the layers; None where no layer has it (results written before it existed)."""
    if events and not any(name in layer for layer in events):
        return None
    return float(sum(layer.get(name, 0.0) for layer in events))


def device_traits(name: str, n: int = 2000) -> dict:
    """What decides whether plain SGD can train device `name` (`DEVICES`), medians over n devices with their
    device-to-device spread: whether it has a symmetry point and where it sits in the range (0..1), its states
    (range over the mean step there), its up/down asymmetry a quarter of the range above the symmetry point
    (|up - down| / mean step: 0 for a symmetric device; GV2016's SGD tolerates about 0.03), and its cycle-to-cycle
    noise (`variation.c2c`, relative to a step)."""
    args = train_mlp.build_parser().parse_args(DEVICES[name])
    device = make_device(args.device, dict(parse_assignment(a) for a in args.overrides))
    state = device.init(jax.random.key(0), (n,))
    g_sym, exists = symmetry_point(device, state)
    span = state.g_max - state.g_min
    up, down = device.step_sizes(replace(state, g=g_sym))
    up_q, down_q = device.step_sizes(replace(state, g=jnp.clip(g_sym + 0.25 * span, state.g_min, state.g_max)))
    return {"symmetry_point_exists": float(jnp.mean(exists)),
            "symmetry_point": float(jnp.median((g_sym - state.g_min) / span)),
            "states": float(jnp.median(span / (0.5 * (up + down)))),
            "asymmetry_quarter_range": float(jnp.median(jnp.abs(up_q - down_q) / (0.5 * (up_q + down_q)))),
            "c2c": float(device.variation.c2c), "model": type(device).__name__}


def summarize(out: Path, layout: dict, description: dict) -> dict:
    """summary.json from the finished runs under out/runs: per run its test errors, pulses, reads, speed."""
    runs = {}
    for name, where in {**layout, "float": {"device": None, "algorithm": "float"}}.items():
        path = out / "runs" / name / "results.json"
        if not path.exists():
            continue
        res = json.loads(path.read_text())
        backend = next(iter(res["backends"].values()))
        train_events = backend.get("events", {}).get("train", [])
        runs[name] = {**where, "epochs_done": res["epochs_done"], "initial_test_error": backend["initial_test_error"],
                      "test_error": backend["test_error"], "final_test_error": backend["test_error"][-1],
                      "train_samples": backend.get("train_samples"),
                      "device_pulses": _total(train_events, "update.coincidences"),
                      "forward_reads": _total(train_events, "forward.reads"),
                      "transfer_pulses": _total(train_events, "transfer_pulses"),
                      "transfer_reads": _total(train_events, "transfer_reads"),
                      "samples_per_s": float(np.median(backend["samples_per_s"])),
                      "command": res["meta"].get("command"),
                      "hyperparameters": res["meta"].get("hyperparameters", {})}
    devices = dict.fromkeys(where["device"] for where in layout.values())
    summary = {"description": description, "runs": runs,
               "devices": {d: device_traits(d) for d in devices if d in DEVICES}}
    save_json(out / "summary.json", summary)
    text = table(summary)
    atomic_write(out / "summary.md", lambda f: f.write(text.encode()))
    return summary


def table(summary: dict) -> str:
    """The markdown tables of a summary: test errors and device pulses, one row per algorithm, one column per
    device."""
    runs = summary["runs"]
    devices = list(dict.fromkeys(r["device"] for r in runs.values() if r["device"]))
    algorithms = list(dict.fromkeys(r["algorithm"] for r in runs.values() if r["device"]))
    d = summary["description"]
    lines = [f"# Transfer study: {d['dataset']} test error after {d['epochs']} epochs",
             "", f"{d['network']}, mini-batch {d['batch_size']}, lr {d['lr']:g}, {d['train']} training images per "
                 f"epoch, {d['test']} test images, seed {d['seed']}.", ""]

    def rows(cell) -> list[str]:
        out = ["| algorithm | " + " | ".join(devices) + " |", "|---|" + "---|" * len(devices)]
        if "float" in runs and cell is error_cell:
            f = runs["float"]
            out.append("| float | " + " | ".join(f"{100 * f['final_test_error']:.2f}%" for _ in devices) + " |")
        for alg in algorithms:
            out.append(f"| {alg} | " + " | ".join(cell(runs.get(f"{dev}-{alg}")) for dev in devices) + " |")
        return out

    def error_cell(r) -> str:
        if r is None:
            return "not run"
        return f"{100 * r['final_test_error']:.2f}%" + ("" if r["epochs_done"] >= d["epochs"] else " (partial)")

    def pulse_cell(r) -> str:
        return "-" if r is None else f"{r['device_pulses']:.3g}"

    lines += ["Test error:", "", *rows(error_cell), "", "Device pulses:", "", *rows(pulse_cell)]
    lines += ["", "Device pulses: every device pulse of the training (A's gradient pulses, the transfers' pulses into "
                  "C, or plain SGD's), all layers. Each run's own command is in summary.json."]
    traits = {dev: summary.get("devices", {}).get(dev) for dev in devices}
    if any(traits.values()):
        lines += ["", "The devices (medians over 2 000 devices with their device-to-device spread; asymmetry: |up - "
                      "down| / mean step a quarter of the range above the symmetry point, about 0.03 or less for plain "
                      "SGD (GV2016's tolerance); c2c: cycle-to-cycle step noise, relative to a step):", "",
                  "| device | model | symmetry point (0..1 of the range) | states | asymmetry | c2c |",
                  "|---|---|---|---|---|---|"]
        for dev, t in traits.items():
            if t:
                where = (f"{t['symmetry_point']:.2f}" if t["symmetry_point_exists"] > 0.5 else "none (one sign)")
                lines.append(f"| {dev} | {t['model']} | {where} | {t['states']:.0f} | "
                             f"{t['asymmetry_quarter_range']:.2f} | {t['c2c']:.2f} |")
    lines.append("")
    return "\n".join(lines)


def plot(summary: dict, path: Path) -> Path:
    """Test error vs epoch per device (float dashed), and the device pulses of each run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = summary["runs"]
    devices = list(dict.fromkeys(r["device"] for r in runs.values() if r["device"]))
    algorithms = list(dict.fromkeys(r["algorithm"] for r in runs.values() if r["device"]))
    colors = dict(zip(algorithms, plt.cm.tab10(np.arange(len(algorithms))), strict=True))
    n_panels = len(devices) + 1
    n_cols = min(n_panels, 4)
    n_rows = -(-n_panels // n_cols)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(5 * n_cols, 4.2 * n_rows), squeeze=False)
    axes = axes.ravel()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    for ax, dev in zip(axes, devices, strict=False):
        if "float" in runs:
            f = runs["float"]
            e = [f["initial_test_error"], *f["test_error"]]
            ax.plot(range(len(e)), 100 * np.asarray(e), "k--", label="float")
        for alg in algorithms:
            r = runs.get(f"{dev}-{alg}")
            if r:
                e = [r["initial_test_error"], *r["test_error"]]
                ax.plot(range(len(e)), 100 * np.asarray(e), marker="o", ms=3, color=colors[alg], label=alg)
        ax.set(xlabel="epoch", ylabel="test error (%)", yscale="log", title=dev)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    ax = axes[n_panels - 1]
    width = 0.8 / max(len(devices), 1)
    for i, dev in enumerate(devices):
        values = [runs.get(f"{dev}-{alg}", {}).get("device_pulses", np.nan) for alg in algorithms]
        ax.bar(np.arange(len(algorithms)) + i * width, values, width, label=dev)
    ax.set_xticks(np.arange(len(algorithms)) + width * (len(devices) - 1) / 2, algorithms, rotation=30)
    ax.set(ylabel="device pulses in training", yscale="log", title="pulses")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)


def main(argv: Sequence[str] | None = None) -> dict:
    parser = build_parser()
    args = parser.parse_args(argv)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        study = configure(args)
    except (ValueError, TypeError, FileNotFoundError) as err:
        parser.error(str(err))
    runs, out = study["runs"], study["out"]
    done = sum(run_status(out / "runs", r)[0] == "done" for r in runs)
    print(f"{study['data']!r}\n{len(runs)} networks ({done} already done), {args.epochs} epochs each; writing to "
          f"{out}", flush=True)
    if not args.report_only:
        try:
            run_all(runs, study["load"], out / "runs", workers=args.workers, progress=not args.no_progress)
        except KeyboardInterrupt:
            print(f"\ninterrupted; finished epochs are saved under {out / 'runs'} (run the same command again to "
                  "continue)")
            raise SystemExit(130) from None
    data, cfg = study["data"], study["cfg"]
    description = {"dataset": data.name, "network": "-".join(map(str, cfg.sizes)) + f" {cfg.activation}",
                   "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr, "train": data.n_train,
                   "test": data.n_test, "seed": args.seed, "devices": {d: DEVICES[d] for d in study["devices"]}}
    summary = summarize(out, study["layout"], description)
    if summary["runs"]:
        print(f"figure: {plot(summary, out / 'test_error.png')}")
    print(table(summary))
    return summary


if __name__ == "__main__":
    main()
