"""e-prop for the spiking agent (`crossbar.local.eprop`): its traces and learning signal follow their equations, its
updates are the rule (exactly in float, in expectation on crossbars), and it learns the map one layer cannot."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from crossbar.array import make_crossbar
from crossbar.local import eprop as ep
from crossbar.local.agent import AgentConfig, CrossbarActor, FloatActor
from crossbar.local.agent import init_learner as init_one_layer
from crossbar.local.gridworld import ActionMap
from crossbar.local.hidden_agent import feedback_matrix
from crossbar.local.lif import LIF
from crossbar.local.spiking_agent import SpikingConfig, spiking_train
from crossbar.update import PulseUpdate
from devices.constant_step import ConstantStep
from devices.noise import Variation

ENV = ActionMap(size=4)
F, H = ENV.n_features, 6


def window_by_hand(cfg, w1, spikes):
    """The LIF layer and its e-prop traces, step by step in float64 numpy."""
    lam, theta = np.exp(-cfg.lif.dt / cfg.lif.tau_m), cfg.lif.threshold
    u, z_pre, e = np.zeros(w1.shape[1]), np.zeros(w1.shape[0]), np.zeros(w1.shape)
    zs, pres, psis = [], [], []
    for s in spikes:
        u_tilde = lam * u + s @ w1
        psi = cfg.gamma_pd / theta * np.maximum(0.0, 1.0 - np.abs(u_tilde - theta) / theta)
        z_pre = lam * z_pre + s
        z = (u_tilde >= theta).astype(float)
        u = u_tilde * (1 - z)
        e += np.outer(z_pre, psi)
        zs.append(z), pres.append(z_pre), psis.append(psi)
    t = len(spikes)
    return np.mean(zs, 0), np.mean(pres, 0), np.mean(psis, 0), e / t


def test_the_window_and_its_traces_follow_their_equations():
    cfg = ep.EpropConfig(window=30, rate=300.0, lif=LIF(tau_m=10e-3, threshold=0.8), gamma_pd=0.5).validate()
    w1 = 1.5 * np.asarray(jax.random.normal(jax.random.key(0), (F, H)))
    phi = np.asarray(ENV.features(jnp.array([1, 2])))
    spikes = ep.input_spikes(cfg, jnp.asarray(phi), jax.random.key(1))
    # The input cells fire with probability rate phi dt per step: here only the active cells, at 0.3.
    assert set(np.flatnonzero(np.asarray(spikes).sum(0))) <= set(np.flatnonzero(phi))
    window, z = ep.run_window(cfg, FloatActor(F, H), jnp.asarray(w1, jnp.float32), spikes, jax.random.key(2))
    rates, pre, psi, e = window_by_hand(cfg, w1, np.asarray(spikes, np.float64))
    assert z.shape == (30, H) and 0 < float(jnp.mean(z)) < 1  # some neurons fire, not all the time
    np.testing.assert_allclose(window.rates, rates, atol=1e-6)
    np.testing.assert_allclose(window.pre_trace, pre, rtol=1e-5)
    np.testing.assert_allclose(window.psi, psi, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(window.eligibility, e, rtol=1e-4, atol=1e-6)
    assert np.any(e > 0)


def test_the_pseudo_derivative_peaks_at_threshold_and_vanishes_outside_twice_it():
    cfg = ep.EpropConfig(lif=LIF(threshold=2.0), gamma_pd=0.3)
    psi = np.asarray(ep.pseudo_derivative(cfg, jnp.array([-1.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0])))
    np.testing.assert_allclose(psi, [0, 0, 0.075, 0.15, 0.075, 0, 0], atol=1e-7)


def test_one_episode_follows_the_rule_layer_by_layer():
    """Hidden: dW1 = lr_h delta L_i e_ji with L = (onehot(a) - pi) B; policy: dW2 = lr delta [r, 1] post^T."""
    cfg = ep.EpropConfig(lr=0.3, lr_hidden=0.7, lr_critic=0.2, init_scale=1.5).validate()
    hidden, policy = FloatActor(F, H), FloatActor(H + 1, 4)
    learner = ep.init_learner(cfg, hidden, policy, F, jax.random.key(0))
    learner = ep.HiddenLearner(learner.hidden, 0.1 * jax.random.normal(jax.random.key(1), (H + 1, 4)),
                              0.05 * jnp.arange(F, dtype=jnp.float32))
    key = jax.random.key(2)
    new, metrics = ep.episode(cfg, ENV, hidden, policy, learner, key)
    # The same step by hand, with the episode's own draws.
    k_start, k_steps = jax.random.split(key)
    pos = ENV.start_state(k_start)
    k_decide = jax.random.split(jax.random.split(k_steps, 1)[0], 3)[0]
    k_spikes, k_window, _, k_act = jax.random.split(k_decide, 4)
    phi = ENV.features(pos)
    window, _ = ep.run_window(cfg, hidden, learner.hidden, ep.input_spikes(cfg, phi, k_spikes), k_window)
    w2, v = np.asarray(learner.policy, np.float64), np.asarray(learner.critic, np.float64)
    pre = np.append(np.asarray(window.rates, np.float64), 1.0)
    logits = pre @ w2
    a = int(jax.random.categorical(k_act, jnp.asarray(logits, jnp.float32)))
    p = np.exp(logits - logits.max())
    post = np.eye(4)[a] - p / p.sum()
    reward = float(a == int(ENV.target(pos)))
    delta = reward - np.asarray(phi) @ v  # one step: the episode ends
    signal = post @ feedback_matrix(4, H, cfg.feedback_seed)
    np.testing.assert_allclose(ep.learning_signal(jnp.asarray(feedback_matrix(4, H, 0)), jnp.asarray(post)), signal,
                               rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(new.policy, w2 + 0.3 * delta * np.outer(pre, post), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(new.hidden, np.asarray(learner.hidden) + 0.7 * delta * signal[None, :]
                               * np.asarray(window.eligibility), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(new.critic, v + 0.2 * delta * np.asarray(phi), rtol=1e-5, atol=1e-7)
    assert float(metrics["return"]) == reward


@pytest.mark.slow  # 10 s each
@pytest.mark.parametrize("eligibility", ["synapse", "factorised"])
def test_the_crossbar_update_is_the_rule_in_expectation(eligibility):
    """The mean weight change over 400 keys equals lr_h m_i e_ji (per synapse) or lr_h m_i p_j q_i (factorised),
    within 4 standard errors, on a noise-free constant-step device far from its bounds."""
    cfg = ep.EpropConfig(lr_hidden=0.5, eligibility=eligibility).validate()
    device = ConstantStep(g_min=0.0, g_max=1e-4, dg=1e-7, variation=Variation(dg_d2d=0.0, c2c=0.0)).validate()
    xb = make_crossbar(device, F, H, w_max=1.0, pair="reference", update_scheme=PulseUpdate(bl=31))
    hidden = CrossbarActor(xb)
    state = hidden.init(jax.random.key(0))
    w0 = np.asarray(hidden.weights(state))
    rng = np.random.default_rng(0)
    window = ep.Window(jnp.zeros(H), jnp.asarray(rng.uniform(0, 2, F), jnp.float32),
                       jnp.asarray(rng.uniform(0, 0.3, H), jnp.float32),
                       jnp.asarray(rng.uniform(0, 0.5, (F, H)), jnp.float32))
    m = jnp.asarray(rng.normal(0, 0.05, H), jnp.float32)
    dws = jax.vmap(lambda k: hidden.weights(ep.hidden_update(cfg, hidden, state, window, m, k)[0]) - w0)(
        jax.random.split(jax.random.key(1), 400))
    e = window.eligibility if eligibility == "synapse" else jnp.outer(window.pre_trace, window.psi)
    expected = 0.5 * np.asarray(e) * np.asarray(m)[None, :]
    mean, se = np.mean(dws, 0), np.std(dws, 0) / np.sqrt(400) + 1e-9
    # A weight expected to move by a small fraction of a step may see no pulse in 400 draws (se 0): 0.05 dw_min.
    assert np.all(np.abs(mean - expected) < 4 * se + 0.05 * xb.dw_min), np.max(np.abs(mean - expected) / se)
    assert np.abs(expected).max() > 5 * xb.dw_min  # the rule moves the weights by several steps


def test_bad_parameters_are_named():
    with pytest.raises(ValueError, match="eligibility"):
        ep.EpropConfig(eligibility="trace").validate()
    with pytest.raises(ValueError, match="gamma_pd"):
        ep.EpropConfig(gamma_pd=-0.1).validate()
    with pytest.raises(ValueError, match="window"):
        ep.EpropConfig(window=0).validate()
    with pytest.raises(ValueError, match="lr_hidden"):
        ep.EpropConfig(lr_hidden=0.0).validate()


@pytest.mark.slow  # 2 x 20 000 episodes of spiking windows
def test_eprop_learns_the_map_where_the_one_layer_spiking_agent_cannot():
    """The checkerboard map: no linear policy is right on more than 3/4 of the cells. The one-layer spiking agent
    (three-factor STDP with the global TD error) stays below that; e-prop's hidden layer gets every cell."""
    keys = jax.random.split(jax.random.key(1), 20000)
    cfg = ep.EpropConfig().validate()
    hidden, policy = FloatActor(F, 32), FloatActor(33, 4)
    learner = ep.init_learner(cfg, hidden, policy, F, jax.random.key(0))
    learner, m = jax.jit(lambda l_, k: ep.train(cfg, ENV, hidden, policy, l_, k))(learner, keys)
    assert float(ep.greedy_accuracy(cfg, ENV, hidden, policy, learner, jax.random.key(7))) >= 0.95
    assert float(np.mean(m["return"][-2000:])) > 0.7

    one = FloatActor(F, 4)
    agent_cfg = AgentConfig(algorithm="actor_critic").validate()
    _, m1 = jax.jit(lambda l_, k: spiking_train(agent_cfg, SpikingConfig().validate(), ENV, one, l_, k))(
        init_one_layer(one, F, jax.random.key(0)), keys)
    assert float(np.mean(m1["return"][-2000:])) < 0.75


@pytest.mark.slow  # four short training runs
def test_the_hidden_agent_study_runs_spiking_agents_and_resumes(tmp_path, monkeypatch):
    from experiments import hidden_agent as study

    agents = "one layer float,spiking e-prop float"
    runs = study.main(["--seeds", "1", "--agents", agents, "--episodes", "200", "--out", str(tmp_path)])
    assert set(runs) == {"action_map/one layer float/0", "gridworld/one layer float/0",
                         "action_map/spiking e-prop float/0"}  # the spiking agents run on the map only
    eprop_run = runs["action_map/spiking e-prop float/0"]
    assert eprop_run["episodes"] == 200 and 0.0 <= eprop_run["greedy_accuracy"] <= 1.0
    summary = (tmp_path / "summary.md").read_text()
    assert f"| action_map | spiking e-prop float | {eprop_run['final_return']:.3f} +- 0.000 |" in summary
    monkeypatch.setattr(study, "run_one", lambda *a, **k: pytest.fail("a finished run was trained again"))
    assert study.main(["--seeds", "1", "--agents", agents, "--out", str(tmp_path)]) == runs
    with pytest.raises(SystemExit):
        study.main(["--agents", "spiking hidden float", "--out", str(tmp_path)])
    with pytest.raises(SystemExit):
        study.main(["--episodes", "150", "--out", str(tmp_path)])
