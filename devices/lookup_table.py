"""Lookup-table (data-driven) device: the conductance change of one pulse drawn from its measured distribution
at the present conductance, for materials that no formula fits.

The table holds, at `n_bins` conductances (bin centres, S), the mean and the std of the change of one
potentiation pulse and of one depression pulse (magnitudes, S), binned from measured curves
(`devices.fit.lookup.lookup_table_from_curves`). A pulse at conductance G moves it by
mean(G) + std(G) xi (xi standard normal), both linearly interpolated between bin centres and held constant
beyond the outer centres, times the device's step scale (`variation.dg_d2d`, `up_down`); `variation.c2c`, if
set, adds relative noise on top of the measured spread (default 0: the table's spread is the measured c2c).
Conductances are clipped to [g_min, g_max], by default the measured range, so a device never leaves it.
Pulses are applied one by one (no closed form): n pulses cost n table look-ups.

References:
    CrossSim v2.0 (Sandia), "lookup table" device model and examples/lookup_table_generation: the
    distribution of the conductance update per pulse tabulated against conductance from measured curves;
    Agarwal et al., "Resistive memory device requirements for a neural algorithm accelerator", IJCNN 2016.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import jax
import jax.numpy as jnp
import numpy as np

from devices.noise import standard_normal
from devices.pulsed import PulsedDevice
from devices.pytree import pytree_dataclass
from devices.validation import check_instance, is_traced

# An illustrative default table (10 bins over 0-10 uS): soft-bounds-like steps of 1/100 of the range at the far
# bound, with a spread of 30% of the step; replaced by a measured table in real use.
_CENTRES = tuple(float(x) for x in np.linspace(0.5e-6, 9.5e-6, 10))
_UP = tuple(1e-7 * (1.0 - c / 10e-6) for c in _CENTRES)
_DOWN = tuple(1e-7 * (c / 10e-6) for c in _CENTRES)


@pytree_dataclass
@dataclass(frozen=True)
class LookupTable(PulsedDevice):
    """Parameters of a lookup-table device (the shared ones, bounds to drift, are `PulsedDevice`'s).

    Tables are tuples of floats (pytree leaves that jit and vmap trace, and hashable for compiled caches).

    Attributes:
        g_centres: [n_bins] conductances of the bins (S), increasing.
        up_mean: [n_bins] mean increase of G by one potentiation pulse at each centre (S).
        up_std: [n_bins] std of that increase (S, >= 0).
        down_mean: [n_bins] mean decrease of G by one depression pulse (S, a magnitude).
        down_std: [n_bins] std of that decrease (S, >= 0).
    """

    g_centres: tuple = _CENTRES
    up_mean: tuple = _UP
    up_std: tuple = tuple(0.3 * x for x in _UP)
    down_mean: tuple = _DOWN
    down_std: tuple = tuple(0.3 * x for x in _DOWN)

    def validate_model(self) -> None:
        names = ("g_centres", "up_mean", "up_std", "down_mean", "down_std")
        for name in names:
            check_instance(name, getattr(self, name), tuple, "tuple of floats")
        n = len(self.g_centres)
        if n < 2 or any(len(getattr(self, k)) != n for k in names):
            raise ValueError(f"the tables must have one entry per bin (>= 2); got lengths "
                             f"{ {k: len(getattr(self, k)) for k in names} }")
        if is_traced(self):
            return
        centres = np.asarray(self.g_centres)
        if np.any(np.diff(centres) <= 0):
            raise ValueError(f"`g_centres` must increase; got g_centres={self.g_centres!r}")
        for name in ("up_std", "down_std"):
            if np.any(np.asarray(getattr(self, name)) < 0):
                raise ValueError(f"`{name}` must be >= 0; got {name}={getattr(self, name)!r}")

    @property
    def nominal_step(self):
        """The typical step (S): the mean over bins of the up and down mean steps; sets a crossbar's dw_min."""
        return 0.5 * (jnp.mean(jnp.abs(jnp.asarray(self.up_mean))) + jnp.mean(jnp.abs(jnp.asarray(self.down_mean))))

    def _lookup(self, table, g):
        return jnp.interp(g, jnp.asarray(self.g_centres, g.dtype), jnp.asarray(table, g.dtype))

    def step_sizes(self, state):
        """Mean (up, down) step magnitudes (S, [*shape]) at state.g, times each device's step scale."""
        up = jnp.maximum(self._lookup(self.up_mean, state.g), 0.0)
        down = jnp.maximum(self._lookup(self.down_mean, state.g), 0.0)
        return up * state.scale_up, down * state.scale_down

    def respond(self, state, n, key):
        """Apply `n` ([*shape] signed) pulses one by one, each drawn from the table at the present G."""
        direction = jnp.sign(n)
        count = jnp.abs(n)

        def one_pulse(i, s):
            up = direction > 0
            scale = jnp.where(up, s.scale_up, s.scale_down)
            mean = jnp.where(up, self._lookup(self.up_mean, s.g), -self._lookup(self.down_mean, s.g))
            std = jnp.where(up, self._lookup(self.up_std, s.g), self._lookup(self.down_std, s.g))
            k = jax.random.fold_in(key, i)
            xi, xi_c2c = standard_normal(k, (2, *s.shape), s.g.dtype)
            step = scale * (mean * (1.0 + self.variation.c2c * xi_c2c) + std * xi)
            g = jnp.clip(s.g + jnp.where(i < count, step, 0.0), s.g_min, s.g_max)
            return replace(s, g=g)

        return jax.lax.fori_loop(0, jnp.max(count, initial=0).astype(jnp.int32), one_pulse, state)
