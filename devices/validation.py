"""Boundary checks that raise clear errors naming the parameter and its bad value.

Checks run on concrete values only: when a parameter is a JAX tracer (inside `jit` or `vmap`) the check
is skipped, because the boundary (preset, factory, CLI) has already validated the concrete values.
"""

from __future__ import annotations

import numbers

import jax
import numpy as np


def is_traced(value) -> bool:
    """True when `value` (or a leaf of it) is a JAX tracer, i.e. we are inside a transformation."""
    return any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves(value))


def _as_array(name: str, value) -> np.ndarray:
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"`{name}` must be a number, got a bool ({value!r})")
    if not isinstance(value, (numbers.Real, np.ndarray, jax.Array)):
        raise TypeError(f"`{name}` must be a real number or an array of them; got {type(value).__name__} {value!r}")
    arr = np.asarray(value)
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise TypeError(f"`{name}` must be a real number or an array of them; got dtype {arr.dtype} ({value!r})")
    return arr


def check_finite(name: str, value) -> None:
    """Raise unless every element of `value` is a finite number."""
    if is_traced(value):
        return
    arr = _as_array(name, value)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"`{name}` must be finite; got {value!r}")


def check_nonnegative(name: str, value) -> None:
    """Raise unless `value` is finite and >= 0."""
    check_finite(name, value)
    if not is_traced(value) and np.any(np.asarray(value) < 0):
        raise ValueError(f"`{name}` must be >= 0; got {name}={value!r}")


def check_positive(name: str, value) -> None:
    """Raise unless `value` is finite and > 0."""
    check_finite(name, value)
    if not is_traced(value) and np.any(np.asarray(value) <= 0):
        raise ValueError(f"`{name}` must be > 0; got {name}={value!r}")


def check_probability(name: str, value) -> None:
    """Raise unless `value` lies in [0, 1]."""
    check_finite(name, value)
    if not is_traced(value) and np.any((np.asarray(value) < 0) | (np.asarray(value) > 1)):
        raise ValueError(f"`{name}` must lie in [0, 1]; got {name}={value!r}")


def check_in_range(name: str, value, low: float, high: float) -> None:
    """Raise unless low <= value <= high."""
    check_finite(name, value)
    if not is_traced(value) and np.any((np.asarray(value) < low) | (np.asarray(value) > high)):
        raise ValueError(f"`{name}` must lie in [{low}, {high}]; got {name}={value!r}")


def check_less(low_name: str, low, high_name: str, high) -> None:
    """Raise unless low < high (element-wise), naming both parameters."""
    check_finite(low_name, low)
    check_finite(high_name, high)
    if not is_traced((low, high)) and np.any(np.asarray(low) >= np.asarray(high)):
        raise ValueError(f"`{high_name}` must exceed `{low_name}`; got {low_name}={low!r}, {high_name}={high!r}")


def check_shape(shape) -> tuple[int, ...]:
    """Return `shape` as a tuple of positive ints, or raise naming the bad value."""
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    try:
        shape = tuple(shape)
    except TypeError:
        raise TypeError(f"`shape` must be a tuple of ints; got {shape!r}") from None
    if not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s > 0 for s in shape):
        raise ValueError(f"`shape` must be a tuple of positive ints; got {shape!r}")
    return tuple(int(s) for s in shape)


def check_step(name: str, value, g_range) -> None:
    """Raise unless a conductance step `value` (S) is > 0 and smaller than the device's range `g_range` (S)."""
    check_positive(name, value)
    check_less(name, value, "g_max - g_min", g_range)


def check_int(name: str, value, minimum: int = 1) -> int:
    """Return `value` as an int, or raise unless it is an int (not a bool) >= `minimum`.

    A traced value (a budget swept under vmap, or passed to jit) was checked where it was made, and is
    returned as it is.
    """
    if is_traced(value):
        return value
    if not isinstance(value, (int, np.integer)) or isinstance(value, (bool, np.bool_)) or value < minimum:
        raise ValueError(f"`{name}` must be an int >= {minimum}; got {name}={value!r}")
    return int(value)


def check_choice(name: str, value, choices) -> None:
    """Raise unless `value` is one of `choices`, listing them."""
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {tuple(choices)}; got {name}={value!r}")


def check_scalar(name: str, value) -> None:
    """Raise unless `value` is one real number (not a list, an array of several, or a bool)."""
    if is_traced(value):
        return
    if np.ndim(_as_array(name, value)) != 0:
        raise TypeError(f"`{name}` must be a single number; got {name}={value!r}")


def check_bool(name: str, value) -> None:
    """Raise unless `value` is True or False."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"`{name}` must be True or False; got {name}={value!r}")


def check_instance(name: str, value, kind, what: str | None = None) -> None:
    """Raise a TypeError unless `value` is an instance of `kind` (a class or a tuple of them)."""
    if not isinstance(value, kind):
        what = what or (kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind))
        raise TypeError(f"`{name}` must be a {what}; got {type(value).__name__} {value!r}")


def check_open_range(name: str, value, low: float, high: float) -> None:
    """Raise unless low < value < high (an open interval, e.g. a decay factor lambda in (0, 1))."""
    check_finite(name, value)
    if not is_traced(value) and np.any((np.asarray(value) <= low) | (np.asarray(value) >= high)):
        raise ValueError(f"`{name}` must lie in ({low}, {high}); got {name}={value!r}")
