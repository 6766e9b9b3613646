"""Boundary checks shared by the transfer algorithms' hyperparameters (names as aihwkit's)."""

from __future__ import annotations

from devices.validation import check_bool, check_int, check_nonnegative, check_positive, check_probability, check_scalar


def check_hyper(alg, positive=(), nonnegative=(), probabilities=(), flags=(), counts=()) -> None:
    """Raise `ValueError`/`TypeError` naming the first bad hyperparameter of `alg` and its value."""
    for name in (*positive, *nonnegative, *probabilities):
        check_scalar(name, getattr(alg, name))
    for name in positive:
        check_positive(name, getattr(alg, name))
    for name in nonnegative:
        check_nonnegative(name, getattr(alg, name))
    for name in probabilities:
        check_probability(name, getattr(alg, name))
    for name in flags:
        check_bool(name, getattr(alg, name))
    for name in counts:
        check_int(name, getattr(alg, name), 1)
