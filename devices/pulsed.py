"""The shared engine of pulsed device models: the shared parameters, init, pulse, n-pulse and read, written once.

A model is a frozen parameter dataclass that inherits `PulsedDevice` (one level, no deeper), declares only
its own parameters and defines its state-dependent mean step `step_sizes(state) -> (up, down)`. Models with
a closed form for n pulses override `mean_after_n_pulses` (shared forms in `devices.closed_form`); models
with other physics (abrupt switching) override `respond`. A model may redeclare a shared field to give it
another default (it keeps its place in the field order).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass, replace
from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from devices.base import Array, DeviceState, Key
from devices.closed_form import geometric_sum
from devices.drift import NoDrift
from devices.noise import (
    NoReadNoise,
    NoWriteNoise,
    Variation,
    WriteNoise,
    draw_device_spread,
    noisy_steps,
    standard_normal,
    summed_step_noise,
)
from devices.validation import check_finite, check_less, check_nonnegative, check_positive, check_shape, is_traced


@dataclass(frozen=True)
class PulsedDevice:
    """The parameters every pulsed model shares, and its generic behaviour (see the module docstring).

    Attributes:
        g_min: Lower conductance bound (S), before device-to-device spread.
        g_max: Upper conductance bound (S).
        v_threshold: Smallest pulse amplitude (V) that switches the device; with `v_reset` unset, the
            threshold of both polarities. Reads stay below it, which is what pulse coincidence relies on.
        v_reset: Smallest magnitude (V) of a negative (depressing, RESET) pulse that switches the device;
            None: the same as `v_threshold`.
        variation: Device-to-device and cycle-to-cycle spread (`noise.Variation`).
        read_noise: Read noise (`noise.ReadNoise`, or `noise.NoReadNoise`: reads draw nothing).
        drift: Retention drift model (`drift.NoDrift`, `drift.PowerLawDrift`, `drift.RelaxationDrift`).
        write_noise: `noise.WriteNoise` (an offset of the read conductance redrawn at every programming) or
            `noise.NoWriteNoise` (none; no state is kept).
    """

    g_min: float = 0.0
    g_max: float = 10e-6
    v_threshold: float = 1.0
    v_reset: float | None = None
    variation: Any = field(default_factory=Variation)
    read_noise: Any = field(default_factory=NoReadNoise)
    drift: Any = field(default_factory=NoDrift)
    write_noise: Any = field(default_factory=NoWriteNoise)

    # Whether the mean step depends on the conductance (not a parameter: a property of the step law). Where it
    # does not, n pulses of a batch can be counted first and applied at once (`crossbar.update`, batch_mode).
    steps_depend_on_state: ClassVar[bool] = True

    # ---- derived parameters ------------------------------------------------------------------------
    @property
    def reset_threshold(self):
        """Smallest magnitude (V) of a negative pulse that switches the device."""
        return self.v_threshold if self.v_reset is None else self.v_reset

    @property
    def switching_threshold(self):
        """The larger of the two thresholds (V): a pulse of this magnitude switches either way."""
        return jnp.maximum(self.v_threshold, self.reset_threshold)

    # ---- to be provided by each model -------------------------------------------------------------
    def step_sizes(self, state: DeviceState) -> tuple[Array, Array]:
        """Mean magnitude (S, >= 0, [*shape]) of one potentiation and one depression step at state.g."""
        raise NotImplementedError

    def mean_after_n_pulses(self, state: DeviceState, n: Array) -> Array | None:
        """Closed-form mean conductance after `n` signed pulses, or None when the model has none."""
        return None

    def initial_conductance(self, state: DeviceState) -> Array:
        """Conductance of a fresh device (S). Default: its lower bound."""
        return state.g_min

    def init_aux(self, key: Key, shape: tuple[int, ...]) -> dict:
        """Model-specific per-device state. Default: none."""
        return {}

    def validate_model(self) -> None:
        """Model-specific parameter checks. Default: none."""

    def nominal_symmetry_point(self):
        """The nominal device's symmetry point (S), where additive step noise is referred. Default: mid-range."""
        return 0.5 * (self.g_min + self.g_max)

    # ---- shared behaviour -------------------------------------------------------------------------
    def validate(self):
        """Raise `ValueError`/`TypeError` naming any bad parameter; return self for chaining."""
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple):  # a table (e.g. a lookup table's bins): every entry a finite number
                for i, entry in enumerate(value):
                    check_finite(f"{f.name}[{i}]", entry)
            elif value is not None and not is_dataclass(value):  # numbers (groups validate themselves below)
                check_finite(f.name, value)
        check_nonnegative("g_min", self.g_min)
        check_less("g_min", self.g_min, "g_max", self.g_max)
        check_positive("v_threshold", self.v_threshold)
        if self.v_reset is not None:
            check_positive("v_reset", self.v_reset)
        self.variation.validate()
        self.read_noise.validate()
        self.drift.validate()
        self.write_noise.validate()
        self.validate_model()
        return self

    def init(self, key: Key, shape) -> DeviceState:
        """Draw the device-to-device spread once; return fresh devices of shape `shape` at time 0."""
        shape = check_shape(shape)
        if not is_traced(self):
            self.validate()
        k_spread, k_drift, k_aux = jax.random.split(key, 3)
        d = draw_device_spread(self.variation, k_spread, shape, self.g_min, self.g_max)
        stuck = d["stuck_low"] | d["stuck_high"]
        aux = {**self.drift.init_aux(k_drift, shape), **self.init_aux(k_aux, shape)}
        if isinstance(self.write_noise, WriteNoise):
            aux[WRITE_OFFSET] = jnp.zeros(shape)
        state = DeviceState(g=d["g_min"], g_min=d["g_min"], g_max=d["g_max"], scale_up=d["scale_up"],
                            scale_down=d["scale_down"], stuck=stuck, t_prog=jnp.zeros(shape), aux=aux)
        g0 = jnp.broadcast_to(self.initial_conductance(state), shape)
        g0 = jnp.where(d["stuck_low"], d["g_min"], jnp.where(d["stuck_high"], d["g_max"], g0))
        return replace(state, g=g0)

    def respond(self, state: DeviceState, n: Array, key: Key) -> DeviceState:
        """Apply `n` ([*shape] signed) full pulses to the non-stuck devices; the physics of the model."""
        mean = self.mean_after_n_pulses(state, n)
        if mean is None:
            return self._respond_by_loop(state, n, key)
        if self.variation.c2c_additive:
            g = mean + self._summed_additive_noise(state, n, key)
            return replace(state, g=jnp.clip(g, state.g_min, state.g_max))
        # The noise of early steps is rescaled by the later ones, so its std follows the last mean step rather
        # than the total change (which overstates it ~2x on a strongly saturating curve); see summed_step_noise.
        last_step = mean - self.mean_after_n_pulses(state, n - jnp.sign(n))
        g = mean + summed_step_noise(last_step, n, self.variation.c2c, key)
        return replace(state, g=jnp.clip(g, state.g_min, state.g_max))

    def _additive_noise_std(self, state: DeviceState, direction: Array) -> Array:
        """[*shape] std (S) of one step's additive noise: c2c x the device's own step at the nominal symmetry
        point, in the pulses' direction (aihwkit's `dw_min_std` with `mult_noise` off)."""
        g_sym = jnp.full(state.shape, self.nominal_symmetry_point(), state.g.dtype)
        up_sym, down_sym = self.step_sizes(replace(state, g=g_sym))
        return self.variation.c2c * jnp.where(direction > 0, up_sym, down_sym)

    def _summed_additive_noise(self, state: DeviceState, n: Array, key: Key) -> Array:
        """The additive cycle-to-cycle noise (S) of `n` pulses, to add to their closed-form mean.

        Each pulse maps G -> G + step(G) + sigma xi_k. The noise of pulse k is carried to the end by the later
        pulses' map derivatives rho = 1 + d step / dG (1 - rate for soft bounds; 1 for constant steps), so the
        sum is normal with variance sigma^2 sum_{j<n} rho^(2j) = sigma^2 (1 - rho^(2n)) / (1 - rho^2): exact in
        distribution for affine per-pulse maps (constant, soft-bounds and linear steps) as long as no bound
        clips an intermediate pulse (here G is clipped once, after the n pulses); to first order in the step for
        other models (rho taken at the start). This replaces a loop of max |n| passes over the array with one.
        """
        direction = jnp.sign(n)
        count = jnp.abs(n).astype(state.g.dtype)

        def steps(g):
            return self.step_sizes(replace(state, g=g))

        _, (d_up, d_down) = jax.jvp(steps, (state.g,), (jnp.ones_like(state.g),))
        rho = jnp.clip(jnp.where(direction > 0, 1.0 + d_up, 1.0 - d_down), 0.0, 1.0)
        # With at most one pulse per device (pulse trains) the sum is the count itself: no exp and log needed.
        pulses = jax.lax.cond(jnp.max(count, initial=0.0) <= 1.0, lambda: count,
                              lambda: geometric_sum(1.0 - rho * rho, count))
        xi = standard_normal(key, state.shape, state.g.dtype)
        return self._additive_noise_std(state, direction) * jnp.sqrt(pulses) * xi

    def _respond_by_loop(self, state: DeviceState, n: Array, key: Key) -> DeviceState:
        """Pulse by pulse, masked: devices with fewer pulses stop early. Used where no closed form exists (and
        by the tests, as the reference of the closed forms); every pulse is clipped to the bounds."""
        direction = jnp.sign(n)
        count = jnp.abs(n)
        if self.variation.c2c_additive:  # the noise of every step is that of a step at the symmetry point
            noise_std = self._additive_noise_std(state, direction)

        def one_pulse(i, s):
            up, down = self.step_sizes(s)
            active = i < count
            step = jnp.where(direction > 0, up, -down) * active
            k = jax.random.fold_in(key, i)
            if self.variation.c2c_additive:
                g = s.g + step + active * noise_std * standard_normal(k, s.shape, s.g.dtype)
            else:
                g = s.g + noisy_steps(step, 1, self.variation.c2c, k)
            return replace(s, g=jnp.clip(g, s.g_min, s.g_max))

        return jax.lax.fori_loop(0, jnp.max(count).astype(jnp.int32), one_pulse, state)

    def respond_up_down(self, state: DeviceState, n_up: Array, n_down: Array, key: Key) -> DeviceState:
        """Apply `n_up` potentiation then `n_down` depression pulses ([*shape] ints >= 0) to non-stuck devices.

        Generic form: two passes, all up then all down, each leaving the devices it does not pulse untouched.
        Models whose step does not depend on the state override it with one pass, exact in distribution away
        from the bounds.
        """
        k_up, k_down = jax.random.split(key)
        up = _keep_unpulsed(self.respond(state, n_up, k_up), state, n_up != 0, None)
        return _keep_unpulsed(self.respond(up, -n_down, k_down), up, n_down != 0, None)

    def drifted(self, state: DeviceState, t: Array | None) -> DeviceState:
        """`state` with the drift since each device's programming written into its conductance, at time `t` (s).

        A pulse acts on the conductance the device has when it arrives: where the drift model is a physical
        relaxation (`drift.relaxes`), that is the drifted conductance, not the one programmed last, so `pulse_n`
        and `pulse_up_down` start from here (and the pulsed devices' drift restarts at `t`). With `t=None` (no
        clock given) or a model that does not relax, `state` is returned unchanged. `t_prog` is left as it is:
        the devices a pulse reaches are stamped with `t` afterwards, the others keep their state bit for bit.
        The write-noise offset is a read offset, not part of the state, and is not written in.
        """
        if t is None or not getattr(self.drift, "relaxes", False):
            return state
        g = self.drift.apply(state, jnp.maximum(t - state.t_prog, 0.0))
        return replace(state, g=jnp.where(state.stuck, state.g, g))

    def pulse_n(self, state: DeviceState, n: Array, key: Key, t: Array | None = None) -> DeviceState:
        """Apply `n` signed full-amplitude pulses ([*shape] ints) at time `t`; stuck devices ignore them.

        The pulses act on the drifted conductance at `t` (see `drifted`).
        """
        n = _unless_stuck(state, n)
        start = self.drifted(state, t)
        return _keep_unpulsed(self._written(self.respond(start, n, key), key), state, n != 0, t)

    def pulse_up_down(self, state: DeviceState, n_up: Array, n_down: Array, key: Key,
                      t: Array | None = None) -> DeviceState:
        """Apply `n_up` up and `n_down` down pulses whose order is unknown (a summed mini-batch); stuck devices
        ignore them. See `respond_up_down`."""
        n_up, n_down = _unless_stuck(state, n_up), _unless_stuck(state, n_down)
        new = self._written(self.respond_up_down(self.drifted(state, t), n_up, n_down, key), key)
        return _keep_unpulsed(new, state, (n_up + n_down) != 0, t)

    def _written(self, state: DeviceState, key: Key) -> DeviceState:
        """`state` with a fresh write-noise offset on every device (the caller keeps it only where pulsed)."""
        if not isinstance(self.write_noise, WriteNoise):
            return state
        xi = standard_normal(jax.random.fold_in(key, _WRITE_NOISE_STREAM), state.shape, state.g.dtype)
        return replace(state, aux={**state.aux, WRITE_OFFSET: self.write_noise.std * xi})

    def pulse_direction(self, v: Array) -> Array:
        """+1 where v >= v_threshold, -1 where v <= -reset_threshold, 0 between (a half-selected device)."""
        v = jnp.asarray(v)
        return jnp.where(v >= self.v_threshold, 1, jnp.where(v <= -self.reset_threshold, -1, 0))

    def pulse(self, state: DeviceState, v: Array, key: Key, t: Array | None = None) -> DeviceState:
        """Apply one pulse of signed amplitude `v` (V); below the thresholds nothing switches."""
        return self.pulse_n(state, self.pulse_direction(v).astype(jnp.int32), key, t)

    def read(self, state: DeviceState, t: Array = 0.0, key: Key | None = None) -> Array:
        """Conductance (S) read at simulated time `t` (s): drift since programming, then read noise."""
        dt = jnp.maximum(t - state.t_prog, 0.0)
        g = self.drift.apply(state, dt)
        if WRITE_OFFSET in state.aux:  # the apparent conductance of the last write (never below 0)
            g = jnp.maximum(g + state.aux[WRITE_OFFSET], 0.0)
        if key is None:
            return g
        return self.read_noise.apply(g, dt, key)


# The per-device write-noise offset (S) in `DeviceState.aux`, present only with a `WriteNoise`.
WRITE_OFFSET = "write_offset"
_WRITE_NOISE_STREAM = 0x5752  # fold_in tag of the write-noise draw: apart from the step noise's keys


def _unless_stuck(state: DeviceState, n: Array) -> Array:
    """Pulse counts [*shape] int32, zero at stuck devices."""
    return jnp.where(state.stuck, 0, jnp.broadcast_to(jnp.asarray(n), state.shape)).astype(jnp.int32)


def _keep_unpulsed(new: DeviceState, old: DeviceState, pulsed: Array, t: Array | None) -> DeviceState:
    """`new` where `pulsed`, `old` bit for bit elsewhere; pulsed devices record `t` as their programming time.

    Fields the model left untouched (the same array object) need no select: this runs at every update.
    """
    new = jax.tree_util.tree_map(lambda a, b: b if a is b else jnp.where(pulsed, a, b), new, old)
    if t is not None:
        new = replace(new, t_prog=jnp.where(pulsed, t, old.t_prog))
    return new
