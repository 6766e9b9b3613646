"""Reading and replacing (nested) parameters of a device or any frozen parameter dataclass by dotted name.

`"variation.c2c"` names the `c2c` field of the `variation` field. Used by the CLI (`--set NAME=VALUE`)
and by parameter sweeps. A parameter object that stands for a disabled effect (e.g. `noise.NoReadNoise`)
names the class it `promotes_to`: its names are those of that class, and setting one of them replaces it by
an instance of that class (so `read_noise.std=0.01` turns read noise on for a device without it).
"""

from __future__ import annotations

import dataclasses
from typing import Any


def _enabled(value: Any) -> Any:
    """The parameter object whose fields `value` stands for: itself, or a default of the class it promotes to."""
    promotes_to = getattr(type(value), "promotes_to", None)
    return promotes_to() if promotes_to is not None else value


def _field_names(value: Any) -> set[str]:
    return {f.name for f in dataclasses.fields(value)}


def parameter_names(params: Any, prefix: str = "") -> list[str]:
    """All dotted names of the float/int leaves of a (nested) parameter dataclass (switches, bool fields such as
    `variation.c2c_additive`, are left out: they choose an equation rather than a number, and stay settable by
    name)."""
    names = []
    for f in dataclasses.fields(params):
        value = getattr(params, f.name)
        if dataclasses.is_dataclass(value):
            value = _enabled(value)
            names += parameter_names(value, f"{prefix}{f.name}.")
        elif not isinstance(value, (tuple, bool)):  # a table (a lookup table's bins) is set whole, not swept
            names.append(prefix + f.name)
    return names


def get_parameter(params: Any, name: str) -> Any:
    """Value of the parameter `name` (dotted) in `params`; ValueError listing the valid names if unknown."""
    value = params
    for part in name.split("."):
        if dataclasses.is_dataclass(value) and part not in _field_names(value):
            value = _enabled(value)
        if not dataclasses.is_dataclass(value) or part not in _field_names(value):
            raise ValueError(f"unknown parameter {name!r} for {type(params).__name__}; "
                             f"valid names: {', '.join(parameter_names(params))}")
        value = getattr(value, part)
    return value


def replace_parameters(params: Any, **changes: Any) -> Any:
    """A copy of `params` with dotted-named parameters replaced.

    Example: `replace_parameters(device, **{"variation.c2c": 0.1})`.
    """
    for name, value in changes.items():
        if not isinstance(name, str):
            raise TypeError(f"parameter names must be strings; got {name!r}")
        current = get_parameter(params, name)  # raises a helpful error for unknown names
        if dataclasses.is_dataclass(current) and not dataclasses.is_dataclass(value):
            members = [f"{name}.{n}" for n in parameter_names(_enabled(current))]
            raise TypeError(f"`{name}` is a group of parameters; set one of them ({', '.join(members)}), "
                            f"or pass a {type(current).__name__}; got {name}={value!r}")
        head, _, rest = name.partition(".")
        if rest:
            inner = getattr(params, head)
            if rest.partition(".")[0] not in _field_names(inner):
                inner = _enabled(inner)
            value = replace_parameters(inner, **{rest: value})
        params = dataclasses.replace(params, **{head: value})
    return params


def parse_assignment(text: str) -> tuple[str, float]:
    """Parse a command-line `NAME=VALUE` (VALUE a float) into (name, value)."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise ValueError(f"expected NAME=VALUE, got {text!r}")
    try:
        return name.strip(), float(value)
    except ValueError:
        raise ValueError(f"value of {name!r} must be a number, got {value!r}") from None
