"""Which measured columns a fit can use: columns that are too short, mostly missing, flat or running against
their polarity are left out (with the reason), and the run stops only when too few remain or when most run
against their polarity (the files are then likely swapped).

Noisy readings make a column's net change noisy: a device that hardly moves, read with noise of tens of
steps, ends lower than it started about half of the time. So the checks compare the change with its own
noise: the change is the mean of the last fifth of the readings less that of the first fifth, its noise
from the spread of the column's successive differences (a robust estimate that read noise dominates).
A column is flat when its change in the direction of its polarity is below three standard errors (or below
`FLAT_FRACTION` of its mean conductance, for noise-free data), and runs against its polarity when it moves
the other way by more than three standard errors.
"""

from __future__ import annotations

import warnings

import numpy as np

MIN_PULSES = 10  # fewer pulses than this cannot show a state dependence
FLAT_FRACTION = 1e-3  # a change below this fraction of the mean conductance is flat whatever the noise
N_SE = 3.0  # standard errors a change must exceed to count as a move
MOSTLY_MISSING = 0.5  # a column with fewer readings than this fraction of the longest is mostly missing
MIN_CURVES = 1  # fewest usable columns per polarity


def _what(sign: int) -> str:
    return "potentiation" if sign > 0 else "depression"


def column_problem(name: str, col: np.ndarray, sign: int, first_row: int, longest: int) -> tuple[str, str] | None:
    """(kind, reason) why column `col` ([n_rows], NaN after its end) cannot be used, or None.

    kind is "short", "missing", "flat" or "against"; the reason names the column and its rows.
    """
    g = col[~np.isnan(col)]
    rows = f"(rows {first_row}..{first_row + g.size - 1})"
    if g.size - 1 < MIN_PULSES:
        return "short", f"column {name!r} has {max(g.size - 1, 0)} pulses; at least {MIN_PULSES} are needed"
    if g.size < MOSTLY_MISSING * longest:
        return "missing", (f"column {name!r} {rows} is mostly missing: {g.size} readings of the {longest} of the "
                           "longest column")
    m = max(1, g.size // 5)
    change = float(g[-m:].mean() - g[:m].mean())
    d = np.diff(g)
    spread = 1.4826 * float(np.median(np.abs(d - np.median(d))))  # robust std of the differences
    se = spread * np.sqrt(1.0 / m)  # two means of m readings of noise spread / sqrt(2) each
    directed = sign * change
    if directed < 0 and (directed < -N_SE * se or spread == 0.0) and abs(change) >= FLAT_FRACTION * np.mean(g):
        return "against", (f"column {name!r} {rows} is read as {_what(sign)} but its conductance "
                           f"{'falls' if sign > 0 else 'rises'} by {abs(change):.3g} S (noise {se:.2g} S)")
    if directed < max(N_SE * se, FLAT_FRACTION * np.mean(g)):
        return "flat", (f"column {name!r} {rows} is flat: it changes by {change:.3g} S over {g.size - 1} pulses, "
                        f"below {N_SE:g} standard errors ({N_SE * se:.2g} S) or {FLAT_FRACTION:g} of its mean "
                        f"{np.mean(g):.3g} S")
    return None


def screen(path, names, block: np.ndarray, sign: int, first_row: int) -> tuple[np.ndarray, tuple, dict]:
    """(usable columns [n_rows, k], their names, {dropped name: reason}) of one polarity's block.

    Raises:
        ValueError: when fewer than MIN_CURVES columns remain, or when most run against the polarity; the
            message names the columns and why.
    """
    longest = int(np.max(np.sum(~np.isnan(block), axis=0))) if block.size else 0
    problems = {n: column_problem(n, col, sign, first_row, longest) for n, col in zip(names, block.T, strict=True)}
    dropped = {n: p[1] for n, p in problems.items() if p is not None}
    against = [p[1] for p in problems.values() if p is not None and p[0] == "against"]
    if len(against) > len(names) / 2:
        raise ValueError(f"{path}: most columns ({len(against)} of {len(names)}) run against their polarity "
                         f"(swapped files or a wrong pulse_sign?): " + "; ".join(against[:10]))
    keep = [j for j, n in enumerate(names) if n not in dropped]
    if len(keep) < MIN_CURVES:
        raise ValueError(f"{path}: no usable {_what(sign)} column left (at least {MIN_CURVES} needed); dropped: "
                         + "; ".join(list(dropped.values())[:10]))
    if dropped:
        warnings.warn(f"{path}: {len(dropped)} of {len(names)} {_what(sign)} column(s) left out: "
                      + "; ".join(list(dropped.values())[:5]) + ("; ..." if len(dropped) > 5 else ""), stacklevel=3)
    kept = block[:, keep]
    kept = kept[: int(np.max(np.sum(~np.isnan(kept), axis=0)))]
    return kept, tuple(names[j] for j in keep), dropped


__all__ = ["screen", "column_problem", "MIN_PULSES", "FLAT_FRACTION", "MIN_CURVES"]
