"""Metrics ready to sweep with `crossbar.sweep.sweep`: pulse-curve figures of merit and on-crossbar training.

Each metric is a frozen dataclass with `prepare(device) -> params` (outside jit: validate, build the pytree
that varies) and `__call__(params, key) -> {name: array}` (pure; jit and vmap over params and keys).

`PulseCurveMetric` pulses `n_devices` devices up `n_pulses` times, then down as many, and reports per-curve
figures of merit, each the median across devices (S, or 1 for ratios):
    `n_levels`          device range (its own G_max - G_min) / typical up step: the number of levels one pulse
                        apart; the typical step is sum(s^2) / sum(|s|) over the potentiation steps s, the step
                        with which a typical stretch of the range is crossed (an abrupt device: ~1 level),
    `n_levels_resolved` device range / max(typical step, step noise): levels separated by more than the c2c
                        noise (the step noise is std(consecutive step differences) / sqrt(2), which removes the
                        smooth, state-dependent part of the step),
    `asymmetry`         (typical up step - typical |down step|) / (their sum), at the same conductances: 0 for
                        symmetric devices, `variation.up_down` for constant steps,
    `nonlinearity`      largest distance of the potentiation curve from the straight line between its ends,
                        as a fraction of its range (0 for linear, ~0.3 for strongly saturating curves),
    `dynamic_range`     G_max / G_min reached on the curve (inf where G_min is 0),
    `g_range`           G_max - G_min reached on the curve (S).

`TrainingMetric` trains the MLP on crossbar arrays of the device (one network per grid point and seed:
initial weights, device-to-device spread, sample order and every noise draw come from the seed's key) for
`n_samples` SGD steps on the embedded digits data and reports its `test_error` (fraction) and `train_loss`
(mean cross-entropy of the last 10% of the samples); with `curve_points` also `train_loss_curve`, the mean loss in
that many equal stretches of the run (axis `stretch`: has it converged?); with `eval_times` also
`test_error_vs_time` after the
given simulated times (s) of retention drift, on the axis `time`. With `algorithm` (a name of
`crossbar.transfer.ALGORITHMS` and its `hyperparameters`, or an algorithm object) every layer is trained by that
transfer algorithm on two arrays of the swept device, A and C (`crossbar.nn.TransferDense`), instead of plain
pulsed SGD: the sweep varies both arrays' device parameters together, under the same `jax.vmap`. For example,
c-TTv2 over the symmetry point of a soft-bounds device, each weight against a reference at its device's symmetry
point:

    metric = TrainingMetric(cfg=mlp.MLPConfig(sizes=(64, 10), lr=0.1, activation="tanh"), n_samples=200,
                            periphery=ideal_periphery(), pair="reference", w_max=1.0, algorithm="c_ttv2",
                            hyperparameters={"fast_lr": 0.2, "transfer_lr": 20.0, "max_steps": 31})
    result = sweep(metric, make_device("soft_bounds"), {"symmetry": [0.3, 0.5, 0.7]}, seeds=2)
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from crossbar import mapping
from crossbar import transfer as T
from crossbar.nn import analog_dense
from crossbar.nn.transfer_dense import check_layer_algorithm
from crossbar.periphery import Periphery
from crossbar.training import mlp
from crossbar.training.backends import CrossbarBackend, FloatBackend, TransferBackend
from crossbar.training.data import load_digits
from crossbar.transfer.compound import REFERENCES
from crossbar.update import PulseUpdate
from devices.traces import pulse_train, up_down_voltages
from devices.validation import check_choice, check_int, check_nonnegative

Array = jax.Array


@dataclass(frozen=True, eq=False)
class PulseCurveMetric:
    """Figures of merit of 200-up/200-down pulse curves (see the module docstring).

    Attributes:
        n_pulses: Potentiation pulses, then as many depression pulses.
        n_devices: Devices per curve set (device-to-device spread drawn once per seed).
        amplitude: Pulse amplitude (V); None: 1.5 V or the device's largest threshold where higher.
    """

    n_pulses: int = 200
    n_devices: int = 1000
    amplitude: float | None = None

    def prepare(self, device):
        """The validated device itself (its float parameters are what the sweep varies)."""
        device.validate()
        amplitude = self._amplitude(device)
        if amplitude < float(device.switching_threshold):
            raise ValueError(f"pulse amplitude {amplitude} V is below the device's switching threshold "
                             f"{float(device.switching_threshold)} V: the curve would be flat")
        return device

    def _amplitude(self, device) -> float:
        return max(1.5, float(device.switching_threshold)) if self.amplitude is None else float(self.amplitude)

    def curves(self, device, key) -> tuple[Array, Array]:
        """`[2 n_pulses + 1, n_devices]` conductance traces (S) and each device's range `[n_devices]` (S)."""
        k_init, k_train = jax.random.split(key)
        state = device.init(k_init, (self.n_devices,))
        if self.amplitude is None:  # traced under a sweep: the thresholds may be swept parameters
            amplitude = jnp.maximum(1.5, device.switching_threshold)
        else:
            amplitude = self.amplitude
        _, g = pulse_train(device, state, up_down_voltages(self.n_pulses, self.n_pulses, amplitude), k_train)
        return g, state.g_max - state.g_min

    def __call__(self, device, key) -> dict[str, Array]:
        return curve_figures(*self.curves(device, key), self.n_pulses)

    def describe(self) -> dict:
        return {"name": "pulse_curves", "n_pulses": self.n_pulses, "n_devices": self.n_devices,
                "amplitude_V": self.amplitude}


def curve_figures(g: Array, device_range: Array, n_up: int) -> dict[str, Array]:
    """Figures of merit of up/down traces, medians across devices.

    Args:
        g: `[n_up + n_down + 1, n_devices]` conductance traces (S): n_up potentiation pulses, then depression.
        device_range: `[n_devices]` each device's G_max - G_min (S).
        n_up: Number of potentiation pulses.

    Returns:
        {name: scalar}, see the module docstring.
    """
    up, down = g[: n_up + 1], g[n_up:]
    s_up, s_down = jnp.diff(up, axis=0), jnp.diff(down, axis=0)
    g_lo, g_hi = jnp.min(g, axis=0), jnp.max(g, axis=0)
    g_range = g_hi - g_lo
    tiny = jnp.finfo(g.dtype).tiny
    # Typical steps are taken in the middle half of the range the curve reached, where both sweeps pass and
    # no step is clipped by a bound: up and down steps are then compared at the same conductances.
    def mid_mean(start, steps):
        inside = jnp.abs(start - (g_lo + 0.5 * g_range)[None, :]) <= 0.25 * g_range[None, :]
        count = jnp.sum(inside, axis=0)
        masked = jnp.sum(jnp.where(inside, jnp.abs(steps), 0.0), axis=0) / jnp.maximum(count, 1)
        return jnp.where(count > 0, masked, jnp.mean(jnp.abs(steps), axis=0))

    mean_up, mean_down = mid_mean(up[:-1], s_up), mid_mean(down[:-1], s_down)
    # The step with which a typical stretch of the range is crossed: steps weighted by their own size, so that
    # one abrupt jump counts as the one level it is and the clipped zero steps at a bound do not count.
    crossing_step = jnp.sum(s_up**2, axis=0) / jnp.maximum(jnp.sum(jnp.abs(s_up), axis=0), tiny)
    noise = jnp.std(jnp.diff(s_up, axis=0), axis=0) / jnp.sqrt(2.0)
    line = up[0][None, :] + (up[-1] - up[0])[None, :] * jnp.linspace(0.0, 1.0, n_up + 1)[:, None]
    span = jnp.maximum(jnp.abs(up[-1] - up[0]), tiny)
    per_device = {
        "n_levels": device_range / jnp.maximum(crossing_step, tiny),
        "n_levels_resolved": device_range / jnp.maximum(jnp.maximum(crossing_step, noise), tiny),
        "asymmetry": (mean_up - mean_down) / jnp.maximum(mean_up + mean_down, tiny),
        "nonlinearity": jnp.max(jnp.abs(up - line), axis=0) / span,
        "dynamic_range": jnp.where(g_lo > 0, g_hi / jnp.where(g_lo > 0, g_lo, 1.0), jnp.inf),
        "g_range": g_range,
    }
    return {k: jnp.median(v) for k, v in per_device.items()}


def _of_shape(arrays: tuple, rows: int, cols: int):
    return next(a for a in arrays if (a.rows, a.cols) == (rows, cols))


@dataclass(frozen=True)
class _GivenArrays(CrossbarBackend):
    """A crossbar back end whose array configurations are given (possibly traced) instead of built.

    `make_crossbar` validates with Python control flow on the parameters, so it cannot run on traced values;
    the configurations are built (and validated) by `TrainingMetric.prepare` instead, and this back end
    only initialises the arrays' states. Every layer of one network uses the same device and settings, so
    the configuration of an array is determined by its shape.
    """

    arrays: tuple = ()

    def init(self, key, rows: int, cols: int, w0):
        return analog_dense(_of_shape(self.arrays, rows, cols), key, w0, bias_line=True)


@dataclass(frozen=True)
class _GivenCompounds(TransferBackend):
    """A transfer back end whose compounds are given (possibly traced), as `_GivenArrays` for plain SGD."""

    compounds: tuple = ()

    def compound(self, rows: int, cols: int) -> T.Compound:
        return _of_shape(self.compounds, rows, cols)


def _given(arrays: tuple, algorithm=None) -> _GivenArrays | _GivenCompounds:
    if algorithm is None:
        return _GivenArrays(device=arrays[0].device, arrays=arrays)
    return _GivenCompounds(arrays=None, algorithm=algorithm, compounds=arrays)


@dataclass(frozen=True, eq=False)
class TrainingMetric:
    """Test error of the MLP after `n_samples` SGD steps on crossbar arrays of the swept device.

    Attributes:
        cfg: Network (its `lr`, `batch_size` and `activation` are used; `epochs` and `seed` are not: the sweep
            seed sets the randomness). `sizes` must fit the data.
        n_samples: Training samples (SGD steps of `batch_size`), drawn in a random order per seed; cycles
            through the training set when larger.
        x_train, y_train, x_test, y_test: Data (numpy); default the embedded digits (`crossbar.training.data`).
        periphery: Forward (and transpose) converters of every array.
        update_scheme: Pulse update scheme.
        pair: "differential" or "reference".
        w_max: Weight of one device's full range.
        eval_times: Simulated times (s) after training at which `test_error_vs_time` is also evaluated.
        curve_points: Number of stretches of `train_loss_curve` (0: none); must divide `n_samples`.
        wires: Wire resistance of every array (`crossbar.circuit.WireResistance`; reads solve Kirchhoff's laws
            through it), or None for ideal wires.
        algorithm: None or "sgd" (plain pulsed SGD), a name of `crossbar.transfer.ALGORITHMS` (built with
            `hyperparameters`), or an algorithm from `crossbar.transfer.make_algorithm` (gamma 0): every layer is
            then trained by it on two arrays (A, C) of the device (`crossbar.training.backends.TransferBackend`).
            Its float hyperparameters are constants of the compiled metric, not swept.
        hyperparameters: {name: value} of the named algorithm (aihwkit's names; default: its class defaults).
        reference: Transfer algorithms: how each device's reference is set where `pair` is "reference"
            ("computed", "zero_shift" or "nominal"; `crossbar.transfer.Compound`).
        reference_std: Transfer algorithms: device-to-device reference offset (weight units).
    """

    cfg: mlp.MLPConfig = field(default_factory=lambda: mlp.MLPConfig(sizes=(64, 16, 10), lr=0.05))
    n_samples: int = 300
    x_train: np.ndarray | None = None
    y_train: np.ndarray | None = None
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    periphery: Periphery = field(default_factory=Periphery)
    # Whole-array updates: under vmap the row-block loop would run to the longest member's end anyway.
    update_scheme: PulseUpdate = field(default_factory=lambda: PulseUpdate(row_block=1 << 30))
    pair: str = "differential"
    w_max: float = 0.6
    eval_times: tuple[float, ...] = ()
    curve_points: int = 0
    wires: Any = None
    algorithm: Any = None
    hyperparameters: dict = field(default_factory=dict)
    reference: str = "computed"
    reference_std: float = 0.0

    def __post_init__(self):
        if self.x_train is None:
            d = load_digits()
            for name in ("x_train", "y_train", "x_test", "y_test"):
                object.__setattr__(self, name, getattr(d, name))
        n_classes = int(max(self.y_train.max(), self.y_test.max())) + 1
        self.cfg.validate(self.x_train.shape[1], n_classes)
        check_int("n_samples", self.n_samples, 1)
        object.__setattr__(self, "eval_times", tuple(float(t) for t in self.eval_times))
        if any(not np.isfinite(t) or t < 0 for t in self.eval_times):
            raise ValueError(f"`eval_times` must be finite and >= 0; got {self.eval_times}")
        check_int("curve_points", self.curve_points, 0)
        if self.curve_points and self.n_samples % self.curve_points:
            raise ValueError(f"`curve_points` must divide n_samples={self.n_samples}; got {self.curve_points}")
        # The fields stay as given (`dataclasses.replace` re-runs this); the built algorithm is kept beside them.
        object.__setattr__(self, "_transfer", self._algorithm())
        check_choice("reference", self.reference, REFERENCES)
        check_nonnegative("reference_std", self.reference_std)

    @property
    def transfer_algorithm(self):
        """The validated transfer algorithm that trains every layer, or None for plain pulsed SGD."""
        return self._transfer

    def _algorithm(self):
        """The algorithm object (None for plain SGD) from `algorithm` and `hyperparameters`, validated."""
        alg, hyper = self.algorithm, dict(self.hyperparameters)
        if alg is None or isinstance(alg, str):
            if alg is None or alg == "sgd":
                if hyper:
                    raise ValueError(f"`hyperparameters` are a transfer algorithm's; plain SGD (algorithm={alg!r}) "
                                     f"has none; got {hyper}")
                return None
            if alg not in T.ALGORITHMS:
                raise ValueError(f"`algorithm` must be 'sgd' or one of {', '.join(T.ALGORITHMS)}; got {alg!r}")
            alg = T.make_algorithm(alg, **hyper)
        elif hyper:
            raise ValueError(f"`hyperparameters` go with an algorithm's name; algorithm={type(alg).__name__} is "
                             f"already built; got {hyper}")
        check_layer_algorithm(alg)
        return alg

    @property
    def dims(self) -> dict[str, tuple[str, ...]]:
        return {"test_error_vs_time": ("time",), "train_loss_curve": ("stretch",)}

    @property
    def coords(self) -> dict[str, tuple[str, np.ndarray]]:
        return {"time": ("time", np.asarray(self.eval_times))} if self.eval_times else {}

    def backend(self, device) -> CrossbarBackend | TransferBackend:
        """The crossbar back end of `device` with this metric's settings (as the direct training path uses): a
        `TransferBackend` on two such arrays per layer where a transfer `algorithm` is set."""
        arrays = CrossbarBackend(device=device, w_max=self.w_max, pair=self.pair, periphery=self.periphery,
                                 update_scheme=self.update_scheme, wires=self.wires)
        if self._transfer is None:
            return arrays
        return TransferBackend(arrays=arrays, algorithm=self._transfer, reference=self.reference,
                               reference_std=self.reference_std)

    def prepare(self, device) -> tuple:
        """The validated array configurations `(Crossbar, ...)`, one per layer (`(Compound, ...)` with a transfer
        algorithm): the pytree the sweep varies."""
        backend = self.backend(device)
        build = backend.crossbar if self._transfer is None else backend.compound
        return tuple(build(n_in + 1, n_out)
                     for n_in, n_out in zip(self.cfg.sizes[:-1], self.cfg.sizes[1:], strict=True))

    def train(self, arrays: tuple, key) -> tuple[tuple, Array]:
        """Initialise and train one network; returns (layers, per-step losses `[n_samples]`)."""
        return self._train_with(_given(arrays, self._transfer), key)

    def _train_with(self, backend, key) -> tuple[tuple, Array]:
        k_init, k_order, k_train = jax.random.split(key, 3)
        layers = mlp.init_network(self.cfg, backend, k_init)
        n, batch = len(self.x_train), self.cfg.batch_size
        order = jax.random.permutation(k_order, n)[jnp.arange(self.n_samples * batch) % n]
        xs = jnp.asarray(self.x_train)[order].reshape(self.n_samples, batch, -1)
        ys = jnp.asarray(self.y_train)[order].reshape(self.n_samples, batch)
        layers, losses, _ = mlp.train_samples(self.cfg, backend, layers, xs, ys, self.cfg.lr, k_train)
        return layers, losses

    def test_error(self, arrays: tuple, layers: tuple, key) -> Array:
        """Error rate (fraction) on the test set, read in one analog batch."""
        pred, _ = mlp.predict(self.cfg, _given(arrays, self._transfer), layers, jnp.asarray(self.x_test), key)
        return jnp.mean((pred != jnp.asarray(self.y_test)).astype(jnp.float32))

    def __call__(self, arrays: tuple, key) -> dict[str, Array]:
        k_train, k_test = jax.random.split(key)
        layers, losses = self.train(arrays, k_train)
        tail = max(1, self.n_samples // 10)
        out = {"test_error": self.test_error(arrays, layers, k_test), "train_loss": jnp.mean(losses[-tail:]),
               **self._curve(losses)}
        if self.eval_times:
            # One vmapped read over the times rather than one inlined read per time: one compiled read.
            def error_at(t, k):
                return self.test_error(arrays, mlp.advance(_given(arrays, self._transfer), layers, t), k)

            times = jnp.asarray(self.eval_times, jnp.float32)
            out["test_error_vs_time"] = jax.vmap(error_at)(times, jax.random.split(k_test, len(times)))
        return out

    def float_reference(self, key) -> dict[str, Array]:
        """The float network trained exactly as `__call__` trains the crossbar one for the same key: the same
        initial weights and sample order, so `test_error(crossbar) - test_error(float)` per seed is paired.

        Use `jax.vmap(metric.float_reference)(sweep_keys(seed, seeds))` for the seeds of a sweep.
        """
        k_train, k_test = jax.random.split(key)
        backend = FloatBackend()
        layers, losses = self._train_with(backend, k_train)
        pred, _ = mlp.predict(self.cfg, backend, layers, jnp.asarray(self.x_test), k_test)
        tail = max(1, self.n_samples // 10)
        return {"test_error": jnp.mean((pred != jnp.asarray(self.y_test)).astype(jnp.float32)),
                "train_loss": jnp.mean(losses[-tail:]), **self._curve(losses)}

    def _curve(self, losses: Array) -> dict[str, Array]:
        if not self.curve_points:
            return {}
        return {"train_loss_curve": jnp.mean(losses.reshape(self.curve_points, -1), axis=1)}

    def describe(self) -> dict:
        return {"name": "training", "sizes": list(self.cfg.sizes), "activation": self.cfg.activation,
                "lr": self.cfg.lr, "batch_size": self.cfg.batch_size, "n_samples": self.n_samples,
                "n_train": len(self.x_train), "n_test": len(self.x_test), "periphery": repr(self.periphery),
                "update": repr(self.update_scheme), "pair": self.pair, "w_max": self.w_max,
                "eval_times_s": list(self.eval_times), "curve_points": self.curve_points,
                **({} if self._transfer is None else
                   {"algorithm": self._transfer.name, "hyperparameters": _hyperparameters(self._transfer),
                    "reference": self.reference, "reference_std": self.reference_std})}


def _hyperparameters(algorithm) -> dict:
    """{name: value} of an algorithm's hyperparameters (JSON-able)."""
    return {f.name: (v.item() if hasattr(v, "item") else v)
            for f in fields(algorithm) for v in [getattr(algorithm, f.name)]}


def dg_for_dw_min(device, dw_min, w_max: float = 0.6):
    """The nominal device step `dg` (S) that gives a weight change `dw_min` per coincidence (inverse of
    `crossbar.mapping.nominal_dw_min`), to sweep dw_min through the device parameter `dg`."""
    return np.asarray(dw_min) * (device.g_max - device.g_min) / (2.0 * w_max)


def dw_min_of(device, w_max: float = 0.6) -> float:
    """The weight change per coincidence of `device` (its `dg`) with weights bounded by `w_max`."""
    return float(mapping.nominal_dw_min(device.dg, device.g_min, device.g_max, w_max))
