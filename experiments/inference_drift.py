"""After training: a float-trained and a hardware-aware-trained MLP programmed onto PCM and RRAM, read from 1 s to
1 year, without drift compensation, with global and with per-column compensation, over several programming seeds.

Usage:
    python -m experiments.inference_drift --mnist-dir DIR                 # MNIST, 784-256-128-10, a few minutes
    python -m experiments.inference_drift --dataset digits --epochs 3     # the embedded 8x8 digits, quick
    python -m experiments.inference_drift --mnist-dir DIR --resume        # continue an interrupted run
    python -m experiments.inference_drift --mnist-dir DIR --network cnn   # the GOH2017 CNN instead

Steps: (1) train the MLP in float and with hardware-aware noise (`crossbar.nn.HWADense`: weight noise relative to
max |W| and the chip's periphery in the forward pass) with `crossbar.training.train_compare` (its checkpoint makes
training resumable); (2) for every network, device and programming seed, program it (`crossbar.inference.program`),
read it at every time (`at_time`) with each compensation, and count the test error; each (network, device, seed)
is written atomically to `runs/` when done and skipped on `--resume`. Writes `results.json`, `table.md` (mean and
std over seeds of the test error in %) and `test_error.png`.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from crossbar import inference
from crossbar.nn import HWANoise
from crossbar.periphery import Periphery
from crossbar.training import CHECKPOINT_NAME, mlp, train_compare
from crossbar.training import data as datasets
from crossbar.training.backends import FloatBackend, HWABackend
from crossbar.training.checkpoint import check_writable, save_json
from devices.io import save_figure
from experiments import inference_cnn

TIMES = {"1 s": 1.0, "1 h": 3600.0, "1 day": 86400.0, "1 month": 30 * 86400.0, "1 year": 365 * 86400.0}
DEVICES = {"pcm": inference.PCMNoise, "rram_cmo": inference.CMONoise}
NETWORKS = ("float", "hwa")
# Per network: epochs, batch and lr (the CNN's are experiments.train_cnn's), and the output folder.
DEFAULTS = {"mlp": {"epochs": 10, "batch_size": 32, "lr": 0.3, "out": "experiments/results/inference_drift"},
            "cnn": {"epochs": 3, "batch_size": 16, "lr": 0.05, "out": "experiments/results/inference_drift_cnn"}}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m experiments.inference_drift", description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--dataset", default="mnist", help=f"one of {', '.join(datasets.LOADERS)}")
    p.add_argument("--mnist-dir", default=os.environ.get(datasets.MNIST_DIR_ENV) or "data/mnist",
                   help=f"directory of the MNIST IDX files (else ${datasets.MNIST_DIR_ENV})")
    p.add_argument("--limit-train", type=int, default=None, help="first N training samples only")
    p.add_argument("--network", default="mlp", choices=("mlp", "cnn"),
                   help="the MLP (784-256-128-10) or the GOH2017 CNN (experiments.lenet; MNIST only)")
    p.add_argument("--epochs", type=int, default=None, help=f"default: {DEFAULTS['mlp']['epochs']} (mlp), "
                                                            f"{DEFAULTS['cnn']['epochs']} (cnn)")
    p.add_argument("--batch-size", type=int, default=None, help=f"default: {DEFAULTS['mlp']['batch_size']} (mlp), "
                                                                f"{DEFAULTS['cnn']['batch_size']} (cnn)")
    p.add_argument("--lr", type=float, default=None,
                   help=f"learning rate of the batch-mean loss; default: {DEFAULTS['mlp']['lr']} (mlp), "
                        f"{DEFAULTS['cnn']['lr']} (cnn)")
    p.add_argument("--hidden", type=int, nargs="*", default=[256, 128], help="the MLP's hidden layers")
    p.add_argument("--hwa-weight-noise", type=float, default=0.06,
                   help="HWA training's weight noise, relative to each layer's max |W|")
    p.add_argument("--seeds", type=int, default=8, help="programming seeds per network and device")
    p.add_argument("--devices", nargs="*", default=list(DEVICES), choices=list(DEVICES))
    p.add_argument("--seed", type=int, default=0, help="seed of the training runs")
    p.add_argument("--out", default=None, help="default: experiments/results/inference_drift (mlp), "
                                               "experiments/results/inference_drift_cnn (cnn)")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    return p


def load_data(args):
    if args.dataset == "mnist":
        return datasets.load_mnist(args.mnist_dir, limit_train=args.limit_train)
    return datasets.load(args.dataset)


def train(args, data, out: Path) -> dict:
    """Train float and HWA networks (resumable); their layers and results."""
    cfg = mlp.MLPConfig(sizes=(data.n_features, *args.hidden, data.n_classes), activation="sigmoid", lr=args.lr,
                        epochs=args.epochs, batch_size=args.batch_size, seed=args.seed, time_per_sample=0.0)
    # The periphery of the chip (7-bit DAC, 9-bit ADC, output noise 0.06 of a full-scale weight, bound 12) and the
    # weight noise, both in units of each layer's max |W|, the scale the inference mapping uses.
    hwa = HWANoise(weight_noise=args.hwa_weight_noise, periphery=Periphery())
    backends = {"float": FloatBackend(), "hwa": HWABackend(noise=hwa)}
    train_dir = out / "train"
    resume = args.resume and (train_dir / CHECKPOINT_NAME).exists()
    return train_compare(cfg, backends, data, out_dir=train_dir, resume=resume, progress=not args.no_progress,
                         retention_times={}, meta={"dataset": data.name, "hwa_weight_noise": args.hwa_weight_noise})


# Compiled once per structure and reused by every network, device and seed.
_program = jax.jit(inference.program)
_read = jax.jit(inference.at_time, static_argnames=("compensation",))


@functools.lru_cache(maxsize=4)
def _forward(cfg: mlp.MLPConfig):
    return jax.jit(lambda p, x, k: mlp.forward(cfg, None, p, x, k)[0])


@functools.lru_cache(maxsize=1)
def _cnn_forward():
    return jax.jit(inference_cnn.forward)


def evaluate(forward, layers, noise, seed: int, data, progress) -> dict:
    """Test error at every time and compensation for one programming of `layers` on `noise`, read by
    `forward(params, x, key) -> logits`."""
    read = _read
    key = jax.random.key(1000 + seed)
    programmed = _program(layers, noise, jax.random.fold_in(key, 0))
    out = {}
    for i, (label, seconds) in enumerate(TIMES.items()):
        for j, comp in enumerate(inference.COMPENSATIONS):
            # One conductance snapshot per time (shared by the compensations: they read the same chip).
            snapshot = read(programmed, jnp.float32(seconds), jax.random.fold_in(key, 1 + i), compensation=comp)
            err = inference.test_error(forward, snapshot, data.x_test, data.y_test,
                                       jax.random.fold_in(key, 100 + 10 * i + j))
            out.setdefault(comp, {})[label] = err
            progress.update(1)
    return out


def summarise(runs: dict, devices, seeds: int) -> dict:
    """{network: {device: {compensation: {time: (mean, std) in %}}}} over seeds."""
    table = {}
    for net in NETWORKS:
        for dev in devices:
            for comp in inference.COMPENSATIONS:
                for label in TIMES:
                    errs = [100 * runs[f"{net}_{dev}_{s}"][comp][label] for s in range(seeds)]
                    table.setdefault(net, {}).setdefault(dev, {}).setdefault(comp, {})[label] = (
                        float(np.mean(errs)), float(np.std(errs)))
    return table


def markdown(table: dict, float_errors: dict) -> str:
    lines = ["| network | device | compensation | " + " | ".join(TIMES) + " |",
             "|---|---|---|" + "---|" * len(TIMES)]
    for net, by_dev in table.items():
        for dev, by_comp in by_dev.items():
            for comp, by_time in by_comp.items():
                cells = [f"{m:.2f} ± {s:.2f}" for m, s in by_time.values()]
                lines.append(f"| {net} | {dev} | {comp} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Test error (%) of each network's weights in exact float arithmetic, before programming: "
                 + ", ".join(f"{k} {100 * v:.2f}" for k, v in float_errors.items()) + ".")
    return "\n".join(lines) + "\n"


def figure(table: dict, float_errors: dict, path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    devices = list(next(iter(table.values())))
    fig, axes = plt.subplots(1, len(devices), figsize=(5.5 * len(devices), 4.2), sharey=False, squeeze=False)
    t = np.array(list(TIMES.values()))
    styles = {"none": ":", "global": "-", "column": "--"}
    colors = {"float": "tab:blue", "hwa": "tab:red"}
    for ax, dev in zip(axes[0], devices, strict=True):
        for net in table:
            for comp, style in styles.items():
                mean, std = np.array(list(table[net][dev][comp].values())).T
                ax.errorbar(t, mean, yerr=std, ls=style, color=colors[net], marker="o", ms=3, capsize=2,
                            label=f"{net}, {comp}")
            ax.axhline(100 * float_errors[net], color=colors[net], lw=0.8, alpha=0.5)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(t, list(TIMES))
        ax.set_xlabel("time after programming")
        ax.set_ylabel("test error (%)")
        ax.set_title(dev)
        ax.grid(alpha=0.3, which="both")
    axes[0][0].legend(fontsize=7, title="network, compensation (thin: its float weights, exact)", title_fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)


def _trained_networks(args, data, out: Path) -> dict:
    """Train (or resume) both networks of `args.network`; their float layers, forward function and description."""
    hwa = HWANoise(weight_noise=args.hwa_weight_noise, periphery=Periphery())
    if args.network == "cnn":
        args.hwa_noise = hwa
        networks, res = inference_cnn.train_pair(args, data, out / "train")
        config = {"network": "GOH2017 CNN (experiments.lenet)", "epochs": args.epochs, "batch_size": args.batch_size,
                  "lr": args.lr, "seed": args.seed}
        return {"networks": networks, "forward": _cnn_forward(), "config": config,
                "trained_as": {"config": config, "epochs_done": {k: v["epochs_done"] for k, v in res.items()}},
                "train": {net: {"train_loss": res[net]["train_loss"]} for net in NETWORKS}}
    trained = train(args, data, out)
    cfg = mlp.MLPConfig(**{**trained["config"], "sizes": tuple(trained["config"]["sizes"])})
    # Programmed are the clean float weights of both networks (the HWA wrapper is training only).
    networks = {"float": trained["layers"]["float"], "hwa": tuple(layer.dense for layer in trained["layers"]["hwa"])}
    return {"networks": networks, "forward": _forward(cfg), "config": trained["config"],
            "trained_as": {"config": trained["config"], "epochs_done": trained["epochs_done"]},
            "train": {net: {k: trained["backends"][net][k] for k in ("train_loss", "test_error")} for net in NETWORKS}}


def run(args) -> dict:
    if args.network == "cnn" and args.dataset != "mnist":
        raise ValueError(f"--network cnn takes 28x28 images: --dataset must be mnist; got --dataset {args.dataset}")
    for name, value in DEFAULTS[args.network].items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    out = check_writable(args.out)
    data = load_data(args)
    trained = _trained_networks(args, data, out)
    networks, forward, trained_as = trained["networks"], trained["forward"], trained["trained_as"]
    float_errors = {net: inference.test_error(forward, networks[net], data.x_test, data.y_test, jax.random.key(0))
                    for net in NETWORKS}
    runs_dir = out / "runs"
    runs_dir.mkdir(exist_ok=True)
    runs = {}
    todo = [(net, dev, s) for net in NETWORKS for dev in args.devices for s in range(args.seeds)]
    bar = tqdm(total=len(todo) * len(TIMES) * len(inference.COMPENSATIONS), unit="eval",
               disable=args.no_progress, desc="program, drift, read")
    for net, dev, s in todo:
        name = f"{net}_{dev}_{s}"
        path = runs_dir / f"{name}.json"
        saved = json.loads(path.read_text()) if args.resume and path.exists() else None
        if saved is not None and saved.get("trained") == trained_as:  # made from these very networks
            runs[name] = saved["test_error"]
            bar.update(len(TIMES) * len(inference.COMPENSATIONS))
            continue
        runs[name] = evaluate(forward, networks[net], DEVICES[dev](), s, data, bar)
        save_json(path, {"trained": trained_as, "test_error": runs[name]})
    bar.close()
    table = summarise(runs, args.devices, args.seeds)
    results = {"command": "python -m experiments.inference_drift " + " ".join(sys.argv[1:]), "dataset": data.name,
               "network": args.network, "config": trained["config"], "hwa_weight_noise": args.hwa_weight_noise,
               "seeds": args.seeds, "times_s": TIMES, "float_test_error": float_errors, "table_percent": table,
               "runs": runs, "train": trained["train"]}
    save_json(out / "results.json", results)
    (out / "table.md").write_text(markdown(table, float_errors))
    figure(table, float_errors, out / "test_error.png")
    return results


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    results = run(args)
    print(markdown(results["table_percent"], results["float_test_error"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
