"""Training algorithms for asymmetric, noisy devices: Tiki-Taka, TTv2, chopped TTv2, AGAD and mixed precision.

Each algorithm is a frozen pytree of hyperparameters (aihwkit's names; mapping tables in each module) with
`validate()` and `update(compound, state, x, d, lr, key) -> (state, counters)`, on the arrays of a `Compound`
(`compound.py`: A, C, buffers, choppers; `init`, `forward`, `transpose`, `weights`), built of the operations in
`steps.py` (the array core's reads, pulse trains and pulse delivery). `make_algorithm(name, **hyperparameters)`
builds one by name and rejects unknown or bad hyperparameters, naming them.
"""

from __future__ import annotations

from dataclasses import fields

from crossbar.transfer.agad import AGAD
from crossbar.transfer.chopped import ChoppedTTv2
from crossbar.transfer.compound import Compound, TransferState, forward, init, make_compound, transpose, weights
from crossbar.transfer.mixed_precision import MixedPrecision
from crossbar.transfer.tiki_taka import TikiTaka
from crossbar.transfer.ttv2 import TTv2

ALGORITHMS = {cls.name: cls for cls in (TikiTaka, TTv2, ChoppedTTv2, AGAD, MixedPrecision)}


def make_algorithm(name: str, **hyperparameters):
    """The validated algorithm `name` (one of `ALGORITHMS`) with the given hyperparameters.

    Raises:
        ValueError: An unknown algorithm or hyperparameter, or a bad value, naming it.
        TypeError: A hyperparameter of the wrong type, naming it.
    """
    if name not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {name!r}; valid: {', '.join(ALGORITHMS)}")
    cls = ALGORITHMS[name]
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(hyperparameters) - known)
    if unknown:
        raise ValueError(f"unknown hyperparameter(s) {', '.join(unknown)} for {name}; "
                         f"valid: {', '.join(sorted(known))}")
    return cls(**hyperparameters).validate()


__all__ = ["ALGORITHMS", "make_algorithm", "TikiTaka", "TTv2", "ChoppedTTv2", "AGAD", "MixedPrecision",
           "Compound", "TransferState", "make_compound", "init", "forward", "transpose", "weights"]
