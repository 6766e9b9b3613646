"""The device protocol and the per-device state shared by all models.

A device *model* is a frozen dataclass of parameters (floats are pytree leaves, so they trace and vmap);
a device *array* is a `DeviceState` pytree holding, for every device, its conductance and the
device-to-device spread drawn once at `init`. Every function is pure and returns the new state.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

import jax
import jax.numpy as jnp

from devices.pytree import pytree_dataclass

Array = jax.Array
Key = jax.Array


@pytree_dataclass
@dataclass(frozen=True)
class DeviceState:
    """State of an array of devices of one model. All fields have the array's shape `[*shape]`.

    Attributes:
        g: Programmed conductance (S), before retention drift and read noise.
        g_min: This device's lower conductance bound (S), device-to-device spread included.
        g_max: This device's upper conductance bound (S).
        scale_up: Relative size of this device's potentiation step (1 = nominal; d2d spread and asymmetry).
        scale_down: Relative size of this device's depression step.
        stuck: True where the device is a stuck-at fault: it ignores every pulse.
        t_prog: Simulated time (s) of this device's last programming; drift counts from here.
        aux: Model-specific per-device state (e.g. the filament state of an abrupt RRAM), by name.
    """

    g: Array
    g_min: Array
    g_max: Array
    scale_up: Array
    scale_down: Array
    stuck: Array
    t_prog: Array
    aux: dict

    @property
    def shape(self) -> tuple[int, ...]:
        return self.g.shape

    @property
    def position(self) -> Array:
        """Where each conductance sits in its device's own range: 0 at g_min, 1 at g_max ([*shape], clipped)."""
        return jnp.clip((self.g - self.g_min) / (self.g_max - self.g_min), 0.0, 1.0)


class Device(Protocol):
    """What every device model provides. `v` is a signed pulse amplitude (V), `t` a simulated time (s)."""

    def validate(self) -> Device:
        """Raise `ValueError`/`TypeError` naming any bad parameter; return self."""

    def init(self, key: Key, shape: tuple[int, ...]) -> DeviceState:
        """Draw the device-to-device spread once and return devices at their initial conductance."""

    def pulse(self, state: DeviceState, v: Array, key: Key, t: Array | None = None) -> DeviceState:
        """Apply one pulse of amplitude `v` ([*shape] or scalar, V) to every device.

        Only devices with |v| >= their switching threshold change; sign(v) > 0 potentiates.
        Where `t` is given, the devices that were switched record `t` as their programming time.
        """

    def pulse_n(self, state: DeviceState, n: Array, key: Key, t: Array | None = None) -> DeviceState:
        """Apply `n` ([*shape] signed ints) full-amplitude pulses: n > 0 potentiates, n < 0 depresses.

        Statistically equal to `|n|` calls of `pulse`, in closed form where the model allows.
        """

    def read(self, state: DeviceState, t: Array = 0.0, key: Key | None = None) -> Array:
        """Conductance (S, [*shape]) read at simulated time `t`: drift since `t_prog`, then read noise.

        With `key=None` the read is noise-free and the drift is its mean.
        """


def set_conductance(state: DeviceState, g: Array, t: Array | None = None) -> DeviceState:
    """Directly initialise conductances (S), clipped to each device's bounds; stuck devices keep theirs."""
    g = jnp.broadcast_to(jnp.asarray(g, state.g.dtype), state.shape)
    g = jnp.where(state.stuck, state.g, jnp.clip(g, state.g_min, state.g_max))
    t_prog = state.t_prog if t is None else jnp.full_like(state.t_prog, t)
    return replace(state, g=g, t_prog=t_prog)

