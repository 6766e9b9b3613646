"""Fitting device models to measured pulse-response data: loaders, mean-curve fits, spreads, model choice.

    data = load_pulse_data("set.csv", "reset.csv")      # conductance (S) after each pulse, a column per cycle
    report = fit_models(data)                           # every candidate fitted, ranked on held-out curves
    save_device("fit.json", report.best.device, source=data.describe(), fit=...)   # then --device fit.json

`data` (loading and checking files), `quality` (which columns are usable), `candidates` (the models, their
free parameters and bounds), `mean_fit` (least squares of the mean curve; `noisy_mean` for noisy data),
`spread` (device-to-device, cycle-to-cycle and read noise by moments, for readings good to a step),
`kalman`, `denoise`, `state_noise` (noisy readings: hidden conductance plus white noise, a Kalman smoother,
write noise and step noise by likelihood), `select` (held-out ranking and the fitted device), `synthetic`
(curves from a known device, for tests),
`example_data` (the measured CrossSim v2 RRAM curves shipped with the package: `example_data_dir()`).
"""

from devices.fit.data import Curves, PulseData, load_curves, load_pulse_data
from devices.fit.example_data import example_data_dir
from devices.fit.select import FitReport, ModelFit, fit_models
from devices.fit.synthetic import simulate_curves

__all__ = ["Curves", "PulseData", "load_curves", "load_pulse_data", "FitReport", "ModelFit", "fit_models",
           "simulate_curves", "example_data_dir"]
