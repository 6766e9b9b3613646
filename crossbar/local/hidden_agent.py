"""An actor-critic agent with a hidden layer, both layers trained by local three-factor rules on crossbars.

The policy reads the state features phi [F] through a hidden layer, h = sigmoid(phi W1) [H], then
logits = [h, 1] W2 [4]. The critic is linear in phi (float, TD(0)). Each step's TD error
delta = r + gamma V(s') - V(s) is the global success signal, and:

    policy layer   dW2 = lr delta [h, 1] (onehot(a) - pi)^T          (global third factor, as the one-layer agent)
    hidden layer   dW1 = lr phi (m * f'(h))^T,  m = delta (onehot(a) - pi) B    (a neuron-specific third factor)

B [4, H] is a fixed random matrix (feedback alignment: with one hidden layer the same as direct feedback
alignment, Lillicrap et al. 2016, Nokland 2016), so the hidden neurons get their own factor m_i without a transpose
read of W2: Loihi 2's f(pre) g(post) 3rd(neuron_i) rule. Both updates are `modulated_update` pulse coincidences
on crossbars (rows: the pre factor, columns: the third factor times the post factor), or exact float updates.

`hidden=None` gives the one-layer agent on the same footing (logits = phi W2): the global-S baseline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from crossbar import array
from crossbar.local.agent import CrossbarActor, select_where
from devices.pytree import pytree_dataclass
from devices.validation import check_in_range, check_nonnegative, check_positive

Array = jax.Array


@pytree_dataclass
@dataclass(frozen=True)
class HiddenAgentConfig:
    """Learning parameters of the actor-critic (see the module docstring).

    Attributes:
        lr: Learning rate of the policy layer.
        lr_hidden: Learning rate of the hidden layer.
        lr_critic: Critic learning rate.
        gamma: Discount per step, in (0, 1].
        dt: Simulated time per step (s).
        init_scale: Standard deviation of the hidden layer's initial weights: random features to start from, which
            the rule then shapes (weight units).
        feedback_seed: Seed of the fixed random feedback matrix B (static).
    """

    lr: float = 0.01
    lr_hidden: float = 1.0
    lr_critic: float = 0.2
    gamma: float = 0.95
    dt: float = 0.05
    init_scale: float = 2.0
    feedback_seed: int = field(default=0, metadata=dict(static=True))

    def validate(self) -> HiddenAgentConfig:
        check_nonnegative("init_scale", self.init_scale)
        for name in ("lr", "lr_hidden", "lr_critic", "dt"):
            check_positive(name, getattr(self, name))
        check_in_range("gamma", self.gamma, 1e-6, 1.0)
        return self


@pytree_dataclass
@dataclass(frozen=True)
class HiddenLearner:
    """What persists between episodes: the two layers' states (hidden: None for one layer) and the critic v [F]."""

    hidden: Any
    policy: Any
    critic: Array


def feedback_matrix(n_actions: int, n_hidden: int, seed: int) -> np.ndarray:
    """The fixed random B [n_actions, n_hidden], uniform with the Glorot bound of W2's shape (float32 numpy)."""
    bound = np.sqrt(6.0 / (n_actions + n_hidden))
    return np.random.default_rng([seed, 0xFA]).uniform(-bound, bound, (n_actions, n_hidden)).astype(np.float32)


def init_learner(cfg: HiddenAgentConfig, hidden, policy, n_features: int, key) -> HiddenLearner:
    """The policy layer at zero weights, the hidden layer at random weights of std `cfg.init_scale` (clipped to the
    array's range on a crossbar), the critic at zero."""
    k_h, k_w, k_p = jax.random.split(key, 3)
    h_state = None
    if hidden is not None:
        w0 = cfg.init_scale * jax.random.normal(k_w, (hidden.rows, hidden.cols))
        h_state = array.init(hidden.xb, k_h, w0) if isinstance(hidden, CrossbarActor) else w0
    return HiddenLearner(h_state, policy.init(k_p), jnp.zeros(n_features, jnp.float32))


def policy_logits(hidden, policy, learner: HiddenLearner, phi: Array, key):
    """(logits [4], hidden activity h [H] or None, counters of the reads)."""
    k_h, k_p = jax.random.split(key)
    if hidden is None:
        logits, counters = policy.read(learner.policy, phi, k_p)
        return logits, None, counters
    pre, c_h = hidden.read(learner.hidden, phi, k_h)
    h = jax.nn.sigmoid(pre)
    logits, c_p = policy.read(learner.policy, jnp.concatenate([h, jnp.ones(1)]), k_p)
    return logits, h, c_h + c_p


def episode(cfg: HiddenAgentConfig, env, hidden, policy, learner: HiddenLearner, key, learn: bool = True,
            greedy: bool = False) -> tuple[HiddenLearner, dict]:
    """One episode of actor-critic; returns the learner after it and its metrics.

    Args:
        cfg: Learning parameters. env: an environment with `start_state(key)`, `features`, `step`, `max_steps`.
        hidden: The hidden layer's actor (`FloatActor` / `CrossbarActor` of [F, H]) or None (one layer).
        policy: The policy layer's actor ([H + 1, 4], or [F, 4] without a hidden layer).
        learner: State before the episode. key: Random key.
        learn: False runs the policy without changing anything (static). greedy: most probable action (static).

    Returns:
        (learner, metrics): steps, return (the discounted reward of the episode), reached (the episode ended by
        reaching its goal), pulses sent to the two arrays.
    """
    b = None if hidden is None else jnp.asarray(feedback_matrix(policy.cols, hidden.cols, cfg.feedback_seed))

    def step(learner, pos, k):
        k_read, k_act, k_pol, k_hid = jax.random.split(k, 4)
        phi = env.features(pos)
        logits, h, _ = policy_logits(hidden, policy, learner, phi, k_read)
        a = jnp.argmax(logits) if greedy else jax.random.categorical(k_act, logits)
        post = jax.nn.one_hot(a, policy.cols) - jax.nn.softmax(logits)
        new_pos, reward, reached = env.step(pos, a)
        if not learn:
            return learner, new_pos, reward, reached, jnp.zeros((), jnp.int32)
        delta, critic = td_step(env, learner.critic, phi, new_pos, reward, reached, cfg.gamma, cfg.lr_critic)
        pre_policy = phi if hidden is None else jnp.concatenate([h, jnp.ones(1)])
        p_state, _, dp = policy.update(learner.policy, pre_policy, post, delta, cfg.lr, k_pol)
        h_state = learner.hidden
        if hidden is not None:  # each hidden neuron's own third factor: delta times its feedback of `post`
            m = delta * (post @ b)
            h_state, _, dh = hidden.update(learner.hidden, phi, h * (1.0 - h), m, cfg.lr_hidden, k_hid)
            h_state = hidden.advance(h_state, cfg.dt)
            dp = dp + dh
        return HiddenLearner(h_state, policy.advance(p_state, cfg.dt), critic), new_pos, reward, reached, dp

    return run_episode(env, cfg.gamma, learner, key, step)


def td_step(env, critic: Array, phi: Array, new_pos: Array, reward, reached, gamma, lr_critic):
    """TD(0) of a linear critic V(s) = v . phi: (delta = r + gamma V(s') - V(s), with V(s') = 0 at the goal, and
    the critic moved by lr_critic delta phi)."""
    v_next = jnp.where(reached, 0.0, env.features(new_pos) @ critic)
    delta = reward + gamma * v_next - phi @ critic
    return delta, critic + lr_critic * delta * phi


def run_episode(env, gamma, learner, key, step) -> tuple[Any, dict]:
    """An episode of `env.max_steps` steps at most, from `env.start_state`, as one `lax.scan`.

    Args:
        env: The environment.
        gamma: Discount per step.
        learner: State before the episode.
        key: Random key (split into the start's and one per step).
        step: `step(learner, pos, key) -> (learner, new pos, reward, reached, pulses)`, one step of the agent;
            steps after the episode ended change nothing.

    Returns:
        (learner, metrics): steps, return (the discounted reward), reached (ended at its goal), pulses sent.
    """
    k_start, k_steps = jax.random.split(key)
    zero = jnp.zeros((), jnp.int32)

    def body(carry, k):
        learner, pos, done, steps, ret, pulses = carry
        new_learner, new_pos, reward, reached, dp = step(learner, pos, k)
        ret = ret + gamma ** steps.astype(jnp.float32) * reward
        new = (new_learner, new_pos, reached, steps + 1, ret, pulses + dp)
        return select_where(done, carry, new), None

    carry = (learner, env.start_state(k_start), jnp.zeros((), bool), zero, jnp.zeros(()), zero)
    (learner, _, reached, steps, ret, pulses), _ = jax.lax.scan(body, carry, jax.random.split(k_steps, env.max_steps))
    return learner, {"steps": steps, "return": ret, "reached": reached, "pulses": pulses}


def train(cfg: HiddenAgentConfig, env, hidden, policy, learner: HiddenLearner, keys):
    """Episodes one after another, one per key in `keys` [n]; metrics stacked [n]."""
    return jax.lax.scan(lambda lr_, k: episode(cfg, env, hidden, policy, lr_, k), learner, keys)


def greedy_accuracy(env, hidden, policy, learner: HiddenLearner, key) -> Array:
    """Share of an `ActionMap`'s cells where the most probable action is the map's (one read per cell)."""
    cells = env.cells()
    keys = jax.random.split(key, cells.shape[0])

    def one(pos, k):
        logits, _, _ = policy_logits(hidden, policy, learner, env.features(pos), k)
        return jnp.argmax(logits) == env.target(pos)

    return jnp.mean(jax.vmap(one)(cells, keys))
