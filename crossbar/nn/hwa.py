"""Hardware-aware training: a float layer whose forward pass carries the noise of the chip it will be programmed on.

`HWADense` wraps a `FloatDense`. Each forward read adds Gaussian weight noise of std `weight_noise` x max |W|
(redrawn per read) and passes the product through a periphery (DAC, output noise, ADC, bounds, in units of
max |W|, the scale the inference mapping uses: `crossbar.inference`); the backward pass and the update are the
float layer's, exact, with the noisy weights (a straight-through estimator for the converters' rounding). The
network learns weights whose function survives perturbation, which is what programming noise and drift are.

References:
    Joshi et al., "Accurate deep neural network inference using computational phase-change memory",
    Nat. Commun. 11, 2473 (2020) (additive Gaussian weight noise relative to each layer's max |W| during
    training); Rasch et al., "Hardware-aware training for large-scale and diverse deep learning inference
    workloads using in-memory computing-based accelerators", Nat. Commun. 14, 5282 (2023) (aihwkit's HWA
    training: weight noise, output noise and converters in the forward pass).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import jax
import jax.numpy as jnp

from crossbar.counters import Counters
from crossbar.nn.float_dense import FloatDense
from crossbar.nn.tape import flatten_samples, with_bias_line
from crossbar.periphery import Periphery, analog_read, ideal_periphery
from devices.noise import standard_normal
from devices.pytree import pytree_dataclass
from devices.validation import check_instance, check_nonnegative, check_scalar

Array = jax.Array


@pytree_dataclass
@dataclass(frozen=True)
class HWANoise:
    """The noise injected during hardware-aware training.

    Attributes:
        weight_noise: Std of the additive weight noise relative to the layer's max |W| (1), redrawn per read.
        periphery: DAC / output noise / ADC / bounds of the forward read, in units of max |W|
            (`crossbar.periphery.Periphery`); default ideal (weight noise only).
    """

    weight_noise: float = 0.0
    periphery: Periphery = field(default_factory=ideal_periphery)

    def validate(self) -> HWANoise:
        check_scalar("weight_noise", self.weight_noise)
        check_nonnegative("weight_noise", self.weight_noise)
        check_instance("periphery", self.periphery, Periphery)
        self.periphery.validate()
        return self


@pytree_dataclass
@dataclass(frozen=True)
class HWADense:
    """A `FloatDense` trained with `HWANoise` in its forward pass. Build with `hwa_dense` or `hardware_aware`.

    Attributes:
        dense: The float layer (its weights, tape and update).
        noise: The injected noise.
    """

    dense: FloatDense
    noise: HWANoise

    @property
    def in_features(self) -> int:
        return self.dense.in_features

    @property
    def out_features(self) -> int:
        return self.dense.out_features

    @property
    def bias_line(self) -> bool:
        return self.dense.bias_line

    @property
    def patches(self) -> int:
        return self.dense.patches

    @property
    def tape(self):
        return self.dense.tape

    @property
    def weights(self) -> Array:
        """The clean float weights [rows, cols] (what gets programmed)."""
        return self.dense.w

    def __call__(self, x: Array, key) -> Array:
        return self.read(x, key)[0]

    def read(self, x: Array, key) -> tuple[Array, Counters]:
        """(y [..., out_features], the periphery's counters): a noisy forward read; gradients as the float layer's
        with the noisy weights."""
        x2, lead = flatten_samples("x", x, self.in_features)
        k_w, k_read = jax.random.split(key)
        w = self.dense.w
        scale = jax.lax.stop_gradient(jnp.maximum(jnp.max(jnp.abs(w)), 1e-12))
        noisy = replace(self.dense, w=w + self.noise.weight_noise * scale * standard_normal(k_w, w.shape, w.dtype))
        y_exact, _ = noisy.read(x2)  # the float layer's VJP: exact d W_noisy^T and the update tape
        x_in = with_bias_line(x2) if self.bias_line else x2
        w_read = jax.lax.stop_gradient(noisy.w / scale)
        y_read, counters = analog_read(self.noise.periphery, jax.lax.stop_gradient(x_in), lambda u: u @ w_read, k_read)
        y = y_exact + jax.lax.stop_gradient(y_read * scale - y_exact)  # straight through the converters
        return y.reshape(*lead, self.out_features), counters

    def with_batch(self, n: int | None) -> HWADense:
        return replace(self, dense=self.dense.with_batch(n))

    def apply_update(self, grad: HWADense, lr, key=None) -> tuple[HWADense, Counters]:
        """The float layer's SGD step W -= lr x^T d from the tape `jax.grad` filled."""
        dense, counters = self.dense.apply_update(grad.dense, lr, key)
        return replace(self, dense=dense), counters

    def advance(self, dt) -> HWADense:
        return self


def hwa_dense(dense: FloatDense, noise: HWANoise) -> HWADense:
    """`dense` trained with `noise` (validated)."""
    check_instance("dense", dense, FloatDense)
    check_instance("noise", noise, HWANoise)
    return HWADense(dense=dense, noise=noise.validate())


def hardware_aware(params, noise: HWANoise):
    """`params` (any pytree of `crossbar.nn` layers) with every `FloatDense` (a `Conv2d`'s too) wrapped in an
    `HWADense` with `noise`; `float_layers` undoes it."""
    check_instance("noise", noise, HWANoise)
    noise.validate()
    return jax.tree_util.tree_map(lambda n: HWADense(dense=n, noise=noise) if isinstance(n, FloatDense) else n,
                                  params, is_leaf=lambda n: isinstance(n, (FloatDense, HWADense)))


def float_layers(params):
    """`params` with every `HWADense` replaced by its float layer."""
    return jax.tree_util.tree_map(lambda n: n.dense if isinstance(n, HWADense) else n, params,
                                  is_leaf=lambda n: isinstance(n, HWADense))
