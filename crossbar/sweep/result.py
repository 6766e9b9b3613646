"""The labelled result of a parameter sweep: named arrays over named axes, with coordinates; saves and plots.

Why a small class of our own rather than xarray: a sweep result is a handful of dense arrays sharing the
grid's axes (config, parameters, seed), plus a trailing axis or two of a metric (e.g. time). That needs
named axes, coordinate values, selection by value, reductions over seeds, a lossless file format and a
plot; a ~200-line dataclass of numpy arrays provides exactly those without a heavy dependency, pickles to
and from workers, and `to_xarray()` converts it losslessly wherever xarray happens to be installed.

Layout: `data[name]` is a numpy array whose axes are named by `dims[name]`; `coords[coord] = (dim, values)`
labels the entries of one axis (an axis may carry several coordinates: a zipped grid labels its `point`
axis with every zipped parameter). Files: `save(path)` writes `path.npz` (the arrays and coordinates) and
`path.json` (axes, coordinates, configuration), each atomically.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from crossbar.training.checkpoint import atomic_write, save_json


@dataclass(frozen=True)
class SweepResult:
    """Named arrays over named axes.

    Attributes:
        data: {variable: array}; variable `v` has axes `dims[v]`.
        dims: {variable: axis names}.
        coords: {coordinate: (axis name, [axis length] values)}; an axis without a coordinate is labelled 0..n-1.
        attrs: JSON-able description of the run (metric, base configuration, grid, seeds, timings).
    """

    data: dict[str, np.ndarray]
    dims: dict[str, tuple[str, ...]]
    coords: dict[str, tuple[str, np.ndarray]] = field(default_factory=dict)
    attrs: dict = field(default_factory=dict)

    def __post_init__(self):
        for name, arr in self.data.items():
            if name not in self.dims or len(self.dims[name]) != np.ndim(arr):
                raise ValueError(f"variable {name!r} of shape {np.shape(arr)} needs one axis name per axis; "
                                 f"got dims={self.dims.get(name)}")

    # ---- access ---------------------------------------------------------------------------------------
    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self.data:
            raise KeyError(f"no variable {name!r}; variables: {', '.join(self.data)}")
        return self.data[name]

    @property
    def variables(self) -> list[str]:
        return list(self.data)

    @property
    def sizes(self) -> dict[str, int]:
        """{axis: length} over every variable."""
        return {d: n for name, arr in self.data.items() for d, n in zip(self.dims[name], np.shape(arr), strict=True)}

    def coord(self, dim_or_name: str) -> np.ndarray:
        """Values of a coordinate, or of the first coordinate on an axis, or 0..n-1 for an unlabelled axis."""
        if dim_or_name in self.coords:
            return self.coords[dim_or_name][1]
        for dim, values in self.coords.values():
            if dim == dim_or_name:
                return values
        if dim_or_name in self.sizes:
            return np.arange(self.sizes[dim_or_name])
        raise KeyError(f"no axis or coordinate {dim_or_name!r}; axes: {', '.join(self.sizes)}")

    def _axis_of(self, name: str) -> str:
        if name in self.coords:
            return self.coords[name][0]
        if name in self.sizes:
            return name
        raise KeyError(f"no axis or coordinate {name!r}; axes: {', '.join(self.sizes)}; "
                       f"coordinates: {', '.join(self.coords)}")

    # ---- selection and reduction -----------------------------------------------------------------------
    def isel(self, **indices: int) -> SweepResult:
        """Select one entry of each named axis by position; the axis disappears."""
        data, dims = dict(self.data), dict(self.dims)
        for dim, i in indices.items():
            if dim not in self.sizes:
                raise KeyError(f"no axis {dim!r}; axes: {', '.join(self.sizes)}")
            for name in data:
                if dim in dims[name]:
                    data[name] = np.take(data[name], i, axis=dims[name].index(dim))
                    dims[name] = tuple(d for d in dims[name] if d != dim)
        coords = {c: (d, v) for c, (d, v) in self.coords.items() if d not in indices}
        return SweepResult(data, dims, coords, self.attrs)

    def sel(self, **values) -> SweepResult:
        """Select by coordinate value (floats match to a relative 1e-6): `res.sel(dg=1e-8, seed=0)`.

        A key may name a coordinate (e.g. a zipped parameter, or "config") or an axis.
        """
        indices = {}
        for name, value in values.items():
            dim = self._axis_of(name)
            labels = self.coord(name)
            if labels.dtype.kind in "fc":
                hits = np.flatnonzero(np.isclose(labels, float(value), rtol=1e-6, atol=0.0))
            else:
                hits = np.flatnonzero(labels == value)
            if hits.size == 0:
                raise KeyError(f"{name}={value!r} is not on the grid; values: {labels.tolist()}")
            indices[dim] = int(hits[0])
        return self.isel(**indices)

    def reduce(self, func, dim: str) -> SweepResult:
        """Apply `func(array, axis=...)` (e.g. np.mean) over axis `dim` of every variable that has it."""
        data, dims = {}, {}
        for name, arr in self.data.items():
            if dim in self.dims[name]:
                data[name] = func(arr, axis=self.dims[name].index(dim))
                dims[name] = tuple(d for d in self.dims[name] if d != dim)
            else:
                data[name], dims[name] = arr, self.dims[name]
        coords = {c: (d, v) for c, (d, v) in self.coords.items() if d != dim}
        return SweepResult(data, dims, coords, self.attrs)

    def mean(self, dim: str = "seed") -> SweepResult:
        return self.reduce(np.mean, dim)

    def std(self, dim: str = "seed") -> SweepResult:
        return self.reduce(np.std, dim)

    # ---- conversion, files ----------------------------------------------------------------------------
    def to_xarray(self):
        """An `xarray.Dataset` of the same content (requires xarray, which this project does not depend on)."""
        try:
            import xarray as xr
        except ImportError:
            raise ImportError("to_xarray() needs xarray (pip install xarray); the SweepResult itself offers "
                              "sel/isel/mean/std/plot and save/load without it") from None
        return xr.Dataset({n: (self.dims[n], a) for n, a in self.data.items()},
                          coords={c: (d, v) for c, (d, v) in self.coords.items()}, attrs={"config": json.dumps(
                              self.attrs, default=str)})

    def save(self, path) -> tuple[Path, Path]:
        """Write `path.npz` (arrays and coordinates) and `path.json` (axes, coordinates, attrs), atomically.

        Returns:
            (npz path, json path).
        """
        base = Path(path)
        base = base.with_suffix("") if base.suffix in (".npz", ".json") else base
        base.parent.mkdir(parents=True, exist_ok=True)
        arrays = {f"data/{n}": np.asarray(a) for n, a in self.data.items()}
        arrays.update({f"coord/{c}": np.asarray(v) for c, (_, v) in self.coords.items()})
        npz, js = base.with_name(base.name + ".npz"), base.with_name(base.name + ".json")
        atomic_write(npz, lambda f: np.savez(f, **arrays))
        save_json(js, {"dims": {n: list(d) for n, d in self.dims.items()},
                       "coords": {c: {"dim": d, "values": np.asarray(v).tolist()} for c, (d, v) in self.coords.items()},
                       "attrs": self.attrs})
        return npz, js

    @classmethod
    def load(cls, path) -> SweepResult:
        """Read what `save(path)` wrote."""
        base = Path(path)
        base = base.with_suffix("") if base.suffix in (".npz", ".json") else base
        meta = json.loads(base.with_name(base.name + ".json").read_text())
        with np.load(base.with_name(base.name + ".npz")) as f:
            data = {n: f[f"data/{n}"] for n in meta["dims"]}
            coords = {c: (m["dim"], f[f"coord/{c}"]) for c, m in meta["coords"].items()}
        return cls(data, {n: tuple(d) for n, d in meta["dims"].items()}, coords, meta["attrs"])

    # ---- plotting -------------------------------------------------------------------------------------
    def plot(self, name: str, x: str | None = None, y: str | None = None, ax=None, scale: float = 1.0,
             seed_dim: str = "seed", **kwargs):
        """Plot variable `name`: a line (mean +- std over seeds) for one remaining axis, a heat map for two.

        Args:
            name: Variable to plot.
            x: Coordinate or axis on the horizontal axis (default: the first non-seed axis).
            y: Coordinate or axis on the vertical axis of a heat map (default: the other remaining axis).
            ax: Matplotlib axes (default: a new figure).
            scale: Multiplier of the values (e.g. 100 for percent).
            seed_dim: Axis averaged over (and shown as a band in line plots) when present.
            **kwargs: Passed to `plot` (lines) or `pcolormesh` (heat maps).

        Returns:
            The matplotlib axes.
        """
        import matplotlib.pyplot as plt

        arr = self[name] * scale
        dims = list(self.dims[name])
        spread = None
        if seed_dim in dims:
            axis = dims.index(seed_dim)
            arr, spread = np.mean(arr, axis=axis), np.std(arr, axis=axis)
            dims.pop(axis)
        ax = ax or plt.subplots(figsize=(5, 4))[1]
        xdim = self._axis_of(x) if x else dims[0]
        if len(dims) == 1:
            xv = self.coord(x or xdim)
            line, = ax.plot(xv, arr, marker="o", **kwargs)
            if spread is not None:
                ax.fill_between(xv, arr - spread, arr + spread, alpha=0.2, color=line.get_color())
            ax.set(xlabel=x or xdim, ylabel=name)
        elif len(dims) == 2:
            ydim = self._axis_of(y) if y else next(d for d in dims if d != xdim)
            grid = arr if dims == [ydim, xdim] else arr.T
            xv, yv = self.coord(x or xdim), self.coord(y or ydim)
            mesh = ax.pcolormesh(np.arange(len(xv) + 1) - 0.5, np.arange(len(yv) + 1) - 0.5, grid, **kwargs)
            ax.set_xticks(range(len(xv)), [_label(v) for v in xv])
            ax.set_yticks(range(len(yv)), [_label(v) for v in yv])
            ax.set(xlabel=x or xdim, ylabel=y or ydim, title=name)
            ax.figure.colorbar(mesh, ax=ax)
        else:
            raise ValueError(f"plot needs one or two axes besides {seed_dim!r}; {name!r} has {dims}: "
                             "select some with sel()/isel() first")
        return ax

    def __repr__(self) -> str:
        axes = ", ".join(f"{d}: {n}" for d, n in self.sizes.items())
        return f"SweepResult({axes}; variables: {', '.join(self.data)})"


def _label(value) -> str:
    """A short tick label: 3 significant digits for numbers, the text otherwise."""
    return f"{value:.3g}" if isinstance(value, (float, int, np.number)) else str(value)
