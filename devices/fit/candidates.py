"""The candidate models a measurement is fitted with, their free parameters, bounds and starting points.

Fits run in normalised conductance units, u = (G - lo) / span with lo, span the lowest measured conductance
and the measured range: every step law here depends on G only through (G - G_min) / (G_max - G_min) and steps
proportional to the range, so a model fitted in u is the same model in S after `to_siemens`, and the numbers
a least-squares solver sees are of order one.

Where the data cannot tell the bounds from the other parameters (a hard bound, or a step law whose slope and
bounds trade off: constant, linear, exponential steps, the bilayer and NeuroSim curves) the bounds are fixed to
the measured extremes (u = 0 and 1), as NeuroSim defines G_min and G_max; models whose steps vanish at the
bounds (soft bounds, power steps, PCM) fit them. The up/down asymmetry `up_down` (`noise.Variation`: up steps
scale by 1 + up_down, down steps by 1 - up_down) is a free parameter wherever both polarities are measured.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np

from devices.drift import NoDrift
from devices.noise import NoReadNoise, Variation
from devices.params import replace_parameters

# Parameters in conductance units (S): scaled by the measured range (and shifted, for the bounds).
CONDUCTANCES = ("g_min", "g_max")
STEPS = ("dg",)


@dataclass(frozen=True)
class Candidate:
    """A model to fit: its name in `devices.MODELS`, the free parameters and where each may lie.

    Attributes:
        name: Model name (`devices.MODELS`).
        free: Names of the fitted parameters; `up_down` is the asymmetry, the others the model's fields.
        lower, upper: Bounds of each free parameter in normalised units (conductances in u, steps in u per
            pulse, the rest as they are).
        starts: Functions of the data summary giving starting points (one fit per start; the best is kept).
        polarity: "both" (fits potentiation and depression) or "up" (potentiation only, e.g. PCM).
    """

    name: str
    free: tuple[str, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    starts: tuple[Callable[[dict], tuple[float, ...]], ...]
    polarity: str = "both"

    @property
    def n_params(self) -> int:
        return len(self.free)


def _free_bounds(lo_over_span: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """Ranges of normalised g_min (below the data, >= 0 S) and g_max (above the data)."""
    return (-min(lo_over_span, 5.0), 0.0), (1.0, 6.0)


def candidates(lo_over_span: float = 5.0, signs=(1, -1)) -> list[Candidate]:
    """The candidate models for data of the given polarities, lowest measured G / measured range `lo_over_span`."""
    (gmin_lo, gmin_hi), (gmax_lo, gmax_hi) = _free_bounds(lo_over_span)
    ud = ("up_down",) if set(signs) == {1, -1} else ()
    ud_lo, ud_hi = ((-0.95,), (0.95,)) if ud else ((), ())

    def dg(s):
        return (s["step"],)

    def asym(s):
        return (s["asym"],) if ud else ()

    out = [
        Candidate("constant_step", ("dg", *ud), (1e-6, *ud_lo), (1.0, *ud_hi), (lambda s: dg(s) + asym(s),)),
        Candidate("soft_bounds", ("dg", *ud, "g_min", "g_max"), (1e-6, *ud_lo, gmin_lo, gmax_lo),
                  (1.0, *ud_hi, gmin_hi, gmax_hi),
                  (lambda s: (2 * s["step"], *asym(s), -0.1, 1.1), lambda s: (3 * s["step"], *asym(s), -0.5, 1.5))),
        Candidate("linear_step", ("dg", *ud, "gamma_up", "gamma_down"), (1e-6, *ud_lo, 0.0, 0.0),
                  (1.0, *ud_hi, 1.0, 1.0),
                  (lambda s: (s["step"], *asym(s), 0.2, 0.2), lambda s: (1.5 * s["step"], *asym(s), 0.7, 0.7))),
        Candidate("bilayer", ("dg", *ud, "gamma"), (1e-6, *ud_lo, 0.0), (1.0, *ud_hi, 1.0),
                  (lambda s: (s["step"], *asym(s), 0.2), lambda s: (1.5 * s["step"], *asym(s), 0.7))),
        # beta < 0: a step growing toward the bound it moves to (a third start looks there).
        Candidate("exp_step", ("dg", *ud, "beta_up", "beta_down"), (1e-6, *ud_lo, -10.0, -10.0),
                  (1.0, *ud_hi, 20.0, 20.0),
                  (lambda s: (s["step"], *asym(s), 0.3, 0.3), lambda s: (2 * s["step"], *asym(s), 1.5, 1.5),
                   lambda s: (0.5 * s["step"], *asym(s), -1.0, -1.0))),
        Candidate("power_step", ("dg", *ud, "gamma", "g_min", "g_max"), (1e-6, *ud_lo, 0.0, gmin_lo, gmax_lo),
                  (1.0, *ud_hi, 5.0, gmin_hi, gmax_hi),
                  (lambda s: (2 * s["step"], *asym(s), 1.0, -0.1, 1.1),
                   lambda s: (s["step"], *asym(s), 0.5, -0.02, 1.02))),
        Candidate("neurosim_nonlinear", ("a_ltp", "a_ltd", "p_max"), (0.5, 0.5, 1.0), (1e4, 1e4, 1e5),
                  (lambda s: (s["pulses"], s["pulses"], s["pulses"]),
                   lambda s: (0.3 * s["pulses"], 0.3 * s["pulses"], s["pulses"]))),
        Candidate("pcm", ("dg", "gamma", "g_max"), (1e-6, 0.0, gmax_lo), (1.0, 5.0, gmax_hi),
                  (lambda s: (2 * s["step"], 1.0, 1.1), lambda s: (s["step"], 0.5, 1.02)), polarity="up"),
    ]
    # Two-polarity models also fit one polarity (their other direction then stays at its start); PCM only SET.
    return [c for c in out if c.polarity == "both" or set(signs) == {1}]


def base_model(name: str):
    """The model `name` in normalised units (bounds 0 and 1), without spread, read noise or drift."""
    from devices import MODELS

    model = MODELS[name]()
    fields = {f.name for f in dataclasses.fields(model)}
    changes = {"g_min": 0.0, "g_max": 1.0, "variation": Variation(), "read_noise": NoReadNoise(), "drift": NoDrift()}
    if "v_reset" in fields and name == "pcm":
        changes["v_reset"] = model.v_reset
    return dataclasses.replace(model, **changes)


def build(candidate: Candidate, theta) -> tuple[object, jnp.ndarray]:
    """(model in normalised units, up_down) for the parameter vector `theta` ([n_params]; traced or not)."""
    values = dict(zip(candidate.free, [theta[i] for i in range(candidate.n_params)], strict=True))
    up_down = values.pop("up_down", jnp.zeros(()))
    return replace_parameters(base_model(candidate.name), **values), up_down


def to_siemens(candidate: Candidate, theta, lo: float, span: float) -> tuple[dict, float]:
    """({parameter: value in S or as it is}, up_down) of a fitted `theta` in normalised units."""
    values = {k: float(v) for k, v in zip(candidate.free, np.asarray(theta, float), strict=True)}
    up_down = values.pop("up_down", 0.0)
    values.setdefault("g_min", 0.0)
    values.setdefault("g_max", 1.0)
    out = {}
    for k, v in values.items():
        out[k] = lo + span * v if k in CONDUCTANCES else span * v if k in STEPS else v
    return out, up_down
