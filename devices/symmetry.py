"""The symmetry point of a pulsed device: the conductance where its mean up and down steps are equal.

A device driven by random, zero-mean pulses drifts to its symmetry point (a soft-bounds device decays to it
geometrically), so a weight read against a reference there is 0 where the device rests; transfer algorithms
(`crossbar.transfer`) rely on that. It is found here for every model of the shared step engine from its own
`step_sizes` (bisection on up(G) - down(G) within each device's own bounds, device-to-device spread included);
`crossbar.reference` sets references to it, computed or by zero-shifting.

For soft bounds it is G* = (r_up G_max' + r_down G_min') / (r_up + r_down), with r the relative slopes: aihwkit's
`SoftBoundsReferenceDevice` (w* = (a_up - a_down) / (a_up / b_max - a_down / b_min)) in conductance units.

References:
    Gokmen & Haensch, "Algorithm for training neural networks on resistive device arrays", Front. Neurosci.
    14:103 (2020) (the symmetry point); Kim et al., "Zero-shifting technique for deep neural network training on
    resistive cross-point arrays", arXiv:1907.10228 (2019).
"""

from __future__ import annotations

from dataclasses import replace

import jax
import jax.numpy as jnp

from devices.base import DeviceState

Array = jax.Array

BISECTIONS = 40  # halves each device's own range 40 times: far below float32's resolution of a conductance


def symmetry_point(device, state: DeviceState) -> tuple[Array, Array]:
    """Each device's symmetry point (S) from its own parameters (no pulse is applied).

    Args:
        device: A model of the shared step engine (`devices.pulsed.PulsedDevice`: it has `step_sizes`).
        state: Its devices [*shape] (their own bounds and step scales).

    Returns:
        (g_sym [*shape] S, exists [*shape] bool). `exists` is False where up - down keeps one sign over the whole
        range (e.g. a constant step with an up/down asymmetry: no point is symmetric; g_sym is then the bound
        the device runs to). A device whose steps are equal everywhere (a symmetric constant step) has every
        point symmetric: g_sym is its mid-range and `exists` is True.
    """
    if not hasattr(device, "step_sizes"):
        raise TypeError(f"`device` must be a pulsed model with `step_sizes`; got {type(device).__name__}")

    def excess(g):  # up - down at g: > 0 below the symmetry point of a device whose steps shrink toward the bounds
        up, down = device.step_sizes(replace(state, g=g))
        return up - down

    lo, hi = state.g_min, state.g_max
    f_lo, f_hi = excess(lo), excess(hi)
    scale = jnp.maximum(jnp.abs(f_lo), jnp.abs(f_hi))
    flat = scale <= 1e-6 * jnp.maximum(jnp.abs(device.step_sizes(state)[0]), 1e-30)

    def halve(_, bounds):
        a, b = bounds
        mid = 0.5 * (a + b)
        below = excess(mid) > 0  # the symmetry point lies above mid
        return jnp.where(below, mid, a), jnp.where(below, b, mid)

    a, b = jax.lax.fori_loop(0, BISECTIONS, halve, (lo, hi))
    crossing = (f_lo >= 0) & (f_hi <= 0)
    g_sym = jnp.where(flat, 0.5 * (lo + hi), jnp.where(crossing, 0.5 * (a + b), jnp.where(f_lo > 0, hi, lo)))
    return g_sym, crossing | flat
