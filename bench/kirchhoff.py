"""Benchmark: reads and training through wires (the JAX Kirchhoff solve) against ideal wires, in one run.

    python bench/kirchhoff.py [--out bench/results/kirchhoff.json] [--quick] [--mnist-dir DIR]

1. The GV2016 first layer, 785 x 256 against a reference column, r_row = r_col = 2.5 ohm per segment: the jitted
   `array.forward` with wires against the same read with ideal wires, at batch 1 and 64, for the `gokmen_vlasov`
   device (5-15 uS) and the same device at 1/100 of its conductance (50-150 nS, about 10 MOhm). Medians and the
   ratio, with the solve's iterations and the IR drop (relative change of the outputs).
2. Scaling: one solve (`read_currents`, batch 1) of an N x N array from 64 to 1024 lines, at two conductances,
   against the ideal product: time, iterations and IR drop.
3. Training: samples/s of the GV2016 network (784-256-128-10, batch 1) with and without wires (MNIST when
   `--mnist-dir` holds it, else uniform random images), the 1/100-conductance device, as one `lax.scan`.
4. Cached wired reads (`WireResistance.refresh_every`): the layer's read and the network's training through the
   cached effect of the wires, beside 1 and 3, and the time of one refresh of the network's three arrays; the
   training rate with a refresh every N writes follows as 1 / (1 / rate + refresh / N).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small matrices: BLAS threading only adds noise

import argparse  # noqa: E402
import dataclasses  # noqa: E402
from functools import partial  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from _common import machine, median_seconds  # noqa: E402  (this folder's helper)

from crossbar import array  # noqa: E402
from crossbar.circuit import WireResistance, cache, read_currents  # noqa: E402
from crossbar.training import mlp  # noqa: E402
from crossbar.training.backends import CrossbarBackend  # noqa: E402
from crossbar.training.checkpoint import save_json  # noqa: E402
from crossbar.training.data import load_mnist  # noqa: E402
from devices import presets  # noqa: E402

WIRES = WireResistance(r_row=2.5, r_col=2.5)
CACHED = WireResistance(r_row=2.5, r_col=2.5, refresh_every=10**9)  # timed between refreshes
REFRESH_EVERY = (1000, 10000, 60000)


def _devices() -> dict:
    gv = presets.gokmen_vlasov()
    scaled = dataclasses.replace(gv, g_min=gv.g_min / 100, g_max=gv.g_max / 100, dg=gv.dg / 100)
    return {"gokmen_vlasov (5-15 uS)": gv, "gokmen_vlasov / 100 (50-150 nS)": scaled}


def layer_reads(repeats: int) -> list[dict]:
    rows = []
    for name, device in _devices().items():
        ideal = array.make_crossbar(device, 785, 256, pair="reference")
        wired = dataclasses.replace(ideal, wires=WIRES)
        state = array.init(ideal, jax.random.key(0), jax.random.uniform(jax.random.key(1), (785, 256),
                                                                          minval=-0.3, maxval=0.3))
        for batch in (1, 64):
            x = jax.random.uniform(jax.random.key(2), (batch, 785))
            cached = dataclasses.replace(ideal, wires=CACHED)
            reads = {label: jax.jit(lambda s, v, k, xb=xb: array.forward(xb, s, v, k)) for label, xb in
                     (("ideal", ideal), ("wired", wired), ("cached", cached))}
            states = {"ideal": state, "wired": state, "cached": array.init(cached, jax.random.key(0), array.weights(
                ideal, state))}
            t = {label: median_seconds(f, states[label], x, jax.random.key(3), repeats=repeats)
                 for label, f in reads.items()}
            y_ideal = np.asarray(reads["ideal"](state, x, jax.random.key(3))[0])
            y_wired = np.asarray(reads["wired"](state, x, jax.random.key(3))[0])
            g_plus, g_ref = array.conductances(ideal, state)
            _, stats = read_currents(jnp.concatenate([g_plus, g_ref], 1), x * ideal.v_read,
                                     WireResistance(2.5, 2.5), return_stats=True)
            y_cached = np.asarray(reads["cached"](states["cached"], x, jax.random.key(3))[0])
            rows.append({"device": name, "batch": batch, "ideal_s": t["ideal"], "wired_s": t["wired"],
                         "ratio": t["wired"] / t["ideal"], "iterations": int(stats.iterations),
                         "ir_drop": float(np.linalg.norm(y_wired - y_ideal) / np.linalg.norm(y_ideal)),
                         "cached_s": t["cached"], "cached_ratio": t["cached"] / t["ideal"],
                         "cached_error": float(np.linalg.norm(y_cached - y_wired) / np.linalg.norm(y_wired - y_ideal))})
            r = rows[-1]
            print(f"785x256 {name:32s} batch {batch:3d}: ideal {1e3 * r['ideal_s']:8.3f} ms, wired "
                  f"{1e3 * r['wired_s']:9.3f} ms, ratio {r['ratio']:7.1f}, {r['iterations']} iterations, "
                  f"IR drop {100 * r['ir_drop']:.1f}%; cached {1e3 * r['cached_s']:8.3f} ms, ratio "
                  f"{r['cached_ratio']:5.1f}, error {100 * r['cached_error']:.2g}% of the IR drop's effect")
    return rows


def scaling(sizes, repeats: int) -> list[dict]:
    rows = []
    rng = np.random.default_rng(0)
    for g_max in (15e-6, 15e-8):
        for n in sizes:
            g = jnp.asarray(rng.uniform(g_max / 3, g_max, (n, n)), jnp.float32)
            v = jnp.asarray(rng.uniform(0, 0.2, (1, n)), jnp.float32)
            solve = jax.jit(lambda g_, v_: read_currents(g_, v_, WIRES, return_stats=True))
            ideal = jax.jit(lambda g_, v_: v_ @ g_)
            t_solve = median_seconds(solve, g, v, repeats=repeats)
            t_ideal = median_seconds(ideal, g, v, repeats=repeats)
            out, stats = solve(g, v)
            drop = float(jnp.linalg.norm(out - ideal(g, v)) / jnp.linalg.norm(out))
            rows.append({"n": n, "g_max": g_max, "solve_s": t_solve, "ideal_s": t_ideal,
                         "iterations": int(stats.iterations), "ir_drop": drop})
            print(f"{n:5d} x {n:<5d} g_max {g_max:.0e} S: solve {1e3 * t_solve:9.3f} ms "
                  f"({int(stats.iterations):2d} iterations, IR drop {100 * drop:6.1f}%), ideal {1e3 * t_ideal:.3f} ms")
    return rows


def training(samples: int, repeats: int, mnist_dir: str) -> dict:
    try:
        data = load_mnist(mnist_dir, limit_train=samples, limit_test=1)
        xs, ys, source = jnp.asarray(data.x_train), jnp.asarray(data.y_train), "MNIST"
    except (FileNotFoundError, ValueError):
        xs = jax.random.uniform(jax.random.key(0), (samples, 784))
        ys = jax.random.randint(jax.random.key(1), (samples,), 0, 10)
        source = "uniform random images"
    xs, ys = xs.reshape(samples, 1, 784), ys.reshape(samples, 1)
    cfg = mlp.gokmen_vlasov_config()
    device = _devices()["gokmen_vlasov / 100 (50-150 nS)"]
    rates, refresh_s = {}, None
    for label, wires in (("ideal", None), ("wired", WIRES), ("cached", CACHED)):
        backend = CrossbarBackend(device, pair="reference", wires=wires)
        layers = mlp.init_network(cfg, backend, jax.random.key(0))
        train = jax.jit(partial(mlp.train_samples, cfg, backend))
        seconds = median_seconds(train, layers, xs, ys, cfg.lr, jax.random.key(1), repeats=repeats)
        rates[label] = samples / seconds
        print(f"GV2016 training, {label:6s} wires: {rates[label]:8.1f} samples/s ({source}, {samples} samples)")
        if label == "cached":  # one refresh of every array of the network
            refresh = jax.jit(lambda ls: [cache.fresh(la.xb, *array.conductances(la.xb, la.state)) for la in ls])
            refresh_s = median_seconds(refresh, layers, repeats=repeats)
    amortised = {n: 1.0 / (1.0 / rates["cached"] + refresh_s / n) for n in REFRESH_EVERY}
    print(f"training time ratio wired / ideal: {rates['ideal'] / rates['wired']:.1f}; one refresh of the network "
          f"{refresh_s:.2f} s; cached, refreshed every N samples: "
          + ", ".join(f"N={n}: {rates['ideal'] / r:.1f}x ideal" for n, r in amortised.items()))
    return {"samples": samples, "data": source, "samples_per_s": rates, "ratio": rates["ideal"] / rates["wired"],
            "refresh_s": refresh_s,
            "cached_ratio_by_refresh_every": {n: rates["ideal"] / r for n, r in amortised.items()}}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="bench/results/kirchhoff.json")
    p.add_argument("--quick", action="store_true", help="fewer repeats and sizes (a smoke run)")
    p.add_argument("--mnist-dir", default=os.environ.get("MNIST_DIR", "data/mnist"))
    args = p.parse_args(argv)
    repeats = 3 if args.quick else 7
    result = {"wires": {"r_row": 2.5, "r_col": 2.5}, "layer_reads": layer_reads(repeats),
              "scaling": scaling((64, 128) if args.quick else (64, 128, 256, 512, 1024), repeats),
              "training": training(20 if args.quick else 200, 1 if args.quick else 3, args.mnist_dir),
              "machine": machine()}
    save_json(args.out, result)
    print(f"written: {args.out}")
    return result


if __name__ == "__main__":
    main()
