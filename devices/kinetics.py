"""Switching kinetics: how a device's step depends on the pulse amplitude, with a soft threshold.

A pulsed device model states its step at the nominal update amplitude V (the coincidence of two half pulses).
Real filamentary devices have no sharp threshold: their switching rate rises exponentially with the voltage, so a
half-selected device (V/2) switches too, only rarely. `SwitchingKinetics` scales the nominal step by

    s(v) = rate(v) / rate(V),   exponential law: rate(v) = exp(v / v0),   sinh law: rate(v) = sinh(v / v0),

and is parameterised by what users know, the nonlinearity k = rate(V) / rate(V / 2): v0 = V / (2 ln k) for the
exponential law, v0 = V / (2 acosh(k / 2)) for the sinh law (which is linear at low voltage, so k > 2). k = inf is
a sharp threshold: s = 1 at V and 0 below it.

How the scale acts: a pulse of amplitude v switches the device by its model's full nominal step with probability
s(v) (switching as a thermally activated, stochastic event whose rate follows the law), so the mean step is
s(v) times the nominal one and every device model keeps its own step law, noise and bounds.

References:
    S. H. Jo, K.-H. Kim, W. Lu, "Programmable resistance switching in nanoscale two-terminal devices", Nano Lett.
    9:496 (2009): the wait time of a switching event falls exponentially with the voltage, t(V) = t0 exp(-V / V0),
    V0 = 0.155 V (Ag / a-Si devices). S. Gaba, P. Sheridan, J. Zhou, S. Choi, W. Lu, "Stochastic memristive devices
    for computing and neuromorphic applications", Nanoscale 5:5872 (2013): switching is a Poisson process of that
    rate. D. B. Strukov, R. S. Williams, "Exponential ionic drift", Appl. Phys. A 94:515 (2009): the sinh form of
    field-driven ionic drift. With V0 = 0.155 V and the update amplitude V = 1.5 V, k = exp(0.75 / 0.155) = 126.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from devices.pytree import pytree_dataclass
from devices.validation import check_choice, check_positive, check_scalar, is_traced

Array = jax.Array

LAWS = ("exponential", "sinh")

# k of the exponential law for V0 = 0.155 V [Jo 2009] at the update amplitude 1.5 V: exp(1.5 / (2 x 0.155)).
JO2009_NONLINEARITY = float(np.exp(1.5 / (2 * 0.155)))


@pytree_dataclass
@dataclass(frozen=True)
class SwitchingKinetics:
    """A switching-kinetics law with a soft threshold, scaling a device's nominal step with the pulse voltage.

    Attributes:
        nonlinearity: k, the step at the full amplitude over the step at half of it (> 1 for the exponential law,
            > 2 for the sinh law; `inf` is a sharp threshold). Default 126: the exponential law of Jo et al. 2009
            (V0 = 0.155 V) at 1.5 V.
        v_pulse: Full update amplitude V across a device at a coincidence (V); each line carries V / 2.
        law: "exponential" (rate exp(v / v0)) or "sinh" (rate sinh(v / v0)). Static.
    """

    nonlinearity: float = JO2009_NONLINEARITY
    v_pulse: float = 1.5
    law: str = field(default="exponential", metadata=dict(static=True))

    def validate(self) -> SwitchingKinetics:
        """Raise ValueError naming a bad parameter (law, v_pulse <= 0, a nonlinearity the law cannot have)."""
        check_choice("law", self.law, LAWS)
        check_scalar("v_pulse", self.v_pulse)
        check_positive("v_pulse", self.v_pulse)
        if not np.isfinite(self.v_pulse):
            raise ValueError(f"`v_pulse` must be finite (V); got v_pulse={self.v_pulse!r}")
        check_scalar("nonlinearity", self.nonlinearity)
        if is_traced(self.nonlinearity):
            return self
        low = 1.0 if self.law == "exponential" else 2.0
        if np.isnan(self.nonlinearity) or not self.nonlinearity > low:
            raise ValueError(f"`nonlinearity` (step at V over step at V/2) must exceed {low:g} for the {self.law} "
                             f"law; got nonlinearity={self.nonlinearity!r}")
        return self

    @property
    def v0(self):
        """The law's voltage scale v0 (V) that gives its nonlinearity (0 for a sharp threshold)."""
        k = jnp.asarray(self.nonlinearity, jnp.float32)
        if self.law == "exponential":
            return self.v_pulse / (2.0 * jnp.log(k))
        return self.v_pulse / (2.0 * jnp.arccosh(0.5 * k))

    def scale(self, v: Array) -> Array:
        """s(v) in [0, 1]: the mean step at amplitude |v| (V) over the nominal step at `v_pulse`.

        Args:
            v: [...] pulse amplitudes (V); only the magnitude counts, and amplitudes above `v_pulse` give 1.

        Returns:
            [...] float32 scale factors.
        """
        x = jnp.clip(jnp.abs(jnp.asarray(v, jnp.float32)) / self.v_pulse, 0.0, 1.0)  # amplitude over V
        k = jnp.asarray(self.nonlinearity, jnp.float32)
        if self.law == "exponential":
            # exp((v - V) / v0) = k^(-2 (1 - v / V)); written as a power so that k = inf is the sharp threshold.
            return jnp.where(x >= 1.0, 1.0, jnp.power(k, -2.0 * (1.0 - x)))
        a = jnp.arccosh(0.5 * k)  # V / (2 v0)
        # sinh(2 a x) / sinh(2 a), in a form that neither overflows for large a nor loses x = 0.
        ratio = jnp.exp(2.0 * a * (x - 1.0)) * (1.0 - jnp.exp(-4.0 * a * x)) / (1.0 - jnp.exp(-4.0 * a))
        return jnp.where(x >= 1.0, 1.0, jnp.where(jnp.isfinite(a), ratio, 0.0))

    @property
    def half_select_scale(self):
        """s(V / 2) = 1 / k: the mean step of a half-selected device in units of its nominal step."""
        return 1.0 / jnp.asarray(self.nonlinearity, jnp.float32)
