"""Write the notebooks of this folder (run `python notebooks/make_notebooks.py`); they import and plot only.

Each notebook starts with one cell of parameters (tagged `parameters`, so papermill can inject others) sized to
run in well under a minute on a laptop CPU; raise them for bigger runs. Figures go to `OUT_DIR`, which
defaults to the environment variable `NOTEBOOK_OUT_DIR` or `results/notebooks`.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_notebook

from cells import code, md, params
from dynamics_notebooks import DYNAMICS_NOTEBOOKS

HERE = Path(__file__).parent

NOTEBOOKS = {
    "01_pulse_curves.ipynb": [
        md("""
# Pulse-response curves: abrupt HfO2 against the bilayer TaOx/HfO2 device

200 potentiation then 200 depression pulses on many devices of each preset; the band spans the 5-95%
of devices (device-to-device spread), the line is the median. Simulation: `experiments.pulse_curves.simulate`;
figures of merit: `crossbar.sweep.metrics.curve_figures`."""),
        params("""
import os

@OUT@
DEVICES = ("hfo2_baseline", "bilayer_ibm")  # presets of devices.presets
N_DEVICES = 200   # devices per preset (the experiment script uses 1000)
N_PULSES = 200    # potentiation pulses, then as many depression pulses
SEED = 0"""),
        code("""
from pathlib import Path

import jax
import matplotlib.pyplot as plt
import numpy as np

from crossbar.sweep.metrics import curve_figures
from devices.presets import make_device
from experiments.pulse_curves import DEFAULT_AMPLITUDE, plot_pulse_curve, simulate

out = Path(OUT_DIR)
out.mkdir(parents=True, exist_ok=True)
key = jax.random.key(SEED)
devices = {name: make_device(name) for name in DEVICES}
results = {name: simulate(dev, N_DEVICES, N_PULSES, jax.random.fold_in(key, i),
                          max(DEFAULT_AMPLITUDE, float(dev.switching_threshold)))
           for i, (name, dev) in enumerate(devices.items())}"""),
        code("""
fig, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 4), squeeze=False)
for ax, (name, r) in zip(axes[0], results.items()):
    plot_pulse_curve(ax, name, r["g_trace"], N_PULSES)
fig.tight_layout()
fig.savefig(out / "01_pulse_curves.png", dpi=120)"""),
        code("""
for name, r in results.items():
    dev = devices[name]
    spread = np.full(r["g_trace"].shape[1], dev.g_max - dev.g_min)
    merit = {k: float(v) for k, v in curve_figures(r["g_trace"], spread, N_PULSES).items()}
    print(name, {k: round(v, 3) if k != "g_range" else f"{v * 1e6:.2f} uS" for k, v in merit.items()})"""),
    ],
    "02_device_sweep.ipynb": [
        md("""
# Which device non-idealities still train as well as float? GV2016's tolerance study, small scale

Gokmen & Vlasov (2016) asked how far each property of a resistive device may stray from the ideal before a
network trained on it falls behind floating point: their criterion is a test error within 0.3% of float's.
This notebook asks the same of the 8x8 digits and a 64-32-10 network, one parameter at a time around the RPU
baseline (`gokmen_vlasov`: constant steps, 30% device-to-device and cycle-to-cycle spread), every network of
a parameter trained at once (`crossbar.sweep.sweep`), each paired with the float network of the same seed
(`TrainingMetric.float_reference`: same initial weights and sample order). With 450 test digits one error is
0.22%, so the margin here is 1%. The paper's scale (MNIST, 30 epochs) is `experiments.gv2016_sensitivity`.

The 64-input digits network needs larger weights than MNIST's 784-input one: the weight bound is 2.0 here
(GV2016: 0.6), with the device step scaled so that one coincidence still moves a weight by dw_min = 0.001.
The `w_max` row of the study shows what the paper's bound costs on this data."""),
        params("""
import os

@OUT@
N_SAMPLES = 30000        # SGD steps (batch 1) per network: about 22 epochs of the 1347 training digits
SEEDS = 2                # networks per value, paired with the float networks of the same seeds
HIDDEN = 32
LR = 0.02
W_MAX = 2.0              # weight bound of the study's baseline
MARGIN = 0.01            # tolerated excess test error over float (fraction)
AXES = {                 # name: (grid parameter, values with the baseline first, which way is worse)
    "dw_min": ("dg", [0.001, 0.004, 0.016, 0.064], "increasing"),
    "up/down asymmetry": ("variation.up_down", [0.0, 0.05, 0.2], "increasing"),
    "cycle-to-cycle noise": ("variation.c2c", [0.3, 1.0, 3.0], "increasing"),
    "step spread (d2d)": ("variation.dg_d2d", [0.3, 0.6, 1.0], "increasing"),
    "weight bound w_max": ("w_max", [2.0, 1.0, 0.6], "decreasing"),
}
CURVE_POINTS = 20        # stretches of the training-loss curves (convergence)"""),
        code("""
from dataclasses import replace
from pathlib import Path

import jax
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown

from crossbar.sweep import sweep, sweep_keys
from crossbar.sweep.metrics import TrainingMetric, dg_for_dw_min
from crossbar.sweep.tolerance import tolerance
from crossbar.training import mlp
from devices.presets import make_device

out = Path(OUT_DIR)
out.mkdir(parents=True, exist_ok=True)
gv = make_device("gokmen_vlasov")


def metric_for(w_max):
    return TrainingMetric(cfg=mlp.MLPConfig(sizes=(64, HIDDEN, 10), lr=LR), n_samples=N_SAMPLES, pair="reference",
                          w_max=w_max, curve_points=CURVE_POINTS)


def device_for(w_max, dw_min=0.001):  # the step that moves a weight by dw_min under this bound
    return replace(gv, dg=float(dg_for_dw_min(gv, dw_min, w_max)))


reference = jax.jit(jax.vmap(metric_for(W_MAX).float_reference))(sweep_keys(0, SEEDS))
float_error = np.asarray(reference["test_error"])
results = {}
for name, (param, values, worse) in AXES.items():
    if param == "w_max":  # a property of the array, not of the device: one sweep per bound
        runs = [sweep(metric_for(w), device_for(w), {"variation.c2c": [gv.variation.c2c]}, seeds=SEEDS,
                      progress=False) for w in values]
        errors = np.concatenate([r["test_error"] for r in runs])
        curves = np.concatenate([r["train_loss_curve"] for r in runs])
    else:
        grid = dg_for_dw_min(gv, values, W_MAX) if param == "dg" else values
        r = sweep(metric_for(W_MAX), device_for(W_MAX), {param: grid}, seeds=SEEDS, progress=False)
        errors, curves = r["test_error"], r["train_loss_curve"]
    results[name] = {"values": values, "errors": errors, "curves": curves,
                     "tolerance": tolerance(values, errors, float_error, margin=MARGIN, worse=worse)}"""),
        code("""
fig, axes = plt.subplots(1, len(results), figsize=(3.3 * len(results), 3.3), sharey=True)
f_mean = 100 * float_error.mean()
for ax, (name, r) in zip(axes, results.items()):
    e = 100 * r["errors"]
    ax.errorbar(range(len(r["values"])), e.mean(axis=1), yerr=e.std(axis=1), marker="o", capsize=3,
                label="crossbar")
    ax.axhline(f_mean, color="k", ls="--", label="float")
    ax.axhline(f_mean + 100 * MARGIN, color="r", ls=":", label=f"float + {100 * MARGIN:g}%")
    ax.set_xticks(range(len(r["values"])), [f"{v:g}" for v in r["values"]])
    ax.set(xlabel=name, ylabel="test error (%)" if ax is axes[0] else "")
    ax.grid(True, alpha=0.3)
axes[0].legend(fontsize=8)
fig.suptitle("digits, 64-32-10: test error vs one non-ideality (baseline first; mean +- std over seeds)")
fig.tight_layout()
fig.savefig(out / "02_tolerance.png", dpi=120)"""),
        md("""
Converged? The training loss of every network in equal stretches of its run (mean over seeds), float dashed.
The printout says how much the loss still fell over the last quarter of the run."""),
        code("""
fig, axes = plt.subplots(1, len(results), figsize=(3.3 * len(results), 3.0), sharey=True)
steps = np.arange(1, CURVE_POINTS + 1) * N_SAMPLES / CURVE_POINTS
for ax, (name, r) in zip(axes, results.items()):
    for v, c in zip(r["values"], r["curves"]):
        ax.plot(steps, c.mean(axis=0), label=f"{v:g}")
    ax.plot(steps, np.asarray(reference["train_loss_curve"]).mean(axis=0), "k--", label="float")
    ax.set(xlabel="SGD step", ylabel="training loss" if ax is axes[0] else "", yscale="log", title=name)
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.3)
fig.tight_layout()
fig.savefig(out / "02_convergence.png", dpi=120)
quarter = CURVE_POINTS // 4
fall = lambda c: 100 * (1 - c[..., -1] / c[..., -1 - quarter]).mean()
print(f"training loss fall over the last quarter: float {fall(np.asarray(reference['train_loss_curve'])):.0f}%, "
      f"crossbar baseline {fall(results['dw_min']['curves'][0]):.0f}%")"""),
        code("""
def answer(name, r):
    t = r["tolerance"]
    lo, hi = t["bracket"]
    if t["status"] == "not_reached":
        return f"**{name}**: every value tried trains within {100 * MARGIN:g}% of float (up to {lo:g})"
    if t["status"] == "baseline_exceeds":
        return f"**{name}**: even the baseline {hi:g} is outside the margin"
    return f"**{name}**: tolerated up to about {t['tolerance']:.3g} (between {lo:g} and {hi:g})"

base = 100 * results["dw_min"]["errors"][0].mean()
lines = [f"Float: {f_mean:.2f}% test error; the RPU baseline on crossbars: {base:.2f}%.", ""]
lines += [f"- {answer(name, r)}; test errors {', '.join(f'{v:g}: {100 * e:.1f}%' for v, e in zip(r['values'], r['errors'].mean(axis=1)))}"
          for name, r in results.items()]
Markdown("\\n".join(lines))"""),
    ],
    "03_train_on_crossbar_vs_float.ipynb": [
        md("""
# Does a network trained on crossbars reach the floating-point network's accuracy?

The same MLP, initial weights and sample order in float and on crossbars (`crossbar.training.train_compare`),
trained until both have converged, then the analog network's test error after 1 s .. 1 month of retention.
Figure: `experiments.train_mlp.plot`. The weight bound is 2.0: the 64-input digits network needs larger
weights than GV2016's 0.6 (try `W_MAX = 0.6` to see the gap it leaves)."""),
        params("""
import os

@OUT@
DEVICE = "gokmen_vlasov"  # a preset or model of devices.presets
PAIR = "reference"        # one device per weight (GV2016's RPU) or "differential"
EPOCHS = 20
HIDDEN = 64
LR = 0.05
W_MAX = 2.0               # weight of one device's full range
LIMIT_TRAIN = None        # training samples per epoch (None: all 1347 digits)
SEED = 0"""),
        code("""
from pathlib import Path

from IPython.display import Markdown

from crossbar import training
from crossbar.training import mlp
from crossbar.training.backends import CrossbarBackend, FloatBackend
from crossbar.training.data import Dataset, load_digits
from devices.presets import make_device
from experiments.train_mlp import plot

out = Path(OUT_DIR)
out.mkdir(parents=True, exist_ok=True)
d = load_digits()
data = Dataset(d.x_train[:LIMIT_TRAIN], d.y_train[:LIMIT_TRAIN], d.x_test, d.y_test, d.name, d.n_classes)
cfg = mlp.MLPConfig(sizes=(64, HIDDEN, 10), lr=LR, epochs=EPOCHS, seed=SEED)
backends = {"float": FloatBackend(),
            "crossbar": CrossbarBackend(device=make_device(DEVICE), pair=PAIR, w_max=W_MAX)}
results = training.train_compare(cfg, backends, data, progress=False, meta={"dataset": data.name, "device": DEVICE})"""),
        code("""
plot(results, out / "03_train_on_crossbar_vs_float.png")
for name, res in results["backends"].items():
    print(f"{name:>9}: test error per epoch {[round(100 * e, 2) for e in res['test_error']]} %; "
          f"retention {({k: round(100 * v['test_error'], 2) for k, v in res['retention'].items()})} %")"""),
        code("""
from IPython.display import Image

Image(filename=str(out / "03_train_on_crossbar_vs_float.png"))"""),
        code("""
f, c = results["backends"]["float"], results["backends"]["crossbar"]
Markdown(f"After {EPOCHS} epochs: float {100 * f['test_error'][-1]:.2f}% test error (train loss "
         f"{f['train_loss'][-1]:.3f}), crossbar {100 * c['test_error'][-1]:.2f}% (train loss "
         f"{c['train_loss'][-1]:.3f}): {abs(c['test_error'][-1] - f['test_error'][-1]) * len(data.y_test):.0f} "
         f"test digits of {len(data.y_test)} apart; one month later the crossbar network is at "
         f"{100 * c['retention']['1 month']['test_error']:.2f}%.")"""),
    ],
    **DYNAMICS_NOTEBOOKS,
}


def main() -> None:
    for name, cells in NOTEBOOKS.items():
        for i, cell in enumerate(cells):  # stable ids: regenerating an unchanged notebook changes no byte
            cell["id"] = f"cell-{i}"
        nb = new_notebook(cells=cells, metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"}})
        nbformat.validate(nb)
        nbformat.write(nb, HERE / name)
        print(HERE / name)


if __name__ == "__main__":
    main()
