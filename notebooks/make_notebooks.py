"""Write the notebooks of this folder (run `python notebooks/make_notebooks.py`); they import and plot only.

Each notebook starts with one cell of parameters (tagged `parameters`, so papermill can inject others) sized to
run in well under a minute on a laptop CPU; raise them for bigger runs. Figures go to `OUT_DIR`, which
defaults to the environment variable `NOTEBOOK_OUT_DIR` or `results/notebooks`.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).parent

OUT = 'OUT_DIR = os.environ.get("NOTEBOOK_OUT_DIR", "results/notebooks")  # figures (PNG) go here'


def _params(text: str):
    cell = new_code_cell(text.strip().replace("@OUT@", OUT))
    cell.metadata["tags"] = ["parameters"]
    return cell


def _code(text: str):
    return new_code_cell(text.strip())


def _md(text: str):
    return new_markdown_cell(text.strip())


NOTEBOOKS = {
    "01_pulse_curves.ipynb": [
        _md("""
# Pulse-response curves: abrupt HfO2 against the bilayer TaOx/HfO2 device

200 potentiation then 200 depression pulses on many devices of each preset; the band spans the 5-95%
of devices (device-to-device spread), the line is the median. Simulation: `experiments.pulse_curves.simulate`;
figures of merit: `crossbar.sweep.metrics.curve_figures`."""),
        _params("""
import os

@OUT@
DEVICES = ("hfo2_baseline", "bilayer_ibm")  # presets of devices.presets
N_DEVICES = 200   # devices per preset (the experiment script uses 1000)
N_PULSES = 200    # potentiation pulses, then as many depression pulses
SEED = 0"""),
        _code("""
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
        _code("""
fig, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 4), squeeze=False)
for ax, (name, r) in zip(axes[0], results.items()):
    plot_pulse_curve(ax, name, r["g_trace"], N_PULSES)
fig.tight_layout()
fig.savefig(out / "01_pulse_curves.png", dpi=120)"""),
        _code("""
for name, r in results.items():
    dev = devices[name]
    spread = np.full(r["g_trace"].shape[1], dev.g_max - dev.g_min)
    merit = {k: float(v) for k, v in curve_figures(r["g_trace"], spread, N_PULSES).items()}
    print(name, {k: round(v, 3) if k != "g_range" else f"{v * 1e6:.2f} uS" for k, v in merit.items()})"""),
    ],
    "02_device_sweep.ipynb": [
        _md("""
# Test error against device parameters (Gokmen & Vlasov 2016 sensitivity)

Networks trained on crossbars of the GV2016 RPU baseline device (`gokmen_vlasov`), all at once: one per grid
point and seed, vectorised by `crossbar.sweep.sweep`. The heat map varies the weight change per pulse dw_min
(through the device step `dg`) against the mean up/down asymmetry; the curves vary one non-ideality at a time
around the baseline. Default sizes are tiny (a few hundred samples of the 8x8 digits): the trends, not the
paper's numbers."""),
        _params("""
import os

@OUT@
N_SAMPLES = 300          # SGD steps (batch 1) per network
SEEDS = 2                # networks per grid point
HIDDEN = 16              # hidden units of the 64-HIDDEN-10 MLP
LR = 0.05
DW_MIN = [0.002, 0.008, 0.032]          # weight change per coincidence
UP_DOWN = [0.0, 0.2, 0.5]               # mean up/down asymmetry, variation.up_down
SENSITIVITY = {                          # one non-ideality at a time, others at the GV2016 baseline
    "variation.c2c": [0.0, 1.0, 3.0],
    "variation.dg_d2d": [0.0, 0.3, 1.0],
    "variation.bounds_d2d": [0.0, 0.3, 0.6],
    "variation.up_down_d2d": [0.0, 0.1, 0.3],
}
CHUNK = 3                # grid points per vectorised call: equal chunks share one compilation
EXECUTOR = None          # e.g. dask: distributed.Client(...).get_executor()"""),
        _code("""
from pathlib import Path

import matplotlib.pyplot as plt

from crossbar.training import mlp
from crossbar.sweep import sweep
from crossbar.sweep.metrics import TrainingMetric, dg_for_dw_min
from devices.presets import make_device

out = Path(OUT_DIR)
out.mkdir(parents=True, exist_ok=True)
device = make_device("gokmen_vlasov")
metric = TrainingMetric(cfg=mlp.MLPConfig(sizes=(64, HIDDEN, 10), lr=LR), n_samples=N_SAMPLES)
options = dict(seeds=SEEDS, chunk_size=CHUNK, executor=EXECUTOR, progress=False)"""),
        _code("""
heat = sweep(metric, device, {"dg": dg_for_dw_min(device, DW_MIN), "variation.up_down": UP_DOWN},
             out=out / "02_dw_min_x_up_down", **options)
fig, ax = plt.subplots(figsize=(5.5, 4))
heat.plot("test_error", x="variation.up_down", y="dg", ax=ax, scale=100, cmap="viridis")
ax.set_yticks(range(len(DW_MIN)), [f"{v:g}" for v in DW_MIN])
ax.set(ylabel="dw_min", xlabel="up/down asymmetry", title="test error (%)")
fig.tight_layout()
fig.savefig(out / "02_dw_min_x_up_down.png", dpi=120)
heat"""),
        _code("""
curves = {name: sweep(metric, device, {name: values}, **options) for name, values in SENSITIVITY.items()}
fig, axes = plt.subplots(1, len(curves), figsize=(3.5 * len(curves), 3.2), sharey=True)
for ax, (name, res) in zip(axes, curves.items()):
    res.plot("test_error", ax=ax, scale=100)
    ax.set(xlabel=name.split(".")[-1], ylabel="test error (%)" if ax is axes[0] else "")
fig.suptitle("GV2016 sensitivity (mean +- std over seeds)")
fig.tight_layout()
fig.savefig(out / "02_sensitivity.png", dpi=120)"""),
    ],
    "03_train_on_crossbar_vs_float.ipynb": [
        _md("""
# Training on crossbar arrays against floating point

The same MLP, initial weights and sample order in float and on crossbars (`crossbar.training.train_compare`),
then the analog network's test error after 1 s .. 1 month of retention. Figure:
`experiments.train_mlp.plot`."""),
        _params("""
import os

@OUT@
DEVICE = "gokmen_vlasov"  # a preset or model of devices.presets
PAIR = "reference"        # one device per weight (GV2016's RPU) or "differential"
EPOCHS = 5
HIDDEN = 32
LR = 0.02                 # C = sqrt(lr / (dw_min BL)) stays below 1/max|x| with the GV device
LIMIT_TRAIN = None        # training samples per epoch (None: all 1347 digits)
SEED = 0"""),
        _code("""
from pathlib import Path

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
backends = {"float": FloatBackend(), "crossbar": CrossbarBackend(device=make_device(DEVICE), pair=PAIR)}
results = training.train_compare(cfg, backends, data, progress=False, meta={"dataset": data.name, "device": DEVICE})"""),
        _code("""
plot(results, out / "03_train_on_crossbar_vs_float.png")
for name, res in results["backends"].items():
    print(f"{name:>9}: test error per epoch {[round(100 * e, 2) for e in res['test_error']]} %; "
          f"retention {({k: round(100 * v['test_error'], 2) for k, v in res['retention'].items()})} %")"""),
        _code("""
from IPython.display import Image

Image(filename=str(out / "03_train_on_crossbar_vs_float.png"))"""),
    ],
    "04_retention_and_drift.ipynb": [
        _md("""
# Accuracy over simulated time: PCM conductance drift

Networks trained briefly on PCM crossbars (`pcm_nandakumar`: G(t) = G0 (t/t0)^-nu, nu larger at low G), then
read after 1 s .. 1 month (`crossbar.training.mlp.advance` inside `TrainingMetric(eval_times=...)`), for several drift
exponents swept together (`mode="zip"`), every network of the sweep trained at once.

The weights are written by the `"ideal"` update scheme (the float SGD step written straight into the
conductances, within their bounds): this preset's SET steps are coarse (about 17 per range) and go one way
only, so pulsed SGD at batch 1 does not train it, which is why PCM serves inference (or mixed-precision
schemes). Drift and read noise act on the programmed conductances as in any pulsed run."""),
        _params("""
import os

@OUT@
N_SAMPLES = 1000
SEEDS = 2
HIDDEN = 16
LR = 0.1
NU = [0.0, 0.02, 0.05, 0.1]          # drift exponent at G_max, drift.nu
NU_LOW_G = [0.0, 0.02, 0.05, 0.1]    # extra exponent at G_min, drift.nu_low_g (zipped with NU)
TIMES = [1.0, 60.0, 3600.0, 86400.0, 7 * 86400.0, 30 * 86400.0]  # s after training"""),
        _code("""
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from crossbar.training import mlp
from crossbar.sweep import sweep
from crossbar.sweep.metrics import TrainingMetric
from crossbar.update import PulseUpdate
from devices.presets import make_device

out = Path(OUT_DIR)
out.mkdir(parents=True, exist_ok=True)
metric = TrainingMetric(cfg=mlp.MLPConfig(sizes=(64, HIDDEN, 10), lr=LR), n_samples=N_SAMPLES, eval_times=TIMES,
                        update_scheme=PulseUpdate(scheme="ideal"))
res = sweep(metric, make_device("pcm_nandakumar"), {"drift.nu": NU, "drift.nu_low_g": NU_LOW_G}, mode="zip",
            seeds=SEEDS, progress=False, out=out / "04_retention")
res"""),
        _code("""
fig, ax = plt.subplots(figsize=(6, 4))
err = 100 * res["test_error_vs_time"]  # [point, seed, time]
for i, (nu, nu_low) in enumerate(zip(NU, NU_LOW_G)):
    mean, std = err[i].mean(axis=0), err[i].std(axis=0)
    line, = ax.semilogx(TIMES, mean, marker="o", label=f"nu = {nu:g} .. {nu + nu_low:g}")
    ax.fill_between(TIMES, mean - std, mean + std, alpha=0.2, color=line.get_color())
ax.set(xlabel="time after training (s)", ylabel="test error (%)", title="PCM drift: accuracy over time")
ax.grid(True, which="both", alpha=0.3)
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(out / "04_retention_and_drift.png", dpi=120)
print("test error right after training (%):", np.round(100 * res["test_error"].mean(axis=1), 1))"""),
    ],
    "05_three_factor_learning.ipynb": [
        _md("""
# Three-factor learning on a crossbar: can a success signal train the policy array?

**Question.** The pulse-coincidence update is a Hebbian product of a row signal (the place cells, the pre factor)
and a column signal. If the column trains carry the success signal times the post factor, S (a - <a>), does a
softmax policy on a bilayer crossbar learn the gridworld as well as in floating point, with the success
arriving only at the goal (REINFORCE with eligibility traces)? And does an eligibility trace held by a volatile
crossbar (devices relaxing with tau_e = 1 s) do as well as a per-synapse digital one?

Runs: `experiments.three_factor_gridworld` (the same code), at a size that converges in about a minute."""),
        _params("""
import os

@OUT@
SIZE = 4          # grid side: the shortest path is 2 (SIZE - 1) = 6 steps
EPISODES = 250
SEEDS = 3
RUNS = ("rate/float/reinforce/digital", "rate/bilayer_ibm/reinforce/digital",
        "rate/bilayer_ibm/reinforce/volatile")"""),
        _code("""
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from crossbar.local.gridworld import Gridworld
from experiments import three_factor_gridworld as tfg
from experiments.three_factor_plots import smooth

out = Path(OUT_DIR)
out.mkdir(parents=True, exist_ok=True)
args = tfg.build_parser().parse_args(["--size", str(SIZE), "--max-steps", "40", "--episodes", str(EPISODES),
                                      "--seeds", str(SEEDS), "--chunk", str(EPISODES)])
env = Gridworld(size=SIZE, max_steps=40).validate()
specs = {s.name: s for s in tfg.run_specs(("bilayer_ibm",), spiking=False)}
results = {name: tfg.run_one(specs[name], args, env, out / "05_runs", progress=False) for name in RUNS}"""),
        _code("""
fig, (ax_s, ax_r) = plt.subplots(1, 2, figsize=(10, 4))
for name, r in results.items():
    for ax, what in ((ax_s, "steps"), (ax_r, "return")):
        mean, std = smooth(r["curves"][f"{what}_mean"], 10), smooth(r["curves"][f"{what}_std"], 10)
        x = np.arange(1, len(mean) + 1)
        line, = ax.plot(x, mean, label=name.removeprefix("rate/"))
        ax.fill_between(x, mean - std, mean + std, alpha=0.15, color=line.get_color())
ax_s.axhline(env.shortest_path, color="grey", ls=":", label="shortest path")
ax_s.set(xlabel="episode", ylabel="steps to goal", yscale="log")
ax_r.set(xlabel="episode", ylabel="return (gamma^(T-1) at the goal)")
ax_s.legend(fontsize=8)
fig.tight_layout()
fig.savefig(out / "05_three_factor_learning.png", dpi=120)
for name, r in results.items():
    print(f"{name:40s} final return {r['final_return']:.3f} +- {r['final_return_std']:.3f}, "
          f"greedy steps {r['greedy_steps']:.1f} (shortest {env.shortest_path}), pulses {r['pulses']:.3g}")"""),
        _md("""
**Answer.** Yes (this cell's numbers come from the run above; at the default size, 3 seeds, they were: float 0.724 +- 0.022,
bilayer with the digital trace 0.699 +- 0.018 (-3.5%), bilayer with the volatile trace array 0.696 +- 0.018, of an
optimal 0.95^5 = 0.774; greedy steps 6.0, the shortest path, for all three; 7.4 k and 8.4 k device pulses).
The bilayer crossbar reaches float's final return within a few percent and its greedy policy takes the shortest
path; the volatile trace array, which holds e_ij physically and decays by itself, matches the digital trace.
The success-modulated coincidence needs no backward read and no digital storage of the trace."""),
    ],
}


def main() -> None:
    for name, cells in NOTEBOOKS.items():
        nb = new_notebook(cells=cells, metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"}})
        nbformat.validate(nb)
        nbformat.write(nb, HERE / name)
        print(HERE / name)


if __name__ == "__main__":
    main()
