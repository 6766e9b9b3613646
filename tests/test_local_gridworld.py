"""The gridworld, the three-factor agents on it, and the experiment script's resume and argument checks."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from crossbar.local import make_trace
from crossbar.local.agent import AgentConfig, FloatActor, episode, init_learner, train
from crossbar.local.gridworld import Gridworld
from experiments import three_factor_gridworld as tfg


def test_moves_walls_and_goal():
    env = Gridworld(size=4).validate()
    pos = env.start
    for action, expected in ((0, (0, 0)), (3, (0, 0)), (1, (0, 1)), (2, (1, 1))):  # N and W hit walls
        pos, reward, reached = env.step(pos, jnp.asarray(action))
        assert tuple(np.asarray(pos)) == expected and float(reward) == 0 and not bool(reached)
    _, reward, reached = env.step(jnp.array([3, 2]), jnp.asarray(1))
    assert float(reward) == 1.0 and bool(reached)
    assert env.shortest_path == 6


def test_place_cells_peak_at_their_centre_and_end_with_the_bias():
    env = Gridworld(size=3, sigma=0.5).validate()
    phi = env.features(jnp.array([1, 2]))
    assert phi.shape == (10,)
    assert float(phi[-1]) == 1.0
    assert int(jnp.argmax(phi[:-1])) == 1 * 3 + 2
    np.testing.assert_allclose(phi[1 * 3 + 1], np.exp(-1 / (2 * 0.25)), rtol=1e-6)


@pytest.mark.parametrize("algorithm, trace_kind", [("reinforce", "digital"), ("actor_critic", None)])
def test_float_agents_learn_a_small_gridworld(algorithm, trace_kind):
    env = Gridworld(size=3, max_steps=30).validate()
    cfg = AgentConfig(algorithm=algorithm, lr=0.2).validate()
    actor = FloatActor(env.n_features, 4)
    trace = None if trace_kind is None else make_trace(trace_kind, env.n_features, 4, tau=1.0, dt=cfg.dt)
    key = jax.random.key(0)
    learner, m = jax.jit(lambda k: train(cfg, env, actor, trace, init_learner(actor, env.n_features, k),
                                         jax.random.split(k, 150)))(key)
    steps = np.asarray(m["steps"])
    assert steps[:20].mean() > 2 * env.shortest_path  # a random walk is slow ...
    _, greedy = episode(cfg, env, actor, trace, learner, key, learn=False, greedy=True)
    assert int(greedy["steps"]) == env.shortest_path  # ... and the learned policy takes the shortest path


def test_reinforce_without_a_trace_is_refused():
    env = Gridworld(size=3).validate()
    actor = FloatActor(env.n_features, 4)
    with pytest.raises(ValueError, match="trace"):
        episode(AgentConfig().validate(), env, actor, None, init_learner(actor, env.n_features, jax.random.key(0)),
                jax.random.key(1))


def test_agent_config_rejects_bad_values_naming_them():
    with pytest.raises(ValueError, match="algorithm"):
        AgentConfig(algorithm="q_learning").validate()
    with pytest.raises(ValueError, match="gamma"):
        AgentConfig(gamma=1.5).validate()
    with pytest.raises(ValueError, match="lr"):
        AgentConfig(lr=-0.1).validate()


TINY = ["--size", "3", "--max-steps", "12", "--seeds", "2", "--chunk", "3", "--devices", "bilayer_ibm",
        "--no-plot", "--no-progress"]


def test_resume_continues_to_the_result_of_an_uninterrupted_run(tmp_path):
    only = ["--only", "rate/float/actor_critic/digital"]  # float: the crossbar runs compile for ~20 s each
    full = tfg.main([*TINY, *only, "--episodes", "6", "--out", str(tmp_path / "a")])
    tfg.main([*TINY, *only, "--episodes", "3", "--out", str(tmp_path / "b")])  # stopped after one chunk
    resumed = tfg.main([*TINY, *only, "--episodes", "6", "--out", str(tmp_path / "b"), "--resume"])
    name = only[1]
    assert full["runs"][name]["curves"] == resumed["runs"][name]["curves"]
    assert full["runs"][name]["final_return"] == resumed["runs"][name]["final_return"]
    saved = json.loads((tmp_path / "b" / "results.json").read_text())
    assert saved["runs"][name]["episodes"] == 6


def test_cli_rejects_bad_options(capsys):
    for bad in (["--devices", "no_such_device"], ["--seeds", "0"], ["--size", "1"]):
        with pytest.raises(SystemExit):
            tfg.main([*bad, "--no-plot"])
        assert "error" in capsys.readouterr().err


def test_spiking_agent_learns_a_small_gridworld():
    from crossbar.local.spiking_agent import SpikingConfig, spiking_train

    env = Gridworld(size=4, max_steps=40).validate()
    cfg = AgentConfig(algorithm="actor_critic", lr=0.05).validate()
    actor = FloatActor(env.n_features, 4)
    key = jax.random.key(0)
    _, m = jax.jit(lambda k: spiking_train(cfg, SpikingConfig().validate(), env, actor,
                                           init_learner(actor, env.n_features, k), jax.random.split(k, 100)))(key)
    steps = np.asarray(m["steps"])
    assert steps[:5].mean() > 2 * env.shortest_path
    assert steps[-20:].mean() < 1.5 * env.shortest_path


@pytest.mark.slow
def test_bilayer_crossbar_agent_learns_like_float():
    from crossbar.array import make_crossbar
    from crossbar.local.agent import CrossbarActor
    from devices.presets import bilayer_ibm

    env = Gridworld(size=3, max_steps=30).validate()
    cfg = AgentConfig(algorithm="reinforce", lr=0.2).validate()
    actor = CrossbarActor(make_crossbar(bilayer_ibm(), env.n_features, 4, w_max=1.0))
    trace = make_trace("volatile", env.n_features, 4, tau=1.0, dt=cfg.dt)
    key = jax.random.key(0)
    learner, m = jax.jit(lambda k: train(cfg, env, actor, trace, init_learner(actor, env.n_features, k),
                                         jax.random.split(k, 150)))(key)
    _, greedy = episode(cfg, env, actor, trace, learner, key, learn=False, greedy=True)
    assert int(greedy["steps"]) == env.shortest_path
    assert int(np.asarray(m["pulses"]).sum()) > 0


@pytest.mark.parametrize("algorithm, trace_kind", [("actor_critic", "none"), ("actor_critic", "factorised"),
                                                   ("reinforce", "digital")])
def test_crossbar_episode_counts_its_reads_pulses_and_digital_work(algorithm, trace_kind):
    """Per episode, exact: one forward read per step; the coincidences the event counter derives from the pulse
    trains (per-slot line counts) or from the transfer's counts equal the pulses the update reports from the
    devices' side; the digital work is the documented per-step count."""
    from crossbar.array import make_crossbar
    from crossbar.events import FIELDS, INDEX
    from crossbar.local.agent import CrossbarActor, digital_ops_per_step
    from devices.presets import gokmen_vlasov

    env = Gridworld(size=3, max_steps=12).validate()
    cfg = AgentConfig(algorithm=algorithm, lr=0.5).validate()
    actor = CrossbarActor(make_crossbar(gokmen_vlasov(), env.n_features, 4, w_max=1.0, pair="differential"))
    trace = None if trace_kind == "none" else make_trace(trace_kind, env.n_features, 4, tau=1.0, dt=cfg.dt)
    key = jax.random.key(3)
    _, m = jax.jit(lambda k: train(cfg, env, actor, trace, init_learner(actor, env.n_features, k),
                                   jax.random.split(k, 8)))(key)
    events, steps, pulses = np.asarray(m["events"]), np.asarray(m["steps"]), np.asarray(m["pulses"])
    assert events.shape == (8, len(FIELDS))
    np.testing.assert_array_equal(events[:, INDEX["forward.reads"]] - events[:, INDEX["forward.rereads"]], steps)
    np.testing.assert_array_equal(events[:, INDEX["update.coincidences"]], pulses)  # both devices of each pair
    assert pulses.sum() > 0
    ops = digital_ops_per_step(cfg, actor, trace)[INDEX["digital_ops"]]
    np.testing.assert_allclose(events[:, INDEX["digital_ops"]], steps * ops)
    if trace is None:  # one pulse-coincidence update per step
        np.testing.assert_array_equal(events[:, INDEX["update.samples"]], steps)


@pytest.mark.slow  # the CLI end to end; the episodes' counts are checked above in the default run
def test_energy_option_prices_the_crossbar_runs_and_resumes_to_the_same_events(tmp_path):
    # Chunks of two episodes: equal chunks compile one program per run (a ragged last chunk compiled a second).
    common = [*TINY, "--chunk", "2", "--only", "rate/gokmen_vlasov/actor_critic/none", "--devices", "gokmen_vlasov",
              "--energy", "--cost", "adc_fom=1e-14"]
    res = tfg.main([*common, "--episodes", "4", "--out", str(tmp_path / "a")])
    tfg.main([*common, "--episodes", "2", "--out", str(tmp_path / "b")])  # stopped after one chunk
    resumed = tfg.main([*common, "--episodes", "4", "--out", str(tmp_path / "b"), "--resume"])
    run = res["runs"]["rate/gokmen_vlasov/actor_critic/none"]
    again = resumed["runs"]["rate/gokmen_vlasov/actor_critic/none"]
    assert again["events_per_episode"] == pytest.approx(run["events_per_episode"], rel=1e-9)
    assert again["energy"]["per_step_j"] == pytest.approx(run["energy"]["per_step_j"], rel=1e-9)
    e = run["energy"]
    assert e["per_episode_j"] == pytest.approx(sum(e["by_component_per_episode_j"].values()))
    assert e["per_step_j"] == pytest.approx(e["per_episode_j"] / e["steps_per_episode"])
    assert e["by_component_per_episode_j"]["adc"] > 0 and e["gpu_per_step"]["time_s"] > 0
    assert run["events_per_episode"]["forward.reads"] >= e["steps_per_episode"] * (1 - 1e-6)
    assert "chip energy / step" in tfg.table(res)
