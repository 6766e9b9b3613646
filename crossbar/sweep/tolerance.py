"""The tolerance of a parameter: how far it may go from the baseline before the test error leaves float's.

GV2016's definition (Gokmen & Vlasov, Front. Neurosci. 10:333, 2016): the largest non-ideality whose network
still reaches a test error within 0.3% of the floating-point network's. Given test errors at several values of
one parameter and several seeds, and the float errors of the same seeds, the tolerance is where the mean excess
error (crossbar - float, paired by seed) first crosses the margin, interpolated between the last value inside
and the first value outside; its uncertainty is the spread of that crossing over bootstrap resamples of the
seeds (the seeds are resampled together across values: common random numbers).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from devices.validation import check_choice, check_int

__all__ = ["tolerance", "WORSE"]

WORSE = ("increasing", "decreasing")


def _crossing(values: np.ndarray, excess: np.ndarray, margin: float, log: bool) -> tuple[str, float]:
    """(status, value) of the first crossing of `margin` by `excess` along `values` (ordered worse-ward)."""
    outside = np.nonzero(excess > margin)[0]
    if outside.size == 0:
        return "not_reached", float(values[-1])
    k = int(outside[0])
    if k == 0:
        return "baseline_exceeds", float(values[0])
    v0, v1, e0, e1 = values[k - 1], values[k], excess[k - 1], excess[k]
    f = (margin - e0) / (e1 - e0)  # e1 > margin >= e0, so 0 <= f < 1
    if log:
        return "crossed", float(np.exp(np.log(v0) + f * (np.log(v1) - np.log(v0))))
    return "crossed", float(v0 + f * (v1 - v0))


def tolerance(values: Sequence[float], errors, reference, *, margin: float = 0.003, worse: str = "increasing",
              n_boot: int = 2000, seed: int = 0) -> dict:
    """Tolerance of one parameter (see the module docstring).

    Args:
        values: [n_values] parameter values, the baseline among them.
        errors: [n_values, n_seeds] test errors (fractions) of the crossbar networks; NaN where missing.
        reference: [n_seeds] test errors of the float networks of the same seeds.
        margin: Allowed excess error (fraction; 0.003 = 0.3 percentage points).
        worse: "increasing" if larger values are the larger non-ideality, "decreasing" otherwise (e.g. bits).
        n_boot: Bootstrap resamples of the seeds for the uncertainty.
        seed: Seed of the bootstrap.

    Returns:
        {"tolerance": value where the mean excess crosses the margin (interpolated; log scale when the values are
        positive and span a factor >= 10), "std": bootstrap std (NaN with fewer than 3 seeds: two seeds have only
        three distinct resamples, too few to say anything), "status": "crossed",
        "not_reached" (every value inside: the tolerance is at least the last value) or "baseline_exceeds" (even
        the mildest value is outside), "bracket": [last value inside, first outside] (None where absent),
        "excess": [n_values] mean excess error per value (in `values`' order), "excess_se": its standard error}.

    Raises:
        ValueError: mismatched shapes, fewer than two values, a bad `worse` or `margin`.
    """
    check_choice("worse", worse, WORSE)
    check_int("n_boot", n_boot, 1)
    values = np.asarray(values, float)
    errors = np.asarray(errors, float)
    reference = np.asarray(reference, float)
    if values.ndim != 1 or values.size < 2:
        raise ValueError(f"`values` must be at least two numbers; got {values.tolist()}")
    if errors.shape != (values.size, reference.size) or reference.ndim != 1:
        raise ValueError(f"`errors` must have shape [n_values, n_seeds] = {(values.size, reference.size)}; "
                         f"got {errors.shape} (reference {reference.shape})")
    if not np.isfinite(margin) or margin <= 0:
        raise ValueError(f"`margin` must be a positive fraction; got margin={margin}")
    order = np.argsort(values) if worse == "increasing" else np.argsort(-values)
    v, err = values[order], errors[order]
    log = bool(np.all(v > 0) and v.max() / v.min() >= 10)
    paired = err - reference[None, :]
    counts = np.sum(np.isfinite(paired), axis=1)
    mean = np.nanmean(paired, axis=1)
    se = np.nanstd(paired, axis=1, ddof=1) / np.sqrt(counts) if reference.size > 1 else np.full(v.size, np.nan)
    status, tol = _crossing(v, mean, margin, log)
    std = np.nan
    if reference.size >= 3:
        rng = np.random.default_rng(seed)
        draws = []
        for _ in range(n_boot):
            pick = rng.integers(0, reference.size, reference.size)
            s, t = _crossing(v, np.nanmean(paired[:, pick], axis=1), margin, log)
            if s == "crossed":
                draws.append(t)
        std = float(np.std(draws)) if len(draws) > 1 else np.nan
    outside = np.nonzero(mean > margin)[0]
    if outside.size == 0:
        bracket = [float(v[-1]), None]
    elif outside[0] == 0:
        bracket = [None, float(v[0])]
    else:
        bracket = [float(v[outside[0] - 1]), float(v[outside[0]])]
    back = np.argsort(order)  # report per value in the caller's order
    return {"tolerance": tol, "std": std, "status": status, "bracket": bracket, "margin": margin, "worse": worse,
            "excess": mean[back].tolist(), "excess_se": se[back].tolist()}
