"""Shared pieces of the property-based fuzz of the public constructors (tests/test_fuzz_*.py): devices
(`make_device`), crossbars (`make_crossbar`), the periphery, the update scheme, the MLP settings and the wires.

Every invalid value (negative, zero, NaN, inf, out of range, of a wrong type or shape) must raise ValueError or
TypeError naming the parameter; every valid value must build a small crossbar and run one forward, transpose
and update without a non-finite output or weight. Array shapes and pytree structures are kept to a few, so that
little is compiled and most hypothesis examples cost milliseconds (see `_exercise`).
"""


import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from crossbar import array as xa
from crossbar.periphery import ideal_periphery
from devices import MODELS
from devices.constant_step import ConstantStep
from devices.noise import NoReadNoise, NoWriteNoise
from devices.params import parameter_names
from devices.presets import make_device

ROWS, COLS = 3, 4
KEY = jax.random.key(0)
_RNG = np.random.default_rng(0)
W0 = jnp.asarray(_RNG.uniform(-0.3, 0.3, (ROWS, COLS)), jnp.float32)  # initial weights
X = jnp.asarray(_RNG.uniform(-1.0, 1.0, (2, ROWS)), jnp.float32)  # forward inputs, a batch of 2
D = jnp.asarray(_RNG.normal(0.0, 0.3, (2, COLS)), jnp.float32)  # errors, a batch of 2
LR = 0.05

FUZZ_CHEAP = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Values of a wrong type for any numeric parameter (None is valid for some; see _wrong_types).
WRONG_TYPES = ("0.1", "abc", None, True, False, ["a"], {"a": 1}, object())
NONFINITE = (math.nan, math.inf, -math.inf)
_NEGATIVE = st.floats(max_value=-math.ulp(0.0), allow_nan=False)  # below 0, -0.0 excluded


def _message_names(err: BaseException, name: str) -> bool:
    """True when the error message names the parameter `name` in backticks: `dotted.name` or its `leaf`."""
    return f"`{name}`" in str(err) or f"`{name.rsplit('.', 1)[-1]}`" in str(err)


def _assert_rejected(build, name: str):
    """`build()` must raise ValueError or TypeError whose message names `name`."""
    with pytest.raises((ValueError, TypeError)) as info:
        build()
    assert _message_names(info.value, name), f"error does not name {name!r}: {info.value!r}"
    return info.value


# ----------------------------------------------------------------------------------------------------------
# One run of a crossbar: init, forward, transpose and update. Compilation dominates the cost. Eager ops are
# compiled once per shape, whatever the device, but a loop (`while_loop`, `fori_loop`, `scan`) recompiles at
# every eager call; a jitted function compiles once per crossbar structure (device class, static fields), and new
# float values of one structure never recompile. So: init runs eagerly; a read runs jitted where bound
# management loops, else eagerly; the update runs eagerly where it is loop-free (the closed-form constant step,
# all rows in one block), else jitted. Both paths compute the same thing.
# ----------------------------------------------------------------------------------------------------------

_K_INIT, _K_FWD, _K_BWD, _K_UPD = jax.random.split(KEY, 4)
_forward_jit, _transpose_jit = jax.jit(xa.forward), jax.jit(xa.transpose)


def _update(xb, state, lr):
    return xa.weights(xb, xa.update(xb, state, X[0], D[0], lr, _K_UPD)[0])


_update_jit = jax.jit(_update)


def _exercise(xb, lr):
    """(forward outputs, transpose outputs, weights, weights after one update) of `xb` started at W0."""
    state = xa.init(xb, _K_INIT, W0)
    forward = _forward_jit if xb.periphery.bound_management == "iterative" else xa.forward
    transpose = _transpose_jit if xb.periphery_backward.bound_management == "iterative" else xa.transpose
    loop_free = isinstance(xb.device, ConstantStep) and xb.update_scheme.row_block >= xb.rows
    y, _ = forward(xb, state, X, _K_FWD)
    z, _ = transpose(xb, state, D, _K_BWD)
    return y, z, xa.weights(xb, state), (_update if loop_free else _update_jit)(xb, state, lr)


def _assert_runs(xb, lr=LR):
    """Run forward, transpose and update of `xb`; every output and weight must be finite and of its shape."""
    y, z, w_before, w_after = (np.asarray(a) for a in _exercise(xb, lr))
    assert y.shape == (2, xb.cols) and z.shape == (2, xb.rows)
    assert w_before.shape == w_after.shape == (xb.rows, xb.cols)
    for label, a in (("forward", y), ("transpose", z), ("weights", w_before), ("updated weights", w_after)):
        assert np.all(np.isfinite(a)), f"non-finite {label} for {xb}: {a}"
    return y, z, w_before, w_after


def _dw_min_for(device):
    """None (the default from the device's step) where the device has `dg`, else an explicit value."""
    return None if hasattr(device, "dg") else 0.01


def _device_crossbar(device, **kwargs):
    """A ROWS x COLS crossbar of `device` with ideal converters (cheap to run: see `_exercise`)."""
    return xa.make_crossbar(device, ROWS, COLS, dw_min=_dw_min_for(device), periphery=ideal_periphery(), **kwargs)



def _rejected_naming(build, name: str) -> bool:
    """True when `build()` raises ValueError or TypeError naming `name`."""
    try:
        build()
    except (ValueError, TypeError) as err:
        return _message_names(err, name)
    return False


def _rejected_naming_or_runs(build, name: str) -> bool:
    """True when `build()` raises ValueError or TypeError naming `name`, or builds a crossbar that runs finitely."""
    try:
        xb = build()
    except (ValueError, TypeError) as err:
        return _message_names(err, name)
    return all(bool(np.all(np.isfinite(np.asarray(a)))) for a in _exercise(xb, LR))


# ----------------------------------------------------------------------------------------------------------
# Device parameters: documented domains (for invalid values) and valid draws (a sub-range of the domain that
# keeps every parameter combination consistent: g_min <= 0.3 g_max0 < 0.8 g_max0 <= g_max, dg <= 2 dg0, ...).
# ----------------------------------------------------------------------------------------------------------

# dg < g_max - g_min:
_STEP_CHECKED = ("soft_bounds", "linear_step", "exp_step", "power_step", "pcm", "bilayer", "aihwkit_exp_step")
INF = math.inf


def _class_name(device) -> str:
    return next(name for name, cls in MODELS.items() if type(device) is cls)


def _domain(device, name: str) -> tuple[float, float, bool, bool]:
    """(low, high, low included, high included) of the values `name` may take, the others at their defaults."""
    leaf = name.rsplit(".", 1)[-1]
    model = _class_name(device)
    if name == "g_min":
        return 0.0, device.g_max, True, False
    if name == "g_max":
        return device.g_min, INF, False, False
    if name == "v_threshold":
        return (0.0, device.v_reset, False, False) if model == "pcm" else (0.0, INF, False, False)
    if name == "v_reset":
        return (device.v_threshold, INF, False, False) if model == "pcm" else (0.0, INF, False, False)
    if name == "dg":
        return (0.0, device.g_max - device.g_min, False, False) if model in _STEP_CHECKED else (0.0, INF, False, False)
    if leaf == "gamma":
        return (0.0, 1.0, True, True) if model == "bilayer" else (0.0, INF, True, False)
    if leaf in ("up_down", "gamma_up_down"):
        return -1.0, 1.0, True, True
    if leaf == "symmetry":  # soft bounds: where the symmetry point sits in the range, strictly inside it
        return 0.0, 1.0, False, False
    if model == "aihwkit_exp_step" and leaf in ("gamma_up", "gamma_down"):
        return 0.0, INF, True, False
    if leaf in ("slope", "offset"):  # aihwkit's exp-step shape: any finite number
        return -INF, INF, False, False
    if leaf in ("beta_up", "beta_down"):
        return -30.0, 30.0, True, True
    if leaf in ("stuck_min_fraction", "stuck_max_fraction", "gamma_up", "gamma_down", "lrs_c2c", "hrs_c2c"):
        return 0.0, 1.0, True, True
    if leaf == "creep":
        return 0.0, 0.5, True, True
    if leaf in ("n_set", "n_reset"):
        return 1.0, INF, True, False
    if leaf in ("t_read", "t0", "tau", "a_ltp", "a_ltd", "p_max"):
        return 0.0, INF, False, False
    return 0.0, INF, True, False  # every other parameter is a non-negative spread, rate or exponent


def _valid_floats(device, name: str) -> st.SearchStrategy:
    """Valid values of `name` for `device`, jointly consistent with the valid values of its other parameters."""
    leaf = name.rsplit(".", 1)[-1]
    model = _class_name(device)

    def uniform(lo, hi):
        return st.floats(lo, hi, allow_nan=False, allow_infinity=False)

    def log_uniform(lo, hi):
        return st.floats(math.log(lo), math.log(hi)).map(math.exp)

    if name == "g_min":
        return uniform(0.0, 0.3 * device.g_max)
    if name == "g_max":
        return uniform(0.8 * device.g_max, 4.0 * device.g_max)
    if name == "v_threshold":
        return uniform(0.5, 1.5)
    if name == "v_reset":
        return uniform(1.6, 3.0)
    if name == "dg":
        return log_uniform(0.01 * device.dg, 2.0 * device.dg)
    if leaf == "gamma":
        return uniform(0.0, 1.0 if model == "bilayer" else 3.0)
    if leaf in ("up_down", "gamma_up_down"):
        return uniform(-1.0, 1.0)
    if leaf == "symmetry":
        return uniform(0.05, 0.95)
    if model == "aihwkit_exp_step" and leaf in ("gamma_up", "gamma_down"):
        return uniform(0.0, 40.0)
    if leaf in ("a_up", "a_down"):
        return log_uniform(1e-5, 2.0) | st.just(0.0)
    if leaf in ("slope", "offset"):
        return uniform(-1.0, 1.0)
    if leaf in ("gamma_d2d", "gamma_up_down_d2d"):
        return uniform(0.0, 1.0)
    if leaf in ("stuck_min_fraction", "stuck_max_fraction"):
        return uniform(0.0, 0.5)
    if leaf in ("gamma_up", "gamma_down", "lrs_c2c", "hrs_c2c"):
        return uniform(0.0, 1.0)
    if leaf == "creep":
        return uniform(0.0, 0.5)
    if leaf in ("n_set", "n_reset"):
        return uniform(1.0, 100.0)
    if leaf in ("n_set_std", "n_reset_std"):
        return uniform(0.0, 20.0)
    if leaf == "c2c":
        return uniform(0.0, 5.0)
    if leaf in ("dg_d2d", "up_down_d2d", "bounds_d2d", "bounds_min_d2d"):
        return uniform(0.0, 2.0)
    if leaf == "std":
        return uniform(0.0, 0.5)
    if leaf == "flicker":
        return uniform(0.0, 2.0)
    if leaf == "t_read":
        return log_uniform(1e-9, 1e-3)
    if leaf == "t0":
        return log_uniform(1e-3, 1e3)
    if leaf == "tau":  # a volatile device's relaxation time (s)
        return log_uniform(1e-4, 1e4)
    if leaf in ("nu", "nu_low_g", "nu_d2d"):
        return uniform(0.0, 0.3)
    if leaf in ("shift", "spread"):
        return uniform(0.0, 0.1)
    if leaf in ("beta_up", "beta_down"):
        return uniform(-5.0, 5.0)
    if leaf in ("a_ltp", "a_ltd", "p_max"):
        return log_uniform(1.0, 500.0)
    raise AssertionError(f"no valid range written for {name!r}: add it to this test")


def _invalid_numbers(lo, hi, lo_in, hi_in) -> st.SearchStrategy:
    """Finite numbers outside [lo, hi] (an excluded bound itself included), and the non-finite ones."""
    options = [st.sampled_from(NONFINITE)]
    # (bounds by nextafter: hypothesis's exclude_min/max and its rewriting of filters would admit -0.0 below 0.0)
    if math.isfinite(lo):
        below = st.floats(max_value=math.nextafter(lo, -INF) if lo_in else lo, allow_nan=False, allow_infinity=False)
        options += [below, st.just(lo - 1.0)] + ([] if lo_in else [st.just(lo)])
    if math.isfinite(hi):
        above = st.floats(min_value=math.nextafter(hi, INF) if hi_in else hi, allow_nan=False, allow_infinity=False)
        options += [above, st.just(hi + 1.0)] + ([] if hi_in else [st.just(hi)])
    return st.one_of(options)


def _wrong_types(device, name: str) -> st.SearchStrategy:
    none_is_valid = (name == "v_reset" and _class_name(device) != "pcm") or name == "variation.bounds_min_d2d"
    return st.sampled_from([v for v in WRONG_TYPES if not (v is None and none_is_valid)])


def _structural(device, name: str) -> bool:
    """True where setting `name` changes the pytree structure (read noise turned on, a reset threshold set)."""
    if name.startswith("read_noise.") and isinstance(device.read_noise, NoReadNoise):
        return True
    if name.startswith("write_noise.") and isinstance(device.write_noise, NoWriteNoise):
        return True
    if name == "variation.bounds_min_d2d" and device.variation.bounds_min_d2d is None:
        return True
    return name == "v_reset" and device.v_reset is None


@st.composite
def _valid_overrides(draw, name: str):
    device = make_device(name)
    names = [n for n in parameter_names(device) if not _structural(device, n)]
    chosen = draw(st.lists(st.sampled_from(names), unique=True, max_size=5))
    return {n: draw(_valid_floats(device, n)) for n in chosen}
