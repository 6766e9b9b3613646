"""A crossbar array holding one layer's weights as device conductances, and its three analog operations.

`Crossbar` is the configuration (device model, shape, mapping, periphery, update scheme), `CrossbarState`
the devices and the simulated clock. `forward`, `transpose` and `update` are pure functions that `jax.jit`
and `jax.vmap` accept. Shapes: a layer maps x [batch, rows] to y = x W [batch, cols]; W is [rows, cols].

References:
    Gokmen & Vlasov, "Acceleration of deep neural network training with resistive cross-point devices",
    Front. Neurosci. 10:333 (2016).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from crossbar import mapping
from crossbar.counters import Counters
from crossbar.delivery import apply_pulses, deliver, written
from crossbar.events import INDEX, Events
from crossbar.mapping import ReferenceColumn
from crossbar.periphery import Periphery, analog_read
from crossbar.update import PulseTrains, PulseUpdate, sample_pulses, summed_counts
from devices.base import DeviceState, set_conductance
from devices.pytree import pytree_dataclass
from devices.validation import check_choice, check_finite, check_instance, check_int, check_positive, check_scalar

__all__ = ["Crossbar", "CrossbarState", "make_crossbar", "init", "conductances", "weights", "forward", "transpose",
           "apply_pulses", "update", "advance_time"]

Array = jax.Array


@pytree_dataclass
@dataclass(frozen=True)
class Crossbar:
    """Configuration of one crossbar array. Build it with `make_crossbar`, which validates it.

    Attributes:
        device: Device model of every cross-point (a `devices` model).
        rows: Number of input lines (static).
        cols: Number of output lines (static).
        w_max: Weight represented by one device's full conductance range (weight units).
        dw_min: Nominal weight change of one coincidence pulse; sets the pulse probabilities.
        pair: "differential" (G+ - G- per weight) or "reference" (one device against a reference column).
        periphery: Converters of the forward read.
        periphery_backward: Converters of the transpose read.
        update_scheme: Update scheme.
        v_read: Read voltage (V) for a normalised input of 1; below every device's threshold.
        wires: Wire resistance (`crossbar.circuit.WireResistance`) or None for ideal wires.

    Reads draw the devices' own read noise unless the device model has `NoReadNoise` (then they draw nothing).
    """

    device: Any
    rows: int = field(metadata=dict(static=True))
    cols: int = field(metadata=dict(static=True))
    w_max: float = 0.6
    dw_min: float = 0.001
    pair: str = field(default="differential", metadata=dict(static=True))
    periphery: Periphery = field(default_factory=Periphery)
    periphery_backward: Periphery = field(default_factory=Periphery)
    update_scheme: PulseUpdate = field(default_factory=PulseUpdate)
    v_read: float = 0.2
    wires: Any = None

    @property
    def scale(self):
        """Siemens per weight unit."""
        return mapping.conductance_scale(self.device.g_min, self.device.g_max, self.w_max, self.pair)


@pytree_dataclass
@dataclass(frozen=True)
class CrossbarState:
    """Devices of one array and its simulated clock.

    Attributes:
        plus: Devices carrying the weights, [rows, cols].
        minus: The G- devices [rows, cols] of differential pairs (a `DeviceState`), or the
            `mapping.ReferenceColumn` [rows, 1] of the reference layout.
        t: Simulated time now (s); programming stamps it on devices, reads drift by it.
        wired: The cached effective matrices of an array with wires and `WireResistance.refresh_every` > 0
            (`crossbar.circuit.cache.WiredCache`); None otherwise (every wired read is then solved).
    """

    plus: DeviceState
    minus: DeviceState | ReferenceColumn
    t: Array
    wired: Any = None


def make_crossbar(device, rows: int, cols: int, *, w_max: float = 0.6, dw_min: float | None = None,
                  pair: str = "differential", periphery: Periphery | None = None,
                  periphery_backward: Periphery | None = None, update_scheme: PulseUpdate | None = None,
                  v_read: float = 0.2, wires=None) -> Crossbar:
    """Validated crossbar configuration.

    Args:
        device: Device model; validated here.
        rows: Rows of the array (inputs).
        cols: Columns of the array (outputs).
        w_max: Weight of one device's full range.
        dw_min: Weight change per coincidence; default from the device's nominal step `dg` (or its
            `nominal_step`, e.g. a lookup table's or a NeuroSim device's) as 2 dg w_max / (g_max - g_min); required
            for devices without.
        pair: "differential" or "reference".
        periphery: Forward converters (default: aihwkit-like defaults).
        periphery_backward: Transpose converters (default: aihwkit-like defaults).
        update_scheme: Update scheme (default: stochastic, BL = 10, update management).
        v_read: Read voltage (V) of a full-scale input; must stay below the device threshold.
        wires: Optional `crossbar.circuit.WireResistance`.

    Raises:
        ValueError: A bad value, naming the argument.
        TypeError: An argument of the wrong type, naming it.
    """
    rows, cols = check_int("rows", rows, 1), check_int("cols", cols, 1)
    if not (hasattr(device, "validate") and hasattr(device, "init") and hasattr(device, "pulse_n")):
        raise TypeError(f"`device` must be a device model (see `devices.MODELS`, `devices.presets.make_device`); "
                        f"got {type(device).__name__} {device!r}")
    device.validate()
    _check_device_shapes(device, (rows, cols))
    check_choice("pair", pair, mapping.PAIRS)
    for name, value in (("w_max", w_max), ("v_read", v_read)) + ((("dw_min", dw_min),) if dw_min is not None else ()):
        check_scalar(name, value)
        check_positive(name, value)
    if dw_min is None:
        # A measured (lookup-table) or NeuroSim device states its typical step as `nominal_step`, not a parameter dg.
        dg = getattr(device, "dg", getattr(device, "nominal_step", None))
        if dg is None:
            raise ValueError(f"`dw_min` is required for {type(device).__name__}, which has no nominal step `dg`")
        dw_min = float(np.mean(mapping.nominal_dw_min(dg, device.g_min, device.g_max, w_max)))
        check_positive("dw_min", dw_min)
    if v_read >= min(device.v_threshold, device.reset_threshold):
        raise ValueError(f"`v_read` must stay below the device thresholds so reads do not program; "
                         f"got v_read={v_read}, v_threshold={device.v_threshold}, v_reset={device.v_reset}")
    objects = (("periphery", periphery, Periphery), ("periphery_backward", periphery_backward, Periphery),
               ("update_scheme", update_scheme, PulseUpdate))
    for name, value, kind in objects:
        if value is not None:
            check_instance(name, value, kind)
    periphery = (periphery or Periphery()).validate()
    periphery_backward = (periphery_backward or periphery).validate()
    update_scheme = (update_scheme or PulseUpdate()).validate()
    if wires is not None:
        if not hasattr(wires, "validate") or not hasattr(wires, "r_row"):
            raise TypeError(f"`wires` must be a crossbar.circuit.WireResistance or None; got {wires!r}")
        wires.validate((rows, cols))
    return Crossbar(device=device, rows=rows, cols=cols, w_max=w_max, dw_min=dw_min, pair=pair,
                    periphery=periphery, periphery_backward=periphery_backward, update_scheme=update_scheme,
                    v_read=v_read, wires=wires)


def _check_device_shapes(device, shape: tuple[int, int]) -> None:
    """Raise naming the parameter when a per-device parameter array does not broadcast to the array `shape`."""
    for path, leaf in jax.tree_util.tree_leaves_with_path(device):
        if np.ndim(leaf) == 0:
            continue
        try:
            ok = np.broadcast_shapes(np.shape(leaf), shape) == shape
        except ValueError:
            ok = False
        if not ok:
            name = jax.tree_util.keystr(path, simple=True, separator=".")
            raise ValueError(f"device parameter `{name}` has shape {np.shape(leaf)}, which does not broadcast to "
                             f"the array's {shape}")


def init(xb: Crossbar, key, weights: Array | None = None) -> CrossbarState:
    """Fresh devices (device-to-device spread drawn once), directly initialised to `weights` [rows, cols].

    With `weights=None` all weights start at zero. Direct initialisation is clipped by each device's bounds;
    use `programming.write_verify` to program by pulses instead.
    """
    k_plus, k_minus = jax.random.split(key)
    plus = xb.device.init(k_plus, (xb.rows, xb.cols))
    w = jnp.zeros((xb.rows, xb.cols)) if weights is None else jnp.asarray(weights, jnp.float32)
    if w.shape != (xb.rows, xb.cols):
        raise ValueError(f"`weights` must have shape {(xb.rows, xb.cols)}; got {w.shape}")
    check_finite("weights", w)
    g_plus, g_minus = mapping.weights_to_conductances(w, xb.device.g_min, xb.device.g_max, xb.w_max, xb.pair)
    if xb.pair == "reference":
        minus = ReferenceColumn.nominal(xb.rows, xb.device.g_min, xb.device.g_max)
    else:
        minus = set_conductance(xb.device.init(k_minus, (xb.rows, xb.cols)), g_minus)
    state = CrossbarState(plus=set_conductance(plus, g_plus), minus=minus, t=jnp.zeros(()))
    if xb.wires is not None and xb.wires.refresh_every > 0:  # cached wired reads: solve the cache now
        from crossbar.circuit.cache import fresh

        return replace(state, wired=fresh(xb, *conductances(xb, state)))
    return state


def conductances(xb: Crossbar, state: CrossbarState, key=None) -> tuple[Array, Array]:
    """(G+, G-) as read now (S): drift since programming and, with a `key`, the devices' read noise.

    G- is [rows, cols] for a differential pair and [rows, 1] (the reference column) otherwise.
    """
    k_plus, k_minus = jax.random.split(key) if key is not None else (None, None)
    g_plus = xb.device.read(state.plus, state.t, k_plus)
    if isinstance(state.minus, ReferenceColumn):
        return g_plus, state.minus.read(xb.device.read_noise, state.t, k_minus)
    return g_plus, xb.device.read(state.minus, state.t, k_minus)


def weights(xb: Crossbar, state: CrossbarState) -> Array:
    """The weights [rows, cols] the array holds now (noise-free read, drift included)."""
    g_plus, g_minus = conductances(xb, state)
    return (g_plus - g_minus) / xb.scale


def _array_product(xb: Crossbar, g_plus, g_minus, x: Array, transposed: bool,
                   cached=None) -> Array | tuple[Array, dict]:
    """Kirchhoff's current sum of the array for normalised inputs x, returned in weight units (with wires, also
    the solve's per-vector reports: see `crossbar.circuit.layout.wired_product`; with a `cached` WiredCache, the
    ideal product plus the cached effect of the wires, `crossbar.circuit.cache`)."""
    if cached is not None:
        from crossbar.circuit.cache import with_wires

        return with_wires(cached, _array_product(replace(xb, wires=None), g_plus, g_minus, x, transposed), x,
                          transposed)
    if xb.wires is None:
        # Products with the conductance matrices themselves: no [rows, cols] weight matrix is formed per read,
        # and the transpose read contracts the column axis in place (a transposed copy would cost more).
        contract = (((1,), (1,)), ((), ())) if transposed else (((1,), (0,)), ((), ()))
        current = jax.lax.dot_general(x, g_plus, contract)
        if g_minus.shape[1] == 1:  # the reference column: one conductance per row, shared by every column
            if transposed:  # z_i = sum_j d_j (G_ij - G_ref,i)
                current = current - jnp.sum(x, axis=1, keepdims=True) * g_minus[:, 0][None, :]
            else:  # y_j = sum_i x_i (G_ij - G_ref,i)
                current = current - x @ g_minus
        else:
            current = current - jax.lax.dot_general(x, g_minus, contract)
        return current / xb.scale
    from crossbar.circuit.layout import wired_product  # the circuit solver is needed only with wire resistance

    return wired_product(xb, g_plus, g_minus, x, transposed)


def _check_inputs(name: str, x: Array, n: int) -> Array:
    x = jnp.asarray(x)
    if x.ndim not in (1, 2) or x.shape[-1] != n:
        raise ValueError(f"`{name}` must have shape [batch, {n}] or [{n}]; got {x.shape}")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"`{name}` must be a floating-point array; got dtype {x.dtype}")
    return x


def forward(xb: Crossbar, state: CrossbarState, x: Array, key) -> tuple[Array, Counters]:
    """Forward pass y = x W through DAC, array (Ohm and Kirchhoff) and ADC.

    Args:
        xb: Crossbar configuration.
        state: Crossbar state.
        x: [batch, rows] (or [rows]) inputs.
        key: Random key (output noise, device read noise).

    Returns:
        y: [batch, cols] (or [cols]) outputs in weight x input units.
        counters: Saturations, clipped inputs, re-reads, non-finite inputs.
    """
    return _read(xb, state, _check_inputs("x", x, xb.rows), key, transposed=False)


def transpose(xb: Crossbar, state: CrossbarState, d: Array, key) -> tuple[Array, Counters]:
    """Transpose pass z = d W^T: the same array driven from the columns and read on the rows.

    Args:
        d: [batch, cols] (or [cols]) errors. Other arguments as `forward`.

    Returns:
        z: [batch, rows] (or [rows]) back-propagated errors, and the counters.
    """
    return _read(xb, state, _check_inputs("d", d, xb.cols), key, transposed=True)


def _read(xb, state, x, key, transposed: bool):
    k_dev, k_out = jax.random.split(key)
    g_plus, g_minus = conductances(xb, state, k_dev)
    periphery = xb.periphery_backward if transposed else xb.periphery
    x2 = x[None] if x.ndim == 1 else x
    # The cache serves configurations that ask for it (another configuration of the same state solves or is ideal).
    cached = state.wired if xb.wires is not None and xb.wires.refresh_every > 0 else None
    y, counters = analog_read(periphery, x2, lambda u: _array_product(xb, g_plus, g_minus, u, transposed, cached),
                              k_out,
                              devices_per_input=devices_per_line(xb, transposed),
                              direction="backward" if transposed else "forward")
    return (y[0] if x.ndim == 1 else y), counters


def devices_per_line(xb: Crossbar, transposed: bool) -> int:
    """Devices a driven line reaches: a row (forward) reaches its cols devices, and the reference column's
    device or the G- devices of a pair; a column (transposed) its rows devices, or twice that for a pair. The
    reference column's term in the transpose read, G_ref,i sum_j d_j, is formed in the periphery and drives none
    of its devices (an approximation: it is one column of the array)."""
    per_array = xb.rows if transposed else xb.cols
    if xb.pair == "differential":
        return 2 * per_array
    return per_array if transposed else per_array + 1


def _ideal_update(xb: Crossbar, state: CrossbarState, dw: Array) -> CrossbarState:
    """Write W += dw straight into the conductances (half on each device of a pair), clipped to bounds.

    Only devices whose weight changes are re-stamped with the programming time (their drift restarts). As a pulse
    does, the write starts from the drifted conductance where the device's drift is a relaxation
    (`devices.pulsed.PulsedDevice.drifted`).
    """
    dg = dw * xb.scale
    changed = dw != 0

    def write(dev, dg_dev):
        start = xb.device.drifted(dev, state.t) if hasattr(xb.device, "drifted") else dev
        new = set_conductance(dev, jnp.where(changed, start.g + dg_dev, dev.g))
        return replace(new, t_prog=jnp.where(changed, state.t, dev.t_prog))

    if xb.pair == "differential":
        return written(xb, replace(state, plus=write(state.plus, 0.5 * dg), minus=write(state.minus, -0.5 * dg)))
    return written(xb, replace(state, plus=write(state.plus, dg)))


def update(xb: Crossbar, state: CrossbarState, x: Array, d: Array, lr, key) -> tuple[CrossbarState, Counters]:
    """One SGD step W -= lr x^T d by the configured scheme; a batch sample after sample, or summed where
    `PulseUpdate.batch_mode` says so (see `PulseUpdate`).

    Args:
        xb: Crossbar configuration.
        state: Crossbar state.
        x: [batch, rows] (or [rows]) layer inputs.
        d: [batch, cols] (or [cols]) errors dL/dy.
        lr: Learning rate (> 0).
        key: Random key (pulse trains and cycle-to-cycle noise).

    Returns:
        The new state and the counters (clipped probabilities, capped counts).
    """
    x = _check_inputs("x", x, xb.rows)
    d = _check_inputs("d", d, xb.cols)
    check_positive("lr", lr)
    check_finite("x", x)
    check_finite("d", d)
    if x.ndim != d.ndim:
        raise ValueError(f"`x` and `d` must both be single samples or both batches; "
                         f"got x.shape={x.shape}, d.shape={d.shape}")
    x2, d2 = (x[None], d[None]) if x.ndim == 1 else (x, d)
    if x2.shape[0] != d2.shape[0]:
        raise ValueError(f"`x` and `d` must have the same batch size; got {x2.shape[0]} and {d2.shape[0]}")
    keys = jax.random.split(key, x2.shape[0])

    def one_sample(st, args):
        xi, di, ki = args
        if not xb.update_scheme.pulsed:  # not a physical update: no events are counted
            return _ideal_update(xb, st, -lr * jnp.outer(xi, di)), Counters.zeros()
        if xb.update_scheme.scheme == "voltage":  # half pulses, device voltages, disturbs: crossbar.voltage
            from crossbar.voltage import update_sample

            return update_sample(xb, st, xi, di, lr, ki)
        k_counts, k_devices = jax.random.split(ki)
        # Event-driven: pulses are counted, and devices pulsed, only in the rows that have any.
        pulses, counters = sample_pulses(xb.update_scheme, xi, di, lr, xb.dw_min, k_counts)
        return deliver(xb, st, pulses, k_devices), counters.replace(events=pulse_events(xb, pulses, counters))

    if x2.shape[0] == 1:  # the common SGD case: no loop to carry the whole array through
        return one_sample(state, (x2[0], d2[0], keys[0]))
    if xb.update_scheme.sums_batches(xb.device):
        # The batch's coincidences at once; the trains are those the sequential path would draw.
        k_counts = jax.vmap(lambda k: jax.random.split(k)[0])(keys)
        n_up, n_down, clipped, lines = summed_counts(xb.update_scheme, x2, d2, lr, xb.dw_min, k_counts, lines=True)
        names = ("update.row_pulses", "update.col_pulses", "update.coincidences", "update.slots")
        events = _on_arrays(xb, Events.of({**dict(zip(names, lines, strict=True)), "update.samples": x2.shape[0]}))
        k_plus, k_minus = jax.random.split(jax.random.fold_in(key, x2.shape[0]))
        # A batch reaches nearly every row, so the devices respond in one dense pass (G- mirrors G+).
        plus = xb.device.pulse_up_down(state.plus, n_up, n_down, k_plus, state.t)
        minus = state.minus
        if xb.pair == "differential":
            minus = xb.device.pulse_up_down(state.minus, n_down, n_up, k_minus, state.t)
        return replace(state, plus=plus, minus=minus), Counters.zeros().replace(probability_clipped=clipped,
                                                                                  events=events)
    state, counters = jax.lax.scan(one_sample, state, (x2, d2, keys))
    return state, jax.tree_util.tree_map(lambda a: jnp.sum(a, axis=0), counters)  # over the samples


def pulse_events(xb: Crossbar, pulses, counters: Counters) -> Events:
    """The events of one sample's pulses on the array `xb` (both devices of a pair): the stochastic scheme's are
    counted by `sample_pulses` (in `counters`); given counts (`update.PulseCounts`) are read as row-by-row writes."""
    if isinstance(pulses, PulseTrains):
        return _on_arrays(xb, counters.events)
    rows, cols, coincidences, slots = pulses.line_pulses()
    return _on_arrays(xb, Events.of({"update.samples": 1.0, "update.slots": slots, "update.row_pulses": jnp.sum(rows),
                                     "update.col_pulses": jnp.sum(cols), "update.coincidences": coincidences}))


_PULSE_FIELDS = np.isin(np.arange(len(INDEX)), [INDEX[f"update.{f}"] for f in ("row_pulses", "col_pulses",
                                                                                  "coincidences")])


def _on_arrays(xb: Crossbar, events: Events) -> Events:
    """Update events of one array's pulses on every array they reach: both of a pair, in the same slots (the
    reference column is not pulsed)."""
    if xb.pair != "differential":
        return events
    return Events(events.values * jnp.asarray(np.where(_PULSE_FIELDS, 2.0, 1.0), jnp.float32))


def advance_time(state: CrossbarState, dt) -> CrossbarState:
    """The same array `dt` seconds later (drift acts on the next reads)."""
    return replace(state, t=state.t + dt)
