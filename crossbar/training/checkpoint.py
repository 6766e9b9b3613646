"""Atomic saving and loading of results (JSON) and of training state (pytrees as .npz).

Every write goes to a temporary file in the same directory and is renamed over the target, so an
interrupted run (Ctrl-C, a crash, a full disk) leaves the previous file intact.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import jax
import numpy as np

from devices.io import atomic_write


def save_json(path, obj) -> None:
    """Write `obj` as indented JSON, atomically."""
    atomic_write(Path(path), lambda f: f.write(json.dumps(obj, indent=2, default=_jsonable).encode()))


def _jsonable(x):
    if isinstance(x, (np.generic, jax.Array)):
        return np.asarray(x).tolist()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


def save_pytree(path, tree, meta: dict | None = None) -> None:
    """Save the array leaves of `tree` and a JSON-able `meta` dict to one .npz file, atomically.

    One file holds both, so the state and the bookkeeping that describes it can never disagree.
    The structure of `tree` is not stored: `load_pytree` takes it from a template.
    """
    leaves = {f"arr_{i}": np.asarray(leaf) for i, leaf in enumerate(jax.tree_util.tree_leaves(tree))}
    meta_bytes = np.frombuffer(json.dumps(meta or {}, default=_jsonable).encode(), dtype=np.uint8)
    atomic_write(Path(path), lambda f: np.savez(f, meta=meta_bytes, **leaves))


def load_pytree(path, template):
    """Load what `save_pytree` wrote into the structure of `template`; ValueError if it does not fit.

    Returns:
        (tree, meta).
    """
    with np.load(path) as data:
        meta = json.loads(data["meta"].tobytes().decode())
        leaves = [data[f"arr_{i}"] for i in range(len(data.files) - 1)]
    template_leaves, treedef = jax.tree_util.tree_flatten(template)
    if len(leaves) != len(template_leaves) or any(
            np.shape(a) != np.shape(b) for a, b in zip(leaves, template_leaves, strict=True)):
        raise ValueError(f"checkpoint {path} does not match this configuration (different network or device)")
    tree = jax.tree_util.tree_unflatten(
        treedef, [np.asarray(a, dtype=np.asarray(b).dtype) for a, b in zip(leaves, template_leaves, strict=True)])
    return tree, meta


def check_writable(directory) -> Path:
    """Create `directory` if needed and check a file can be written there; ValueError naming it otherwise."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory):
            pass
    except OSError as e:
        raise ValueError(f"output directory {str(directory)!r} is not writable: {e}") from None
    return directory
