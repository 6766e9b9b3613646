"""The GOH2017 CNN (`experiments.lenet`) trained in float and hardware-aware for the inference-drift study.

Both twins start from the same weights (`lenet.float_network`); the HWA one has every layer wrapped in
`crossbar.nn.HWADense` (`crossbar.nn.hardware_aware`). Training is plain SGD (`crossbar.nn.analog_sgd`, which
updates float layers exactly), epoch by epoch, with a checkpoint per network after every epoch (atomic, resumable).
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from crossbar import nn
from crossbar.training.checkpoint import load_pytree, save_pytree
from devices.pytree import strongly_typed
from experiments import lenet


def forward(params, x, key):
    """[batch, 10] logits of images x [batch, 784]."""
    return lenet.logits(params, x, key)


def _steps(opt, params, opt_state, xs, ys, keys):
    """len(keys) SGD steps over batches xs [steps, B, 784], ys [steps, B]; the mean loss."""
    def one(carry, batch):
        params, opt_state = carry
        x, y, key = batch
        k_read, k_update = jax.random.split(key)
        value, grads = jax.value_and_grad(lenet.loss, allow_int=True)(params, x, y, k_read)
        params, opt_state, _ = opt.update(grads, opt_state, params, k_update)
        return (params, opt_state), value

    (params, opt_state), losses = jax.lax.scan(one, (params, opt_state), (xs, ys, keys))
    return params, opt_state, jnp.mean(losses)


def train(name: str, params, data, *, epochs: int, batch: int, lr: float, seed: int, out: Path, resume: bool,
          progress: bool, steps_per_call: int = 100) -> tuple[dict, dict]:
    """Train `params` (the CNN, tapes for `batch`) for `epochs`; (trained params, {train_loss, epochs_done})."""
    opt = nn.analog_sgd(lr)
    params = strongly_typed(params)
    opt_state = strongly_typed(opt.init(params))
    res = {"train_loss": [], "epochs_done": 0}
    ckpt = out / f"checkpoint_{name}.npz"
    if resume and ckpt.exists():
        (params, opt_state), meta = load_pytree(ckpt, (params, opt_state))
        res = meta["results"]
    chunk = jax.jit(lambda p, s, xs, ys, ks: _steps(opt, p, s, xs, ys, ks))
    n_steps = len(data.y_train) // batch
    root = jax.random.fold_in(jax.random.key(seed), 1)
    for epoch in range(res["epochs_done"], epochs):
        k_epoch = jax.random.fold_in(root, epoch)
        # The same sample order for both twins (the key does not depend on the network).
        order = np.asarray(jax.random.permutation(jax.random.fold_in(k_epoch, 0), len(data.y_train)))
        order = order[: n_steps * batch]
        xs, ys = data.x_train[order].reshape(n_steps, batch, -1), data.y_train[order].reshape(n_steps, batch)
        keys = jax.random.split(jax.random.fold_in(k_epoch, 1), n_steps)
        losses = []
        bar = tqdm(total=n_steps * batch, unit="image", disable=not progress, leave=False,
                   desc=f"cnn {name} epoch {epoch + 1}/{epochs}")
        for s in range(0, n_steps, steps_per_call):
            e = min(s + steps_per_call, n_steps)
            params, opt_state, loss = chunk(params, opt_state, jnp.asarray(xs[s:e]), jnp.asarray(ys[s:e]), keys[s:e])
            losses.append(float(loss) * (e - s))
            bar.update((e - s) * batch)
        bar.close()
        res["train_loss"].append(sum(losses) / n_steps)
        res["epochs_done"] = epoch + 1
        save_pytree(ckpt, (params, opt_state), meta={"results": res})
        tqdm.write(f"cnn {name} epoch {epoch + 1}/{epochs}: train loss {res['train_loss'][-1]:.4f}")
    return params, res


def train_pair(args, data, out: Path) -> tuple[dict, dict]:
    """Float and HWA CNNs ({name: params with float layers}, {name: training results})."""
    out.mkdir(parents=True, exist_ok=True)
    base = lenet.float_network(jax.random.key(args.seed), args.batch_size)
    nets = {"float": base, "hwa": nn.hardware_aware(base, args.hwa_noise)}
    trained, results = {}, {}
    for name, params in nets.items():
        params, results[name] = train(name, params, data, epochs=args.epochs, batch=args.batch_size, lr=args.lr,
                                      seed=args.seed, out=out, resume=args.resume, progress=not args.no_progress)
        trained[name] = nn.with_batch(nn.float_layers(params), None)
    return trained, results
