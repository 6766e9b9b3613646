"""Reading and replacing (nested) parameters of a device or any frozen parameter dataclass by dotted name.

`"variation.c2c"` names the `c2c` field of the `variation` field. Used by the CLI (`--set NAME=VALUE`)
and by parameter sweeps.
"""

from __future__ import annotations

import dataclasses
from typing import Any


def parameter_names(params: Any, prefix: str = "") -> list[str]:
    """All dotted names of the float/int leaves of a (nested) parameter dataclass."""
    names = []
    for f in dataclasses.fields(params):
        value = getattr(params, f.name)
        if dataclasses.is_dataclass(value):
            names += parameter_names(value, f"{prefix}{f.name}.")
        else:
            names.append(prefix + f.name)
    return names


def get_parameter(params: Any, name: str) -> Any:
    """Value of the parameter `name` (dotted) in `params`; ValueError listing the valid names if unknown."""
    value = params
    for part in name.split("."):
        if not dataclasses.is_dataclass(value) or part not in {f.name for f in dataclasses.fields(value)}:
            raise ValueError(f"unknown parameter {name!r} for {type(params).__name__}; "
                             f"valid names: {', '.join(parameter_names(params))}")
        value = getattr(value, part)
    return value


def replace_parameters(params: Any, **changes: Any) -> Any:
    """A copy of `params` with dotted-named parameters replaced.

    Example: `replace_parameters(device, **{"variation.c2c": 0.1})`.
    """
    for name, value in changes.items():
        get_parameter(params, name)  # raises a helpful error for unknown names
        head, _, rest = name.partition(".")
        if rest:
            value = replace_parameters(getattr(params, head), **{rest: value})
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
