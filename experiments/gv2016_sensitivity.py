"""GV2016's tolerance study: MNIST test error of the 784-256-128-10 network on crossbars, one parameter at a time.

For every axis of `experiments.gv2016_axes` (dw_min, up/down asymmetry and its spread, step spread, cycle-to-cycle
noise, weight bound and its spread, BL, output noise, output bound, ADC and DAC resolution) and every value, a
network is trained on crossbars of the RPU baseline with that one parameter changed, for several seeds, next to
float networks of the same seeds. Reported: test error vs epoch and final, and each parameter's tolerance (the
furthest value whose error stays within 0.3% of float, with its bootstrap uncertainty over seeds).

Usage:
    python -m experiments.gv2016_sensitivity --quick --mnist-dir DIR            # minutes: 20k images, 3 epochs
    python -m experiments.gv2016_sensitivity --mnist-dir DIR --axes dw_min,asymmetry --seeds 1   # the paper's scale
    python -m experiments.gv2016_sensitivity --report-only --out DIR           # figures and table from what is done

Every network is its own resumable run under `OUT/runs/` (see `crossbar.sweep.runs`): run the same command again
after an interruption and it continues where it stopped. `--workers 2` trains two networks at once, one per core;
`--scheduler ADDRESS` trains them on a dask cluster instead (`--out` then on a filesystem every worker shares; see
`crossbar.sweep.cluster` and the guide's page on clusters).
Writes `OUT/summary.json`, `OUT/summary.md` and `OUT/<axis>.png`.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
from collections.abc import Sequence
from pathlib import Path

from crossbar.sweep.cluster import executor_from_scheduler
from crossbar.sweep.runs import TrainingRun, run_all, run_status
from crossbar.training import data as datasets
from crossbar.training import mlp
from crossbar.training.backends import FloatBackend
from experiments.gv2016_axes import AXES, Axis
from experiments.gv2016_report import write_report
from experiments.train_mlp import _code_version

FULL = {"limit_train": None, "epochs": 30}
QUICK = {"limit_train": 20000, "epochs": 3}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m experiments.gv2016_sensitivity", description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--dataset", default="mnist", help=f"one of {', '.join(datasets.LOADERS)}")
    p.add_argument("--mnist-dir", default=None, help=f"MNIST IDX directory (else ${datasets.MNIST_DIR_ENV})")
    p.add_argument("--quick", action="store_true", help=f"small scale: {QUICK}, the axes' quick values")
    p.add_argument("--axes", default=",".join(AXES), help="comma-separated axes to run")
    p.add_argument("--seeds", type=int, default=None, help="seeds per value (default: 2 quick, 1 full)")
    p.add_argument("--epochs", type=int, default=None, help="override the scale's epochs")
    p.add_argument("--limit-train", type=int, default=None, help="override the scale's training subset")
    p.add_argument("--sizes", default=None, help="hidden widths (default 256,128 as in the paper)")
    p.add_argument("--lr", type=float, default=0.01, help="learning rate (the paper's: 0.01, constant)")
    p.add_argument("--margin", type=float, default=0.003, help="tolerated excess test error (fraction)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=None,
                       help="networks trained at once here, one process per core (default 1)")
    where.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="train on the dask cluster of this scheduler (tcp://host:8786 or a scheduler file); "
                            "--out must be on a filesystem every worker shares")
    p.add_argument("--out", default=None, help="output directory (default experiments/results/gv2016_sensitivity"
                                               "/quick or /full)")
    p.add_argument("--report-only", action="store_true", help="only write the report from the finished runs")
    p.add_argument("--no-progress", action="store_true")
    return p


def study_runs(axes: Sequence[Axis], cfg: mlp.MLPConfig, seeds: int, quick: bool) -> tuple[list, dict]:
    """The study's runs (float and baseline once per seed, shared by every axis) and {axis: [(value, names)]}."""
    version = {"code_version": _code_version()}  # recorded, not compared on resume
    runs = {}
    layout: dict[str, list] = {}
    for s in range(seeds):
        runs[f"float_seed{s}"] = TrainingRun(f"float_seed{s}", mlp.MLPConfig(**{**cfg.__dict__, "seed": s}),
                                             {"float": FloatBackend()}, meta={"axis": None, **version})
    for axis in axes:
        layout[axis.name] = []
        for value in (axis.quick_values or axis.values) if quick else axis.values:
            names = []
            for s in range(seeds):
                name = f"baseline_seed{s}" if value == axis.baseline else f"{axis.name}={value:g}_seed{s}"
                if name not in runs:
                    runs[name] = TrainingRun(name, mlp.MLPConfig(**{**cfg.__dict__, "seed": s}),
                                             {"crossbar": axis.setting(value).backend()},
                                             meta={"axis": None if value == axis.baseline else axis.name,
                                                   "value": value, **version})
                names.append(name)
            layout[axis.name].append((value, names))
    return list(runs.values()), layout


def configure(args) -> dict:
    """Everything checked before training: axes, scale, data, output directory."""
    names = [a.strip() for a in args.axes.split(",") if a.strip()]
    unknown = [a for a in names if a not in AXES]
    if unknown or not names:
        raise ValueError(f"--axes: unknown {', '.join(unknown) or '(none given)'}; valid: {', '.join(AXES)}")
    scale = dict(QUICK if args.quick else FULL)
    for key in ("epochs", "limit_train"):
        if getattr(args, key) is not None:
            scale[key] = getattr(args, key)
    if scale["epochs"] < 1 or (scale["limit_train"] is not None and scale["limit_train"] < 1):
        raise ValueError(f"--epochs and --limit-train must be >= 1; got {scale}")
    if not 0 < args.margin < 1:
        raise ValueError(f"--margin must be a fraction in (0, 1); got {args.margin}")
    seeds = args.seeds if args.seeds is not None else (2 if args.quick else 1)
    if seeds < 1 or (args.workers is not None and args.workers < 1):
        raise ValueError(f"--seeds and --workers must be >= 1; got {seeds}, {args.workers}")
    if args.dataset == "mnist":
        # Resolved here: a worker of a cluster has another working directory and maybe no $MNIST_DIR.
        load = functools.partial(datasets.load_mnist, datasets.resolved_mnist_dir(args.mnist_dir),
                                 limit_train=scale["limit_train"])
    elif args.dataset in datasets.LOADERS:
        load = functools.partial(datasets.load, args.dataset)
    else:
        raise ValueError(f"unknown --dataset {args.dataset!r}; valid: {', '.join(datasets.LOADERS)}")
    data = load()  # fails here, naming the directory, when the files are missing
    hidden = (256, 128) if args.sizes is None else tuple(int(s) for s in args.sizes.split(",") if s.strip())
    cfg = mlp.gokmen_vlasov_config(sizes=(data.n_features, *hidden, data.n_classes), lr=args.lr,
                                   epochs=scale["epochs"]).validate(data.n_features, data.n_classes)
    out = Path(args.out or Path("experiments/results/gv2016_sensitivity") / ("quick" if args.quick else "full"))
    runs, layout = study_runs([AXES[n] for n in names], cfg, seeds, args.quick)
    return {"runs": runs, "layout": layout, "load": load, "data": data, "cfg": cfg, "out": out, "seeds": seeds,
            "scale": scale, "axes": [AXES[n] for n in names]}


def main(argv: Sequence[str] | None = None) -> dict:
    parser = build_parser()
    args = parser.parse_args(argv)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small matrices: BLAS threads only add noise
    try:
        study = configure(args)
    except (ValueError, FileNotFoundError) as err:
        parser.error(str(err))
    runs, out = study["runs"], study["out"]
    done = sum(run_status(out / "runs", r)[0] == "done" for r in runs)
    print(f"{study['data']!r}\n{len(runs)} networks ({done} already done), {study['scale']['epochs']} epochs each, "
          f"{study['seeds']} seed(s); writing to {out}" + (f", trained on the dask cluster at {args.scheduler}"
                                                            if args.scheduler and not args.report_only else ""),
          flush=True)
    if not args.report_only:
        try:
            with contextlib.ExitStack() as stack:
                try:
                    executor = stack.enter_context(executor_from_scheduler(args.scheduler)) if args.scheduler else None
                except (ConnectionError, ImportError, ValueError) as err:
                    parser.error(f"--scheduler: {err}")
                run_all(runs, study["load"], out / "runs", workers=args.workers, executor=executor,
                        progress=not args.no_progress)
        except KeyboardInterrupt:
            print(f"\ninterrupted; finished epochs are saved under {out / 'runs'} (run the same command again to "
                  "continue)")
            raise SystemExit(130) from None
    summary = write_report(out, study["layout"], study["axes"], study["seeds"], margin=args.margin,
                           description={"scale": study["scale"], "quick": args.quick, "lr": args.lr,
                                        "dataset": study["data"].name, "sizes": list(study["cfg"].sizes)})
    print(f"summary: {out / 'summary.md'}")
    for name, row in summary["axes"].items():
        print(f"{name:>14}: tolerance {row['tolerance_text']}")
    return summary


if __name__ == "__main__":
    main()
