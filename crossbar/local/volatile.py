"""Eligibility traces held physically by a volatile crossbar whose devices relax with time constant tau_e.

Each trace e_ji is a differential pair of volatile devices (a `devices.drift.ExponentialRelaxation` model such as
`devices.presets.diffusive_volatile`), e = (G+ - G-) / scale. Both devices relax to the same rest conductance
G_min, so the trace decays to 0 by itself: e(t + dt) = e(t) exp(-dt / tau_e), with no digital memory and no
refresh. A Hebbian increment pre_j post_i is written by pulse coincidence (`crossbar.update` pulse trains, the
same as any update), but volatile devices are only ever *potentiated*: a positive increment pulses G+, a
negative one G-, each upward (relaxation is the only way down). On success the trace is read (each device once,
with its read noise) and transferred to the non-volatile array by pulse counts (`modulated.transfer`).

Devices are pulsed from their relaxed conductance: `settle` writes the relaxation so far into the programmed
conductance and restarts the clock, exact for a memoryless (exponential) relaxation.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import jax
import jax.numpy as jnp

from crossbar import array
from crossbar.local.modulated import transfer
from crossbar.local.traces import check_factors
from crossbar.update import PulseUpdate, sample_pulses
from devices.base import set_conductance
from devices.drift import ExponentialRelaxation
from devices.pytree import pytree_dataclass
from devices.validation import check_instance, check_int, check_positive

Array = jax.Array


def settle(xb: array.Crossbar, state: array.CrossbarState) -> array.CrossbarState:
    """The same array with the drift since programming written into the devices' conductance, clock restarted.

    For `ExponentialRelaxation` this changes nothing a read sees (now or later), and lets pulses act on the relaxed
    conductance rather than on the one programmed last.
    """
    def relax(dev):
        g = xb.device.read(dev, state.t)
        return replace(dev, g=jnp.where(dev.stuck, dev.g, g), t_prog=jnp.full_like(dev.t_prog, state.t))

    minus = state.minus if xb.pair == "reference" else relax(state.minus)
    return replace(state, plus=relax(state.plus), minus=minus)


@pytree_dataclass
@dataclass(frozen=True)
class VolatileTrace:
    """Eligibility traces on a volatile crossbar (differential pairs of relaxing devices).

    Build it with `make_volatile_trace`. The trace is in the units of `DigitalTrace`: e = W of the volatile array.

    Attributes:
        xb: The volatile array (device with `ExponentialRelaxation` drift, differential pair, w_max = e_max).
        dt: Time step (s) between accumulations; the array's clock advances by it.
        max_pulses: Most pulses per device in one transfer to the non-volatile array (static).
    """

    xb: array.Crossbar
    dt: float = 0.1
    max_pulses: int = field(default=100, metadata=dict(static=True))

    # Accumulation is done by the devices (their relaxation is the decay): no digital work. (Its arrays' pulses
    # and reads are not counted in the agent's events.)
    accumulate_ops = 0

    @property
    def rows(self) -> int:
        return self.xb.rows

    @property
    def cols(self) -> int:
        return self.xb.cols

    @property
    def tau(self):
        """The relaxation time constant tau_e (s) of the volatile devices."""
        return self.xb.device.drift.tau

    @property
    def lam(self) -> Array:
        return jnp.exp(-jnp.asarray(self.dt, jnp.float32) / self.tau)

    def init(self, key) -> array.CrossbarState:
        """Every device at rest (G_min): all traces 0."""
        state = array.init(self.xb, key)
        rest = lambda dev: set_conductance(dev, dev.g_min)  # noqa: E731
        return replace(state, plus=rest(state.plus), minus=rest(state.minus))

    def accumulate(self, state: array.CrossbarState, pre: Array, post: Array, key) -> array.CrossbarState:
        """Let the devices relax for `dt`, then add pre post^T by potentiating pulses (G+ for positive, G- for
        negative products). pre: [rows]; post: [cols]."""
        pre, post = check_factors(pre, post, self.rows, self.cols)
        state = settle(self.xb, array.advance_time(state, self.dt))
        k_pulses, k_plus, k_minus = jax.random.split(key, 3)
        pulses, _ = sample_pulses(self.xb.update_scheme, pre, -post, 1.0, self.xb.dw_min, k_pulses)
        n = pulses.counts()  # small arrays: one dense pass; sign = sign of the increment
        device = self.xb.device
        # A pair moves its weight by dw_min per coincidence when both devices step; one device steps here, so two
        # pulses per coincidence keep the expected increment at pre post^T.
        plus = device.pulse_n(state.plus, 2 * jnp.maximum(n, 0), k_plus, t=state.t)
        minus = device.pulse_n(state.minus, 2 * jnp.maximum(-n, 0), k_minus, t=state.t)
        return replace(state, plus=plus, minus=minus)

    def eligibility(self, state: array.CrossbarState, key=None) -> Array:
        """The traces e [rows, cols] read now (with the devices' read noise where `key` is given)."""
        g_plus, g_minus = array.conductances(self.xb, state, key)
        return (g_plus - g_minus) / self.xb.scale

    def transfer(self, xb, xb_state, state: array.CrossbarState, success, lr, key):
        """Read the traces once and send dw = lr S e to the non-volatile array `xb`: (state, counters, pulses)."""
        k_read, k_transfer = jax.random.split(key)
        return transfer(xb, xb_state, self.eligibility(state, k_read), success, lr, k_transfer, self.max_pulses)


def make_volatile_trace(device, rows: int, cols: int, *, e_max: float = 10.0, dt: float = 0.1, bl: int = 31,
                        max_pulses: int = 100) -> VolatileTrace:
    """A validated volatile trace array.

    Args:
        device: Volatile device model; its drift must be `ExponentialRelaxation` (tau_e = device.drift.tau).
        rows: Rows of the synapse array.
        cols: Columns of the synapse array.
        e_max: Largest trace magnitude one pair holds (trace units); sets w_max of the volatile array.
        dt: Time step (s) of `accumulate`.
        bl: Pulse train length of the increments (static).
        max_pulses: Most pulses per device in one transfer.

    Raises:
        TypeError: An argument of the wrong type, naming it.
        ValueError: A bad value, naming the argument.
    """
    check_instance("device.drift", getattr(device, "drift", None), ExponentialRelaxation,
                   "ExponentialRelaxation (a volatile device, e.g. devices.presets.diffusive_volatile())")
    check_positive("e_max", e_max)
    check_positive("dt", dt)
    check_int("max_pulses", max_pulses, 1)
    xb = array.make_crossbar(device, rows, cols, w_max=e_max, pair="differential",
                             update_scheme=PulseUpdate(bl=bl, update_management=True))
    return VolatileTrace(xb=xb, dt=dt, max_pulses=max_pulses)
