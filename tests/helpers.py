"""Helpers shared by the tests: device arrays at a chosen place in their range, and standard-error checks."""

from __future__ import annotations

import math
import os
from pathlib import Path

import jax
import numpy as np

from devices import set_conductance

SHAPE = (40, 100)  # 4000 devices: enough for means within a few standard errors, small enough to be fast
N = math.prod(SHAPE)


def at_fraction(model, u, key=None, shape=SHAPE):
    """Fresh devices of `model` set to the fraction `u` (scalar or [*shape]) of their own range."""
    state = model.init(jax.random.key(0) if key is None else key, shape)
    return set_conductance(state, state.g_min + u * (state.g_max - state.g_min))


def within_se(samples, expected, n_se=4.0) -> bool:
    """True when the mean of `samples` lies within `n_se` standard errors of `expected`."""
    samples = np.asarray(samples, np.float64)
    return abs(samples.mean() - expected) <= n_se * samples.std() / math.sqrt(samples.size)


def std_within_se(samples, expected, n_se=4.0) -> bool:
    """True when the std of (normal) `samples` lies within `n_se` standard errors of `expected`."""
    return abs(np.asarray(samples, np.float64).std() - expected) <= n_se * expected / math.sqrt(2 * np.size(samples))


# The measured RRAM curves of CrossSim v2 (set.csv, reset.csv): `$CROSSSIM_RRAM_DIR`, else the copy shipped in the
# package (devices/fit/measured/crosssim_v2_rram); tests that read them are skipped when they are absent.
CROSSSIM = Path(os.environ.get("CROSSSIM_RRAM_DIR",
                               Path(__file__).parents[1] / "devices/fit/measured/crosssim_v2_rram"))
