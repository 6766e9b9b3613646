"""What a neuron-specific third factor buys: actor-critic agents with and without a hidden layer, float and crossbar.

    python -m experiments.hidden_agent [--seeds 3] [--out results/hidden_agent]

Two tasks (`crossbar.local.gridworld`):
- `action_map`: a one-step task whose map of cells to actions is a checkerboard, with the state coded by one cell
  per row and one per column: no linear policy holds it (the best one is right on 3/4 of the cells);
- `gridworld`: the lecture's 5 x 5 gridworld with place cells (a linear policy suffices).

Agents (`crossbar.local.hidden_agent`): one layer, trained by the global TD error (the baseline), and a hidden
layer of 16 sigmoid units whose neurons get their own third factor through a fixed random feedback matrix (the
policy layer keeps the global one); each as float weights and on crossbars of the GV2016 device (reference column,
BL 31). Every (task, agent, seed) is one result file, written atomically: the study resumes where it stopped.
Writes `results.json`, `summary.md` and `hidden_agent.png` (reward against episodes).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import jax
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from crossbar.array import make_crossbar  # noqa: E402
from crossbar.local import hidden_agent as ha  # noqa: E402
from crossbar.local.agent import CrossbarActor, FloatActor  # noqa: E402
from crossbar.local.gridworld import ActionMap, Gridworld  # noqa: E402
from crossbar.training.checkpoint import save_json  # noqa: E402
from crossbar.update import PulseUpdate  # noqa: E402
from devices.io import save_figure  # noqa: E402
from devices.presets import make_device  # noqa: E402

HIDDEN = 16
TASKS = {"action_map": (ActionMap(size=4), 40000), "gridworld": (Gridworld(), 2000)}
AGENTS = ("one layer float", "hidden float", "one layer crossbar", "hidden crossbar")
W_MAX = 6.0  # the hidden layer's random start (std 2) and the policy's weights fit in +-6


def build(agent: str, n_features: int):
    """(hidden actor or None, policy actor) of an agent."""
    def layer(rows, cols):
        if agent.endswith("float"):
            return FloatActor(rows, cols)
        return CrossbarActor(make_crossbar(make_device("gokmen_vlasov"), rows, cols, w_max=W_MAX, pair="reference",
                                           update_scheme=PulseUpdate(bl=31)))

    if agent.startswith("one layer"):
        return None, layer(n_features, 4)
    return layer(n_features, HIDDEN), layer(HIDDEN + 1, 4)


def run_one(task: str, agent: str, seed: int) -> dict:
    env, episodes = TASKS[task]
    hidden, policy = build(agent, env.n_features)
    cfg = ha.HiddenAgentConfig().validate()
    learner = ha.init_learner(cfg, hidden, policy, env.n_features, jax.random.key(seed))
    learner, m = jax.jit(lambda l_, k: ha.train(cfg, env, hidden, policy, l_, k))(
        learner, jax.random.split(jax.random.key(1000 + seed), episodes))
    out = compact(np.asarray(m["return"]), np.asarray(m["steps"]))
    out["pulses"] = int(np.sum(m["pulses"]))
    if task == "action_map":
        out["greedy_accuracy"] = float(ha.greedy_accuracy(env, hidden, policy, learner, jax.random.key(7)))
    else:
        _, g = ha.episode(cfg, env, hidden, policy, learner, jax.random.key(7), learn=False, greedy=True)
        out["greedy_steps"] = int(g["steps"])
        out["greedy_reached"] = bool(g["reached"])
    return out


BINS = 200  # learning curves are kept as the mean return of each of 200 equal stretches of the episodes


def compact(returns: np.ndarray, steps: np.ndarray) -> dict:
    """What a run keeps of its episodes: mean return and steps per stretch, and over the last 5% (the final)."""
    tail = max(1, returns.size // 20)
    return {"episodes": int(returns.size), "return_curve": returns.reshape(BINS, -1).mean(1).round(4).tolist(),
            "steps_curve": steps.reshape(BINS, -1).mean(1).round(2).tolist(),
            "final_return": float(returns[-tail:].mean())}


def summarise(out: Path, results: dict, seeds: int) -> str:
    lines = ["| task | agent | final reward (mean +- std over seeds) | greedy | device pulses |",
             "|---|---|---|---|---|"]
    for task in TASKS:
        for agent in AGENTS:
            runs = [results[f"{task}/{agent}/{s}"] for s in range(seeds)]
            final = [r["final_return"] for r in runs]
            if task == "action_map":
                greedy = f"{100 * np.mean([r['greedy_accuracy'] for r in runs]):.0f}% of cells right"
            else:
                greedy = (f"{np.mean([r['greedy_steps'] for r in runs]):.1f} steps, "
                          f"{sum(r['greedy_reached'] for r in runs)}/{seeds} reach the goal")
            lines.append(f"| {task} | {agent} | {np.mean(final):.3f} +- {np.std(final):.3f} | {greedy} | "
                         f"{np.mean([r['pulses'] for r in runs]):.3g} |")
    text = "\n".join(lines) + "\n"
    (out / "summary.md").write_text(text)
    return text


def plot(results: dict, seeds: int, path: Path) -> Path:
    fig, axes = plt.subplots(1, len(TASKS), figsize=(6 * len(TASKS), 4))
    for ax, (task, (_, episodes)) in zip(axes, TASKS.items(), strict=True):
        window = episodes // BINS
        for agent in AGENTS:
            curves = np.array([results[f"{task}/{agent}/{s}"]["return_curve"] for s in range(seeds)])
            ax.plot((np.arange(BINS) + 1) * window, curves.mean(0), label=agent,
                    ls="-" if "crossbar" in agent else "--")
        ax.set(title=task, xlabel="episode", ylabel=f"return (mean of {window} episodes, {seeds} seeds)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path, dpi=120)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", default="results/hidden_agent", help="study directory (resumes what it holds)")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error(f"--seeds must be >= 1; got {args.seeds}")
    out = Path(args.out)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    results = {}
    for task in TASKS:
        for agent in AGENTS:
            for seed in range(args.seeds):
                name = f"{task}/{agent}/{seed}"
                path = out / "runs" / f"{task}_{agent.replace(' ', '_')}_{seed}.json"
                if not path.exists():
                    print(f"== {name}", flush=True)
                    save_json(path, run_one(task, agent, seed))
                results[name] = json.loads(path.read_text())
    save_json(out / "results.json", {"seeds": args.seeds, "hidden": HIDDEN, "w_max": W_MAX,
                                     "config": ha.HiddenAgentConfig().__dict__, "runs": results})
    print(summarise(out, results, args.seeds))
    print(f"written: {plot(results, args.seeds, out / 'hidden_agent.png')}")
    return results


if __name__ == "__main__":
    main()
