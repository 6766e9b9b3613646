"""Loading measured pulse-response curves: conductance after each pulse, one column per cycle or device.

Formats and orientation:
    - CSV with a header row. Each data column is one cycle (or one device); row i is its conductance in
      siemens (S) after i pulses of the sequence, row 0 being the first reading, the start of the curve.
      Cycles may end early: trailing empty cells end a column (a shorter cycle). Optional columns, by header
      name (case-insensitive): `pulse_sign` (+1 potentiation, -1 depression, 0 for a row before any pulse),
      `amplitude` (V) and `time` (s) of the pulse that led to the row.
    - NPZ with an array `g` ([n_rows, n_cycles], S; NaN after a cycle's end) and optionally `names`
      ([n_cycles] str), `pulse_sign`, `amplitude`, `time` ([n_rows]).
    Potentiation and depression come in separate files (the polarity is given by the caller), or in one file
    with a `pulse_sign` column: each run of rows of one sign is one curve per column, starting at the row
    before the run.

Problems of the file raise `ValueError` naming the file, the column and the row (rows counted from 0 after
the header): values that cannot be conductances in S (above 1 S, e.g. a curve in uS, or negative), NaNs or
gaps inside a cycle, rows longer than the header. Problems of single columns (too few pulses, mostly
missing, flat, moving against their polarity) leave the column out with a warning and its reason in
`Curves.dropped` (`quality`); the run stops only when no column of a polarity remains or when most run
against their polarity.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from devices.fit.quality import FLAT_FRACTION, MIN_PULSES, screen  # noqa: F401 (re-exported for callers)

# Optional columns by header name (case-insensitive) and the field they fill.
SPECIAL = {"pulse_sign": "pulse_sign", "sign": "pulse_sign", "amplitude": "amplitude", "time": "time"}
MAX_CONDUCTANCE = 1.0  # S: no memristor conducts 1 S; larger values are another unit (uS, ohm)


@dataclass(frozen=True)
class Curves:
    """The measured curves of one polarity.

    Attributes:
        g: [n_rows, n_curves] conductance (S) at the start (row 0) and after each pulse; NaN after a
            curve's last pulse (curves may have different lengths).
        names: [n_curves] the column name of each curve (with the run index for one-file data).
        sign: +1 for potentiation (SET, LTP), -1 for depression (RESET, LTD).
        source: The file the curves come from.
        dropped: {column name: why it was left out} (`quality.screen`).
    """

    g: np.ndarray
    names: tuple[str, ...]
    sign: int
    source: str
    dropped: dict = field(default_factory=dict)

    @property
    def lengths(self) -> np.ndarray:
        """[n_curves] number of readings (pulses + 1) of each curve."""
        return np.sum(~np.isnan(self.g), axis=0)

    @property
    def n_curves(self) -> int:
        return self.g.shape[1]

    def steps(self) -> tuple[np.ndarray, np.ndarray]:
        """(g_before, dg) of every pulse, each [n_rows - 1, n_curves] (S); NaN where a curve has ended."""
        return self.g[:-1], np.diff(self.g, axis=0)

    def subset(self, index) -> Curves:
        """The curves at `index` (e.g. every other one, for a held-out split)."""
        index = np.asarray(index)
        g = self.g[:, index]
        g = g[: int(np.max(np.sum(~np.isnan(g), axis=0)))]
        return Curves(g, tuple(self.names[i] for i in index), self.sign, self.source, self.dropped)


@dataclass(frozen=True)
class PulseData:
    """Measured potentiation and depression curves of one device type (either may be absent).

    Attributes:
        up: Potentiation curves, or None.
        down: Depression curves, or None.
        files: {file name: sha256} of the files they were read from (names only: no paths of this machine).
    """

    up: Curves | None
    down: Curves | None
    files: dict

    def by_sign(self) -> dict[int, Curves]:
        return {c.sign: c for c in (self.up, self.down) if c is not None}

    def g_range(self) -> tuple[float, float]:
        """(lowest, highest) measured conductance (S) over all curves."""
        values = np.concatenate([c.g[~np.isnan(c.g)] for c in self.by_sign().values()])
        return float(values.min()), float(values.max())

    def quality(self) -> dict:
        """The data-quality record: per polarity the columns used and those dropped with the reason."""
        return {name: {"used": list(c.names), "dropped": dict(c.dropped)}
                for name, c in (("up", self.up), ("down", self.down)) if c is not None}

    def describe(self) -> dict:
        """The data source for a device file: files, their hashes, curve counts and pulses."""
        return {"files": self.files, **{f"{k}_curves": int(c.n_curves) for k, c in (("up", self.up),
                                                                                       ("down", self.down)) if c},
                **{f"{k}_pulses_max": int(c.lengths.max() - 1) for k, c in (("up", self.up), ("down", self.down))
                   if c}}


def _read_csv(path: Path) -> tuple[list[str], np.ndarray]:
    """(header, values [n_rows, n_cols] float with NaN for empty cells); errors name the file, row, column."""
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if len(rows) < 2:
        raise ValueError(f"{path}: needs a header row and at least one row of data; got {len(rows)} row(s)")
    header = [h.strip() for h in rows[0]]
    if any(not h for h in header):
        raise ValueError(f"{path}: empty column name in the header at column {header.index('')}")
    if len(set(header)) != len(header):
        dup = sorted({h for h in header if header.count(h) > 1})
        raise ValueError(f"{path}: duplicate column name(s) in the header: {', '.join(dup)}")
    values = np.full((len(rows) - 1, len(header)), np.nan)
    for i, row in enumerate(rows[1:]):
        if len(row) > len(header):
            extra = [c for c in row[len(header):] if c.strip()]
            if extra:
                raise ValueError(f"{path}: row {i} has {len(row)} fields but the header has {len(header)} "
                                 f"(ragged rows)")
        for j, cell in enumerate(row[: len(header)]):
            cell = cell.strip()
            if not cell:
                continue
            try:
                values[i, j] = float(cell)
            except ValueError:
                raise ValueError(f"{path}: column {header[j]!r}, row {i}: {cell!r} is not a number") from None
            if np.isnan(values[i, j]):
                raise ValueError(f"{path}: column {header[j]!r}, row {i}: NaN (leave a cell empty to end a "
                                 "shorter cycle)")
    return header, values


def _read_npz(path: Path) -> tuple[list[str], np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except Exception as err:  # a corrupt archive raises any of several types
        raise ValueError(f"{path}: not a readable NPZ file ({err})") from None
    if "g" not in arrays:
        raise ValueError(f"{path}: needs an array 'g' [n_rows, n_cycles] of conductances (S); "
                         f"found {', '.join(sorted(arrays)) or 'none'}")
    g = np.asarray(arrays["g"], float)
    if g.ndim == 1:
        g = g[:, None]
    if g.ndim != 2:
        raise ValueError(f"{path}: 'g' must be [n_rows, n_cycles]; got shape {g.shape}")
    names = [str(n) for n in arrays["names"]] if "names" in arrays else [f"cycle{j}" for j in range(g.shape[1])]
    if len(names) != g.shape[1]:
        raise ValueError(f"{path}: 'names' has {len(names)} entries for {g.shape[1]} columns of 'g'")
    header, columns = list(names), [g]
    for key in ("pulse_sign", "amplitude", "time"):
        if key in arrays:
            col = np.asarray(arrays[key], float).reshape(-1)
            if col.shape[0] != g.shape[0]:
                raise ValueError(f"{path}: '{key}' has {col.shape[0]} rows but 'g' has {g.shape[0]}")
            header.append(key)
            columns.append(col[:, None])
    return header, np.concatenate(columns, axis=1)


def _check_column(path: Path, name: str, col: np.ndarray, first_row: int = 0) -> int:
    """Check one curve's readings [n_rows] (NaN after its end); return its number of readings."""
    present = ~np.isnan(col)
    n = int(present.sum())
    if n and not present[:n].all():
        row = int(np.argmin(present[:n]))
        raise ValueError(f"{path}: column {name!r}, row {first_row + row}: missing value or NaN inside the cycle "
                         "(only trailing cells may be empty)")
    big = np.flatnonzero(col[:n] > MAX_CONDUCTANCE)
    if big.size:
        raise ValueError(f"{path}: column {name!r}, row {first_row + int(big[0])}: {col[big[0]]:g} exceeds "
                         f"{MAX_CONDUCTANCE} S: conductances must be in siemens (a curve in uS? multiply by 1e-6)")
    negative = np.flatnonzero(col[:n] < 0)
    if negative.size:
        raise ValueError(f"{path}: column {name!r}, row {first_row + int(negative[0])}: negative conductance "
                         f"{col[negative[0]]:g} S")
    return n


def _curves_from_block(path, names, block, sign, first_row) -> Curves:
    for name, col in zip(names, block.T, strict=True):
        _check_column(path, name, col, first_row)
    kept, kept_names, dropped = screen(path, list(names), block, sign, first_row)
    return Curves(kept, kept_names, sign, str(path), dropped)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_table(path) -> tuple[list[str], np.ndarray]:
    """(header, values [n_rows, n_cols]) of a CSV or NPZ file (NaN for empty cells); see the module docstring."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"measured data file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path)
    if suffix == ".npz":
        return _read_npz(path)
    raise ValueError(f"{path}: unknown format {suffix!r}; use .csv or .npz")


def load_curves(path, sign: int | None = None) -> dict[int, Curves]:
    """The checked curves of one file, by polarity (+1 potentiation, -1 depression).

    Args:
        path: CSV or NPZ file (see the module docstring).
        sign: +1 or -1 when the whole file is one polarity; None when it has a `pulse_sign` column.

    Raises:
        ValueError: naming the file, column and row of the first problem found.
    """
    path = Path(path)
    header, values = load_table(path)
    special = {SPECIAL[h.lower()]: j for j, h in enumerate(header) if h.lower() in SPECIAL}
    data_cols = [j for j, h in enumerate(header) if h.lower() not in SPECIAL]
    if not data_cols:
        raise ValueError(f"{path}: no conductance columns (only {', '.join(header)})")
    names = [header[j] for j in data_cols]
    g = values[:, data_cols]
    if sign is not None:
        if sign not in (1, -1):
            raise ValueError(f"`sign` must be +1 (potentiation) or -1 (depression); got sign={sign!r}")
        return {sign: _curves_from_block(path, names, g, sign, 0)}
    if "pulse_sign" not in special:
        raise ValueError(f"{path}: give the polarity of the file (potentiation or depression) or a 'pulse_sign' "
                         "column (+1 / -1 per row)")
    signs = values[:, special["pulse_sign"]]
    bad = np.flatnonzero(~np.isin(signs, (-1.0, 0.0, 1.0)))
    if bad.size:
        raise ValueError(f"{path}: column 'pulse_sign', row {int(bad[0])}: {signs[bad[0]]!r} is not +1, -1 or 0")
    # Runs of one sign; each starts at the row before it (the reading before its first pulse).
    runs, start = [], None
    for i in range(1, len(signs) + 1):
        if start is not None and (i == len(signs) or signs[i] != signs[start]):
            runs.append((start, i))
            start = None
        if i < len(signs) and signs[i] != 0 and start is None:
            start = i
    blocks: dict[int, list] = {1: [], -1: []}
    for k, (a, b) in enumerate(runs):
        s = int(signs[a])
        blocks[s].append((k, a - 1, _curves_from_block(path, [f"{n}:run{k}" for n in names], g[a - 1:b], s, a - 1)))
    out = {}
    for s, items in blocks.items():
        if items:
            rows = max(c.g.shape[0] for _, _, c in items)
            padded = [np.pad(c.g, ((0, rows - c.g.shape[0]), (0, 0)), constant_values=np.nan) for _, _, c in items]
            out[s] = Curves(np.concatenate(padded, axis=1), sum((c.names for _, _, c in items), ()), s, str(path),
                            {k: v for _, _, c in items for k, v in c.dropped.items()})
    if not out:
        raise ValueError(f"{path}: column 'pulse_sign' has no +1 or -1 rows")
    return out


def load_pulse_data(up=None, down=None, both=None) -> PulseData:
    """Measured curves from separate potentiation/depression files, or one file with a `pulse_sign` column.

    Args:
        up: Path of the potentiation (SET) curves, or None.
        down: Path of the depression (RESET) curves, or None.
        both: Path of one file with a `pulse_sign` column (instead of `up` / `down`).
    """
    if both is not None:
        if up is not None or down is not None:
            raise ValueError("give either `both` (one file with a pulse_sign column) or `up` / `down` files")
        curves = load_curves(both)
        return PulseData(curves.get(1), curves.get(-1), {Path(both).name: _sha256(Path(both))})
    if up is None and down is None:
        raise ValueError("no measured data: give a potentiation (`up`) and/or a depression (`down`) file")
    files = {Path(p).name: _sha256(Path(p)) for p in (up, down) if p is not None}
    return PulseData(load_curves(up, 1)[1] if up is not None else None,
                     load_curves(down, -1)[-1] if down is not None else None, files)
