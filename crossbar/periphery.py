"""Peripheral circuits of a crossbar read: DAC on the inputs, ADC on the outputs, output noise, and the
noise and bound management that scale the input to make the best of both converters.

Everything is in normalised weight units, as in aihwkit's `IOParameters`: inputs are scaled to
[-input_bound, input_bound] before the DAC, outputs are in units of weight x input.

References:
    Gokmen & Vlasov, Front. Neurosci. 10:333 (2016) (noise 0.06, bound 12, 7-bit DAC / 9-bit ADC);
    aihwkit `IOParameters` defaults (Rasch et al., "A flexible and fast PyTorch toolkit for simulating
    training and inference on analog crossbar arrays", AICAS 2021).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp

from crossbar.counters import Counters
from crossbar.events import Events
from devices.noise import standard_normal
from devices.pytree import pytree_dataclass
from devices.validation import check_choice, check_in_range, check_int, check_nonnegative, check_scalar

Array = jax.Array

NOISE_MANAGEMENT = ("abs_max", "none")
MAX_BITS = 24  # float32 resolves 24 bits; finer converters are not distinguishable from ideal ones
MAX_REREADS = 64  # 2**-64 is still a normal float32 input scale
BOUND_RANGE = (1e-30, 1e30)  # converter bounds representable in float32 with room for the products
BOUND_MANAGEMENT = ("iterative", "none")


@pytree_dataclass
@dataclass(frozen=True)
class Periphery:
    """Converters and management of one read direction.

    Attributes:
        dac_bits: DAC resolution (bits, static); 0 means an ideal analog input.
        adc_bits: ADC resolution (bits, static); 0 means an ideal output.
        input_bound: Largest input magnitude the DAC represents (normalised units).
        output_bound: Largest output magnitude before the ADC saturates (weight units).
        output_noise: Std of the additive Gaussian output noise (weight units), drawn per read (with the fast
            counter-based generator `devices.noise.standard_normal`: at batch 64, threefry normals took a
            third of the reads' time).
        noise_management: "abs_max" divides each input vector by its max |x| first (static).
        bound_management: "iterative" re-reads with the input halved while an output saturates (static).
        max_rereads: Most re-reads of bound management (static).
    """

    dac_bits: int = field(default=7, metadata=dict(static=True))
    adc_bits: int = field(default=9, metadata=dict(static=True))
    input_bound: float = 1.0
    output_bound: float = 12.0
    output_noise: float = 0.06
    noise_management: str = field(default="abs_max", metadata=dict(static=True))
    bound_management: str = field(default="iterative", metadata=dict(static=True))
    max_rereads: int = field(default=10, metadata=dict(static=True))

    def validate(self) -> Periphery:
        for name in ("dac_bits", "adc_bits"):
            bits = check_int(name, getattr(self, name), 0)
            # 1 bit has no level between the bounds (its step divides by 2**1 - 2 = 0); float32 resolves 24.
            if bits == 1 or bits > MAX_BITS:
                raise ValueError(f"`{name}` must be 0 (ideal) or between 2 and {MAX_BITS}; got {name}={bits}")
        # Each re-read halves the input scale; the float32 scale must stay a normal number.
        check_int("max_rereads", self.max_rereads, 0)
        if self.max_rereads > MAX_REREADS:
            raise ValueError(f"`max_rereads` must be at most {MAX_REREADS}; got max_rereads={self.max_rereads}")
        for name in ("input_bound", "output_bound"):
            check_scalar(name, getattr(self, name))
            check_in_range(name, getattr(self, name), BOUND_RANGE[0], BOUND_RANGE[1])
        check_scalar("output_noise", self.output_noise)
        check_nonnegative("output_noise", self.output_noise)
        check_choice("noise_management", self.noise_management, NOISE_MANAGEMENT)
        check_choice("bound_management", self.bound_management, BOUND_MANAGEMENT)
        return self


def ideal_periphery() -> Periphery:
    """Perfect converters: no quantisation, no noise, no saturation that matters, no management."""
    return Periphery(dac_bits=0, adc_bits=0, input_bound=1e30, output_bound=1e30, output_noise=0.0,
                     noise_management="none", bound_management="none")


def quantize(x: Array, bound: Array, bits: int) -> Array:
    """Round to the 2**bits - 1 levels spanning [-bound, bound] (step 2 bound / (2**bits - 2)); bits=0: exact."""
    if bits == 0:
        return x
    step = 2.0 * bound / (2**bits - 2)
    return jnp.round(x / step) * step


def analog_read(p: Periphery, x: Array, matvec: Callable[[Array], Array], key, devices_per_input: int = 0,
                direction: str = "forward") -> tuple[Array, Counters]:
    """One managed read y = x W through DAC, array, output noise and ADC.

    Args:
        p: Periphery configuration.
        x: [batch, n_in] inputs (normalised units).
        matvec: The analog array: maps [batch, n_in] DAC outputs to [batch, n_out] outputs in weight units, or to
            the pair (outputs, {name: [batch] values}) with what the array itself reports per vector (a wired
            array: `unconverged_solves`, `solved_reads`, `device_power`, `wire_power`). Those are summed over
            the vectors read (re-reads included): `unconverged_solves` into the counters, the others into the
            events as `{direction}.{name}`, and the drive of the vectors with `solved_reads` as
            `{direction}.solved_drive`.
        key: Random key for the output noise.
        devices_per_input: Devices every input line drives (static); the reads' drive in the events is
            devices_per_input x sum_i u_i^2 over every read's DAC outputs u.
        direction: "forward" or "backward": where the reads are counted in `counters.events`.

    Returns:
        y: [batch, n_out] digitised outputs, rescaled to the inputs' units.
        counters: Saturated outputs (final read), clipped inputs, bound-management re-reads, non-finite inputs,
            and the events (vector reads, re-reads, drive).
    """
    nonfinite = ~jnp.isfinite(x)
    if p.noise_management == "abs_max":
        alpha = jnp.max(jnp.abs(x), axis=1, keepdims=True)
        alpha = jnp.where(alpha > 0, alpha, 1.0)
    else:
        alpha = jnp.ones((x.shape[0], 1), x.dtype)
    x_scaled = x / alpha

    def read_once(scale, k):
        xin = x_scaled * scale
        clipped = jnp.abs(xin) > p.input_bound
        xin = quantize(jnp.clip(xin, -p.input_bound, p.input_bound), p.input_bound, p.dac_bits)
        y = matvec(xin)
        y, extra = y if isinstance(y, tuple) else (y, {})
        y = y + p.output_noise * standard_normal(k, y.shape, y.dtype)
        saturated = jnp.abs(y) >= p.output_bound
        y = quantize(jnp.clip(y, -p.output_bound, p.output_bound), p.output_bound, p.adc_bits)
        # O(n_in) per read: the devices' drive by the DAC outputs, as a dot product rather than a sum of squares
        # (XLA's CPU reductions are slower than its dots; see `update._slot_counts`).
        drive = devices_per_input * jnp.einsum("bi,bi->b", xin, xin)
        return y / scale, saturated, clipped, drive, extra

    # Re-read i draws its noise from fold_in(key, i): no keys are made for re-reads that never happen.
    y, saturated, clipped, drive, extra = read_once(jnp.ones_like(alpha), jax.random.fold_in(key, 0))
    extra = _extra_totals(extra, drive, jnp.ones(drive.shape, bool))
    drive = jnp.sum(drive)
    rereads = jnp.zeros((), jnp.int32)
    reread_drive = jnp.zeros((), drive.dtype)
    if p.bound_management == "iterative" and p.max_rereads > 0:
        # Halve the input of the samples that saturated, and read them again, until none saturates.
        def again(carry):
            i, y, saturated, scale, rereads, reread_drive, extra = carry
            redo = jnp.any(saturated, axis=1, keepdims=True)
            scale = jnp.where(redo, scale * 0.5, scale)
            y2, sat2, _, drive2, extra2 = read_once(scale, jax.random.fold_in(key, i + 1))
            return (i + 1, jnp.where(redo, y2, y), jnp.where(redo, sat2, saturated), scale,
                    rereads + jnp.sum(redo, dtype=jnp.int32), reread_drive + jnp.sum(jnp.where(redo[:, 0], drive2, 0)),
                    {k: extra[k] + v for k, v in _extra_totals(extra2, drive2, redo[:, 0]).items()})

        def pending(carry):
            i, _, saturated, _, _, _, _ = carry
            return (i < p.max_rereads) & jnp.any(saturated)

        _, y, saturated, _, rereads, reread_drive, extra = jax.lax.while_loop(
            pending, again, (0, y, saturated, jnp.ones_like(alpha), rereads, reread_drive, extra))

    unconverged = extra.pop("unconverged_solves", jnp.zeros((), jnp.float32)).astype(jnp.int32)
    counters = Counters(adc_saturated=jnp.sum(saturated, dtype=jnp.int32),
                        dac_clipped=jnp.sum(clipped, dtype=jnp.int32), bound_rereads=rereads,
                        probability_clipped=jnp.zeros((), jnp.int32), count_clipped=jnp.zeros((), jnp.int32),
                        nonfinite=jnp.sum(nonfinite, dtype=jnp.int32),
                        unconverged_solves=unconverged)
    n_reads = (x.shape[0] + rereads).astype(jnp.float32)
    events = Events.of({f"{direction}.reads": n_reads, f"{direction}.rereads": rereads,
                        f"{direction}.drive": drive + reread_drive, f"{direction}.reread_drive": reread_drive})
    if extra:
        events = events + Events.of({f"{direction}.{name}": total for name, total in extra.items()})
    return y * alpha, counters.replace(events=events)


def _extra_totals(extra: dict, drive: Array, done: Array) -> dict:
    """Sums over the vectors read (`done`, [batch]) of an array's own per-vector reports, and the drive of the
    vectors whose power the array solved."""
    totals = {name: jnp.sum(jnp.where(done, jnp.asarray(v, jnp.float32), 0.0)) for name, v in extra.items()}
    if "solved_reads" in extra:
        totals["solved_drive"] = jnp.sum(jnp.where(done, drive * extra["solved_reads"], 0.0))
    return totals
