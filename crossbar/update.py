"""Weight-update schemes: the number of pulses each device of an array receives for one sample.

The stochastic scheme is the pulse coincidence of Gokmen & Vlasov 2016: row i fires in each of BL slots
with probability C|x_i|, column j with probability C|d_j|; a device gets a full-amplitude pulse in a slot
where both its lines fire, so its expected pulse count is BL C^2 |x_i d_j| and, for C = sqrt(lr /
(dw_min BL)), the expected weight change is -lr x_i d_j. The coincidence counts of all devices are one
matrix product of the 0/1 trains, [rows, BL] @ [BL, cols].

References:
    Gokmen & Vlasov, Front. Neurosci. 10:333 (2016); update management and BL management as in aihwkit's
    `UpdateParameters` (Gokmen, Onen & Haensch, Front. Neurosci. 11:538 (2017)).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jax
import jax.numpy as jnp

from crossbar.counters import Counters
from devices.noise import uniform
from devices.validation import check_choice, check_int

Array = jax.Array

SCHEMES = ("stochastic", "deterministic", "ideal")


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class PulseUpdate:
    """How an array is updated.

    Attributes:
        scheme: "stochastic" (pulse coincidence), "deterministic" (each device gets round(lr |x d| / dw_min)
            pulses, capped at BL), or "ideal" (the float update W -= lr x d^T written straight into the
            conductances, bypassing the device's pulse response). Static.
        bl: Number of slots in a pulse train, BL (static).
        update_management: Balance the row and column probabilities: C_x = C sqrt(max|d| / max|x|),
            C_d = C sqrt(max|x| / max|d|), which keeps C_x C_d = C^2 (static).
        bl_management: Shorten the train to BL' = ceil(lr max|x| max|d| / dw_min) <= BL slots when the
            updates are small, which raises the probabilities and lowers the variance (static).
        row_block: Speed only: devices are updated in blocks of this many pulsed rows, and rows without
            pulses are skipped (static). A value >= rows updates the whole array at once, which is faster
            under `jax.vmap` (where the loop runs to the longest member's end).
    """

    scheme: str = field(default="stochastic", metadata=dict(static=True))
    bl: int = field(default=10, metadata=dict(static=True))
    update_management: bool = field(default=True, metadata=dict(static=True))
    bl_management: bool = field(default=False, metadata=dict(static=True))
    row_block: int = field(default=64, metadata=dict(static=True))

    def validate(self) -> PulseUpdate:
        check_choice("scheme", self.scheme, SCHEMES)
        check_int("bl", self.bl, 1)
        check_int("row_block", self.row_block, 1)
        return self

    @property
    def pulsed(self) -> bool:
        """True where the scheme sends pulses to the devices; False for the ideal scheme's direct write."""
        return self.scheme != "ideal"


def sample_pulses(upd: PulseUpdate, x: Array, d: Array, lr, dw_min, key) -> tuple[Array, Counters]:
    """Signed pulse counts [rows, cols] of one sample by the configured pulsed scheme, and its counters.

    Args:
        upd: Update configuration (a pulsed scheme: "stochastic" or "deterministic").
        x: [rows] layer input. d: [cols] layer error. lr: learning rate. dw_min: weight change per coincidence.
        key: Random key for the pulse trains (unused by the deterministic scheme).
    """
    if upd.scheme == "stochastic":
        n, clipped = coincidence_counts(upd, x, d, lr, dw_min, key)
        return n, Counters.zeros().replace(probability_clipped=clipped)
    if upd.scheme == "deterministic":
        n, capped = deterministic_counts(upd, x, d, lr, dw_min)
        return n, Counters.zeros().replace(count_clipped=capped)
    raise ValueError(f"scheme {upd.scheme!r} sends no pulses; it writes the weight change directly")


def probability_scales(upd: PulseUpdate, x: Array, d: Array, lr, dw_min) -> tuple[Array, Array, Array]:
    """Row and column probability scales C_x, C_d and the active train length for one sample.

    Args:
        upd: Update configuration.
        x: [rows] input of the layer.
        d: [cols] error of the layer.
        lr: Learning rate (> 0).
        dw_min: Nominal weight change of one coincidence.

    Returns:
        (c_x, c_d, bl_active): scalars, with c_x c_d bl_active dw_min = lr.
    """
    x_max = jnp.max(jnp.abs(x))
    d_max = jnp.max(jnp.abs(d))
    bl = jnp.asarray(upd.bl, jnp.float32)
    if upd.bl_management:
        bl = jnp.clip(jnp.ceil(lr * x_max * d_max / dw_min), 1.0, bl)
    c = jnp.sqrt(lr / (dw_min * bl))
    if upd.update_management:
        both = (x_max > 0) & (d_max > 0)
        ratio = jnp.sqrt(jnp.where(both, d_max / jnp.where(both, x_max, 1.0), 1.0))
        return c * ratio, c / ratio, bl
    return c, c, bl


def coincidence_counts(upd: PulseUpdate, x: Array, d: Array, lr, dw_min, key) -> tuple[Array, Array]:
    """Signed pulse counts of the stochastic pulse-coincidence update for one sample.

    Args:
        upd: Update configuration.
        x: [rows] layer input.
        d: [cols] layer error (gradient of the loss with respect to the layer output).
        lr: Learning rate.
        dw_min: Nominal weight change of one coincidence.
        key: Random key for the pulse trains.

    Returns:
        n: [rows, cols] int32 pulse counts, signed as the weight change: -sign(x_i d_j) * coincidences.
        clipped: Number of probabilities above 1 that were clipped (int32 scalar).
    """
    c_x, c_d, bl_active = probability_scales(upd, x, d, lr, dw_min)
    p_x, p_d = c_x * jnp.abs(x), c_d * jnp.abs(d)
    clipped = jnp.sum(p_x > 1, dtype=jnp.int32) + jnp.sum(p_d > 1, dtype=jnp.int32)
    k_x, k_d = jax.random.split(key)
    slot_on = (jnp.arange(upd.bl) < bl_active)[:, None]
    fire_x = (uniform(k_x, (upd.bl, x.shape[0])) < p_x[None, :]) & slot_on  # [BL, rows]
    fire_d = (uniform(k_d, (upd.bl, d.shape[0])) < p_d[None, :]) & slot_on  # [BL, cols]
    if upd.bl <= 32:
        # Pack each line's train into the bits of one word: coincidences = popcount(row AND column).
        bit = (jnp.uint32(1) << jnp.arange(upd.bl, dtype=jnp.uint32))[:, None]
        train_x = jnp.sum(jnp.where(fire_x, bit, 0), axis=0, dtype=jnp.uint32)
        train_d = jnp.sum(jnp.where(fire_d, bit, 0), axis=0, dtype=jnp.uint32)
        counts = jax.lax.population_count(train_x[:, None] & train_d[None, :]).astype(jnp.int32)
    else:
        # The coincidences of every slot at once: a [rows, BL] @ [BL, cols] product of the 0/1 trains.
        counts = (fire_x.T.astype(jnp.float32) @ fire_d.astype(jnp.float32)).astype(jnp.int32)
    # SGD moves w_ij by -lr x_i d_j: up where x_i and d_j have opposite signs.
    opposite = (x < 0)[:, None] ^ (d < 0)[None, :]
    return jnp.where(opposite, counts, -counts), clipped


def deterministic_counts(upd: PulseUpdate, x: Array, d: Array, lr, dw_min) -> tuple[Array, Array]:
    """Pulse counts round(-lr x_i d_j / dw_min), capped at +-BL; returns (n [rows, cols], n_capped)."""
    n = jnp.round(-lr * jnp.outer(x, d) / dw_min)
    capped = jnp.sum(jnp.abs(n) > upd.bl, dtype=jnp.int32)
    return jnp.clip(n, -upd.bl, upd.bl).astype(jnp.int32), capped
