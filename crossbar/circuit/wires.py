"""Parasitic resistances of a crossbar's wires and periphery (ohm), validated; 0 is an ideal wire."""

from __future__ import annotations

from dataclasses import dataclass, field

import jax
import numpy as np

from devices.pytree import pytree_dataclass

Array = jax.Array


def _check_resistance(name: str, value, shape: tuple[int, int] | None) -> np.ndarray:
    try:
        raw = np.asarray(value)
    except (TypeError, ValueError):
        raw = None
    if raw is None or not (np.issubdtype(raw.dtype, np.integer) or np.issubdtype(raw.dtype, np.floating)):
        raise TypeError(f"`{name}` must be a real number or an array of them (ohm); got {value!r}")
    arr = raw.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"`{name}` must be finite (ohm); got {name}={value!r}")
    if np.any(arr < 0):
        raise ValueError(f"`{name}` must be >= 0 ohm (0 means an ideal wire); got {name}={value!r}")
    if shape is not None:
        try:
            ok = np.broadcast_shapes(arr.shape, shape) == tuple(shape)
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"`{name}` must be a scalar or broadcast to the array shape {tuple(shape)}; "
                             f"got shape {arr.shape}")
    return arr


@pytree_dataclass
@dataclass(frozen=True)
class WireResistance:
    """Parasitic resistances of the crossbar wires and periphery, all in ohm; 0 means an ideal wire.

    Attributes:
        r_row: Row wire segment resistance (ohm), scalar or [N, M]; (i, j) is the segment left of row node (i, j),
            so (i, 0) joins the row terminal to the first device.
        r_col: Column wire segment resistance (ohm), scalar or [N, M]; (i, j) is the segment below column node
            (i, j) toward the sense end, so (N-1, j) joins the last device to the column terminal.
        r_source: Output resistance (ohm) of each driver, in series with the driven wire's end segment.
        r_sense: Input resistance (ohm) of each virtual-ground sense amplifier, in series with the read wire's end.
        tol: How closely a crossbar's reads through these wires are solved (`crossbar.circuit.read_currents`): the
            relative residual of each vector's correction to the ideal currents. Static.
        max_iter: The iteration limit of those solves; a vector that reaches it unconverged is counted in the
            read's `Counters.unconverged_solves`. Static.
        refresh_every: 0 (default): every read is solved. N > 0: the array keeps the wires' effect on its reads
            as two cached matrices, solved when it is made and after every N-th write, and reads through them
            (`crossbar.circuit.cache`): a product instead of a solve per vector, first-order in the writes since
            the last refresh. Static.
    """

    r_row: float | Array
    r_col: float | Array
    r_source: float | Array = 0.0
    r_sense: float | Array = 0.0
    tol: float = field(default=1e-6, metadata=dict(static=True))
    max_iter: int = field(default=200, metadata=dict(static=True))
    refresh_every: int = field(default=0, metadata=dict(static=True))

    def validate(self, shape: tuple[int, int] | None = None) -> WireResistance:
        """Raise `ValueError`/`TypeError` naming a bad resistance (negative, non-finite, wrong shape); return self.

        Args:
            shape: (N, M) of the array, to check the shapes of `r_row` and `r_col` against; None skips that check.
        """
        _check_resistance("r_row", self.r_row, shape)
        _check_resistance("r_col", self.r_col, shape)
        for name in ("r_source", "r_sense"):
            if np.ndim(_check_resistance(name, getattr(self, name), None)) != 0:
                raise ValueError(f"`{name}` must be a scalar (ohm); got {name}={getattr(self, name)!r}")
        if isinstance(self.tol, bool) or not isinstance(self.tol, (int, float)) or not 0 < self.tol < 1:
            raise ValueError(f"`tol` must be a number in (0, 1); got tol={self.tol!r}")
        if isinstance(self.max_iter, bool) or not isinstance(self.max_iter, (int, np.integer)) or self.max_iter < 1:
            raise ValueError(f"`max_iter` must be a positive int; got max_iter={self.max_iter!r}")
        if (isinstance(self.refresh_every, bool) or not isinstance(self.refresh_every, (int, np.integer))
                or self.refresh_every < 0):
            raise ValueError(f"`refresh_every` must be an int >= 0; got refresh_every={self.refresh_every!r}")
        return self
