"""Traces of device arrays under pulse trains and repeated reads, as jitted `lax.scan`s.

Shared by the experiments, the benchmarks, the notebooks and the sweeps: the experiment scripts only
orchestrate and plot. Both functions are pure and accept any device model (a pytree), so they `jit` with
the device as an argument and `vmap` over parameter pytrees.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from devices.base import Array, DeviceState, Key


@jax.jit
def pulse_train(device, state: DeviceState, voltages: Array, key: Key) -> tuple[DeviceState, Array]:
    """Apply a train of pulses to every device and record the programmed conductance after each.

    Args:
        device: Any device model (see `devices.base.Device`).
        state: Device array state, shape `[*shape]`.
        voltages: Signed pulse amplitudes (V), `[n_pulses]` (same pulse on every device) or
            `[n_pulses, *shape]` (one per device).
        key: Random key; pulse i uses the i-th of `n_pulses` keys split from it.

    Returns:
        `(final_state, g_trace)` with `g_trace` `[n_pulses + 1, *shape]` (S): the programmed conductance
        (no drift, no read noise) before the first pulse and after each pulse.
    """
    keys = jax.random.split(key, voltages.shape[0])

    def step(s, inputs):
        v, k = inputs
        s = device.pulse(s, v, k)
        return s, s.g

    final, trace = jax.lax.scan(step, state, (voltages, keys))
    return final, jnp.concatenate([state.g[None], trace], axis=0)


def up_down_voltages(n_up: int, n_down: int, amplitude: float = 1.5) -> Array:
    """`[n_up + n_down]` pulse amplitudes (V): `n_up` potentiating then `n_down` depressing pulses."""
    return jnp.concatenate([jnp.full((n_up,), amplitude), jnp.full((n_down,), -amplitude)])


@jax.jit
def read_train(device, state: DeviceState, times: Array, key: Key, v_read: float = 0.2) -> tuple[DeviceState, Array]:
    """Read every device at increasing simulated times, each read being a `v_read` pulse that may disturb it.

    A read applies `device.pulse(state, v_read)` (nothing happens below the switching threshold, which is
    the point of reading at low voltage) and then reads the conductance with drift and read noise.

    Args:
        device: Any device model.
        state: Device array state, shape `[*shape]`, programmed at `state.t_prog`.
        times: `[n_reads]` increasing simulated read times (s).
        key: Random key; read i uses the i-th of `n_reads` keys split from it.
        v_read: Read voltage (V).

    Returns:
        `(final_state, g_read)` with `g_read` `[n_reads, *shape]` (S), the noisy read conductances.
    """
    keys = jax.random.split(key, times.shape[0])

    def step(s, inputs):
        t, k = inputs
        k_disturb, k_read = jax.random.split(k)
        s = device.pulse(s, v_read, k_disturb, t)
        return s, device.read(s, t, k_read)

    return jax.lax.scan(step, state, (times, keys))
