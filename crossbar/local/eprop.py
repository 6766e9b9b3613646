"""A spiking actor-critic with a hidden layer of LIF neurons, trained by e-prop (Bellec et al. 2020, "A solution to
the learning dilemma for recurrent networks of spiking neurons", Nat. Commun. 11, 3625) on crossbars.

One decision is a window of `EpropConfig.window` steps of `lif.dt`. The state features phi [F] (place cells and a
bias) fire Poisson spikes s^t [F] (probability rate phi_j dt per step); H hidden LIF neurons integrate the hidden
array's read of them, I^t = s^t W1, as `crossbar.local.lif` does:

    u~^t = lambda u^(t-1) + I^t,   z^t = [u~^t >= theta],   u^t = u~^t (1 - z^t),   lambda = exp(-dt / tau_m)

The policy reads the window's firing rates r = sum_t z^t / T through the policy array, logits = [r, 1] W2, and
samples its action from the softmax (a non-spiking readout, as e-prop's readout neurons; here its filter is the
window's mean). The critic is linear in phi (float, TD(0)); its TD error delta is the global success signal.

e-prop gives every hidden synapse an eligibility trace that is local in time and space: the derivative of the
neuron's potential with respect to the weight (the presynaptic trace z^-, resets ignored, as in e-prop) times the
pseudo-derivative psi of its spike:

    z^-_j^t = lambda z^-_j^(t-1) + s_j^t                         (presynaptic trace, the LIF's own filter)
    psi_i^t = (gamma_pd / theta) max(0, 1 - |u~_i^t - theta| / theta)
    e_ji = (1 / T) sum_t psi_i^t z^-_j^t                         (the window's eligibility of dr_i / dW1_ji)

and a learning signal per hidden neuron, the policy's error sent back through a fixed random matrix B [4, H]
("random e-prop", no transpose read of W2): L_i = sum_k B_ki (onehot(a) - pi)_k. The updates are

    hidden layer   dW1_ji = lr_hidden delta L_i e_ji             (a neuron-specific third factor m_i = delta L_i)
    policy layer   dW2 = lr delta [r, 1] (onehot(a) - pi)^T       (the global third factor)

The hidden eligibility is kept per synapse (`eligibility="synapse"`, sent as pulse counts by
`modulated.transfer`) or factorised (`"factorised"`, e_ji ~ p_j q_i with p = mean_t z^-^t and q = mean_t psi^t,
O(F + H) memory, sent as one pulse coincidence by `modulated_update` with the per-neuron modulator m = delta L).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jax
import jax.numpy as jnp

from crossbar.local.agent import CrossbarActor

# The learner's state and its start are the rate agent's (a hidden layer, a policy layer, a linear critic);
# `init_learner` draws the hidden layer's random start with `EpropConfig.init_scale`.
from crossbar.local.hidden_agent import HiddenLearner, feedback_matrix, init_learner, run_episode, td_step  # noqa: F401
from crossbar.local.lif import LIF
from crossbar.local.modulated import modulated_update, transfer
from devices.pytree import pytree_dataclass
from devices.validation import check_choice, check_in_range, check_int, check_nonnegative, check_positive

Array = jax.Array
ELIGIBILITIES = ("synapse", "factorised")


@pytree_dataclass
@dataclass(frozen=True)
class EpropConfig:
    """Parameters of the spiking actor-critic and its e-prop rule (see the module docstring).

    Attributes:
        window: Steps of `lif.dt` per decision, T (static).
        rate: Peak firing rate of an input cell (Hz); the bias input fires at this rate.
        lif: The hidden LIF neurons (tau_m, dt, threshold theta).
        gamma_pd: Dampening of the pseudo-derivative psi (e-prop's 0.3).
        eligibility: "synapse" (e [F, H] per synapse, sent as pulse counts) or "factorised" (p q^T, one pulse
            coincidence) (static).
        lr: Learning rate of the policy layer.
        lr_hidden: Learning rate of the hidden layer.
        lr_critic: Critic learning rate.
        gamma: Discount per decision, in (0, 1].
        dt: Simulated time per decision for the arrays' clocks (s).
        init_scale: Standard deviation of the hidden layer's initial weights (weight units).
        max_pulses: Most pulses per device in one transfer of a per-synapse eligibility (static).
        feedback_seed: Seed of the fixed random feedback matrix B (static).
    """

    window: int = field(default=20, metadata=dict(static=True))
    rate: float = 200.0
    lif: LIF = field(default_factory=LIF)
    gamma_pd: float = 0.3
    eligibility: str = field(default="synapse", metadata=dict(static=True))
    lr: float = 0.01
    lr_hidden: float = 1.0
    lr_critic: float = 0.2
    gamma: float = 0.95
    dt: float = 0.05
    init_scale: float = 1.0
    max_pulses: int = field(default=100, metadata=dict(static=True))
    feedback_seed: int = field(default=0, metadata=dict(static=True))

    def validate(self) -> EpropConfig:
        check_int("window", self.window, 1)
        check_positive("rate", self.rate)
        self.lif.validate()
        check_nonnegative("gamma_pd", self.gamma_pd)
        check_choice("eligibility", self.eligibility, ELIGIBILITIES)
        for name in ("lr", "lr_hidden", "lr_critic", "dt"):
            check_positive(name, getattr(self, name))
        check_in_range("gamma", self.gamma, 1e-6, 1.0)
        check_nonnegative("init_scale", self.init_scale)
        check_int("max_pulses", self.max_pulses, 1)
        return self


@pytree_dataclass
@dataclass(frozen=True)
class Window:
    """What one decision window leaves (shapes for F inputs and H hidden neurons).

    Attributes:
        rates: [H] firing rates r = spikes / T (spikes per step).
        pre_trace: [F] p = mean over the window of the presynaptic traces z^-.
        psi: [H] q = mean over the window of the pseudo-derivatives.
        eligibility: [F, H] e = mean over the window of psi_i z^-_j (per synapse; zeros when factorised).
    """

    rates: Array
    pre_trace: Array
    psi: Array
    eligibility: Array


def input_spikes(cfg: EpropConfig, phi: Array, key) -> Array:
    """Poisson spikes [T, F] (float 0/1) of the input cells in one window: probability rate phi_j dt per step."""
    p_fire = jnp.clip(cfg.rate * cfg.lif.dt * phi, 0.0, 1.0)
    return (jax.random.uniform(key, (cfg.window,) + phi.shape) < p_fire[None, :]).astype(jnp.float32)


def pseudo_derivative(cfg: EpropConfig, u: Array) -> Array:
    """psi = (gamma_pd / theta) max(0, 1 - |u - theta| / theta) of potentials u (before the reset)."""
    theta = cfg.lif.threshold
    return cfg.gamma_pd / theta * jnp.maximum(0.0, 1.0 - jnp.abs(u - theta) / theta)


def run_window(cfg: EpropConfig, hidden, h_state, spikes: Array, key) -> tuple[Window, Array]:
    """The hidden LIF layer through one window and its e-prop traces.

    Args:
        cfg: Parameters.
        hidden: The hidden layer's actor ([F, H]; `FloatActor` or `CrossbarActor`).
        h_state: Its state (weights or array state); the arrays' clock is not advanced here.
        spikes: [T, F] input spikes of the window.
        key: Random key of the reads (device read noise, output noise).

    Returns:
        (Window, hidden spikes [T, H]).
    """
    lam = cfg.lif.lam_m
    n_hidden = hidden.cols
    per_synapse = cfg.eligibility == "synapse"

    def step(carry, inputs):
        u, z_pre, e = carry
        s, k = inputs
        current, _ = hidden.read(h_state, s, k)
        u_tilde = lam * u + current
        psi = pseudo_derivative(cfg, u_tilde)
        z_pre = lam * z_pre + s
        u, z = cfg.lif.step(u, current)
        e = e + jnp.outer(z_pre, psi) if per_synapse else e
        return (u, z_pre, e), (z, z_pre, psi)

    n_in = spikes.shape[1]
    carry = (cfg.lif.init(n_hidden), jnp.zeros(n_in, jnp.float32), jnp.zeros((n_in, n_hidden), jnp.float32))
    (_, _, e), (z, z_pre, psi) = jax.lax.scan(step, carry, (spikes, jax.random.split(key, cfg.window)))
    t = cfg.window
    return Window(jnp.mean(z, 0), jnp.mean(z_pre, 0), jnp.mean(psi, 0), e / t), z


def learning_signal(b: Array, post: Array) -> Array:
    """L [H] = post B: the policy's error post = onehot(a) - pi [4] sent to each hidden neuron through B [4, H]."""
    return post @ b


def hidden_update(cfg: EpropConfig, hidden, h_state, window: Window, m: Array, key):
    """dW1_ji = lr_hidden m_i e_ji (per synapse, pulse counts) or lr_hidden m_i p_j q_i (factorised, one
    coincidence); returns (state, device pulses sent)."""
    if not isinstance(hidden, CrossbarActor):
        e = window.eligibility if cfg.eligibility == "synapse" else jnp.outer(window.pre_trace, window.psi)
        return h_state + cfg.lr_hidden * e * m[None, :], jnp.zeros((), jnp.int32)
    if cfg.eligibility == "synapse":
        new, _, pulses = transfer(hidden.xb, h_state, window.eligibility * m[None, :], 1.0, cfg.lr_hidden, key,
                                  cfg.max_pulses)
    else:
        new, _, pulses = modulated_update(hidden.xb, h_state, window.pre_trace, window.psi, m, cfg.lr_hidden, key)
    return new, pulses


def decide(cfg: EpropConfig, hidden, policy, learner: HiddenLearner, phi: Array, key, greedy: bool = False):
    """One decision: (action, window, logits [4])."""
    k_spikes, k_window, k_read, k_act = jax.random.split(key, 4)
    window, _ = run_window(cfg, hidden, learner.hidden, input_spikes(cfg, phi, k_spikes), k_window)
    logits, _ = policy.read(learner.policy, jnp.concatenate([window.rates, jnp.ones(1)]), k_read)
    a = jnp.argmax(logits) if greedy else jax.random.categorical(k_act, logits)
    return a, window, logits


def episode(cfg: EpropConfig, env, hidden, policy, learner: HiddenLearner, key, learn: bool = True,
            greedy: bool = False) -> tuple[HiddenLearner, dict]:
    """One episode of the spiking actor-critic; returns the learner after it and its metrics.

    Args:
        cfg: Parameters.
        env: An environment with `start_state(key)`, `features`, `step` and `max_steps`.
        hidden: The hidden layer's actor ([F, H]).
        policy: The policy layer's actor ([H + 1, 4]).
        learner: State before the episode.
        key: Random key.
        learn: False runs the policy without changing anything (static).
        greedy: Take the most probable action (static).

    Returns:
        (learner, metrics): steps, return (discounted reward), reached (ended at its goal), device pulses sent.
    """
    b = jnp.asarray(feedback_matrix(policy.cols, hidden.cols, cfg.feedback_seed))

    def step(learner, pos, k):
        k_decide, k_pol, k_hid = jax.random.split(k, 3)
        phi = env.features(pos)
        a, window, logits = decide(cfg, hidden, policy, learner, phi, k_decide, greedy)
        post = jax.nn.one_hot(a, policy.cols) - jax.nn.softmax(logits)
        new_pos, reward, reached = env.step(pos, a)
        if not learn:
            return learner, new_pos, reward, reached, jnp.zeros((), jnp.int32)
        delta, critic = td_step(env, learner.critic, phi, new_pos, reward, reached, cfg.gamma, cfg.lr_critic)
        pre = jnp.concatenate([window.rates, jnp.ones(1)])
        p_state, _, dp = policy.update(learner.policy, pre, post, delta, cfg.lr, k_pol)
        h_state, dh = hidden_update(cfg, hidden, learner.hidden, window, delta * learning_signal(b, post), k_hid)
        new_learner = HiddenLearner(hidden.advance(h_state, cfg.dt), policy.advance(p_state, cfg.dt), critic)
        return new_learner, new_pos, reward, reached, dp + dh

    return run_episode(env, cfg.gamma, learner, key, step)


def train(cfg: EpropConfig, env, hidden, policy, learner: HiddenLearner, keys):
    """Episodes one after another, one per key in `keys` [n]; metrics stacked [n]."""
    return jax.lax.scan(lambda lr_, k: episode(cfg, env, hidden, policy, lr_, k), learner, keys)


def greedy_accuracy(cfg: EpropConfig, env, hidden, policy, learner: HiddenLearner, key, repeats: int = 10) -> Array:
    """Share of an `ActionMap`'s cells where the most probable action (of one spiking window) is the map's,
    averaged over `repeats` windows per cell (the spikes are random)."""
    cells = jnp.tile(env.cells(), (repeats, 1))
    keys = jax.random.split(key, cells.shape[0])

    def one(pos, k):
        a, _, _ = decide(cfg, hidden, policy, learner, env.features(pos), k, greedy=True)
        return a == env.target(pos)

    return jnp.mean(jax.vmap(one)(cells, keys))
