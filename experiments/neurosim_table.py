"""NeuroSim's device table trained on crossbars: each published device beside float, against NeuroSim's accuracy.

Usage:
    python -m experiments.neurosim_table                      # embedded digits, 10 epochs, about 2 minutes
    python -m experiments.neurosim_table --only neurosim_epiram neurosim_pcmo --epochs 20
    python -m experiments.neurosim_table --out DIR            # rerun: finished devices are kept, others resume
    python -m experiments.neurosim_table --scheduler tcp://HOST:8786 --out SHARED_DIR   # one device per dask worker

Runs `experiments.train_mlp` once per NeuroSim preset (`devices.presets`: Ag:a-Si, TaOx/HfOx, PCMO, AlOx/HfO2,
EpiRAM, every number from MLP+NeuroSim V3.0's Table II), one directory per device under `--out` (each with its
`results.json`, checkpoint and `test_error.png`; an interrupted run resumes from its last epoch), then writes
`summary.json`, `summary.md` and `test_error.png` (every device's test error by epoch, float dashed). NeuroSim's
own online-learning accuracy (its 400-100-10 MLP on 20x20 MNIST, its own weight-update circuit) stands beside
each row: a cross-check of the devices' ordering, not of the numbers, since network, data and update differ.
"""

from __future__ import annotations

import argparse
import concurrent.futures as futures
import contextlib
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from crossbar import training
from crossbar.sweep.cluster import executor_from_scheduler
from crossbar.training.checkpoint import check_writable, save_json
from crossbar.training.data import resolved_mnist_dir
from devices.io import atomic_write, save_figure
from experiments import train_mlp

# NeuroSim V3.0's online-learning accuracy per device (MLP+NeuroSim V3.0 user manual, Table II).
NEUROSIM_ACCURACY = {
    "neurosim_ag_si": 0.72,
    "neurosim_taox_hfox": 0.80,
    "neurosim_pcmo": 0.33,
    "neurosim_alox_hfo2": 0.20,
    "neurosim_epiram": 0.92,
}
LABELS = {"neurosim_ag_si": "Ag:a-Si", "neurosim_taox_hfox": "TaOx/HfOx", "neurosim_pcmo": "PCMO",
          "neurosim_alox_hfo2": "AlOx/HfO2", "neurosim_epiram": "EpiRAM (Ag:SiGe)"}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m experiments.neurosim_table", description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--only", nargs="+", default=sorted(NEUROSIM_ACCURACY), metavar="PRESET",
                   help=f"presets to run, of {', '.join(sorted(NEUROSIM_ACCURACY))}")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dataset", default="digits", help="digits or mnist (then --mnist-dir or $MNIST_DIR)")
    p.add_argument("--mnist-dir", default=None)
    p.add_argument("--limit-train", type=int, default=None, help="use only the first N training samples")
    p.add_argument("--out", default="results/neurosim_table", help="output directory")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="train the devices on the dask cluster of this scheduler (tcp://host:8786 or a scheduler "
                        "file); --out must be on a filesystem every worker shares")
    p.add_argument("--no-progress", action="store_true")
    return p


def finished_run(directory: Path, args: argparse.Namespace) -> dict | None:
    """The results of a run in `directory` made with these settings and at least `args.epochs` epochs, or None.

    Raises:
        ValueError: the directory holds a run of another seed or dataset (naming both), which neither a resume
            nor keeping it would answer.
    """
    path = directory / training.RESULTS_NAME
    if not path.exists():
        return None
    results = json.loads(path.read_text())
    stored = (results["config"]["seed"], results["meta"]["dataset"])
    if stored != (args.seed, args.dataset):
        raise ValueError(f"{path} holds a run with seed {stored[0]} on {stored[1]!r}, not seed {args.seed} on "
                         f"{args.dataset!r}: choose another --out")
    return results if results.get("epochs_done", 0) >= args.epochs else None


def run_device(name: str, args: argparse.Namespace, out: Path) -> dict:
    """One device's run in `out` (resumed from its checkpoint where one exists); its results dict."""
    argv = ["--device", name, "--epochs", str(args.epochs), "--seed", str(args.seed), "--dataset", args.dataset,
            "--out", str(out)]
    argv += ["--mnist-dir", args.mnist_dir] if args.mnist_dir else []
    argv += ["--limit-train", str(args.limit_train)] if args.limit_train else []
    argv += ["--no-progress"] if args.no_progress else []
    if (out / training.CHECKPOINT_NAME).exists():
        argv.append("--resume")
    return train_mlp.main(argv)


def _run_device_task(name: str, args: argparse.Namespace, out: Path) -> dict:
    """`run_device` on a cluster's worker: a command-line error comes back as an exception, not a worker's exit."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            return run_device(name, args, out)
    except SystemExit as stop:  # train_mlp's parser.error, e.g. an MNIST directory this worker cannot see
        raise RuntimeError(f"{name}: {err.getvalue().strip() or f'exit {stop.code}'}") from None


def run_devices_on(executor: futures.Executor, names: Sequence[str], args: argparse.Namespace,
                   out: Path) -> dict[str, dict]:
    """Each device's run (`run_device`) as one task of `executor`, in its own directory under `out`.

    Raises:
        RuntimeError: after every other device finished, naming the devices that failed and why.
    """
    out = out.resolve()  # a worker's working directory is not this one
    remote = argparse.Namespace(**{**vars(args), "no_progress": True,  # nor is its environment
                                   "mnist_dir": resolved_mnist_dir(args.mnist_dir)})
    pending = {executor.submit(_run_device_task, name, remote, out / name): name for name in names}
    results, failures = {}, {}
    for fut in futures.as_completed(pending):
        try:
            results[pending[fut]] = fut.result()
            print(f"{pending[fut]}: done ({out / pending[fut] / training.RESULTS_NAME})", flush=True)
        except Exception as err:  # noqa: BLE001  (reported with the device's name below)
            failures[pending[fut]] = err
    if failures:
        raise RuntimeError("; ".join(f"{name}: {type(err).__name__}: {err}" for name, err in failures.items()))
    return results


def summarise(results: dict[str, dict]) -> list[dict]:
    """One row per device: final test errors (float, crossbar), after a month, NeuroSim's accuracy; best first."""
    rows = []
    for name, res in results.items():
        float_, xbar = res["backends"]["float"], res["backends"]["crossbar"]
        rows.append({"device": name, "label": LABELS[name], "epochs": res["epochs_done"],
                     "float_test_error": float_["test_error"][-1], "crossbar_test_error": xbar["test_error"][-1],
                     "crossbar_test_error_1_month": xbar["retention"]["1 month"]["test_error"],
                     "neurosim_accuracy": NEUROSIM_ACCURACY[name]})
    return sorted(rows, key=lambda r: r["crossbar_test_error"])


def ranks_agree(rows: list[dict]) -> float:
    """Spearman's rank correlation of this run's crossbar accuracy with NeuroSim's, over the devices run."""
    from scipy.stats import spearmanr

    if len(rows) < 3:
        return float("nan")
    ours = [1 - r["crossbar_test_error"] for r in rows]
    return float(spearmanr(ours, [r["neurosim_accuracy"] for r in rows]).statistic)


def markdown(rows: list[dict], rho: float, meta: dict) -> str:
    lines = [f"# NeuroSim's device table on crossbars ({meta['dataset']}, {meta['epochs']} epochs, seed "
             f"{meta['seed']})", "",
             "| device | crossbar test error | after 1 month | float | NeuroSim's accuracy |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['label']} (`{r['device']}`) | {100 * r['crossbar_test_error']:.2f}% | "
                     f"{100 * r['crossbar_test_error_1_month']:.2f}% | {100 * r['float_test_error']:.2f}% | "
                     f"{100 * r['neurosim_accuracy']:.0f}% |")
    lines += ["", f"Spearman rank correlation of crossbar accuracy with NeuroSim's: {rho:.2f}", ""]
    return "\n".join(lines)


def plot(results: dict[str, dict], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9.5, 4.2))
    for name, res in results.items():
        xbar = res["backends"]["crossbar"]
        errors = [xbar["initial_test_error"], *xbar["test_error"]]
        ax.plot(range(len(errors)), 100 * np.asarray(errors), marker="o", ms=3,
                label=f"{LABELS[name]} (NeuroSim {100 * NEUROSIM_ACCURACY[name]:.0f}% acc.)")
    float_ = next(iter(results.values()))["backends"]["float"]  # the same float run for every device (one seed)
    errors = [float_["initial_test_error"], *float_["test_error"]]
    ax.plot(range(len(errors)), 100 * np.asarray(errors), "k--", label="float")
    meta = next(iter(results.values()))["meta"]
    ax.set(xlabel="epoch", ylabel="test error (%)", yscale="log",
           title=f"NeuroSim's devices on crossbars ({meta['dataset']})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.tight_layout()
    return save_figure(fig, path, dpi=120)


def main(argv: Sequence[str] | None = None) -> dict:
    parser = build_parser()
    args = parser.parse_args(argv)
    unknown = sorted(set(args.only) - set(NEUROSIM_ACCURACY))
    if unknown:
        parser.error(f"--only: unknown presets {unknown}; valid: {', '.join(sorted(NEUROSIM_ACCURACY))}")
    if args.epochs < 1:
        parser.error(f"--epochs must be >= 1; got {args.epochs}")
    try:
        out = check_writable(args.out)
    except (ValueError, OSError) as err:
        parser.error(str(err))
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small matrices: BLAS threads only add noise
    results, todo = {}, []
    for name in args.only:
        try:
            done = finished_run(out / name, args)
        except ValueError as err:
            parser.error(str(err))
        if done is not None:
            print(f"{name}: finished earlier, kept ({out / name / training.RESULTS_NAME})")
            results[name] = done
        else:
            todo.append(name)
    if todo and args.scheduler:
        with contextlib.ExitStack() as stack:
            try:
                executor = stack.enter_context(executor_from_scheduler(args.scheduler))
            except (ConnectionError, ImportError, ValueError) as err:
                parser.error(f"--scheduler: {err}")
            results.update(run_devices_on(executor, todo, args, out))
    else:
        for name in todo:
            results[name] = run_device(name, args, out / name)
    results = {name: results[name] for name in args.only}
    rows = summarise(results)
    rho = ranks_agree(rows)
    meta = {"dataset": args.dataset, "epochs": args.epochs, "seed": args.seed, "limit_train": args.limit_train}
    summary = {"meta": meta, "rows": rows, "spearman_with_neurosim": rho,
               "source": "MLP+NeuroSim V3.0 user manual, Table II (online-learning accuracy)"}
    save_json(out / "summary.json", summary)
    atomic_write(out / "summary.md", lambda f: f.write(markdown(rows, rho, meta).encode()))
    print(markdown(rows, rho, meta))
    print(f"plot: {plot(results, out / 'test_error.png')}")
    return summary


if __name__ == "__main__":
    main()
