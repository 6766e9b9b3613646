"""The state of devices programmed for inference, shared by the inference noise models.

A noise model (`crossbar.inference.pcm_noise`, `crossbar.inference.rram_noise`) programs target conductances
once (`program(g_target, key)`), drawing the programming error and each device's drift variable then, and
answers reads at any later time from that state (`drift(state, t)`, `read(state, t, key)`). Drift is therefore
one trajectory per device; only the read noise is drawn at each read.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from devices.noise import standard_normal
from devices.pytree import pytree_dataclass
from devices.validation import check_finite, check_nonnegative

Array = jax.Array


@pytree_dataclass
@dataclass(frozen=True)
class ProgrammedState:
    """Devices as programmed. All fields have the array's shape `[*shape]`.

    Attributes:
        g_target: Target conductance (S) the programming aimed at.
        g_prog: Conductance (S) at the end of programming (target plus programming error).
        z: Standard normal drawn once per device at programming; the model's drift variable (PCM: the drift
            exponent's deviation; RRAM: the relaxation's).
    """

    g_target: Array
    g_prog: Array
    z: Array

    @property
    def shape(self) -> tuple[int, ...]:
        return self.g_target.shape


def draw_programmed(g_target: Array, std: Array, key, floor=0.0) -> ProgrammedState:
    """Targets plus a Gaussian programming error of std `std` (S), floored at `floor` (S; None: not floored), and
    each device's drift variable z, drawn from independent streams of `key`."""
    k_prog, k_drift = jax.random.split(key)
    g_prog = g_target + std * standard_normal(k_prog, g_target.shape, g_target.dtype)
    if floor is not None:
        g_prog = jnp.maximum(g_prog, floor)
    return ProgrammedState(g_target=g_target, g_prog=g_prog, z=jax.random.normal(k_drift, g_target.shape))


def polynomial(coeffs, x: Array) -> Array:
    """sum_i coeffs[i] x^i (Horner), for coefficients in increasing order."""
    y = jnp.zeros_like(x) + coeffs[-1]
    for c in reversed(coeffs[:-1]):
        y = y * x + c
    return y


def check_coeffs(name: str, coeffs) -> None:
    """Raise naming `name` unless `coeffs` is a non-empty tuple of finite numbers."""
    if not isinstance(coeffs, tuple) or not coeffs:
        raise TypeError(f"`{name}` must be a non-empty tuple of numbers; got {name}={coeffs!r}")
    for i, c in enumerate(coeffs):
        check_finite(f"{name}[{i}]", c)


def check_targets(g_target) -> Array:
    """`g_target` as a float array, raising naming it where it is not finite or is negative."""
    g_target = jnp.asarray(g_target, jnp.float32)
    check_finite("g_target", g_target)
    check_nonnegative("g_target", g_target)
    return g_target


def check_time(t) -> None:
    """Raise naming `t` unless it is a finite time >= 0 (s)."""
    check_finite("t", t)
    check_nonnegative("t", t)
