"""Three-factor local learning in the lecture's gridworld: REINFORCE with eligibility traces and advantage
actor-critic, the policy in float or on crossbars (several devices, every trace option), and a spiking agent
(LIF neurons, three-factor STDP).

Usage:
    python -m experiments.three_factor_gridworld                       # every run, 5 seeds, a few minutes
    python -m experiments.three_factor_gridworld --only bilayer --seeds 3
    python -m experiments.three_factor_gridworld --out DIR --resume    # continue an interrupted run
    python -m experiments.three_factor_gridworld --energy              # also the chip's energy per step

Writes to `--out`: `results.json` (per run: learning curves of steps to goal and return, mean and std over seeds;
final return and steps over the last 10% of episodes; greedy steps after training; device pulses spent;
clipped probabilities and capped counts; the policy array's physical events per episode; with `--energy` its
energy and time per episode and step on the simulated chip beside a GPU; settings and code version),
`learning_curves.png`, and per-run checkpoints under `checkpoints/` (after every chunk of episodes, atomically);
`--resume` skips finished runs and continues unfinished ones to the same result as an uninterrupted run.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import jax
import numpy as np
from tqdm.auto import tqdm

from crossbar import energy
from crossbar.array import make_crossbar
from crossbar.events import FIELDS, Events
from crossbar.local import TRACE_KINDS, make_trace
from crossbar.local.agent import AgentConfig, CrossbarActor, FloatActor, episode, init_learner, train
from crossbar.local.gridworld import Gridworld
from crossbar.local.spiking_agent import SpikingConfig, spiking_train
from crossbar.training.checkpoint import check_writable, load_pytree, save_json, save_pytree
from crossbar.update import PulseUpdate
from devices.params import parse_assignment
from devices.presets import device_names, make_device
from experiments.energy import add_energy_arguments, energy_options
from experiments.train_mlp import _code_version

DEVICES = ("bilayer_ibm", "gokmen_vlasov", "hfo2_baseline")
RESULTS_NAME = "results.json"


@dataclass(frozen=True)
class RunSpec:
    """One learning curve: back end ("float" or a device), algorithm, trace option, rate or spiking agent."""

    backend: str
    algorithm: str
    trace: str
    spiking: bool = False

    @property
    def name(self) -> str:
        return f"{'spiking' if self.spiking else 'rate'}/{self.backend}/{self.algorithm}/{self.trace}"


def run_specs(devices: Sequence[str], spiking: bool) -> list[RunSpec]:
    """Every combination the experiment reports: REINFORCE needs a trace; the float policy has no volatile one."""
    specs = []
    for backend in ("float", *devices):
        for algorithm, traces in (("reinforce", TRACE_KINDS), ("actor_critic", ("none", *TRACE_KINDS))):
            specs += [RunSpec(backend, algorithm, t) for t in traces if not (backend == "float" and t == "volatile")]
    if spiking:
        specs += [RunSpec(b, a, "stdp", True) for b in ("float", *devices[:1]) for a in ("reinforce", "actor_critic")]
    return specs


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m experiments.three_factor_gridworld", description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--size", type=int, default=5, help="grid side (shortest path 2 (size - 1) steps)")
    p.add_argument("--max-steps", type=int, default=60, help="steps before an episode times out")
    p.add_argument("--episodes", type=int, default=400, help="episodes per rate-based run")
    p.add_argument("--spiking-episodes", type=int, default=300, help="episodes per spiking run")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--chunk", type=int, default=100, help="episodes between checkpoints")
    p.add_argument("--devices", default=",".join(DEVICES), help="device presets: " + ", ".join(device_names()))
    p.add_argument("--set", nargs="+", default=[], metavar="NAME=VALUE", dest="overrides",
                   help="device parameters for every device of --devices, e.g. gamma=0 variation.c2c=0.1")
    p.add_argument("--only", default=None, help="run only the runs whose name contains this text")
    p.add_argument("--no-spiking", action="store_true")
    p.add_argument("--lr", type=float, default=0.1, help="actor learning rate")
    p.add_argument("--lr-spiking", type=float, default=0.05, help="actor learning rate of the spiking agent")
    p.add_argument("--lr-critic", type=float, default=0.2)
    p.add_argument("--gamma", type=float, default=0.95, help="discount per step")
    p.add_argument("--tau", type=float, default=1.0, help="eligibility trace time constant (s)")
    p.add_argument("--dt", type=float, default=0.05, help="simulated time per step of the rate agent (s)")
    p.add_argument("--w-max", type=float, default=1.0, help="weight (logit units) of one device's range")
    p.add_argument("--bl", type=int, default=31, help="pulse train length BL")
    p.add_argument("--max-pulses", type=int, default=100, help="most pulses per device in one trace transfer")
    p.add_argument("--out", default="results/three_factor_gridworld", help="output directory")
    p.add_argument("--resume", action="store_true", help="skip finished runs, continue unfinished ones")
    p.add_argument("--no-plot", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    add_energy_arguments(p)
    return p


def settings(args) -> dict:
    keys = ("size", "max_steps", "episodes", "spiking_episodes", "seeds", "chunk", "lr", "lr_spiking", "lr_critic",
            "gamma", "tau", "dt", "w_max", "bl", "max_pulses")
    out = {k: getattr(args, k) for k in keys}
    if args.overrides:  # only when given, so results without overrides keep their settings
        out["device_overrides"] = device_overrides(args)
    return out


def device_overrides(args) -> dict[str, float]:
    """The `--set NAME=VALUE` device parameters as a dict."""
    return dict(parse_assignment(a) for a in args.overrides)


def build(spec: RunSpec, args, env: Gridworld):
    """(train_chunk(learners, keys [seeds, n]), evaluate(learners, keys [seeds]) or None, init(keys [seeds]),
    the actor)."""
    n_in = env.n_features
    if spec.backend == "float":
        actor = FloatActor(n_in, 4)
    else:
        device = make_device(spec.backend, device_overrides(args))
        # Abrupt devices have no nominal step; one pulse moves a weight by its full range over a switching count.
        dw_min = None if hasattr(device, "dg") else 2.0 * args.w_max / float(device.n_set)
        actor = CrossbarActor(make_crossbar(device, n_in, 4, w_max=args.w_max, dw_min=dw_min,
                                            update_scheme=PulseUpdate(bl=args.bl)))
    if spec.spiking:
        cfg = AgentConfig(algorithm=spec.algorithm, lr=args.lr_spiking, lr_critic=args.lr_critic,
                          gamma=args.gamma).validate()
        sc = SpikingConfig().validate()
        chunk = jax.jit(jax.vmap(lambda lrn, keys: spiking_train(cfg, sc, env, actor, lrn, keys)))
        evaluate = None
    else:
        cfg = AgentConfig(algorithm=spec.algorithm, lr=args.lr, lr_critic=args.lr_critic, gamma=args.gamma,
                          dt=args.dt).validate()
        trace = None if spec.trace == "none" else make_trace(spec.trace, n_in, 4, tau=args.tau, dt=args.dt,
                                                             bl=args.bl, max_pulses=args.max_pulses)
        chunk = jax.jit(jax.vmap(lambda lrn, keys: train(cfg, env, actor, trace, lrn, keys)))
        evaluate = jax.jit(jax.vmap(lambda lrn, key: episode(cfg, env, actor, trace, lrn, key, learn=False,
                                                              greedy=True)[1]))
    init = jax.jit(jax.vmap(lambda key: init_learner(actor, n_in, key)))
    return chunk, evaluate, init, actor


def episode_keys(seed: int, chunk_index: int, n: int):
    """The keys of chunk `chunk_index` of seed `seed`: the same in every run (common random numbers) and on resume."""
    return jax.random.split(jax.random.fold_in(jax.random.key(seed), chunk_index), n)


def run_one(spec: RunSpec, args, env: Gridworld, out: Path, progress: bool) -> dict:
    """Train one run over all seeds (vmapped), with a checkpoint after every chunk; its summary."""
    n_episodes = args.spiking_episodes if spec.spiking else args.episodes
    chunk_fn, evaluate, init, actor = build(spec, args, env)
    seeds = range(args.seeds)
    learners = init(jax.numpy.stack([jax.random.fold_in(jax.random.key(s), 10**6) for s in seeds]))
    initial = learners
    ckpt = out / "checkpoints" / (spec.name.replace("/", "__") + ".npz")
    # More episodes may be asked for on resume; everything else must match the checkpoint.
    config = {"spec": spec.name, **{k: v for k, v in settings(args).items() if not k.endswith("episodes")}}
    metrics, done, wall = {}, 0, 0.0
    # The policy array's events summed over episodes, per seed [seeds, len(FIELDS)] (float64 on the host), and the
    # number of episodes they cover (a checkpoint written before events were counted covers none of its own).
    events, counted = np.zeros((args.seeds, len(FIELDS))), 0
    if args.resume and ckpt.exists():
        learners, saved = load_pytree(ckpt, learners)
        if saved["config"] != config:
            raise ValueError(f"--resume: the checkpoint {ckpt} was made with other settings: {saved['config']}")
        metrics, done, wall = saved["metrics"], saved["done"], saved["wall_s"]
        if "events" in saved:
            events, counted = np.asarray(saved["events"]), saved.get("events_episodes", saved["done"])
        if done > n_episodes:
            raise ValueError(f"--resume: the checkpoint {ckpt} has {done} episodes, more than {n_episodes}")
    bar = tqdm(total=n_episodes, initial=done, unit="episode", desc=spec.name, disable=not progress, leave=False)
    while done < n_episodes:
        n = min(args.chunk, n_episodes - done)
        t0 = time.perf_counter()
        keys = jax.numpy.stack([episode_keys(s, done // args.chunk, n) for s in seeds])
        learners, m = chunk_fn(learners, keys)
        m = jax.device_get(m)
        wall += time.perf_counter() - t0
        if "events" in m:  # [seeds, n, FIELDS] -> summed over the chunk's episodes
            events += np.asarray(m.pop("events"), np.float64).sum(axis=1)
            counted += n
        for k, v in m.items():
            metrics[k] = [a + b for a, b in zip(metrics.get(k, [[] for _ in seeds]), np.asarray(v).tolist(),
                                                strict=True)]
        done += n
        save_pytree(ckpt, learners, {"config": config, "metrics": metrics, "done": done, "wall_s": wall,
                                     "events": events.tolist(), "events_episodes": counted})
        bar.update(n)
    bar.close()
    greedy = None
    if evaluate is not None:
        g = jax.device_get(evaluate(learners, jax.numpy.stack([jax.random.key(10**7 + s) for s in seeds])))
        greedy = {"steps": np.asarray(g["steps"]).tolist(), "reached": np.asarray(g["reached"]).tolist()}
    res = summarise(spec, metrics, greedy, env, wall)
    if spec.backend != "float" and not spec.spiking and counted:
        res["events_per_episode"] = dict(zip(FIELDS, (events.mean(axis=0) / counted).tolist(), strict=True))
        if args.energy:
            res["energy"] = run_energy(actor, initial, learners, events, counted, res, args)
    return res


def run_energy(actor, initial, final, events: np.ndarray, counted: int, res: dict, args) -> dict:
    """The policy array's energy and time per episode and per step on the chip (`crossbar.energy`, mean over the
    seeds and the last `counted` episodes, whose events were counted), beside a GPU doing the same per-step work
    (a rows x cols product and its update per step, kernel-latency bound at batch 1)."""
    costs = energy_options(args, actor.xb.device)
    g_mean = 0.5 * (energy.mean_conductance(initial.actor) + energy.mean_conductance(final.actor))
    spec = energy.layer_spec(actor.xb, g_mean)
    per_episode = Events(jax.numpy.asarray(events.mean(axis=0) / counted, jax.numpy.float32))
    joules = {k: float(v) for k, v in energy.layer_energy(per_episode, spec, costs).items()}
    seconds = {k: float(v) for k, v in energy.layer_time(per_episode, costs).items()}
    steps = float(np.mean(res["curves"]["steps_mean"][-counted:]))  # mean steps per episode of those episodes
    gpu = energy.gpu_estimate(None, 1, energy.GPUS[args.gpu], matrices=[(actor.rows, actor.cols, 1)])
    total = sum(joules.values())
    return {"per_episode_j": total, "per_step_j": total / steps, "by_component_per_episode_j": joules,
            "time_per_episode_s": sum(seconds.values()), "steps_per_episode": steps, "g_mean_s": g_mean,
            "gpu_per_step": {"gpu": gpu["gpu"], "energy_j": gpu["latency"]["energy_j"],
                             "time_s": gpu["latency"]["time_s"]},
            "note": "policy array only: reads, update pulses and transfers, and the digital work of a step; the "
                    "critic is digital and counted as operations; a volatile trace's own arrays are not counted"}


def summarise(spec: RunSpec, metrics: dict, greedy: dict | None, env: Gridworld, wall: float) -> dict:
    steps, ret = np.asarray(metrics["steps"], float), np.asarray(metrics["return"], float)  # [seeds, episodes]
    window = max(1, steps.shape[1] // 10)
    final_ret, final_steps = ret[:, -window:].mean(1), steps[:, -window:].mean(1)
    pulses = np.asarray(metrics["pulses"], float).sum(1)
    out = {"backend": spec.backend, "algorithm": spec.algorithm, "trace": spec.trace, "spiking": spec.spiking,
           "episodes": steps.shape[1], "seeds": steps.shape[0], "final_window": window,
           "final_return": float(final_ret.mean()), "final_return_std": float(final_ret.std()),
           "final_steps": float(final_steps.mean()), "final_steps_std": float(final_steps.std()),
           "shortest_path": env.shortest_path,
           "pulses": float(pulses.mean()), "pulses_std": float(pulses.std()),
           "clipped": float(np.asarray(metrics["clipped"], float).sum(1).mean()), "wall_s": wall,
           "curves": {"steps_mean": steps.mean(0).round(3).tolist(), "steps_std": steps.std(0).round(3).tolist(),
                      "return_mean": ret.mean(0).round(4).tolist(), "return_std": ret.std(0).round(4).tolist()}}
    if greedy is not None:
        out["greedy_steps"] = float(np.mean(greedy["steps"]))
        out["greedy_reached"] = float(np.mean(greedy["reached"]))
    return out


def table(results: dict) -> str:
    """The README table: every run's final return, steps and pulses."""
    with_energy = any("energy" in r for r in results["runs"].values())
    lines = ["| agent | policy | algorithm | trace | final return | final steps | greedy steps | pulses |"
             + (" chip energy / step |" if with_energy else ""),
             "|---|---|---|---|---|---|---|---|" + ("---|" if with_energy else "")]
    for r in results["runs"].values():
        greedy = f"{r['greedy_steps']:.1f}" if "greedy_steps" in r else "-"
        row = (f"| {'spiking' if r['spiking'] else 'rate'} | {r['backend']} | {r['algorithm']} | {r['trace']} | "
               f"{r['final_return']:.3f} +- {r['final_return_std']:.3f} | {r['final_steps']:.1f} | {greedy} | "
               f"{r['pulses']:.3g} |")
        if with_energy:
            row += f" {r['energy']['per_step_j'] * 1e12:.3g} pJ |" if "energy" in r else " - |"
        lines.append(row)
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        env = Gridworld(size=args.size, max_steps=args.max_steps).validate()
        devices = tuple(d for d in args.devices.split(",") if d)
        for d in devices:
            energy_options(args, make_device(d, device_overrides(args)))  # the device, and --gpu / --cost
        for name in ("episodes", "spiking_episodes", "seeds", "chunk", "bl", "max_pulses"):
            if getattr(args, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1; got {getattr(args, name)}")
        out = check_writable(args.out)
    except (ValueError, TypeError) as err:
        parser.error(str(err))
    specs = [s for s in run_specs(devices, not args.no_spiking) if args.only is None or args.only in s.name]
    results_path = out / RESULTS_NAME
    results = {"meta": {"settings": settings(args), "shortest_path": env.shortest_path,
                        "optimal_return": args.gamma ** (env.shortest_path - 1), "code_version": _code_version()},
               "runs": {}}
    if args.resume and results_path.exists():
        import json

        saved = json.loads(results_path.read_text())
        if saved["meta"]["settings"] == results["meta"]["settings"]:
            results["runs"] = saved["runs"]
    print(f"{len(specs)} runs, {args.seeds} seeds, {args.size}x{args.size} grid (shortest path "
          f"{env.shortest_path} steps); writing to {out}", flush=True)
    try:
        for spec in specs:
            if spec.name in results["runs"]:
                continue
            res = run_one(spec, args, env, out, progress=not args.no_progress)
            res["optimal_return"] = results["meta"]["optimal_return"]
            results["runs"][spec.name] = res
            save_json(results_path, results)
            tqdm.write(f"{spec.name:>40}: final return {res['final_return']:.3f} +- {res['final_return_std']:.3f}, "
                       f"steps {res['final_steps']:.1f}, pulses {res['pulses']:.3g} ({res['wall_s']:.0f} s)")
    except KeyboardInterrupt:
        print(f"\ninterrupted; continue with --resume (checkpoints in {out / 'checkpoints'})", file=sys.stderr)
        raise SystemExit(130) from None
    if not args.no_plot:
        from experiments.three_factor_plots import plot

        print(f"plot: {plot(results, out / 'learning_curves.png')}")
    print(table(results))
    return results


if __name__ == "__main__":
    main()
