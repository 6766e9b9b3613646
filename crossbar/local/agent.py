"""A softmax-policy agent trained by three-factor rules: REINFORCE with eligibility traces, or advantage
actor-critic; its policy weights in float or on a crossbar.

The policy is linear in the state features phi [F] (place cells and a bias): logits = phi W, W [F, 4], actions
one-hot. The gradient of log pi(a | s) with respect to W is phi (onehot(a) - pi)^T, a pre factor times a post
factor, so both algorithms are three-factor rules (rows: the pre factor phi, columns: S times the post factor):

- "reinforce": e <- lambda e + phi (a - pi)^T every step (any trace option); at the end of the episode the
  success S = R - b arrives (R = gamma^(T - 1) at the goal after T steps, 0 on time-out; b a running mean of R)
  and dw = lr S e.
- "actor_critic": a linear critic V(s) = v . phi (float, TD(0)) gives the TD error delta = r + gamma V(s') - V(s)
  every step; the actor moves by dw = lr delta phi (a - pi)^T (trace None: one pulse coincidence) or, with
  a trace (actor-critic(lambda)), dw = lr delta e every step.

An actor is `FloatActor` or `CrossbarActor`; a trace is any of `crossbar.local.traces` / `volatile` or None.
Each episode starts with fresh traces (the time between episodes is taken to be many tau). The simulated
clock advances by `AgentConfig.dt` per step, so drift of the policy array and relaxation of a volatile trace
act during learning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from crossbar import array
from crossbar.counters import Counters
from crossbar.events import FIELDS, INDEX, Events
from crossbar.local.modulated import modulated_update
from devices.pytree import pytree_dataclass
from devices.validation import check_choice, check_in_range, check_positive

Array = jax.Array
ALGORITHMS = ("reinforce", "actor_critic")


@pytree_dataclass
@dataclass(frozen=True)
class AgentConfig:
    """Learning parameters.

    Attributes:
        algorithm: "reinforce" or "actor_critic" (static).
        lr: Actor learning rate (weight units per unit of S x trace).
        lr_critic: Critic learning rate (actor_critic).
        gamma: Discount per step, in (0, 1].
        baseline_rate: Rate of the running mean b of the return (reinforce), in (0, 1].
        dt: Simulated time per step (s).
    """

    algorithm: str = field(default="reinforce", metadata=dict(static=True))
    lr: float = 0.1
    lr_critic: float = 0.2
    gamma: float = 0.95
    baseline_rate: float = 0.05
    dt: float = 0.05

    def validate(self) -> AgentConfig:
        check_choice("algorithm", self.algorithm, ALGORITHMS)
        for name in ("lr", "lr_critic", "dt"):
            check_positive(name, getattr(self, name))
        check_in_range("gamma", self.gamma, 1e-6, 1.0)
        check_in_range("baseline_rate", self.baseline_rate, 1e-6, 1.0)
        return self


@pytree_dataclass
@dataclass(frozen=True)
class FloatActor:
    """Policy weights W [rows, cols] as float numbers (the reference)."""

    rows: int = field(metadata=dict(static=True))
    cols: int = field(metadata=dict(static=True))

    def init(self, key) -> Array:
        return jnp.zeros((self.rows, self.cols), jnp.float32)

    def logits(self, w, phi, key):
        return self.read(w, phi, key)[0]

    def read(self, w, phi, key):
        """(logits, counters): exact products count no analog event."""
        return phi @ w, Counters.zeros()

    def update(self, w, pre, post, success, lr, key):
        """w + lr pre (success post)^T; `success` a scalar or one third factor per output neuron [cols]."""
        return w + lr * jnp.outer(pre, jnp.asarray(success) * post), Counters.zeros(), jnp.zeros((), jnp.int32)

    def transfer(self, w, trace, t_state, success, lr, key):
        return w + lr * success * trace.eligibility(t_state, key), Counters.zeros(), jnp.zeros((), jnp.int32)

    def advance(self, w, dt):
        return w

    def weights(self, w):
        return w


@pytree_dataclass
@dataclass(frozen=True)
class CrossbarActor:
    """Policy weights on a crossbar `xb` [rows, cols]: logits by the forward read, updates by pulses."""

    xb: array.Crossbar

    @property
    def rows(self) -> int:
        return self.xb.rows

    @property
    def cols(self) -> int:
        return self.xb.cols

    def init(self, key) -> array.CrossbarState:
        return array.init(self.xb, key)

    def logits(self, state, phi, key):
        return self.read(state, phi, key)[0]

    def read(self, state, phi, key):
        """(logits, counters of the forward read: its physical events included)."""
        return array.forward(self.xb, state, phi, key)

    def update(self, state, pre, post, success, lr, key):
        return modulated_update(self.xb, state, pre, post, success, lr, key)

    def transfer(self, state, trace, t_state, success, lr, key):
        return trace.transfer(self.xb, state, t_state, success, lr, key)

    def advance(self, state, dt):
        return array.advance_time(state, dt)

    def weights(self, state):
        return array.weights(self.xb, state)


@pytree_dataclass
@dataclass(frozen=True)
class Learner:
    """What persists between episodes: the actor's state, the critic's weights v [F], the baseline b."""

    actor: Any
    critic: Array
    baseline: Array


def init_learner(actor, n_features: int, key) -> Learner:
    return Learner(actor.init(key), jnp.zeros(n_features, jnp.float32), jnp.zeros((), jnp.float32))


def select_where(flag, a, b):
    """`a` where the scalar `flag`, else `b`, leaf by leaf."""
    return jax.tree_util.tree_map(lambda x, y: jnp.where(flag, x, y), a, b)


def episode(cfg: AgentConfig, env, actor, trace, learner: Learner, key, learn: bool = True,
            greedy: bool = False) -> tuple[Learner, dict]:
    """One episode from the start state; returns the learner after it and its metrics.

    Args:
        cfg: Learning parameters. env: a `Gridworld`. actor: `FloatActor` or `CrossbarActor`.
        trace: Eligibility trace option (None: actor-critic without trace).
        learner: State before the episode. key: Random key.
        learn: False runs the policy without changing anything (evaluation; static).
        greedy: Take the most probable action instead of sampling (static).

    Returns:
        (learner, metrics): steps (int), return R = gamma^(T - 1) at the goal else 0, reached (bool), pulses
        sent to the policy array, clipped (probabilities clipped + counts capped), events: the policy array's
        physical events of the episode ([len(crossbar.events.FIELDS)] float32: forward reads, pulses of the
        updates and transfers as `crossbar.events` counts them, and the digital work of `digital_ops_per_step`;
        the pulses and reads of a volatile trace's own arrays are not counted).
    """
    if cfg.algorithm == "reinforce" and trace is None and learn:
        raise ValueError("`trace` is required for algorithm='reinforce' (the success arrives at the episode's end)")
    k_trace, k_steps, k_end = jax.random.split(key, 3)
    t_state = trace.init(k_trace) if trace is not None else jnp.zeros(())
    zero = jnp.zeros((), jnp.int32)

    ops = digital_ops_per_step(cfg, actor, trace, learn)

    def body(carry, k):
        learner, t_state, pos, done, steps, pulses, clipped, events = carry
        k_read, k_act, k_trace_step, k_update = jax.random.split(k, 4)
        phi = env.features(pos)
        logits, read_counters = actor.read(learner.actor, phi, k_read)
        step_events = read_counters.events.values + ops
        a = jnp.argmax(logits) if greedy else jax.random.categorical(k_act, logits)
        post = jax.nn.one_hot(a, actor.cols) - jax.nn.softmax(logits)
        new_pos, reward, reached = env.step(pos, a)
        new_learner, new_t, dp, dc = learner, t_state, zero, zero
        if learn:
            if trace is not None:
                new_t = trace.accumulate(t_state, phi, post, k_trace_step)
            if cfg.algorithm == "actor_critic":
                v_next = jnp.where(reached, 0.0, env.features(new_pos) @ learner.critic)
                delta = reward + cfg.gamma * v_next - phi @ learner.critic
                critic = learner.critic + cfg.lr_critic * delta * phi
                if trace is None:
                    a_state, counters, dp = actor.update(learner.actor, phi, post, delta, cfg.lr, k_update)
                else:
                    a_state, counters, dp = actor.transfer(learner.actor, trace, new_t, delta, cfg.lr, k_update)
                dc = counters.probability_clipped + counters.count_clipped
                step_events = step_events + counters.events.values
                new_learner = Learner(a_state, critic, learner.baseline)
            new_learner = Learner(actor.advance(new_learner.actor, cfg.dt), new_learner.critic, new_learner.baseline)
        new = (new_learner, new_t, new_pos, reached, steps + 1, pulses + dp, clipped + dc, events + step_events)
        return select_where(done, carry, new), None

    carry = (learner, t_state, env.start, jnp.zeros((), bool), zero, zero, zero, Events.zeros().values)
    (learner, t_state, _, reached, steps, pulses, clipped, events), _ = jax.lax.scan(
        body, carry, jax.random.split(k_steps, env.max_steps))
    ret = jnp.where(reached, cfg.gamma ** (steps - 1).astype(jnp.float32), 0.0)
    if learn and cfg.algorithm == "reinforce":
        success = ret - learner.baseline
        a_state, counters, dp = actor.transfer(learner.actor, trace, t_state, success, cfg.lr, k_end)
        baseline = learner.baseline + cfg.baseline_rate * (ret - learner.baseline)
        learner = Learner(a_state, learner.critic, baseline)
        pulses, clipped = pulses + dp, clipped + counters.probability_clipped + counters.count_clipped
        events = events + counters.events.values
    return learner, {"steps": steps, "return": ret, "reached": reached, "pulses": pulses, "clipped": clipped,
                     "events": events}


def digital_ops_per_step(cfg: AgentConfig, actor, trace, learn: bool = True) -> np.ndarray:
    """[len(FIELDS)] events vector of one step's digital work beside the policy array (an estimate, as counted
    for the MLP in `crossbar.training.mlp`): the softmax and its sample (3 per action) and the post factor
    (1 per action); learning adds the trace's accumulation (`accumulate_ops`: rows x cols products and adds of a
    digital trace, rows + cols of a factorised one, none for a volatile trace, whose devices integrate) and, for
    actor-critic, the critic's two dot products, TD error and update (4 per feature)."""
    ops = 4 * actor.cols
    if learn:
        ops += getattr(trace, "accumulate_ops", 0)  # none without a trace
        ops += 4 * actor.rows if cfg.algorithm == "actor_critic" else 0
    out = np.zeros(len(FIELDS), np.float32)
    out[INDEX["digital_ops"]] = ops
    return out


def train(cfg: AgentConfig, env, actor, trace, learner: Learner, keys) -> tuple[Learner, dict]:
    """Episodes one after another, one per key in `keys` [n]; metrics stacked [n]."""
    return jax.lax.scan(lambda lr_, k: episode(cfg, env, actor, trace, lr_, k), learner, keys)
