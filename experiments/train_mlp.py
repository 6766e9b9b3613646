"""Train an MLP in floating point and on crossbar arrays side by side, and compare (the README's main job).

Usage:
    python -m experiments.train_mlp                          # embedded 8x8 digits, GV2016 device, a few minutes
    python -m experiments.train_mlp --config gokmen_vlasov --dataset mnist --mnist-dir DIR   # the paper's run
    python -m experiments.train_mlp --out DIR --resume       # continue an interrupted run
    python -m experiments.train_mlp --energy                 # also the energy and time of the run on the chip
    python -m experiments.train_mlp --wires 2.5              # reads through 2.5-ohm wire segments (Kirchhoff)
    python -m experiments.train_mlp --dataset mnist --device reram_sb_aihwkit --algorithm agad --batch-size 10 \
        --lr 0.5                                             # a transfer algorithm (crossbar.transfer)

Writes to `--out`: `results.json` (per-epoch train loss and test error of both back ends, configuration,
seed, wall time, counters of saturations and clipped probabilities, test error after 1 s .. 1 month of
retention), `checkpoint.npz` (after every epoch, atomically; `--resume` continues from it to the same result
as an uninterrupted run) and `test_error.png`. Ctrl-C leaves the last checkpoint intact. With `--energy` also
`energy.json`, `energy.md` and `energy.png`: the energy and time of the crossbar run on the simulated chip, from
the events it counted, by component and layer, beside a GPU estimate (`experiments.energy`).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from crossbar import training
from crossbar import transfer as transfer_algorithms
from crossbar.circuit import WireResistance
from crossbar.nn.transfer_dense import check_layer_algorithm
from crossbar.periphery import Periphery, ideal_periphery
from crossbar.presets import ARRAY_PRESETS
from crossbar.training import data as datasets
from crossbar.training import mlp
from crossbar.training.backends import CrossbarBackend, FloatBackend, TransferBackend
from crossbar.training.checkpoint import check_writable
from crossbar.update import SCHEMES, PulseUpdate
from devices.io import save_figure
from devices.kinetics import SwitchingKinetics
from devices.params import parse_assignment
from devices.presets import device_names, make_device
from experiments.energy import add_energy_arguments, energy_options, summary, write_energy_report

# Named network configurations; each maps a dataset to its settings.
CONFIGS = {
    # GV2016: 784-256-128-10, sigmoid, softmax, SGD batch 1, lr 0.01, 30 epochs.
    "gokmen_vlasov": lambda n_in, n_out: mlp.gokmen_vlasov_config(sizes=(n_in, 256, 128, n_out)),
    # Small and quick, for the embedded digits: minutes on a laptop.
    "small": lambda n_in, n_out: mlp.MLPConfig(sizes=(n_in, 64, n_out), activation="sigmoid", lr=0.05,
                                               epochs=20, batch_size=1),
}
# Weight bound of each configuration: GV2016's 0.6 for its network. The 64-input digits network needs larger
# weights: with the GV device its train loss after 20 epochs is 0.247 at w_max 0.6 (test error 5.56%) and 0.049
# at 2.0 (2.89%), float 0.047 (2.67%) (`python -m experiments.train_mlp [--w-max 0.6]`, seed 0).
W_MAX = {"gokmen_vlasov": 0.6, "small": 2.0}
ALGORITHMS = ("sgd", *transfer_algorithms.ALGORITHMS)
# Hyperparameters of aihwkit's ReRamSB presets of each algorithm (src/aihwkit/simulator/presets/configs.py:
# TikiTakaReRamSBPreset, ChoppedTTv2ReRamSBPreset, AGADReRamSBPreset, MixedPrecisionReRamSBPreset; its
# TTv2ReRamSBPreset is the chopped compound with in_chop_prob 0, here `ttv2` keeps aihwkit's buffered TTv2).
AIHWKIT_PRESETS = {
    "tiki_taka": {},
    "ttv2": {},
    "c_ttv2": {"fast_lr": 0.5, "auto_scale": True, "auto_granularity": 1000.0, "in_chop_prob": 0.01},
    "agad": {"fast_lr": 0.5, "auto_scale": True, "auto_granularity": 1000.0, "in_chop_prob": 0.02},
    "mixed_precision": {},
}
# The defaults: aihwkit's presets, changed only where they keep a network from training in a few epochs (the
# guide's page on transfer algorithms says why). A transfer every sample (one line of A; aihwkit's c-TTv2 and AGAD
# presets do so, its Tiki-Taka preset transfers once per mini-batch), up to max_steps = 31 pulses per device and
# transfer (aihwkit's presets: transfer_update.desired_bl = 1, which lets C move by at most one dw_min per pass
# over A's lines: 785 samples for GV2016's input layer), and AGAD's chopper period 10 passes instead of 50 (it
# writes nothing before its first period ends). Override any with --hyper NAME=VALUE.
ALGORITHM_DEFAULTS = {
    "tiki_taka": {"units_in_mbatch": False},
    "ttv2": {"units_in_mbatch": False, "max_steps": 31},
    "c_ttv2": {**AIHWKIT_PRESETS["c_ttv2"], "max_steps": 31},
    "agad": {**AIHWKIT_PRESETS["agad"], "max_steps": 31, "in_chop_prob": 0.1},
    "mixed_precision": {},
}


_FLAGS = {"units_in_mbatch", "scale_fast_lr", "scale_transfer_lr", "forget_buffer", "in_chop_random", "auto_scale"}


def add_algorithm_arguments(p: argparse.ArgumentParser) -> None:
    """--algorithm, --hyper, --reference and --reference-std (this script's and `experiments.train_cnn`'s).

    Args:
        p: The parser to add them to.
    """
    p.add_argument("--algorithm", default="sgd", help=f"training algorithm: {', '.join(ALGORITHMS)}")
    p.add_argument("--hyper", nargs="+", default=[], metavar="NAME=VALUE",
                   help="the algorithm's hyperparameters (aihwkit's names; flags as 0/1), e.g. transfer_every=2 "
                        "in_chop_prob=0.05 auto_scale=0")
    p.add_argument("--reference", default="computed",
                   help="transfer algorithms: each device's reference at its symmetry point, computed or zero_shift; "
                        "or nominal (mid-range)")
    p.add_argument("--reference-std", type=float, default=0.0, help="device-to-device reference offset (weight units)")


def algorithm_from_args(args: argparse.Namespace) -> tuple[Any, dict]:
    """The transfer algorithm of `--algorithm` with `ALGORITHM_DEFAULTS` overridden by `--hyper`.

    Args:
        args: Parsed arguments with `algorithm` and `hyper` (`add_algorithm_arguments`).

    Returns:
        (the validated algorithm, or None for sgd; its hyperparameters {name: value}, empty for sgd).

    Raises:
        ValueError: An unknown algorithm or hyperparameter, a bad value (gamma != 0 too), or --hyper with sgd,
            naming it.
    """
    if args.algorithm not in ALGORITHMS:
        raise ValueError(f"unknown --algorithm {args.algorithm!r}; valid: {', '.join(ALGORITHMS)}")
    if args.algorithm == "sgd":
        if args.hyper:
            raise ValueError("--hyper sets a transfer algorithm's hyperparameters; --algorithm sgd has none")
        return None, {}
    given = {}
    for a in args.hyper:
        name, value = parse_assignment(a)
        given[name] = bool(value) if name in _FLAGS else int(value) if name == "max_steps" else value
    hyper = {**ALGORITHM_DEFAULTS[args.algorithm], **given}
    algorithm = transfer_algorithms.make_algorithm(args.algorithm, **hyper)
    check_layer_algorithm(algorithm)  # gamma 0: the layers read C
    return algorithm, hyper


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m experiments.train_mlp", description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--dataset", default="digits", help=f"one of {', '.join(datasets.LOADERS)}")
    p.add_argument("--mnist-dir", default=os.environ.get(datasets.MNIST_DIR_ENV) or "data/mnist",
                   help=f"directory of the MNIST IDX files (else ${datasets.MNIST_DIR_ENV}, else data/mnist; get "
                        "them with python -m crossbar.training.download mnist data/mnist)")
    p.add_argument("--limit-train", type=int, default=None, help="use only the first N training samples")
    p.add_argument("--limit-test", type=int, default=None, help="use only the first N test samples (MNIST)")
    p.add_argument("--config", default=None, help=f"network: {', '.join(CONFIGS)} (default: small for digits, "
                                                  "gokmen_vlasov for mnist)")
    p.add_argument("--sizes", default=None, help="hidden layer widths, e.g. 256,128 (overrides --config)")
    p.add_argument("--activation", default=None, help=f"hidden activation: {', '.join(mlp.ACTIVATIONS)}")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--lr", type=float, default=None, help="learning rate")
    p.add_argument("--lr-decay", type=float, default=None, help="lr factor per epoch")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--rule", default=None, choices=mlp.RULES,
                   help="how hidden layers get their errors: backprop (transpose reads), fa (feedback alignment) or "
                        "dfa (direct feedback alignment; both without transpose reads) (default: backprop)")
    p.add_argument("--feedback", default=None, choices=mlp.FEEDBACK,
                   help="where fa's and dfa's random feedback matrices live: digital (exact products) or array "
                        "(fixed arrays of their own, whose reads are counted) (default: digital)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="gokmen_vlasov", help="device preset or model: " + ", ".join(device_names())
                   + ", or a device file (e.g. a fitted device, experiments.fit_device): PATH.json")
    p.add_argument("--set", nargs="+", default=[], metavar="NAME=VALUE", dest="overrides",
                   help="device parameters, e.g. variation.c2c=0.1 dg=1e-8")
    p.add_argument("--w-max", type=float, default=None,
                   help="weight of one device's full range (default: 0.6 as GV2016 for gokmen_vlasov, "
                        "2.0 for small: the 64-input digits network needs larger weights)")
    p.add_argument("--pair", default="reference",
                   help="reference: one device per weight against a reference column, as the RPU of GV2016; "
                        "differential: a G+ / G- pair per weight (a device's array preset, e.g. reram_sb_aihwkit, sets "
                        "its own)")
    p.add_argument("--update", default="stochastic", help=f"update scheme: {', '.join(SCHEMES)}")
    p.add_argument("--nonlinearity", type=float, default=None, metavar="K",
                   help="with --update voltage: the switching nonlinearity, step at V over step at V/2 (default 126, "
                        "Jo et al. 2009's exponential law at 1.5 V; inf: a sharp threshold)")
    p.add_argument("--kinetics-law", default="exponential", help="with --update voltage: exponential or sinh")
    p.add_argument("--bl", type=int, default=None, help="pulse train length BL (default 10, or the device's array "
                                                        "preset's, e.g. 31 for reram_sb_aihwkit)")
    add_algorithm_arguments(p)
    p.add_argument("--wires", type=float, default=None, metavar="OHM",
                   help="wire resistance per segment of every row and column (ohm): reads solve Kirchhoff's laws "
                        "through the wires (default: ideal wires)")
    p.add_argument("--r-source", type=float, default=0.0, metavar="OHM",
                   help="output resistance of each line driver, with --wires (ohm)")
    p.add_argument("--r-sense", type=float, default=0.0, metavar="OHM",
                   help="input resistance of each sense amplifier, with --wires (ohm)")
    p.add_argument("--wires-refresh", type=int, default=0, metavar="N",
                   help="with --wires: read through the wires' effect cached per array and solved again after every "
                        "N writes, a product instead of a solve per read (first order between refreshes; "
                        "default 0: every read solved)")
    p.add_argument("--ideal-periphery", action="store_true", help="no DAC/ADC quantisation, noise or bounds")
    p.add_argument("--output-noise", type=float, default=None,
                   help="output noise std (weight units; default 0.06, or the device's array preset's)")
    p.add_argument("--out", default="results/train_mlp", help="output directory")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    p.add_argument("--no-plot", action="store_true")
    add_energy_arguments(p)
    p.add_argument("--no-progress", action="store_true")
    return p


def configure(args: argparse.Namespace):
    """Everything checked before training starts: data, network, device, output directory.

    Returns:
        (cfg, backends, data, meta).
    Raises:
        ValueError / FileNotFoundError with a message naming the bad option.
    """
    if args.dataset not in datasets.LOADERS:
        raise ValueError(f"unknown --dataset {args.dataset!r}; valid: {', '.join(datasets.LOADERS)}")
    if args.dataset == "mnist":
        data = datasets.load_mnist(args.mnist_dir, limit_train=args.limit_train, limit_test=args.limit_test)
    else:
        data = datasets.load_digits()
        if args.limit_train:
            data = datasets.Dataset(data.x_train[:args.limit_train], data.y_train[:args.limit_train],
                                    data.x_test, data.y_test, data.name, data.n_classes)
    config_name = args.config or ("gokmen_vlasov" if args.dataset == "mnist" else "small")
    if config_name not in CONFIGS:
        raise ValueError(f"unknown --config {config_name!r}; valid: {', '.join(CONFIGS)}")
    cfg = CONFIGS[config_name](data.n_features, data.n_classes)
    changes = {k: getattr(args, k) for k in ("activation", "epochs", "lr", "lr_decay", "batch_size", "rule",
                                         "feedback")
               if getattr(args, k) is not None}
    if args.sizes:
        try:
            hidden = tuple(int(s) for s in args.sizes.split(",") if s.strip())
        except ValueError:
            raise ValueError(f"--sizes must be comma-separated ints; got {args.sizes!r}") from None
        changes["sizes"] = (data.n_features, *hidden, data.n_classes)
    cfg = mlp.MLPConfig(**{**cfg.__dict__, **changes, "seed": args.seed}).validate(data.n_features, data.n_classes)
    overrides = dict(parse_assignment(a) for a in args.overrides)
    device = make_device(args.device, overrides)
    preset = ARRAY_PRESETS[args.device]() if args.device in ARRAY_PRESETS else {}
    output_noise = args.output_noise if args.output_noise is not None else (
        preset["periphery"].output_noise if preset else 0.06)
    bl = args.bl if args.bl is not None else (preset["update_scheme"].bl if preset else 10)
    if args.ideal_periphery:
        periphery = ideal_periphery()
    elif preset:
        periphery = Periphery(**{**preset["periphery"].__dict__, "output_noise": output_noise})
    else:
        periphery = Periphery(output_noise=output_noise)
    w_max = args.w_max if args.w_max is not None else preset.get("w_max", W_MAX[config_name])
    kinetics = None
    if args.nonlinearity is not None or args.kinetics_law != "exponential":
        if args.update != "voltage":
            raise ValueError("--nonlinearity and --kinetics-law need --update voltage")
        kinetics = SwitchingKinetics(**({} if args.nonlinearity is None else {"nonlinearity": args.nonlinearity}),
                                     law=args.kinetics_law).validate()
    update = (PulseUpdate(**{**preset["update_scheme"].__dict__, "scheme": args.update, "bl": bl, "kinetics": kinetics})
              if preset else PulseUpdate(scheme=args.update, bl=bl, kinetics=kinetics))
    wires = None
    if args.wires is not None:
        wires = WireResistance(r_row=args.wires, r_col=args.wires, r_source=args.r_source, r_sense=args.r_sense,
                               refresh_every=args.wires_refresh).validate()
    elif args.r_source or args.r_sense or args.wires_refresh:
        raise ValueError("--r-source, --r-sense and --wires-refresh need --wires (the wire resistance per segment, "
                         "ohm)")
    backend = CrossbarBackend(device=device, pair=preset.get("pair", args.pair), periphery=periphery, w_max=w_max,
                              update_scheme=update, dw_min=preset.get("dw_min"), wires=wires)
    algorithm, hyper = algorithm_from_args(args)
    if algorithm is not None:
        backend = TransferBackend(arrays=backend, algorithm=algorithm, reference=args.reference,
                                  reference_std=args.reference_std)
    backend.crossbar(cfg.sizes[0] + 1, cfg.sizes[1])  # validates pair, scheme, BL, device against the array
    check_writable(args.out)
    args.costs = energy_options(args, device)
    meta = {"dataset": data.name, "n_train": data.n_train, "n_test": data.n_test, "config_name": config_name,
            "device": args.device, "device_overrides": overrides, "w_max": w_max, "pair": args.pair,
            "update": args.update, "bl": bl, "ideal_periphery": args.ideal_periphery,
            "output_noise": output_noise, "code_version": _code_version()}
    # Recorded only when they are not the defaults, so that the checkpoints of earlier versions still resume.
    if args.algorithm != "sgd":
        meta.update({"algorithm": args.algorithm, "hyperparameters": hyper, "reference": args.reference,
                     "reference_std": args.reference_std})
    if wires is not None:
        meta["wires"] = {"r_row": args.wires, "r_col": args.wires, "r_source": args.r_source, "r_sense": args.r_sense}
        if args.wires_refresh:  # recorded only when set, so runs from before the option resume
            meta["wires"]["refresh_every"] = args.wires_refresh
    return cfg, {"float": FloatBackend(), "crossbar": backend}, data, meta


def _code_version() -> str:
    """The git commit of the code that produced a result, when it runs from a checkout."""
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                              cwd=Path(__file__).parent).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def plot(results: dict, path: Path) -> Path:
    """Test error vs epoch for every back end, and test error vs time after training (retention)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax_t) = plt.subplots(1, 2, figsize=(10, 4), gridspec_kw={"width_ratios": [2, 1]})
    for name, res in results["backends"].items():
        errors = [res["initial_test_error"], *res["test_error"]]
        ax.plot(range(len(errors)), 100 * np.asarray(errors), marker="o", ms=3, label=name)
        ret = res.get("retention", {})
        if ret:
            ax_t.semilogx([r["seconds"] for r in ret.values()], [100 * r["test_error"] for r in ret.values()],
                          marker="o", label=name)
    meta = results["meta"]
    wires = f", {meta['wires']['r_row']:g} ohm wires" if meta.get("wires") else ""
    ax.set(xlabel="epoch", ylabel="test error (%)", yscale="log",
           title=f"{meta.get('dataset')}: float vs crossbar ({meta.get('device')}{wires})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    ax_t.set(xlabel="time after training (s)", ylabel="test error (%)", title="retention")
    ax_t.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path, dpi=120)


def main(argv: Sequence[str] | None = None) -> dict:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        cfg, backends, data, meta = configure(args)
    except (ValueError, TypeError, FileNotFoundError) as err:
        parser.error(str(err))
    print(f"{data!r}\nnetwork {'-'.join(map(str, cfg.sizes))}, {cfg.epochs} epochs, lr {cfg.lr}, "
          f"batch {cfg.batch_size}; device {args.device}; writing to {args.out}", flush=True)
    t0 = time.perf_counter()
    try:
        results = training.train_compare(cfg, backends, data, out_dir=args.out, resume=args.resume,
                                         progress=not args.no_progress, meta=meta)
    except KeyboardInterrupt:
        print(f"\ninterrupted; the last finished epoch is in {Path(args.out) / training.CHECKPOINT_NAME} "
              "(continue with --resume)", file=sys.stderr)
        raise SystemExit(130) from None
    except ValueError as err:  # e.g. --resume without a matching checkpoint
        parser.error(str(err))
    out = Path(args.out)
    if not args.no_plot:
        print(f"plot: {plot(results, out / 'test_error.png')}")
    if args.energy:
        rep = write_energy_report(results, cfg, backends, out, costs=args.costs, gpu=args.gpu,
                                  extrapolate_to=args.extrapolate_samples)
        print(summary(rep, out))
    for name, res in results["backends"].items():
        print(f"{name:>9}: final test error {100 * res['test_error'][-1]:.2f}%, "
              f"{np.median(res['samples_per_s']):.0f} samples/s; after 1 month: "
              f"{100 * res['retention']['1 month']['test_error']:.2f}%")
    print(f"results: {out / training.RESULTS_NAME} ({time.perf_counter() - t0:.0f} s)")
    return results


if __name__ == "__main__":
    main()
