"""The training loop shared by all back ends: epochs of jitted, scanned SGD, evaluation, checkpoints, resume.

`train_compare` trains the same MLP on several back ends (e.g. float and crossbar) side by side, with the
same initial weights and sample order, writes a checkpoint after every epoch (atomically) and resumes
from it to exactly the result of an uninterrupted run.
"""

from __future__ import annotations

import dataclasses
import time
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from crossbar.counters import Counters
from crossbar.events import Events, add_dicts
from crossbar.training import mlp
from crossbar.training.checkpoint import check_writable, load_pytree, save_json, save_pytree
from devices.pytree import strongly_typed

# Times after the last update at which the trained analog network is evaluated (retention).
RETENTION_TIMES = {"1 s": 1.0, "1 h": 3600.0, "1 day": 86400.0, "1 month": 30 * 86400.0}

CHECKPOINT_NAME = "checkpoint.npz"
RESULTS_NAME = "results.json"


def _epoch_order(seed: int, epoch: int, n: int, batch: int) -> np.ndarray:
    """The shuffled sample indices of an epoch, as [n_batches, batch]; the same for every back end."""
    order = np.random.default_rng([seed, epoch]).permutation(n)
    n_batches = n // batch
    return order[: n_batches * batch].reshape(n_batches, batch)


_RUNNERS: dict[tuple, _Runner] = {}


def _runner(cfg: mlp.MLPConfig, backend) -> _Runner:
    """The jitted functions of (cfg, back end), shared by every run in this process (compiled once).

    Back ends that declare `layers_carry_configuration` read everything their jitted steps need from the layers
    they are given (a crossbar layer carries its array configuration, device parameters included, as pytree
    leaves), so every back end of that class shares one set of jitted functions: a study of tens of devices
    traces and compiles once per structure (shapes, static fields), not once per parameter value. Neither the
    number of epochs nor the seed enters the steps (the key and the lr are arguments).
    """
    shared = type(backend) if getattr(backend, "layers_carry_configuration", False) else backend
    key = (dataclasses.replace(cfg, epochs=1, seed=0), shared)
    if key not in _RUNNERS:
        if len(_RUNNERS) >= 16:
            _RUNNERS.pop(next(iter(_RUNNERS)))  # the oldest: a long session does not keep every compilation
        _RUNNERS[key] = _Runner(key[0], backend)
    return _RUNNERS[key]


class _Runner:
    """Jitted train/evaluate functions of one back end (compiled once, reused every epoch)."""

    def __init__(self, cfg: mlp.MLPConfig, backend):
        self.train = jax.jit(partial(mlp.train_samples, cfg, backend))
        self.predict = jax.jit(partial(mlp.predict, cfg, backend))
        self.advance = jax.jit(partial(mlp.advance, backend))

    def test_error(self, layers, x, y, key, batch: int) -> tuple[float, Counters]:
        """Error rate (fraction) on x, y, read in fixed-size batches (the last one padded)."""
        wrong, counters = 0, Counters.zeros(len(layers))
        for start in range(0, len(x), batch):
            xb = x[start:start + batch]
            n = len(xb)
            if n < batch:
                xb = np.concatenate([xb, np.zeros((batch - n, x.shape[1]), x.dtype)])
            pred, c = self.predict(layers, xb, jax.random.fold_in(key, start))
            wrong += int(np.sum(np.asarray(pred)[:n] != y[start:start + n]))
            counters = counters + c
        return wrong / len(x), counters


def _without_version(meta: dict) -> dict:
    return {k: v for k, v in meta.items() if k != "code_version"}


def train_compare(cfg: mlp.MLPConfig, backends: dict, data, *, out_dir=None, resume: bool = False,
                  chunk: int = 2000, eval_batch: int = 500, progress: bool = True,
                  retention_times: dict[str, float] | None = None, meta: dict | None = None) -> dict:
    """Train the MLP `cfg` on every back end, epoch by epoch, and return the results.

    Args:
        cfg: Network and schedule (validated against the data here).
        backends: {name: back end}, e.g. {"float": FloatBackend(), "crossbar": CrossbarBackend(...)}.
        data: A `crossbar.training.data.Dataset`.
        out_dir: Where the checkpoint and results.json go (None: nothing is written).
        resume: Continue from the checkpoint in `out_dir`; its configuration must match except for `epochs`,
            which may grow.
        chunk: Samples per jitted call (progress is reported between calls).
        eval_batch: Test samples per analog read batch.
        progress: Show a progress bar.
        retention_times: {label: seconds} after training at which to evaluate (default RETENTION_TIMES).
        meta: Extra JSON-able description stored in the results (dataset, device, command line...).

    Returns:
        Results dict: `config`, `meta`, `epochs_done`, and per back end `train_loss`, `test_error`
        (per epoch), `initial_test_error`, `wall_time_s`, `samples_per_s`, `counters`, `retention`, and
        `events`: {"train": [per layer], "eval": [per layer]} physical event counts (`crossbar.events.Events`,
        summed over every epoch's training samples and test-set reads; priced by `crossbar.energy`) and
        `train_samples`.
    """
    cfg.validate(data.n_features, data.n_classes)
    if out_dir is not None:
        out_dir = check_writable(out_dir)  # fail before any training, not after the first epoch
    retention_times = RETENTION_TIMES if retention_times is None else retention_times
    root = jax.random.key(cfg.seed)
    # The number of epochs does not enter the step functions: runs that differ only there share them.
    runners = {name: _runner(cfg, b) for name, b in backends.items()}
    # Strongly typed from the start, as the steps return them: each step compiles once, not twice.
    layers = {name: strongly_typed(mlp.init_network(cfg, b, jax.random.fold_in(root, 0)))
              for name, b in backends.items()}
    config_json = {**dataclasses.asdict(cfg), "sizes": list(cfg.sizes)}
    results = {"config": config_json, "meta": meta or {}, "epochs_done": 0,
               "backends": {name: {"train_loss": [], "test_error": [], "samples_per_s": [], "wall_time_s": 0.0,
                                   "counters": Counters.zeros().as_dict()} for name in backends}}
    ckpt = Path(out_dir) / CHECKPOINT_NAME if out_dir is not None else None
    if resume:
        if ckpt is None or not ckpt.exists():
            raise ValueError(f"--resume: no checkpoint at {ckpt}")
        layers, saved = load_pytree(ckpt, layers)
        # More epochs may be asked for on resume; everything else must match the checkpoint.
        # Settings added since a checkpoint was written take their defaults (a run without them used those).
        if ({"rule": "backprop", "feedback": "digital", **saved["config"], "epochs": cfg.epochs} != config_json
                or _without_version(saved["meta"]) != _without_version(results["meta"])):
            raise ValueError(f"--resume: the checkpoint at {ckpt} was made with another configuration: "
                             f"{saved['config']} / {saved['meta']}")
        results = {**saved, "config": config_json}
    x_train, y_train = data.x_train, data.y_train
    for name, runner in runners.items():
        if "initial_test_error" not in results["backends"][name]:
            err, _ = runner.test_error(layers[name], data.x_test, data.y_test, jax.random.fold_in(root, 1),
                                       eval_batch)
            results["backends"][name]["initial_test_error"] = err

    for epoch in range(results["epochs_done"], cfg.epochs):
        order = _epoch_order(cfg.seed, epoch, len(x_train), cfg.batch_size)
        lr = cfg.lr * cfg.lr_decay ** epoch
        for b_index, (name, runner) in enumerate(runners.items()):
            res = results["backends"][name]
            epoch_key = jax.random.fold_in(jax.random.fold_in(root, 2 + epoch), b_index)
            n_layers = len(layers[name])
            losses, counters, t0 = [], Counters.zeros(n_layers), time.perf_counter()
            events = res.setdefault("events", {"train": None, "eval": None})
            bar = tqdm(total=order.size, unit="sample", disable=not progress, leave=False,
                       desc=f"epoch {epoch + 1}/{cfg.epochs} {name}")
            batches_per_chunk = max(1, chunk // cfg.batch_size)
            for c, start in enumerate(range(0, len(order), batches_per_chunk)):
                idx = order[start:start + batches_per_chunk]
                layers[name], loss, cnt = runner.train(layers[name], x_train[idx], y_train[idx], lr,
                                                       jax.random.fold_in(epoch_key, c))
                losses.append(np.asarray(loss))
                counters = counters + cnt
                # Summed on the host in float64 per chunk: a run's counts outgrow float32's exact integers.
                events["train"] = add_dicts(events["train"], cnt.events.as_dicts())
                bar.update(idx.size)
                bar.set_postfix(loss=f"{float(np.mean(losses[-1])):.3f}")
            bar.close()
            elapsed = time.perf_counter() - t0
            err, read_counters = runner.test_error(layers[name], data.x_test, data.y_test,
                                                   jax.random.fold_in(epoch_key, 2**31), eval_batch)
            res["train_loss"].append(float(np.mean(np.concatenate(losses))))
            res["test_error"].append(err)
            res["samples_per_s"].append(order.size / elapsed)
            res["wall_time_s"] += elapsed
            res["train_samples"] = res.get("train_samples", 0) + int(order.size)
            events["eval"] = add_dicts(events["eval"], read_counters.events.as_dicts())
            total = Counters(**res["counters"], events=Events.zeros(n_layers)) + counters + read_counters
            res["counters"] = total.as_dict()
            if progress:
                tqdm.write(f"epoch {epoch + 1}/{cfg.epochs} {name:>9}: train loss {res['train_loss'][-1]:.4f}, "
                           f"test error {100 * err:.2f}%, {res['samples_per_s'][-1]:.0f} samples/s")
        results["epochs_done"] = epoch + 1
        if ckpt is not None:
            save_pytree(ckpt, layers, results)
            save_json(Path(out_dir) / RESULTS_NAME, results)

    for b_index, (name, runner) in enumerate(runners.items()):
        res = results["backends"][name]
        res["retention"] = {}
        for label, seconds in retention_times.items():
            later = runner.advance(layers[name], jnp.float32(seconds))
            err, _ = runner.test_error(later, data.x_test, data.y_test, jax.random.fold_in(root, 10 + b_index),
                                       eval_batch)
            res["retention"][label] = {"seconds": seconds, "test_error": err}
    if out_dir is not None:
        save_json(Path(out_dir) / RESULTS_NAME, results)
    results["layers"] = layers
    return results
