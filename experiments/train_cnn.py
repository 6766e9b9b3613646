"""Train the GOH2017 convolutional network on MNIST in floating point and on crossbars, side by side.

The network is `experiments.lenet` (2 convolutions with 16 and 32 kernels, 2 dense layers, every bias on its
array). Each back end trains with `crossbar.nn.analog_sgd` (pulsed updates of the crossbar layers, summed over
a mini-batch's patches by default: `PulseUpdate.batch_mode`); the float twin takes plain SGD at the same rate. With
`--algorithm` other than sgd, every crossbar layer, the convolutions included, is trained by that transfer algorithm
(`crossbar.transfer`) on two arrays, A and C, of the device (`lenet.transfer_network`; each patch one sample of
the algorithm); its hyperparameters default to `experiments.train_mlp.ALGORITHM_DEFAULTS`, overridden by `--hyper`.

Usage:
    python -m experiments.train_cnn --mnist-dir DIR                 # 5 epochs of MNIST, both back ends
    python -m experiments.train_cnn --mnist-dir DIR --out DIR --resume   # continue an interrupted run
    python -m experiments.train_cnn --mnist-dir DIR --limit-train 2000 --epochs 1   # a quick look
    python -m experiments.train_cnn --mnist-dir DIR --energy        # also the run's energy on the chip
    python -m experiments.train_cnn --mnist-dir DIR --algorithm c_ttv2 --device soft_bounds --lr 0.5   # c-TTv2
    python -m experiments.train_cnn --mnist-dir DIR --algorithm agad --hyper in_chop_prob=0.05   # AGAD, changed

Writes to `--out`: `results.json` (per back end and epoch: train loss, test error, wall time; configuration
and command), `checkpoint_<backend>.npz` after every epoch (atomically, a transfer algorithm's A, C, buffers and
choppers included; `--resume` continues to the same result as an uninterrupted run) and `test_error.png`; every
back end's results hold the physical events its training counted, per layer (`events.train`). With `--energy`
also `energy.json`, `energy.md` and `energy.png`: the crossbar run's energy and time on the simulated chip by
component and layer, beside a GPU doing the same im2col FLOPs (`experiments.energy`).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small matrices: BLAS threading only adds noise

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from dataclasses import replace  # noqa: E402
from functools import partial  # noqa: E402
from pathlib import Path  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from crossbar import energy, nn  # noqa: E402
from crossbar.counters import Counters, stack_layers  # noqa: E402
from crossbar.events import add_dicts  # noqa: E402
from crossbar.periphery import Periphery  # noqa: E402
from crossbar.presets import ARRAY_PRESETS  # noqa: E402
from crossbar.training import data as datasets  # noqa: E402
from crossbar.training.backends import CrossbarBackend, TransferBackend  # noqa: E402
from crossbar.training.checkpoint import check_writable, load_pytree, save_json, save_pytree  # noqa: E402
from crossbar.transfer.compound import REFERENCES  # noqa: E402
from crossbar.update import PulseUpdate  # noqa: E402
from devices.io import save_figure  # noqa: E402
from devices.presets import device_names, make_device  # noqa: E402
from devices.pytree import strongly_typed  # noqa: E402
from devices.validation import check_choice, check_int, check_nonnegative, check_positive  # noqa: E402
from experiments import lenet  # noqa: E402
from experiments.energy import add_energy_arguments, energy_options, summary, write_report  # noqa: E402
from experiments.train_mlp import add_algorithm_arguments, algorithm_from_args  # noqa: E402

BACKENDS = ("float", "crossbar")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m experiments.train_cnn", description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--mnist-dir", default=None,
                   help=f"directory of the MNIST IDX files (else ${datasets.MNIST_DIR_ENV})")
    p.add_argument("--limit-train", type=int, default=None, help="use only the first N training images")
    p.add_argument("--limit-test", type=int, default=None, help="use only the first N test images")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=0.05, help="learning rate (also sets the pulse probabilities)")
    p.add_argument("--device", default="gokmen_vlasov", help=f"a preset or model: {', '.join(device_names())}")
    p.add_argument("--w-max", type=float, default=None,
                   help="weight of one device's full range (default 0.6, or the device's array preset's)")
    p.add_argument("--pair", default=None, choices=("reference", "differential"),
                   help="weights against a reference column, or G+ / G- pairs (default reference, or the device's "
                        "array preset's)")
    p.add_argument("--batch-mode", default="auto", choices=("auto", "sequential", "summed"),
                   help="how a batch's patches are pulsed (PulseUpdate.batch_mode)")
    p.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated subset of float,crossbar")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps-per-call", type=int, default=50, help="training steps per jitted call (progress)")
    p.add_argument("--out", default="results/train_cnn", help="output directory")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoints in --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_algorithm_arguments(p)
    add_energy_arguments(p)
    return p


def check_args(args) -> None:
    """ValueError naming the first bad argument (before any data is loaded or anything is trained)."""
    for name in ("epochs", "batch_size", "steps_per_call"):
        check_int(name, getattr(args, name), 1)
    check_positive("lr", args.lr)
    if args.w_max is not None:
        check_positive("w_max", args.w_max)
    bad = set(args.backends.split(",")) - set(BACKENDS)
    if bad or not args.backends:
        raise ValueError(f"--backends must be a comma-separated subset of {','.join(BACKENDS)}; got {args.backends!r}")
    algorithm_from_args(args)  # an unknown algorithm or hyperparameter fails here
    check_choice("reference", args.reference, REFERENCES)
    check_nonnegative("reference_std", args.reference_std)


def crossbar_arrays(args) -> CrossbarBackend:
    """The arrays of `--device`: its array preset where it has one (`crossbar.presets`: e.g. `reram_sb_aihwkit`'s
    layout, converters and BL 31 with update management, as `experiments.train_mlp` applies it), else a reference
    column (or `--pair`) at w_max 0.6 (or `--w-max`) with the default periphery; `--batch-mode` either way."""
    preset = ARRAY_PRESETS[args.device]() if args.device in ARRAY_PRESETS else {}
    update = preset.get("update_scheme", PulseUpdate())
    return CrossbarBackend(device=make_device(args.device),
                           w_max=args.w_max if args.w_max is not None else preset.get("w_max", 0.6),
                           pair=args.pair or preset.get("pair", "reference"),
                           periphery=preset.get("periphery", Periphery()),
                           periphery_backward=preset.get("periphery_backward"), dw_min=preset.get("dw_min"),
                           update_scheme=replace(update, batch_mode=args.batch_mode))


def make_network(name: str, args, batch: int):
    """The network of back end `name` ("float" or "crossbar") with tapes for `batch` images: on crossbars, every
    layer trained by `--algorithm` (`lenet.transfer_network`) where it is a transfer algorithm."""
    key = jax.random.key(args.seed)
    if name == "float":
        return lenet.float_network(key, batch)
    arrays = crossbar_arrays(args)
    algorithm, _ = algorithm_from_args(args)
    if algorithm is None:
        return lenet.analog_network(arrays.crossbar, key, batch)
    # A and C alike, the transfer reads through the arrays' converters without noise and bound management.
    backend = TransferBackend(arrays=arrays, algorithm=algorithm, reference=args.reference,
                              reference_std=args.reference_std)
    return lenet.transfer_network(backend.compound, algorithm, key, batch)


def _train_chunk(opt, params, opt_state, xs, ys, keys):
    """`len(keys)` SGD steps over batches xs [steps, B, 784], ys [steps, B].

    Returns:
        (params, opt_state, mean loss, counters: the counts summed, the events per layer [4, ...] in the order of
        `lenet.layer_shapes()`: forward reads, transpose reads, pulses and the digital work).
    """
    names = list(lenet.layer_shapes())
    ops = np.array([lenet.digital_ops(xs.shape[1])[name] for name in names], np.float32)

    def one(carry, batch):
        params, opt_state, total = carry
        x, y, key = batch
        k_read, k_update = jax.random.split(key)
        (value, reads), grads = jax.value_and_grad(partial(lenet.loss, return_counters=True), has_aux=True,
                                                   allow_int=True)(params, x, y, k_read)
        params, opt_state, updates = opt.update(grads, opt_state, params, k_update)
        # `opt` is analog_sgd(per_layer_counters=True): `updates` is {layer: its update's counters}.
        step = stack_layers([[reads[name], updates[name]] for name in names], ops)
        return (params, opt_state, total + step), value

    (params, opt_state, counters), losses = jax.lax.scan(one, (params, opt_state, Counters.zeros(len(names))),
                                                         (xs, ys, keys))
    return params, opt_state, jnp.mean(losses), counters


def _errors(params, x, y, key):
    return jnp.sum(jnp.argmax(lenet.logits(params, x, key), axis=1) != y)


def test_error(errors_fn, params, data, key, batch: int = 500) -> float:
    """Fraction of test images misclassified (analog reads with their noise)."""
    wrong = 0
    for i, start in enumerate(range(0, len(data.y_test), batch)):
        x, y = data.x_test[start:start + batch], data.y_test[start:start + batch]
        wrong += int(errors_fn(params, jnp.asarray(x), jnp.asarray(y), jax.random.fold_in(key, i)))
    return wrong / len(data.y_test)


def train_backend(name: str, args, data, out: Path, progress: bool) -> dict:
    """Train one back end epoch by epoch, checkpointing; returns its results (resumed where asked)."""
    b = args.batch_size
    n_steps = len(data.y_train) // b
    if n_steps < 1:
        raise ValueError(f"--batch-size {b} is larger than the {len(data.y_train)} training images")
    opt = nn.analog_sgd(args.lr, per_layer_counters=True)
    # Strongly typed from the start, as the chunk returns them: the chunk compiles once, not twice.
    params = strongly_typed(make_network(name, args, b))
    opt_state = strongly_typed(opt.init(params))
    res = {"train_loss": [], "test_error": [], "epoch_wall_s": []}
    ckpt = out / f"checkpoint_{name}.npz"
    if args.resume and ckpt.exists():
        (params, opt_state), meta = load_pytree(ckpt, (params, opt_state))
        res = meta["results"]
    # The run's physical events (summed on the host in float64: they outgrow float32's exact integers), the
    # samples they cover and the training time (test reads excluded), for the energy report.
    res.setdefault("events", {"train": None})
    res.setdefault("train_samples", 0)
    res.setdefault("wall_time_s", 0.0)
    res.setdefault("counters", Counters.zeros().as_dict())
    chunk = jax.jit(partial(_train_chunk, opt))
    errors = jax.jit(_errors)
    root = jax.random.fold_in(jax.random.key(args.seed), BACKENDS.index(name))
    if not res["test_error"]:
        res["initial_test_error"] = test_error(errors, params, data, jax.random.fold_in(root, 10**6))
    for epoch in range(len(res["test_error"]), args.epochs):
        t0 = time.perf_counter()
        k_epoch = jax.random.fold_in(root, epoch)
        order = np.asarray(jax.random.permutation(jax.random.fold_in(k_epoch, 0), len(data.y_train)))[: n_steps * b]
        xs = data.x_train[order].reshape(n_steps, b, -1)
        ys = data.y_train[order].reshape(n_steps, b)
        keys = jax.random.split(jax.random.fold_in(k_epoch, 1), n_steps)
        losses = []
        bar = tqdm(total=n_steps * b, unit="image", disable=not progress, leave=False,
                   desc=f"{name} epoch {epoch + 1}/{args.epochs}")
        for s in range(0, n_steps, args.steps_per_call):
            e = min(s + args.steps_per_call, n_steps)
            params, opt_state, loss, counters = chunk(params, opt_state, jnp.asarray(xs[s:e]), jnp.asarray(ys[s:e]),
                                                      keys[s:e])
            losses.append((float(loss), e - s))
            res["events"]["train"] = add_dicts(res["events"]["train"], counters.events.as_dicts())
            res["counters"] = {k: v + int(getattr(counters, k)) for k, v in res["counters"].items()}
            bar.update((e - s) * b)
        bar.close()
        res["train_samples"] += n_steps * b
        res["wall_time_s"] += time.perf_counter() - t0
        res["train_loss"].append(sum(v * n for v, n in losses) / n_steps)
        res["test_error"].append(test_error(errors, params, data, jax.random.fold_in(k_epoch, 2)))
        res["epoch_wall_s"].append(time.perf_counter() - t0)
        save_pytree(ckpt, (params, opt_state), meta={"results": res})
        tqdm.write(f"epoch {epoch + 1}/{args.epochs} {name:>8}: train loss {res['train_loss'][-1]:.4f}, "
                   f"test error {100 * res['test_error'][-1]:.2f}% ({res['epoch_wall_s'][-1]:.0f} s)")
    return res


def plot(results: dict, path: Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    n_epochs = 1
    for name, res in results["backends"].items():
        epochs = np.arange(1, len(res["test_error"]) + 1)
        n_epochs = max(n_epochs, len(epochs))
        ax.plot(epochs, 100 * np.asarray(res["test_error"]), "o-", label=f"{name} ({100 * res['test_error'][-1]:.2f}%)")
    ax.set(xlabel="epoch", ylabel="test error (%)", ylim=(0, None), xticks=np.arange(1, n_epochs + 1),
           title=f"GOH2017 CNN, {results['meta']['dataset']}\ndevice {results['meta']['device']}"
                 + (f", {results['meta']['algorithm']}" if "algorithm" in results["meta"] else ""))
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return save_figure(fig, path)


def energy_report(results: dict, args, out: Path) -> dict:
    """Price the crossbar run's counted events (`crossbar.energy`) beside the GPU's im2col FLOPs; write it."""
    run = results["backends"]["crossbar"]
    initial = make_network("crossbar", args, args.batch_size)
    (final, _), _ = load_pytree(out / "checkpoint_crossbar.npz", (initial, nn.analog_sgd(args.lr).init(initial)))
    names, shapes, reads = list(lenet.layer_shapes()), lenet.layer_shapes(), lenet.patches()
    specs = energy.layer_specs([initial[n] for n in names], [final[n] for n in names])
    report = energy.training_report(
        run, specs, None, costs=args.costs, gpu=args.gpu, float_run=results["backends"].get("float"),
        extrapolate_to=args.extrapolate_samples, batch_size=args.batch_size,
        matrices=[(*shapes[n], reads[n]) for n in names],
        network="GOH2017 CNN (" + ", ".join(f"{n} {shapes[n][0]}x{shapes[n][1]} x{reads[n]}" for n in names) + ")")
    report["meta"] = results["meta"]
    report["test_error"] = {name: r["test_error"][-1] for name, r in results["backends"].items()}
    return write_report(report, out, f"Energy and time of training the GOH2017 CNN ({results['meta']['dataset']})")


def main(argv: Sequence[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    check_args(args)
    out = check_writable(args.out)
    device = make_device(args.device)  # an unknown device fails here, before the data is read
    args.costs = energy_options(args, device)
    if args.energy and "crossbar" not in args.backends.split(","):
        raise ValueError("--energy prices the crossbar run: --backends must include crossbar")
    data = datasets.load_mnist(args.mnist_dir, limit_train=args.limit_train, limit_test=args.limit_test)
    meta = {"dataset": f"{data.name} ({len(data.y_train)} train, {len(data.y_test)} test)", "device": args.device,
            "command": " ".join(["python -m experiments.train_cnn", *(sys.argv[1:] if argv is None else argv)])}
    skip = {"out", "resume", "no_progress", "mnist_dir", "costs"}
    _, hyper = algorithm_from_args(args)
    if args.algorithm == "sgd":  # recorded only when a transfer algorithm trains, as before the option
        skip |= {"algorithm", "hyper", "reference", "reference_std"}
    else:
        meta.update({"algorithm": args.algorithm, "hyperparameters": hyper})
    config = {k: v for k, v in vars(args).items() if k not in skip}
    results = {"config": config, "meta": meta, "network": lenet.layer_shapes(), "backends": {}}
    for name in args.backends.split(","):
        results["backends"][name] = train_backend(name, args, data, out, not args.no_progress)
        save_json(out / "results.json", results)
    plot(results, out / "test_error.png")
    if args.energy:
        print(summary(energy_report(results, args, out), out))
    return results


if __name__ == "__main__":
    main()
