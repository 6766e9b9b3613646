"""Device models to and from JSON files: a fitted (or any) device that `make_device` and every `--device` accept.

A device file is one JSON object:

    {"format": "memristor-crossbar/device", "version": 1, "model": "soft_bounds",
     "parameters": {"g_min": 1.6e-4, ..., "variation": {"type": "Variation", "c2c": 0.1, ...}},
     "source": {...}, "fit": {...}}

`model` is a name in `devices.MODELS`; `parameters` holds the model's fields (SI units, as declared in its
docstring), nested parameter groups with their `type`; tuples (a lookup table's bins) are JSON lists.
`source` (where the data came from) and `fit` (how well the model fits it) are free-form and kept as they are.

Writes are atomic (a temporary file, then a rename): a failed write leaves no partial file.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from devices.drift import NoDrift, PowerLawDrift, RelaxationDrift
from devices.io import atomic_write
from devices.noise import NoReadNoise, NoWriteNoise, ReadNoise, Variation, WriteNoise

FORMAT = "memristor-crossbar/device"
VERSION = 1

# Parameter groups a device file may hold, by their `type` name.
GROUPS = {cls.__name__: cls for cls in (Variation, ReadNoise, NoReadNoise, WriteNoise, NoWriteNoise, NoDrift,
                                        PowerLawDrift, RelaxationDrift)}


def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return {"type": type(value).__name__, **{f.name: _encode(getattr(value, f.name))
                                                 for f in dataclasses.fields(value)}}
    if isinstance(value, tuple):
        return [_encode(v) for v in value]
    if hasattr(value, "tolist"):  # numpy / JAX scalars and arrays
        return value.tolist()
    return value


def device_to_dict(device, source: dict | None = None, fit: dict | None = None) -> dict:
    """The JSON-ready description of `device` (a model of `devices.MODELS`), with its data source and fit."""
    from devices import MODELS

    names = {cls: name for name, cls in MODELS.items()}
    if type(device) not in names:
        raise TypeError(f"`device` must be a model of devices.MODELS ({', '.join(sorted(MODELS))}); "
                        f"got {type(device).__name__}")
    params = _encode(device)
    params.pop("type")
    return {"format": FORMAT, "version": VERSION, "model": names[type(device)], "parameters": params,
            "source": source or {}, "fit": fit or {}}


def _decode(where: str, value: Any) -> Any:
    if isinstance(value, dict):
        kind = value.get("type")
        if kind not in GROUPS:
            raise ValueError(f"{where}: unknown parameter group type {kind!r}; valid: {', '.join(GROUPS)}")
        return _build(where, GROUPS[kind], {k: v for k, v in value.items() if k != "type"})
    if isinstance(value, list):
        return tuple(_decode(f"{where}[{i}]", v) for i, v in enumerate(value))
    return value


def _build(where: str, cls, params: dict):
    valid = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(params) - valid)
    if unknown:
        raise ValueError(f"{where}: unknown parameter(s) {', '.join(unknown)} for {cls.__name__}; "
                         f"valid: {', '.join(sorted(valid))}")
    return cls(**{k: _decode(f"{where}.{k}", v) for k, v in params.items()})


def device_from_dict(spec: dict, where: str = "device"):
    """The validated device a `device_to_dict` description stands for; ValueError naming what is wrong."""
    from devices import MODELS

    if not isinstance(spec, dict) or spec.get("format") != FORMAT:
        raise ValueError(f"{where}: not a device file (expected a JSON object with \"format\": \"{FORMAT}\")")
    if spec.get("version") != VERSION:
        raise ValueError(f"{where}: unsupported device file version {spec.get('version')!r}; expected {VERSION}")
    model = spec.get("model")
    if model not in MODELS:
        raise ValueError(f"{where}: unknown model {model!r}; valid: {', '.join(sorted(MODELS))}")
    if not isinstance(spec.get("parameters"), dict):
        raise ValueError(f"{where}: \"parameters\" must be an object of the model's parameters")
    device = _build(f"{where}: parameters", MODELS[model], spec["parameters"])
    try:
        return device.validate()
    except (ValueError, TypeError) as err:
        raise ValueError(f"{where}: {err}") from None


def save_device(path, device, source: dict | None = None, fit: dict | None = None) -> Path:
    """Write `device` (with its data source and fit quality) to the JSON file `path`, atomically."""
    path = Path(path)
    text = json.dumps(device_to_dict(device, source, fit), indent=1, allow_nan=False)
    atomic_write(path, lambda f: f.write(text.encode()))
    return path


def read_device_file(path) -> dict:
    """The raw description in the device file `path` (parameters, source, fit); ValueError if it is no JSON."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"device file {str(path)!r} does not exist")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"device file {str(path)!r} is not valid JSON: {err}") from None


def load_device(path):
    """The validated device stored in the JSON file `path` (see the module docstring)."""
    return device_from_dict(read_device_file(path), where=f"device file {str(path)!r}")


def is_device_file(name: str) -> bool:
    """True when a `--device` value names a JSON device file rather than a preset or model."""
    return isinstance(name, str) and name.lower().endswith(".json")
