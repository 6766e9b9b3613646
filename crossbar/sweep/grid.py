"""Device-parameter sweeps: a metric evaluated over a grid of parameter values and seeds, vectorised.

A sweep takes a base configuration (a device model, or a dict/tuple of them), a grid of dotted parameter
names (`"dg"`, `"variation.c2c"`, ...) with their values (cartesian product or zipped), a number of seeds and
a *metric*, and returns a labelled `SweepResult` with axes `[config?, *grid axes, seed, *metric axes]`.

How it runs: every grid point is built and validated first, outside any transformation (so bad input fails
before compute starts, naming the point). The metric's `prepare` turns each point into a parameter pytree;
points whose pytrees have the same structure (same static fields: shapes, branches) are stacked leaf by leaf
and evaluated in one jitted call of `vmap(vmap(metric, (None, 0)), (0, None))` over (parameters, seeds),
the pattern of JAX MD's parameter grids. Points that change static fields form separate groups, looped in
Python, one compilation each. Each group is cut into equal-sized chunks (the last one padded), so one
compilation serves every chunk; with `executor=` (any `concurrent.futures.Executor`: a local
`ProcessPoolExecutor`, dask.distributed's `Client.get_executor()`) the chunks run on the workers, each a
vectorised call, and the results equal the local ones.

Randomness: seed `s` uses key `sweep_keys(seed, n_seeds)[s]` at every grid point (common random numbers:
the same initial weights, device-to-device draws and noise sequence at each point, so differences along
an axis come from the parameter, not from the draw).

A metric is any object with
    `prepare(config) -> params`: concrete and outside jit; validate and build the pytree to vary;
    `__call__(params, key) -> {name: array}`: pure, jit- and vmap-able;
and optionally `dims` ({name: names of its trailing axes}), `coords` ({coordinate: (axis, values)}) and
`describe() -> dict`. Ready-made metrics live in `crossbar.sweep.metrics`.
"""

from __future__ import annotations

import hashlib
import math
import pickle
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor, as_completed
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np
from tqdm.auto import tqdm

from crossbar.sweep.result import SweepResult
from devices.params import get_parameter, replace_parameters
from devices.validation import check_choice, check_int

MODES = ("product", "zip")


@dataclass(frozen=True)
class GridPoint:
    """One point of a sweep grid.

    Attributes:
        index: Position on the grid axes (config first where there is a config axis).
        config_label: Name of the base configuration (None for a single base).
        values: {parameter: value} set at this point.
        config: The validated configuration (device model) of the point.
    """

    index: tuple[int, ...]
    config_label: str | None
    values: dict[str, Any]
    config: Any

    def describe(self) -> str:
        parts = [f"config={self.config_label!r}"] if self.config_label is not None else []
        parts += [f"{name}={value!r}" for name, value in self.values.items()]
        return ", ".join(parts) or "the base configuration"


def sweep_keys(seed: int, n_seeds: int) -> jax.Array:
    """The `[n_seeds]` random keys of a sweep: seed index s gets `fold_in(key(seed), s)`."""
    root = jax.random.key(seed)
    return jax.numpy.stack([jax.random.fold_in(root, s) for s in range(n_seeds)])


def _configs(base) -> tuple[list[str] | None, list[Any]]:
    """(labels or None for a single base, configurations)."""
    if isinstance(base, Mapping):
        if not base:
            raise ValueError("`base` is an empty dict; give a device model or a non-empty dict/tuple of them")
        return [str(k) for k in base], list(base.values())
    if isinstance(base, (tuple, list)):
        if not base:
            raise ValueError("`base` is empty; give a device model or a non-empty dict/tuple of them")
        return [f"{i}:{type(c).__name__}" for i, c in enumerate(base)], list(base)
    return None, [base]


def _axes(grid: Mapping[str, Sequence] | None, mode: str) -> tuple[list[str], list[int], list[dict[str, Any]]]:
    """(axis names, axis lengths, per-point {name: value} in C order) of the parameter grid."""
    check_choice("mode", mode, MODES)
    grid = dict(grid or {})
    for name, values in grid.items():
        if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
            raise ValueError(f"grid values of {name!r} must be a sequence of numbers; got {values!r}")
        if np.ndim(values) != 1:
            raise ValueError(f"grid values of {name!r} must be one-dimensional; got shape {np.shape(values)}")
        if len(values) == 0:
            raise ValueError(f"grid axis {name!r} is empty: give at least one value")
    names = list(grid)
    if mode == "zip":
        lengths = {name: len(v) for name, v in grid.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"zipped grid axes must have equal lengths; got {lengths}")
        n = next(iter(lengths.values()), 0)
        points = [{name: _scalar(grid[name][i]) for name in names} for i in range(n)]
        return (["point"] if names else []), ([n] if names else []), points
    shape = [len(grid[name]) for name in names]
    points = [{name: _scalar(grid[name][i]) for name, i in zip(names, idx, strict=True)}
              for idx in np.ndindex(*shape)]
    return names, shape, points


def _scalar(value):
    """Grid values as plain Python numbers where they are numpy/JAX scalars (clear error messages, JSON)."""
    return value.item() if hasattr(value, "item") and np.ndim(value) == 0 else value


def grid_points(base, grid: Mapping[str, Sequence] | None = None, mode: str = "product") -> list[GridPoint]:
    """Every point of a sweep grid, built and validated, config axis first, then the grid axes in C order.

    Raises:
        ValueError: for an empty grid or base, zipped axes of different lengths, an unknown parameter name
            (listing the valid ones) or a value the device rejects (naming the grid point).
    """
    labels, configs = _configs(base)
    names, shape, values = _axes(grid, mode)
    if labels is None and not names:
        raise ValueError("empty grid: give at least one parameter to vary, or a dict/tuple of base configurations")
    for label, config in zip(labels or [None], configs, strict=True):
        for name in names if mode == "product" else (grid or {}):
            try:
                get_parameter(config, name)
            except ValueError as err:
                raise ValueError(f"{'' if label is None else f'config {label!r}: '}{err}") from None
    points = []
    for c, (label, config) in enumerate(zip(labels or [None], configs, strict=True)):
        for i, changes in enumerate(values):
            index = np.unravel_index(i, shape) if shape else ()
            point = GridPoint(((c,) if labels else ()) + tuple(int(j) for j in index), label, changes, None)
            try:
                built = replace_parameters(config, **changes).validate()
            except (ValueError, TypeError) as err:
                raise ValueError(f"grid point {point.describe()}: {err}") from None
            points.append(GridPoint(point.index, label, changes, built))
    return points


# ---- evaluation (also what a worker runs) ---------------------------------------------------------------
_COMPILED: dict[tuple[str, bytes], Any] = {}


def _token(metric) -> bytes:
    """A stable identity of a metric's configuration, also across processes (compilation cache key)."""
    return hashlib.sha1(pickle.dumps(metric)).digest()


def _compiled(kind: str, metric):
    key = (kind, _token(metric))
    if key not in _COMPILED:
        if kind == "grid":
            def run(params, key_data):
                keys = jax.random.wrap_key_data(key_data)
                return jax.vmap(jax.vmap(metric, (None, 0)), (0, None))(params, keys)
        else:
            def run(params, key_data):
                return metric(params, jax.random.wrap_key_data(key_data))
        _COMPILED[key] = jax.jit(run)
    return _COMPILED[key]


def run_chunk(metric, params, key_data: np.ndarray) -> dict[str, np.ndarray]:
    """Evaluate `metric` on a chunk of stacked parameters and every seed, in one vectorised call.

    Args:
        metric: The metric (see the module docstring).
        params: Parameter pytree whose leaves have a leading `[chunk]` axis.
        key_data: `[n_seeds, ...]` raw key data (`jax.random.key_data`), picklable.

    Returns:
        {name: [chunk, n_seeds, *metric axes] numpy array}.
    """
    out = _compiled("grid", metric)(params, key_data)
    return {k: np.asarray(v) for k, v in jax.device_get(out).items()}


def evaluate_point(metric, config, key) -> dict[str, np.ndarray]:
    """The metric of one configuration and one key, unbatched (to check a sweep point by point)."""
    params = metric.prepare(config)
    out = _compiled("point", metric)(params, jax.random.key_data(key))
    return {k: np.asarray(v) for k, v in jax.device_get(out).items()}


def _stack(trees: list) -> Any:
    """Stack pytrees of one structure leaf by leaf into numpy arrays with a leading axis (picklable)."""
    def stack(*leaves):
        dtype = jax.dtypes.canonicalize_dtype(np.result_type(*[np.asarray(x) for x in leaves]))
        return np.stack([np.asarray(x, dtype) for x in leaves])
    return jax.tree_util.tree_map(stack, *trees)


def _group_key(params) -> tuple:
    leaves, treedef = jax.tree_util.tree_flatten(params)
    return treedef, tuple(np.shape(x) for x in leaves)


def sweep(metric, base, grid: Mapping[str, Sequence] | None = None, *, mode: str = "product", seeds: int = 1,
          seed: int = 0, executor: Executor | None = None, chunk_size: int | None = None, progress: bool = True,
          out=None) -> SweepResult:
    """Evaluate `metric` at every point of a parameter grid and every seed.

    Args:
        metric: A metric (e.g. `sweep_metrics.PulseCurveMetric(...)`, `sweep_metrics.TrainingMetric(...)`).
        base: A device model, or a dict {label: model} / tuple of models (adds a leading `config` axis).
        grid: {dotted parameter name: 1-D values}. `mode="product"` gives one axis per name;
            `mode="zip"` one axis `point` along which all names vary together (equal lengths).
        mode: "product" or "zip".
        seeds: Number of seeds (trailing `seed` axis); seed s uses `sweep_keys(seed, seeds)[s]`.
        seed: Root seed.
        executor: A `concurrent.futures.Executor` running the chunks (None: here, one after another).
        chunk_size: Grid points per vectorised call (default: the whole group here; with an executor about
            4 chunks per worker-free guess of `executor._max_workers` or 4).
        progress: Show a progress bar over chunks.
        out: When given, `result.save(out)` writes `out.npz` and `out.json`.

    Returns:
        A `SweepResult` whose variables have axes `[config?, *grid axes, seed, *metric axes]`.

    Raises:
        ValueError: before any compute, for bad grids (see `grid_points`) or points the metric rejects.
    """
    check_int("seeds", seeds, 1)
    if chunk_size is not None:
        check_int("chunk_size", chunk_size, 1)
    points = grid_points(base, grid, mode)
    params = []
    for p in points:
        try:
            params.append(metric.prepare(p.config))
        except (ValueError, TypeError) as err:
            raise ValueError(f"grid point {p.describe()}: {err}") from None
    labels, configs = _configs(base)
    names, shape, _ = _axes(grid, mode)
    grid_shape = ([len(configs)] if labels else []) + shape
    grid_dims = (["config"] if labels else []) + names

    groups: dict[tuple, list[int]] = {}
    for i, prm in enumerate(params):
        groups.setdefault(_group_key(prm), []).append(i)
    key_data = np.asarray(jax.random.key_data(sweep_keys(seed, seeds)))
    if chunk_size is None:
        workers = getattr(executor, "_max_workers", None) or 4
        chunk_size = max(len(g) for g in groups.values())
        if executor is not None:
            chunk_size = max(1, math.ceil(chunk_size / workers))
    tasks = []  # (point indices, padded stacked params)
    for members in groups.values():
        size = min(chunk_size, len(members))
        for start in range(0, len(members), size):
            idx = members[start:start + size]
            padded = idx + [idx[-1]] * (size - len(idx))  # equal shapes: one compilation per group
            tasks.append((idx, _stack([params[i] for i in padded])))

    t0 = time.perf_counter()
    flat: dict[str, np.ndarray] = {}
    bar = tqdm(total=len(points), unit="point", disable=not progress, desc="sweep", leave=False)

    def store(idx, result):
        for k, v in result.items():
            if k not in flat:
                flat[k] = np.full((len(points),) + v.shape[1:], np.nan, v.dtype if v.dtype.kind == "f" else float)
            flat[k][idx] = v[:len(idx)]
        bar.update(len(idx))

    try:
        if executor is None:
            for idx, prm in tasks:
                store(idx, run_chunk(metric, prm, key_data))
        else:
            futures = {executor.submit(run_chunk, metric, prm, key_data): idx for idx, prm in tasks}
            for fut in as_completed(futures):
                store(futures[fut], fut.result())
    finally:
        bar.close()
    elapsed = time.perf_counter() - t0

    order = [np.ravel_multi_index(p.index, grid_shape) if grid_shape else 0 for p in points]
    extra_dims = dict(getattr(metric, "dims", {}) or {})
    data, dims = {}, {}
    for k, v in flat.items():
        arr = np.empty_like(v)
        arr[order] = v
        data[k] = arr.reshape(tuple(grid_shape) + v.shape[1:])
        trailing = tuple(extra_dims.get(k, ())) or tuple(f"{k}_{j}" for j in range(v.ndim - 2))
        dims[k] = tuple(grid_dims) + ("seed",) + trailing
    coords = {"seed": ("seed", np.arange(seeds))}
    if labels:
        coords["config"] = ("config", np.asarray(labels))
    for name in (grid or {}):
        coords[name] = ("point" if mode == "zip" else name, np.asarray([_scalar(v) for v in grid[name]]))
    coords.update(dict(getattr(metric, "coords", {}) or {}))
    describe = getattr(metric, "describe", None)
    attrs = {"metric": describe() if callable(describe) else repr(metric),
             "base": {str(lab): repr(c) for lab, c in zip(labels or ["base"], configs, strict=True)},
             "grid": {n: np.asarray(v).tolist() for n, v in (grid or {}).items()}, "mode": mode,
             "seeds": seeds, "seed": seed, "compiled_groups": len(groups), "chunks": len(tasks),
             "chunk_size": chunk_size, "executor": type(executor).__name__ if executor else None,
             "wall_time_s": round(elapsed, 4)}
    result = SweepResult(data, dims, coords, attrs)
    if out is not None:
        result.save(out)
    return result
