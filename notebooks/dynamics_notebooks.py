"""The notebooks about simulated time: retention after training (04) and three-factor learning (05)."""

from __future__ import annotations

from cells import code, md, params

DYNAMICS_NOTEBOOKS = {
    "04_retention_and_drift.ipynb": [
        md("""
# How long does a trained PCM network keep its accuracy? Conductance drift over simulated time

Networks trained briefly on PCM crossbars (`pcm_nandakumar`: G(t) = G0 (t/t0)^-nu, nu larger at low G), then
read after 1 s .. 1 month (`crossbar.training.mlp.advance` inside `TrainingMetric(eval_times=...)`), for several drift
exponents swept together (`mode="zip"`), every network of the sweep trained at once.

The weights are written by the `"ideal"` update scheme (the float SGD step written straight into the
conductances, within their bounds): this preset's SET steps are coarse (about 17 per range) and go one way
only, so pulsed SGD at batch 1 does not train it, which is why PCM serves inference (or mixed-precision
schemes). Drift and read noise act on the programmed conductances as in any pulsed run."""),
        params("""
import os

@OUT@
N_SAMPLES = 15000         # SGD steps: converged before the drift starts
SEEDS = 2
HIDDEN = 32
LR = 0.05
W_MAX = 2.0               # the 64-input digits network needs weights beyond +-0.6 (see notebook 03)
NU = [0.0, 0.02, 0.05, 0.1]          # drift exponent at G_max, drift.nu
NU_LOW_G = [0.0, 0.02, 0.05, 0.1]    # extra exponent at G_min, drift.nu_low_g (zipped with NU)
TIMES = [1.0, 60.0, 3600.0, 86400.0, 7 * 86400.0, 30 * 86400.0]  # s after training"""),
        code("""
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
                        update_scheme=PulseUpdate(scheme="ideal"), w_max=W_MAX)
res = sweep(metric, make_device("pcm_nandakumar"), {"drift.nu": NU, "drift.nu_low_g": NU_LOW_G}, mode="zip",
            seeds=SEEDS, progress=False, out=out / "04_retention")
res"""),
        code("""
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
        code("""
from IPython.display import Markdown

month = err[:, :, -1].mean(axis=1)
first = err[:, :, 0].mean(axis=1)
Markdown("Test error 1 s after training -> one month later: " + "; ".join(
    f"nu = {nu:g}..{nu + lo:g}: {a:.1f}% -> {b:.1f}%" for nu, lo, a, b in zip(NU, NU_LOW_G, first, month)))"""),
    ],
    "05_three_factor_learning.ipynb": [
        md("""
# Three-factor learning on a crossbar: can a success signal train the policy array?

**Question.** The pulse-coincidence update is a Hebbian product of a row signal (the place cells, the pre factor)
and a column signal. If the column trains carry the success signal times the post factor, S (a - <a>), does a
softmax policy on a bilayer crossbar learn the gridworld as well as in floating point, with the success
arriving only at the goal (REINFORCE with eligibility traces)? And does an eligibility trace held by a volatile
crossbar (devices relaxing with tau_e = 1 s) do as well as a per-synapse digital one?

Runs: `experiments.three_factor_gridworld` (the same code), at a size that converges in about a minute."""),
        params("""
import os

@OUT@
SIZE = 4          # grid side: the shortest path is 2 (SIZE - 1) = 6 steps
EPISODES = 250
SEEDS = 3
RUNS = ("rate/float/reinforce/digital", "rate/bilayer_ibm/reinforce/digital",
        "rate/bilayer_ibm/reinforce/volatile")"""),
        code("""
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
        code("""
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
        code("""
from IPython.display import Markdown

ref = results[RUNS[0]]["final_return"]
Markdown("**Answer** (from this run): final return " + "; ".join(
    f"{name.removeprefix('rate/')} {r['final_return']:.3f} ({100 * (r['final_return'] / ref - 1):+.1f}% vs float), "
    f"greedy steps {r['greedy_steps']:.1f} of the shortest {env.shortest_path}" for name, r in results.items())
    + ". The success-modulated coincidence needs no backward read, and the volatile array holds e_ij physically.")"""),
    ],
}
