"""Fitting every candidate model to measured curves, ranking them on held-out curves, and the fitted device.

`fit_models(data)` fits each candidate's mean curve to all curves (`mean_fit`), estimates its spreads
(`spread`), builds the fitted device in siemens, and scores the model on held-out curves: fitted on the even
curves of each polarity, its mean curves predict the odd ones from their first readings; the score is the
RMSE (S) per held-out curve, averaged, with its standard error over the curves. The ranking follows the
one-standard-error rule (Hastie, Tibshirani & Friedman, "The Elements of Statistical Learning", 2nd ed., 7.10):
the models within one SE of the best score come first, fewest parameters first (a nested model that fits as
well wins over the larger one; equal sizes in the order of `candidates.candidates`), then the rest by score.
Each held-out curve is predicted with its own step scale (estimated from its steps, as its start is taken
from its first reading), so that the score compares the shapes of the step laws. AIC and BIC of the full fit
are reported beside it.

Readings noisier than about a step (`denoise.is_noisy`) take another route (`_fit_noisy`): the range and the
starts come from the denoised curves, the spreads and each curve's scale from the state-space likelihood
(`state_noise`), and the law is fitted to the mean of the noisy curves (`noisy_mean`); the held-out curves
start at their denoised starts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from devices.fit.bounds import bound_spreads
from devices.fit.candidates import Candidate, candidates, to_siemens
from devices.fit.data import PulseData
from devices.fit.denoise import is_noisy, trend
from devices.fit.mean_fit import MeanFit, Stacked, fit_mean, predict, stack
from devices.fit.spread import Spread, estimate_spread
from devices.fit.state_noise import curve_scales, estimate_noise
from devices.noise import NoWriteNoise, Variation, WriteNoise

MIN_READ_NOISE = 1e-4  # relative reading noise below this is not worth a draw per pulse


@dataclass(frozen=True)
class ModelFit:
    """One candidate fitted to the data.

    Attributes:
        candidate: The model. mean: Its mean-curve fit to all curves. spread: The spreads around it.
        device: The fitted device (S), with spreads, ready for `make_device` / training.
        heldout_rmse: Mean RMSE (S) on held-out curves; heldout_se: its standard error (S).
        parameters: The fitted parameters (S or as they are).
        hidden: [n_rows, n_curves] the hidden conductance (S) of every curve, side by side (potentiation first;
            NaN after a curve ends): the state-space smoother's for noisy readings, else the readings.
        mean_sign: [n_curves] the polarity of each curve (+1 / -1).
    """

    candidate: Candidate
    mean: MeanFit
    spread: Spread
    device: object
    heldout_rmse: float
    heldout_se: float
    parameters: dict = field(default_factory=dict)
    hidden: np.ndarray | None = None
    mean_sign: np.ndarray | None = None

    def summary(self) -> dict:
        bounds = {}
        if self.hidden is not None:
            bounds = {"bounds": bound_spreads(self.hidden, self.mean_sign, self.parameters.get("g_min", 0.0),
                                              self.parameters.get("g_max", 1.0))}
        return {**bounds, "model": self.candidate.name, "n_params": self.candidate.n_params,
                "parameters": self.parameters,
                "rmse_S": self.mean.rmse, "heldout_rmse_S": self.heldout_rmse, "heldout_se_S": self.heldout_se,
                **self.mean.information_criteria(), "converged": self.mean.converged, **self.spread.as_dict()}


@dataclass(frozen=True)
class FitReport:
    """Every candidate's fit, ranked (best first), the data they came from, and the readings' noise.

    Attributes:
        noisy: Whether the readings were modelled as hidden states plus white noise (`denoise.is_noisy`).
        reading_noise: The model-free smoother's white-noise std of the readings (S).
        typical_step: The median |difference| of successive readings (S), what `reading_noise` is compared with.
    """

    ranked: list
    data: PulseData
    stacked: Stacked
    noisy: bool = False
    reading_noise: float = 0.0
    typical_step: float = 0.0

    @property
    def best(self) -> ModelFit:
        return self.ranked[0]

    def ranking(self) -> list[dict]:
        return [{"rank": i + 1, **m.summary()} for i, m in enumerate(self.ranked)]


def fitted_device(candidate: Candidate, theta, spread: Spread, lo: float, span: float):
    """(validated device in S with its spreads, its fitted parameters); no drift (no retention data)."""
    from devices import MODELS
    from devices.fit.candidates import base_model

    params, up_down = to_siemens(candidate, theta, lo, span)
    # The readings' white noise becomes write noise: one reading per pulse cannot tell it from read noise, and
    # write noise (seen by every read until the next pulse) is the kind a noisy programming step leaves.
    write_noise = WriteNoise(std=spread.read_noise) if spread.read_noise_rel > MIN_READ_NOISE else NoWriteNoise()
    base = base_model(candidate.name)
    device = MODELS[candidate.name](**{**{f: getattr(base, f) for f in ("v_threshold", "v_reset")}, **params,
                                       "variation": Variation(dg_d2d=spread.dg_d2d, up_down=up_down, c2c=spread.c2c),
                                       "write_noise": write_noise})
    return device.validate(), {**params, "up_down": up_down}


def with_bound_spreads(device, spreads: dict):
    """`device` with the device-to-device spread of its bounds where the data resolved it (`bounds.bound_spreads`):
    the upper bound's as `Variation.bounds_d2d`, the lower one's as `bounds_min_d2d`. A bound whose curves did not
    settle keeps no spread (the data do not show one), so a resolved upper bound alone leaves the lower at 0."""
    upper, lower = spreads["g_max"]["d2d"], spreads["g_min"]["d2d"]
    if upper is None and lower is None:
        return device
    variation = dataclasses.replace(device.variation, bounds_d2d=upper or 0.0, bounds_min_d2d=lower or 0.0)
    return dataclasses.replace(device, variation=variation).validate()


def _heldout(candidate: Candidate, full: Stacked, path: np.ndarray, theta, scales) -> tuple[float, float]:
    """(mean, SE) of the per-curve RMSE (S) on the odd curves of a fit to the even ones, started at `theta`.

    Args:
        full: All curves (u), each anchored at its denoised start. path: [n_rows, n_curves] denoised conductance.
        scales: (theta, curves, their path) -> [n_curves] each curve's step scale.
    """
    sign = full.sign
    if any(np.sum(sign == s) < 2 for s in np.unique(sign)):
        return float("nan"), float("nan")
    rank_in_sign = np.array([np.sum(sign[:j] == sign[j]) for j in range(sign.size)])
    n = sign.size
    parts = [np.flatnonzero(rank_in_sign % 2 == k) for k in (0, 1)]
    # Padded to the full data's shape (unread curves masked): the compiled functions are reused.
    train, test = (full.columns(i).padded(n) for i in parts)
    n_test = parts[1].size
    paths = [np.pad(path[:, i], ((0, 0), (0, n - i.size))) for i in parts]
    fit = fit_mean(candidate, train, scale=scales(theta, train, paths[0]), start=theta)
    # Each held-out curve keeps its own step scale (a nuisance, like its start): the score then measures the
    # shape of the step law, not the device-to-device spread that every model shares.
    pred = predict(candidate, fit.theta, test, scales(fit.theta, test, paths[1]))
    sq = np.where(test.mask[1:], (pred - test.u)[1:] ** 2, 0.0)
    per_curve = (np.sqrt(sq.sum(0) / np.maximum(test.mask[1:].sum(0), 1)) * full.span)[:n_test]
    return float(per_curve.mean()), float(per_curve.std(ddof=1) / np.sqrt(per_curve.size))


def rank(fits: list[ModelFit]) -> list[ModelFit]:
    """The one-SE-rule ranking (see the module docstring); without held-out scores, by BIC."""
    scores = [f.heldout_rmse for f in fits]
    if any(not np.isfinite(s) for s in scores):
        return sorted(fits, key=lambda f: f.mean.information_criteria()["bic"])
    best = min(fits, key=lambda f: f.heldout_rmse)
    limit = best.heldout_rmse + best.heldout_se
    order = {c.name: i for i, c in enumerate(candidates())}  # ties of equal size: the simpler law listed first
    near = sorted((f for f in fits if f.heldout_rmse <= limit),
                  key=lambda f: (f.candidate.n_params, order.get(f.candidate.name, 99), f.heldout_rmse))
    return near + sorted((f for f in fits if f.heldout_rmse > limit), key=lambda f: f.heldout_rmse)


def fit_models(data: PulseData, names: list[str] | None = None, heldout: bool = True) -> FitReport:
    """Fit every candidate (or those in `names`) to `data` and rank them; see the module docstring.

    Readings good to about a step (`denoise.is_noisy` false) are the states: each curve starts at its first
    reading, the range is the readings', and the spreads are the quick moment estimates (`spread`). Noisier
    readings are modelled as hidden states plus white noise: the range and starts come from the smoothed
    curves, the spreads and each curve's scale from the state-space likelihood (`state_noise`), and the law
    is fitted to the mean of the noisy curves (`noisy_mean`).

    Raises:
        ValueError: for an unknown model name or one that does not apply to the measured polarities.
    """
    lo, hi = data.g_range()
    raw = stack(data.by_sign(), lo, hi - lo)
    smooth = trend(raw.u, raw.mask)  # the model-free denoised conductance: is it noisy, its range, the starts
    noisy = is_noisy(smooth, raw.u, raw.mask)
    if noisy:  # the range of the denoised curves (the readings' extremes are off by several noise stds)
        lo, hi = max(lo + (hi - lo) * float(np.nanmin(smooth.x)), 0.0), lo + (hi - lo) * float(np.nanmax(smooth.x))
    span = hi - lo
    signs = tuple(data.by_sign())
    pool = {c.name: c for c in candidates(lo / span, signs)}
    if names is not None:
        unknown = [n for n in names if n not in pool]
        if unknown:
            raise ValueError(f"model(s) {', '.join(unknown)} cannot be fitted to these data; valid: {', '.join(pool)}")
        pool = {n: pool[n] for n in names}
    stacked = stack(data.by_sign(), lo, span)
    path = np.where(stacked.mask, (raw.lo + raw.span * smooth.x - lo) / span, np.nan) if noisy else stacked.u
    fits = []
    for candidate in pool.values():
        fit = (_fit_noisy if noisy else _fit_clean)(candidate, stacked, path, heldout)
        device, params = fitted_device(candidate, fit["mean"].theta, fit["spread"], lo, span)
        hidden = np.where(stacked.mask, lo + span * fit["hidden"], np.nan)
        device = with_bound_spreads(device, bound_spreads(hidden, stacked.sign, params.get("g_min", 0.0),
                                                          params.get("g_max", 1.0)))
        fits.append(ModelFit(candidate, fit["mean"], fit["spread"], device, *fit["score"], parameters=params,
                             hidden=hidden, mean_sign=stacked.sign))
    typical = float(np.nanmedian(np.abs(np.diff(np.where(raw.mask, raw.u, np.nan), axis=0)))) * raw.span
    return FitReport(rank(fits), data, stacked, noisy, float(np.sqrt(smooth.read_var)) * raw.span, typical)


def _fit_clean(candidate: Candidate, stacked: Stacked, path, heldout: bool) -> dict:
    """Readings as states: the mean curve from each first reading, spreads by moments."""
    # Two passes: the curves' own step scales from the first fit, then the typical curve given them.
    first = fit_mean(candidate, stacked)
    mean = fit_mean(candidate, stacked, scale=estimate_spread(candidate, first.theta, stacked).scales,
                    start=first.theta)
    spread = estimate_spread(candidate, mean.theta, stacked)

    def scales(theta, part, _path):
        return estimate_spread(candidate, theta, part).scales

    score = _heldout(candidate, stacked, path, mean.theta, scales) if heldout else (float("nan"),) * 2
    return {"mean": mean, "spread": spread, "score": score, "hidden": stacked.u}


def _fit_noisy(candidate: Candidate, stacked: Stacked, path, heldout: bool) -> dict:
    """Hidden states and white reading noise: see `fit_models`."""
    # Mean law, then the state-space noise and each curve's scale, then the typical curve's law given the
    # scales (a mean curve of curves spread in scale is not the typical curve) and the step noise, then the
    # noise again.
    first = fit_mean(candidate, stacked.anchored(path))
    noise = estimate_noise(candidate, first.theta, stacked, path)
    anchored = stacked.anchored(noise.x)  # each curve from the state-space smoother's start
    mean = min((fit_mean(candidate, anchored, scale=noise.spread.scales, start=x, c2c=noise.spread.c2c)
                for x in (first.theta, None)), key=lambda f: f.rss)
    noise = estimate_noise(candidate, mean.theta, stacked, noise.x, start=noise)

    def scales(theta, part, part_path):
        return curve_scales(candidate, theta, part, part_path, noise.params)

    score = _heldout(candidate, anchored, noise.x, mean.theta, scales) if heldout else (float("nan"),) * 2
    return {"mean": mean, "spread": noise.spread, "score": score, "hidden": noise.x}
