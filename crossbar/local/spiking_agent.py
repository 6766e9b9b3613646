"""The gridworld agent as a spiking network: place cells fire Poisson spikes, four LIF action neurons read them
through the policy array (float or crossbar), the first to fire chooses the action, and three-factor STDP
learns from a success signal.

One decision is a window of `SpikingConfig.window` steps of `dt` = 1 ms. Place cell j fires with probability
rate phi_j dt per step (the bias input at `rate` too); the action neurons integrate the array's read of that
spike vector plus Gaussian noise current (exploration) as LIF neurons. The first neuron to cross threshold wins
(ties at random) and inhibits the others for the rest of the window (winner-take-all), so the STDP traces see
one post spike per decision, the winner's; if none fires, the neuron of highest potential fires at the window's
end. The eligibility e (tau = 1 s) turns into dw = lr S e when the success arrives: S = R - b at the end of the
episode ("reinforce", reward-modulated STDP with a baseline) or the TD error of a float critic after every
decision ("actor_critic"). The arrays' clock advances by dt every step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jax
import jax.numpy as jnp

from crossbar.local.agent import AgentConfig, Learner, select_where
from crossbar.local.lif import LIF
from crossbar.local.stdp import STDP
from devices.pytree import pytree_dataclass
from devices.validation import check_int, check_nonnegative, check_positive

Array = jax.Array


@pytree_dataclass
@dataclass(frozen=True)
class SpikingConfig:
    """Spiking parameters of the agent.

    Attributes:
        window: Steps of `lif.dt` per decision (static).
        rate: Peak firing rate of a place cell (Hz).
        noise: Std of the noise current per step (threshold units), the exploration.
        lif: The action neurons. stdp: Their three-factor STDP (tau_+ = 10 ms, tau_e = 1 s by default).
    """

    window: int = field(default=20, metadata=dict(static=True))
    rate: float = 200.0
    noise: float = 0.3
    lif: LIF = field(default_factory=LIF)
    stdp: STDP = field(default_factory=lambda: STDP(a_minus=0.5))

    def validate(self) -> SpikingConfig:
        check_int("window", self.window, 1)
        check_positive("rate", self.rate)
        check_nonnegative("noise", self.noise)
        self.lif.validate()
        self.stdp.validate()
        if self.lif.dt != self.stdp.dt:
            raise ValueError(f"`lif.dt` and `stdp.dt` must be equal; got {self.lif.dt} and {self.stdp.dt}")
        return self


def decide(sc: SpikingConfig, actor, a_state, stdp_state, phi, key):
    """One decision window: returns (action, actor state (clock advanced), STDP state)."""
    n_out = actor.cols
    p_fire = jnp.clip(sc.rate * sc.lif.dt * phi, 0.0, 1.0)

    def step(carry, k):
        a_state, stdp_state, u, winner, t = carry
        k_in, k_read, k_noise, k_tie = jax.random.split(k, 4)
        s_in = (jax.random.uniform(k_in, phi.shape) < p_fire).astype(jnp.float32)
        current = actor.logits(a_state, s_in, k_read) + sc.noise * jax.random.normal(k_noise, (n_out,))
        u, spikes = sc.lif.step(u, current)
        last = t == sc.window - 1
        # Forced decision at the window's end: the neuron of highest potential fires.
        spikes = jnp.where(last & (winner < 0) & (jnp.sum(spikes) == 0), jax.nn.one_hot(jnp.argmax(u), n_out), spikes)
        first = (winner < 0) & (jnp.sum(spikes) > 0)
        pick = jax.random.categorical(k_tie, jnp.where(spikes > 0, 0.0, -jnp.inf))
        winner = jnp.where(first, pick, winner)
        post = jnp.where(first, jax.nn.one_hot(pick, n_out), 0.0)  # WTA: only the winner's first spike counts
        u = jnp.where(winner >= 0, 0.0, u)  # the others are inhibited for the rest of the window
        stdp_state = sc.stdp.step(stdp_state, s_in, post)
        return (actor.advance(a_state, sc.lif.dt), stdp_state, u, winner, t + 1), None

    carry = (a_state, stdp_state, sc.lif.init(n_out), jnp.full((), -1, jnp.int32), jnp.zeros((), jnp.int32))
    (a_state, stdp_state, _, winner, _), _ = jax.lax.scan(step, carry, jax.random.split(key, sc.window))
    return winner, a_state, stdp_state


def spiking_episode(cfg: AgentConfig, sc: SpikingConfig, env, actor, learner: Learner, key) -> tuple[Learner, dict]:
    """One episode of the spiking agent (metrics as `agent.episode`; any environment with `start_state(key)`)."""
    k_steps, k_end = jax.random.split(key)
    zero = jnp.zeros((), jnp.int32)
    stdp = sc.stdp

    def body(carry, k):
        learner, s_state, pos, done, steps, ret, pulses, clipped = carry
        k_decide, k_update = jax.random.split(k)
        phi = env.features(pos)
        a, a_state, s_state_new = decide(sc, actor, learner.actor, s_state, phi, k_decide)
        new_pos, reward, reached = env.step(pos, a)
        critic, dp, dc = learner.critic, zero, zero
        if cfg.algorithm == "actor_critic":
            v_next = jnp.where(reached, 0.0, env.features(new_pos) @ learner.critic)
            delta = reward + cfg.gamma * v_next - phi @ learner.critic
            critic = learner.critic + cfg.lr_critic * delta * phi
            a_state, counters, dp = actor.transfer(a_state, stdp, s_state_new, delta, cfg.lr, k_update)
            dc = counters.count_clipped
        ret = ret + cfg.gamma ** steps.astype(jnp.float32) * reward
        new = (Learner(a_state, critic, learner.baseline), s_state_new, new_pos, reached, steps + 1, ret,
               pulses + dp, clipped + dc)
        return select_where(done, carry, new), None

    # The start cell's key is folded off `key`, so the other draws are those of a fixed-start task.
    start = env.start_state(jax.random.fold_in(key, 1))
    carry = (learner, stdp.init(actor.rows, actor.cols), start, jnp.zeros((), bool), zero, jnp.zeros(()), zero, zero)
    # The return is the discounted reward: gamma^(T - 1) at a gridworld's goal, the one step's reward on an
    # `ActionMap` (whose episodes always end, rewarded or not).
    (learner, s_state, _, reached, steps, ret, pulses, clipped), _ = jax.lax.scan(
        body, carry, jax.random.split(k_steps, env.max_steps))
    if cfg.algorithm == "reinforce":
        a_state, counters, dp = actor.transfer(learner.actor, stdp, s_state, ret - learner.baseline, cfg.lr, k_end)
        learner = Learner(a_state, learner.critic, learner.baseline + cfg.baseline_rate * (ret - learner.baseline))
        pulses, clipped = pulses + dp, clipped + counters.count_clipped
    return learner, {"steps": steps, "return": ret, "reached": reached, "pulses": pulses, "clipped": clipped}


def spiking_train(cfg: AgentConfig, sc: SpikingConfig, env, actor, learner: Learner, keys):
    """Episodes one after another, one per key in `keys` [n]; metrics stacked [n]."""
    return jax.lax.scan(lambda lr_, k: spiking_episode(cfg, sc, env, actor, lr_, k), learner, keys)
