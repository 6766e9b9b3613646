"""This project's devices from aihwkit's pulsed-device parameters (weight units), for the models with a twin.

aihwkit states a device in weights: bounds w_min < 0 < w_max (0 is the symmetry point), the step dw_min at the
symmetry point, device-to-device spreads `*_dtod`, cycle-to-cycle `dw_min_std`. Here conductances are mapped
to weights as in `crossbar.mapping` (one device against a reference column at mid-range, or a differential
pair): w = k (G - G_sym), k = 2 w_max / (G_max - G_min), G_sym = (G_min + G_max) / 2. Hence, per parameter:

| aihwkit | here | note |
|---|---|---|
| w_max, w_min = -w_max | g_max, g_min (any; they set k) | symmetric bounds only, except for soft bounds |
| w_min != -w_max (SoftBounds) | symmetry = -w_min / (w_max - w_min) | k = (w_max - w_min) / (g_max - g_min) |
| w_max_dtod | variation.bounds_d2d | relative to the bound's distance from 0 (the mid-range here) |
| w_min_dtod | variation.bounds_min_d2d (None where equal) | the same, for the lower bound |
| dw_min (ConstantStep) | dg = dw_min / k | the step everywhere |
| dw_min (SoftBounds, LinearStep with ls_decrease 1) | dg = 2 dw_min / k | dg is the step at the bound moved away from |
| dw_min_dtod | variation.dg_d2d | gain 1 + dw_min_dtod xi on both directions |
| dw_min_dtod_log_normal | variation.dg_d2d_log_normal | gain exp(dw_min_dtod xi) |
| dw_min_std, mult_noise | variation.c2c, c2c_additive | multiplicative: s (1 + std xi); additive: s + std s_sym xi |
| write_noise_std | WriteNoise(std = write_noise_std dw_min / k) | apparent-weight offset, redrawn per update |
| up_down | variation.up_down = (u - d) / (u + d), dg x (u + d) / 2 | u = 1 + min(up_down, 0), d = 1 - max(.., 0) |
| up_down_dtod | variation.up_down_d2d | additive there, multiplicative here: equal to first order |
| ls_decrease_up/down (LinearStep) | gamma = 2 g / (1 + g) | slope relative to w_max from 0 there, to the range here |
| dw_min (PowStep) | dg = dw_min / k | the step at the bound moved away from, as there |
| pow_gamma, pow_up_down | gamma = f pow_gamma, gamma_up_down = (u - d) / (u + d) | u, d as for up_down, f = (u+d)/2 |
| pow_gamma_dtod, pow_up_down_dtod | gamma_d2d, gamma_up_down_d2d (each / f) | per-device exponents, drawn as there |
| dw_min (ExpStep) | dg = dw_min / k | the step scale |
| A_up, A_down, gamma_up, gamma_down, a, b (ExpStep) | a_up, a_down, gamma_up, gamma_down, slope, offset | z as there |

(s: the step, s_sym: the device's step at the symmetry point; c2c_additive = not mult_noise.)

Known differences: aihwkit's `enforce_consistency` reflects a negative bound or step gain (absolute value), this
project floors the bounds at 5% of the half range and the linear gain at 0 (they differ for the devices more than
1/dtod standard deviations out: 5.7% of them at a bound spread of 0.6, 0.1% at 0.3); aihwkit's
`SoftBoundsReferenceDevice` subtracts each device's own symmetry point (known to `reference_std`), this project's
reference column sits at the nominal mid-range (`crossbar.mapping`); corrupt devices map to stuck faults only where
set by hand; aihwkit documents PowStep's exponent bias as gamma (1 +- pow_up_down) but its code, followed here,
biases one direction only (as for up_down); ExpStep's `dw_min_std_add` and `dw_min_std_slope` (step noise growing
with |w|) are not modelled and are refused.

Sources: aihwkit `src/rpucuda/rpu_pulsed_device.cpp` (populate: bounds, gains, log-normal gains and up/down
biases), `rpu_linearstep_device.cpp` (slopes relative to each device's own bound, multiplicative and additive
noise, write noise on the apparent weight), `rpu_constantstep_device.cpp`, `rpu_powstep_device.cpp` (populate:
per-device exponents; the power law in each device's own range), `rpu_expstep_device.cpp` (z from w over each
device's own range); read for the equations, nothing copied.
"""

from __future__ import annotations

from devices.aihwkit_exp_step import AihwkitExpStep
from devices.constant_step import ConstantStep
from devices.linear_step import LinearStep
from devices.noise import NoWriteNoise, Variation, WriteNoise
from devices.power_step import PowerStep
from devices.soft_bounds import SoftBounds
from devices.validation import check_nonnegative, check_positive


def _common(w_max, w_min, g_min, g_max):
    check_positive("w_max", w_max)
    w_min = -w_max if w_min is None else w_min
    if abs(w_min + w_max) > 1e-12 * w_max:
        raise ValueError(f"only symmetric bounds map onto one conductance range; got w_min={w_min}, w_max={w_max}")
    return 2.0 * w_max / (g_max - g_min)


def _asymmetry(up_down: float) -> tuple[float, float]:
    """(mean step factor, up_down here) of aihwkit's one-sided up/down bias."""
    up, down = 1.0 + min(up_down, 0.0), 1.0 - max(up_down, 0.0)
    return 0.5 * (up + down), (up - down) / (up + down)


def _variation(up_down, dw_min_dtod, dw_min_std, up_down_dtod, w_max_dtod, w_min_dtod=None,
               dw_min_dtod_log_normal=False, mult_noise=True) -> tuple[float, Variation]:
    factor, asym = _asymmetry(up_down)
    lower = None if w_min_dtod is None or w_min_dtod == w_max_dtod else w_min_dtod
    return factor, Variation(dg_d2d=dw_min_dtod, up_down=asym, up_down_d2d=up_down_dtod, bounds_d2d=w_max_dtod,
                             c2c=dw_min_std, bounds_min_d2d=lower, dg_d2d_log_normal=bool(dw_min_dtod_log_normal),
                             c2c_additive=not mult_noise)


def _write_noise(write_noise_std, dw_min, k):
    check_nonnegative("write_noise_std", write_noise_std)
    return WriteNoise(std=write_noise_std * dw_min / k) if write_noise_std else NoWriteNoise()


def constant_step_from_aihwkit(dw_min, w_max, g_min, g_max, *, w_min=None, up_down=0.0, dw_min_dtod=0.0,
                               dw_min_std=0.0, up_down_dtod=0.0, w_max_dtod=0.0, w_min_dtod=None,
                               dw_min_dtod_log_normal=False, write_noise_std=0.0) -> ConstantStep:
    """The `ConstantStep` device (S, range g_min..g_max) of aihwkit's `ConstantStepDevice` parameters."""
    k = _common(w_max, w_min, g_min, g_max)
    factor, variation = _variation(up_down, dw_min_dtod, dw_min_std, up_down_dtod, w_max_dtod, w_min_dtod,
                                   dw_min_dtod_log_normal)
    return ConstantStep(g_min=g_min, g_max=g_max, dg=factor * dw_min / k, variation=variation,
                        write_noise=_write_noise(write_noise_std, dw_min, k)).validate()


def soft_bounds_from_aihwkit(dw_min, w_max, g_min, g_max, *, w_min=None, up_down=0.0, dw_min_dtod=0.0,
                             dw_min_std=0.0, up_down_dtod=0.0, w_max_dtod=0.0, w_min_dtod=None,
                             dw_min_dtod_log_normal=False, mult_noise=True, write_noise_std=0.0) -> SoftBounds:
    """The `SoftBounds` device (S) of aihwkit's `SoftBoundsDevice` parameters (`mult_noise` as there).

    Asymmetric bounds (w_min != -w_max, e.g. aihwkit's `ReRamSBPresetDevice`: -0.75, 1.25) map too: the weight
    range w_max - w_min spans g_min..g_max (k = (w_max - w_min) / (g_max - g_min)), aihwkit's w = 0 (the nominal
    symmetry point) sits at `symmetry` = -w_min / (w_max - w_min) of the range, and each bound's spread, relative
    to its own distance from 0 there (w_max (1 + w_max_dtod xi)), is restated relative to the half range from the
    mid-range here (`Variation.bounds_d2d`): w_max_dtod w_max / h and w_min_dtod |w_min| / h, h = (w_max - w_min)
    / 2. Both draw the same bounds, so the slopes, relative to each device's bound from the symmetry point in
    both, are aihwkit's. Use a crossbar with a reference (`pair="reference"`, w_max = h) at the symmetry point
    (`crossbar.reference`) for aihwkit's weights.
    """
    check_positive("w_max", w_max)
    w_min = -w_max if w_min is None else w_min
    if not w_min < 0.0:
        raise ValueError(f"`w_min` must be negative (0 is the symmetry point); got w_min={w_min}, w_max={w_max}")
    k = (w_max - w_min) / (g_max - g_min)
    half = 0.5 * (w_max - w_min)
    hi = w_max_dtod * w_max / half
    lo = (w_max_dtod if w_min_dtod is None else w_min_dtod) * -w_min / half
    factor, variation = _variation(up_down, dw_min_dtod, dw_min_std, up_down_dtod, hi, None if lo == hi else lo,
                                   dw_min_dtod_log_normal, mult_noise)
    return SoftBounds(g_min=g_min, g_max=g_max, dg=2.0 * factor * dw_min / k, symmetry=-w_min / (w_max - w_min),
                      variation=variation, write_noise=_write_noise(write_noise_std, dw_min, k)).validate()


def linear_step_from_aihwkit(dw_min, w_max, g_min, g_max, *, gamma_up=0.0, gamma_down=0.0, w_min=None,
                             up_down=0.0, dw_min_dtod=0.0, dw_min_std=0.0, up_down_dtod=0.0) -> LinearStep:
    """The `LinearStep` device (S) of aihwkit's `LinearStepDevice` (ls_decrease_up/down = gamma_up/down,
    mean-bound reference, no bound spread: this project's slope is relative to the nominal range)."""
    k = _common(w_max, w_min, g_min, g_max)
    factor, variation = _variation(up_down, dw_min_dtod, dw_min_std, up_down_dtod, 0.0)
    # aihwkit: s (1 - g w / w_max) at w = -w_max is s (1 + g): the step at the bound moved away from.
    if gamma_up != gamma_down:
        # one dg here: the directions' different steps at their start go into the asymmetry
        up = factor * (1 + variation.up_down) * (1 + gamma_up)
        down = factor * (1 - variation.up_down) * (1 + gamma_down)
        factor, variation = 0.5 * (up + down), Variation(dg_d2d=dw_min_dtod, up_down=(up - down) / (up + down),
                                                           up_down_d2d=up_down_dtod, c2c=dw_min_std)
    else:
        factor *= 1 + gamma_up
    return LinearStep(g_min=g_min, g_max=g_max, dg=factor * dw_min / k, gamma_up=2 * gamma_up / (1 + gamma_up),
                      gamma_down=2 * gamma_down / (1 + gamma_down), variation=variation).validate()


def power_step_from_aihwkit(dw_min, w_max, g_min, g_max, *, pow_gamma=1.0, pow_gamma_dtod=0.1, pow_up_down=0.0,
                            pow_up_down_dtod=0.0, w_min=None, up_down=0.0, dw_min_dtod=0.0, dw_min_std=0.0,
                            up_down_dtod=0.0, w_max_dtod=0.0, w_min_dtod=None, dw_min_dtod_log_normal=False,
                            write_noise_std=0.0) -> PowerStep:
    """The `PowerStep` device (S) of aihwkit's `PowStepDevice` parameters (aihwkit's defaults for the exponent)."""
    k = _common(w_max, w_min, g_min, g_max)
    check_nonnegative("pow_gamma", pow_gamma)
    factor, variation = _variation(up_down, dw_min_dtod, dw_min_std, up_down_dtod, w_max_dtod, w_min_dtod,
                                   dw_min_dtod_log_normal)
    # aihwkit: gamma_up = pow_gamma (1 + min(b, 0) + dtod xi + r), gamma_down = pow_gamma (1 - max(b, 0) + dtod xi
    # - r); here gamma (1 +- gamma_up_down + gamma_d2d xi +- gamma_up_down_d2d xi'), hence gamma = f pow_gamma.
    f, bias = _asymmetry(pow_up_down)
    return PowerStep(g_min=g_min, g_max=g_max, dg=factor * dw_min / k, gamma=f * pow_gamma, gamma_up_down=bias,
                     gamma_d2d=pow_gamma_dtod / f, gamma_up_down_d2d=pow_up_down_dtod / f, variation=variation,
                     write_noise=_write_noise(write_noise_std, dw_min, k)).validate()


# aihwkit's ExpStep shape defaults are `AihwkitExpStep`'s (stated once, there).
def exp_step_from_aihwkit(dw_min, w_max, g_min, g_max, *, A_up=AihwkitExpStep.a_up, A_down=AihwkitExpStep.a_down,
                          gamma_up=AihwkitExpStep.gamma_up, gamma_down=AihwkitExpStep.gamma_down,
                          a=AihwkitExpStep.slope, b=AihwkitExpStep.offset, dw_min_std_add=0.0, dw_min_std_slope=0.0,
                          w_min=None, up_down=0.0, dw_min_dtod=0.0, dw_min_std=0.0, up_down_dtod=0.0,
                          w_max_dtod=0.0, w_min_dtod=None, dw_min_dtod_log_normal=False,
                          write_noise_std=0.0) -> AihwkitExpStep:
    """The `AihwkitExpStep` device (S) of aihwkit's `ExpStepDevice` parameters (aihwkit's defaults for the shape)."""
    k = _common(w_max, w_min, g_min, g_max)
    for name, value in (("dw_min_std_add", dw_min_std_add), ("dw_min_std_slope", dw_min_std_slope)):
        if value:
            raise ValueError(f"{name}={value!r}: aihwkit's step noise growing with |w| is not modelled; use 0 "
                             "(dw_min_std, multiplicative, is)")
    factor, variation = _variation(up_down, dw_min_dtod, dw_min_std, up_down_dtod, w_max_dtod, w_min_dtod,
                                   dw_min_dtod_log_normal)
    return AihwkitExpStep(g_min=g_min, g_max=g_max, dg=factor * dw_min / k, a_up=A_up, a_down=A_down,
                          gamma_up=gamma_up, gamma_down=gamma_down, slope=a, offset=b, variation=variation,
                          write_noise=_write_noise(write_noise_std, dw_min, k)).validate()
