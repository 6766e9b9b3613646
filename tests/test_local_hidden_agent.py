"""The actor-critic agent with a hidden layer (`crossbar.local.hidden_agent`): its neuron-specific rule, and the
task a hidden layer is for (`gridworld.ActionMap`)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from crossbar.local import hidden_agent as ha
from crossbar.local.agent import FloatActor
from crossbar.local.gridworld import ActionMap

ENV = ActionMap(size=4)
F, H = ENV.n_features, 5


def test_the_action_map_is_a_checkerboard_coded_by_rows_and_columns():
    cells = np.asarray(ENV.cells())
    targets = np.asarray(jax.vmap(ENV.target)(ENV.cells()))
    np.testing.assert_array_equal(targets, 1 + (cells[:, 0] + cells[:, 1]) % 2)
    phi = np.asarray(ENV.features(jnp.array([2, 3])))
    np.testing.assert_array_equal(phi, [0, 0, 1, 0, 0, 0, 0, 1, 1])
    _, reward, done = ENV.step(jnp.array([2, 3]), jnp.array(2))  # 2 + 3 odd: South is right
    assert float(reward) == 1.0 and bool(done)
    with pytest.raises(ValueError, match="max_steps"):
        ActionMap(max_steps=3).validate()


def test_one_step_follows_the_rule_layer_by_layer():
    """Policy: dW2 = lr delta [h, 1] post^T; hidden: dW1 = lr_h phi (delta (post B) * h (1 - h))^T; critic TD(0)."""
    cfg = ha.HiddenAgentConfig(lr=0.3, lr_hidden=0.7, lr_critic=0.2, init_scale=1.0)
    hidden, policy = FloatActor(F, H), FloatActor(H + 1, 4)
    learner = ha.init_learner(cfg, hidden, policy, F, jax.random.key(0))
    learner = ha.HiddenLearner(learner.hidden, 0.1 * jax.random.normal(jax.random.key(1), (H + 1, 4)),
                               0.05 * jnp.arange(F, dtype=jnp.float32))
    key = jax.random.key(2)
    new, metrics = ha.episode(cfg, ENV, hidden, policy, learner, key)
    # The same step by hand, with the episode's own draws (start cell and action).
    k_start, k_steps = jax.random.split(key)
    pos = np.asarray(ENV.start_state(k_start))
    k_act = jax.random.split(jax.random.split(k_steps, 1)[0], 4)[1]
    w1, w2, v = (np.asarray(a, np.float64) for a in (learner.hidden, learner.policy, learner.critic))
    phi = np.asarray(ENV.features(jnp.asarray(pos)), np.float64)
    h = 1 / (1 + np.exp(-(phi @ w1)))
    hb = np.append(h, 1.0)
    logits = hb @ w2
    a = int(jax.random.categorical(k_act, jnp.asarray(logits, jnp.float32)))
    p = np.exp(logits - logits.max())
    post = np.eye(4)[a] - p / p.sum()
    reward = float(a == 1 + pos.sum() % 2)
    delta = reward - phi @ v  # one step: the episode ends
    b = ha.feedback_matrix(4, H, cfg.feedback_seed)
    np.testing.assert_allclose(new.policy, w2 + 0.3 * delta * np.outer(hb, post), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(new.hidden, w1 + 0.7 * np.outer(phi, delta * (post @ b) * h * (1 - h)), rtol=1e-5,
                               atol=1e-7)
    np.testing.assert_allclose(new.critic, v + 0.2 * delta * phi, rtol=1e-5, atol=1e-7)
    assert float(metrics["return"]) == reward


@pytest.mark.slow  # 2 x 40 000 episodes
def test_a_hidden_layer_with_its_own_third_factor_learns_the_map_one_layer_cannot():
    cfg = ha.HiddenAgentConfig()
    results = {}
    for name, (hidden, policy) in {"one": (None, FloatActor(F, 4)),
                                   "hidden": (FloatActor(F, 16), FloatActor(17, 4))}.items():
        learner = ha.init_learner(cfg, hidden, policy, F, jax.random.key(0))
        learner, _ = jax.jit(lambda l_, k, h=hidden, p=policy: ha.train(cfg, ENV, h, p, l_, k))(
            learner, jax.random.split(jax.random.key(1), 40000))
        results[name] = float(ha.greedy_accuracy(ENV, hidden, policy, learner, jax.random.key(2)))
    assert results["one"] <= 0.75  # a sum of a row term and a column term cannot follow a checkerboard
    assert results["hidden"] >= 0.95


def test_bad_parameters_are_named():
    with pytest.raises(ValueError, match="lr_hidden"):
        ha.HiddenAgentConfig(lr_hidden=0.0).validate()
    with pytest.raises(ValueError, match="init_scale"):
        ha.HiddenAgentConfig(init_scale=-1.0).validate()
