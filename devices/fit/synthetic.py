"""Measured-like curves simulated from a known device: for parameter-recovery tests and for trying the workflow.

The devices are simulated with the engine the fitted device will run on (`devices.traces.pulse_train`): fresh
devices (device-to-device spread drawn once) take `n_up` potentiation then `n_down` depression pulses with
cycle-to-cycle noise; optional white read noise is added to the recorded readings. Each device gives one
potentiation and one depression curve (a column each), in the layout `data.load_curves` returns.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from devices.base import set_conductance
from devices.fit.data import Curves, PulseData
from devices.traces import pulse_train, up_down_voltages


def simulate_curves(device, n_devices: int, n_up: int, n_down: int, key, read_noise: float = 0.0) -> PulseData:
    """Curves [n_up + 1, n_devices] (potentiation, from each device's initial G) and [n_down + 1, n_devices].

    Args:
        device: A device model (S). n_devices: Number of devices (columns). n_up, n_down: Pulses per polarity
            (n_down = 0: potentiation only). key: Random key. read_noise: Std of white noise added to every
            reading (S).
    """
    k_init, k_pulse, k_read = jax.random.split(key, 3)
    state = device.init(k_init, (n_devices,))
    amplitude = 1.5 * float(device.switching_threshold)
    _, trace = pulse_train(device, state, up_down_voltages(n_up, n_down, amplitude), k_pulse)
    g = np.asarray(trace, float)
    if read_noise:
        g = g + read_noise * np.asarray(jax.random.normal(k_read, trace.shape, jnp.float32), float)
    names = tuple(f"device{j}" for j in range(n_devices))
    up = Curves(g[: n_up + 1], names, 1, "simulated")
    down = Curves(g[n_up:], names, -1, "simulated") if n_down else None
    return PulseData(up, down, {"simulated": type(device).__name__})


def replay_curves(device, data: PulseData, key) -> PulseData:
    """`device` run through the protocol of `data`: each measured curve's pulses, from its first reading.

    Returns curves of the same shape as `data`'s (each runs for the longest measured curve's pulses).
    """
    out = {}
    for sign, curves in data.by_sign().items():
        key, k_init, k_pulse = jax.random.split(key, 3)
        state = set_conductance(device.init(k_init, (curves.n_curves,)), jnp.asarray(curves.g[0], jnp.float32))
        n = curves.g.shape[0] - 1
        amplitude = 1.5 * float(device.switching_threshold) * sign
        _, trace = pulse_train(device, state, jnp.full((n,), amplitude), k_pulse)
        out[sign] = Curves(np.asarray(trace, float), curves.names, sign, "replayed")
    return PulseData(out.get(1), out.get(-1), {"replayed": type(device).__name__})


def mean_trajectory(device, g0: float, n_up: int, n_down: int, key, n_devices: int = 2000) -> np.ndarray:
    """[n_up + n_down + 1] mean conductance (S) of `n_devices` fresh devices (their device-to-device spread drawn)
    set to `g0` (S, clipped to each device's bounds), then pulsed `n_up` times up and `n_down` times down."""
    k_init, k_pulse = jax.random.split(key)
    state = set_conductance(device.init(k_init, (n_devices,)), jnp.full((n_devices,), g0, jnp.float32))
    amplitude = 1.5 * float(device.switching_threshold)
    _, trace = pulse_train(device, state, up_down_voltages(n_up, n_down, amplitude), k_pulse)
    return np.asarray(trace, float).mean(axis=1)
