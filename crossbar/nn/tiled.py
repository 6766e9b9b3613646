"""A dense layer whose matrix is tiled over fixed-size physical arrays, each with its own periphery.

A layer larger than one array (aihwkit maps such layers onto several tiles of at most 512 x 512) is cut into
row blocks and column blocks; tile (r, c) is an `AnalogDense` of its own, with its own DAC/ADC and noise. The
forward output of column block c is the digital sum over row blocks of the tiles' reads; the transpose read of
row block r is the sum over column blocks (JAX differentiates the sum and the slicing, each tile's custom VJP
does its own transpose read); each tile's tape holds its slice of the inputs and errors, so the pulsed update
of the whole matrix is the tiles' updates. Tiling is off unless asked for: GV2016 assumes one array per layer.

Shapes: x [..., in_features] -> y [..., out_features]; weights [rows, cols] as `AnalogDense`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import jax
import jax.numpy as jnp
import numpy as np

from crossbar import array
from crossbar.counters import Counters
from crossbar.nn.dense import analog_dense
from crossbar.nn.tape import flatten_samples, with_bias_line
from devices.pytree import pytree_dataclass
from devices.validation import check_bool, check_instance, check_int

Array = jax.Array

DEFAULT_TILE = (512, 512)


@pytree_dataclass
@dataclass(frozen=True)
class TiledDense:
    """A dense layer on a grid of tiles. Build it with `tiled_dense`.

    Attributes:
        tiles: tuple (row blocks) of tuples (column blocks) of `AnalogDense` tiles, none with a bias line.
        bias_line: The last row of the whole matrix is an always-on input of 1 (static); it lives in the last row
            block's tiles.
    """

    tiles: tuple
    bias_line: bool = field(default=False, metadata=dict(static=True))

    @property
    def rows(self) -> int:
        return sum(row[0].xb.rows for row in self.tiles)

    @property
    def in_features(self) -> int:
        return self.rows - int(self.bias_line)

    @property
    def out_features(self) -> int:
        return sum(t.xb.cols for t in self.tiles[0])

    @property
    def weights(self) -> Array:
        """[rows, cols] weights held by all tiles (noise-free read)."""
        return jnp.concatenate([jnp.concatenate([t.weights for t in row], axis=1) for row in self.tiles], axis=0)

    def __call__(self, x: Array, key) -> Array:
        return self.read(x, key)[0]

    def read(self, x: Array, key) -> tuple[Array, Counters]:
        """(y [..., out_features], the forward reads' counters summed over tiles); differentiable."""
        x2, lead = flatten_samples("x", x, self.in_features)
        x_in = with_bias_line(x2) if self.bias_line else x2
        counters, start, outs = Counters.zeros(), 0, None
        for r, row in enumerate(self.tiles):
            xr = x_in[:, start:start + row[0].xb.rows]
            start += row[0].xb.rows
            ys = []
            for c, tile in enumerate(row):
                y, cnt = tile.read(xr, jax.random.fold_in(key, r * len(row) + c))
                ys.append(y)
                counters = counters + cnt
            # The row blocks' partial outputs are added after their ADCs (digitally).
            outs = ys if outs is None else [a + b for a, b in zip(outs, ys, strict=True)]
        y2 = jnp.concatenate(outs, axis=1)
        return y2.reshape(*lead, self.out_features), counters

    def with_batch(self, n: int | None) -> TiledDense:
        return replace(self, tiles=tuple(tuple(t.with_batch(n) for t in row) for row in self.tiles))

    def apply_update(self, grad: TiledDense, lr, key) -> tuple[TiledDense, Counters]:
        """Every tile's pulsed update from its own tape."""
        counters, new = Counters.zeros(), []
        for r, (row, g_row) in enumerate(zip(self.tiles, grad.tiles, strict=True)):
            new_row = []
            for c, (tile, g) in enumerate(zip(row, g_row, strict=True)):
                tile, cnt = tile.apply_update(g, lr, jax.random.fold_in(key, r * len(row) + c))
                new_row.append(tile)
                counters = counters + cnt
            new.append(tuple(new_row))
        return replace(self, tiles=tuple(new)), counters

    def advance(self, dt) -> TiledDense:
        return replace(self, tiles=tuple(tuple(t.advance(dt) for t in row) for row in self.tiles))


def _tile_wires(xb: array.Crossbar, r0: int, n_r: int, c0: int, n_c: int):
    """The wires of one tile: per-segment (or per-line) resistances cut to its rows and columns; scalars kept."""
    if xb.wires is None:
        return None

    def cut(r):
        if np.ndim(r) != 2:
            return r
        rows = slice(r0, r0 + n_r) if np.shape(r)[0] == xb.rows else slice(None)
        cols = slice(c0, c0 + n_c) if np.shape(r)[1] == xb.cols else slice(None)
        return r[rows, cols]

    return replace(xb.wires, r_row=cut(xb.wires.r_row), r_col=cut(xb.wires.r_col))


def tiled_dense(xb: array.Crossbar, key, weights: Array | None = None, *, tile=DEFAULT_TILE,
                batch: int | None = None, bias_line: bool = False) -> TiledDense:
    """The layer of `xb`'s shape (rows x cols, rows counting the bias line) on tiles of at most `tile` devices.

    Args:
        xb: Configuration of the whole layer (`make_crossbar`); each tile takes it with its own shape, and per-segment
            wire resistances cut to its part. Device parameters must be scalars (per-device parameter arrays are not
            cut into tiles).
        key: Random key of the tiles' device-to-device spread.
        weights: [rows, cols] initial weights (default zeros).
        tile: (max rows, max cols) of one physical array, or one int for square tiles; each >= 1.
        batch: As `analog_dense`.
        bias_line: As `analog_dense`.

    Raises:
        ValueError: A bad `tile`, `weights` or `xb.device`, naming it.
    """
    check_instance("xb", xb, array.Crossbar)
    check_bool("bias_line", bias_line)
    tile = (tile, tile) if isinstance(tile, (int, np.integer)) and not isinstance(tile, bool) else tuple(tile)
    if len(tile) != 2:
        raise ValueError(f"`tile` must be an int or (rows, cols); got tile={tile!r}")
    tile = tuple(check_int("tile", t, 1) for t in tile)
    if any(np.ndim(leaf) for leaf in jax.tree_util.tree_leaves(xb.device)):
        raise ValueError("`xb.device` has per-device parameter arrays; tiling needs scalar device parameters")
    w = jnp.zeros((xb.rows, xb.cols)) if weights is None else jnp.asarray(weights, jnp.float32)
    if w.shape != (xb.rows, xb.cols):
        raise ValueError(f"`weights` must have shape {(xb.rows, xb.cols)}; got weights.shape={w.shape}")
    row_starts, col_starts = range(0, xb.rows, tile[0]), range(0, xb.cols, tile[1])
    tiles = []
    for r, r0 in enumerate(row_starts):
        row = []
        for c, c0 in enumerate(col_starts):
            n_r, n_c = min(tile[0], xb.rows - r0), min(tile[1], xb.cols - c0)
            # Each physical array has its own configuration (same device, periphery and update scheme), and its own
            # wires: the segments of its part of the layer, from its own drivers to its own sense amplifiers.
            xb_tile = replace(xb, rows=n_r, cols=n_c, wires=_tile_wires(xb, r0, n_r, c0, n_c))
            k = jax.random.fold_in(key, r * len(col_starts) + c)
            row.append(analog_dense(xb_tile, k, w[r0:r0 + n_r, c0:c0 + n_c]))
        tiles.append(tuple(row))
    return TiledDense(tiles=tuple(tiles), bias_line=bias_line).with_batch(batch)
