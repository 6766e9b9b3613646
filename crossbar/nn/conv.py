"""A 2-D convolution whose kernel lives on one crossbar (im2col): every input patch is one read of the array.

The kernel [kh, kw, C_in, C_out] is the array's weight matrix [C_in kh kw (+1 bias line), C_out]. A forward
pass cuts the input into its patches (`jax.lax.conv_general_dilated_patches`) and reads each patch through the
dense layer underneath (`AnalogDense`, `FloatDense` for the float twin, or `TransferDense` for a convolution trained
by a transfer algorithm: `crossbar.nn.transfer_conv`), so the backward pass is one transpose
read per output position, summed back onto the input by JAX's transpose of the patch extraction, and the update
tape holds one (patch, error) pair per output position: the update is the sum over patches of rank-one pulse
trains, applied as `PulseUpdate.batch_mode` says (Gokmen, Onen & Haensch 2017).

Shapes: inputs x [batch, H, W, C_in] (NHWC), outputs [batch, H', W', C_out].

References:
    Gokmen, Onen & Haensch, "Training deep convolutional neural networks with resistive cross-point devices",
    Front. Neurosci. 11:538 (2017).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import jax
import jax.numpy as jnp
import numpy as np

from crossbar import array
from crossbar.counters import Counters
from crossbar.nn.dense import AnalogDense, analog_dense
from crossbar.nn.float_dense import FloatDense, float_dense
from crossbar.nn.transfer_dense import TransferDense
from devices.pytree import pytree_dataclass
from devices.validation import check_choice, check_int

Array = jax.Array

PADDINGS = ("VALID", "SAME")
_DIMS = ("NHWC", "HWIO", "NHWC")


@pytree_dataclass
@dataclass(frozen=True)
class Conv2d:
    """A 2-D convolution on one crossbar (or its float twin). Build it with `analog_conv2d` or `float_conv2d`.

    Attributes:
        dense: The layer holding the kernel matrix [C_in kh kw (+1), C_out] (`AnalogDense`, `FloatDense`, or
            `TransferDense` for a convolution trained by a transfer algorithm: `crossbar.nn.transfer_conv2d`).
        input_shape: (H, W, C_in) of one input sample (static).
        kernel_size: (kh, kw) (static).
        strides: (sh, sw) (static).
        padding: "VALID" or "SAME" (static).
    """

    dense: AnalogDense | FloatDense | TransferDense
    input_shape: tuple[int, int, int] = field(metadata=dict(static=True))
    kernel_size: tuple[int, int] = field(metadata=dict(static=True))
    strides: tuple[int, int] = field(default=(1, 1), metadata=dict(static=True))
    padding: str = field(default="VALID", metadata=dict(static=True))

    @property
    def output_shape(self) -> tuple[int, int, int]:
        """(H', W', C_out) of one output sample."""
        return (*_out_hw(self.input_shape[:2], self.kernel_size, self.strides, self.padding), self.dense.out_features)

    @property
    def kernel(self) -> Array:
        """[kh, kw, C_in, C_out] kernel the array holds now (noise-free read; without the bias row)."""
        w = self.dense.weights
        return matrix_to_kernel(w[:-1] if self.dense.bias_line else w, self.kernel_size, self.input_shape[2])

    def __call__(self, x: Array, key=None) -> Array:
        return self.read(x, key)[0]

    def read(self, x: Array, key=None) -> tuple[Array, Counters]:
        """(y [batch, H', W', C_out], forward-read counters) from x [batch, H, W, C_in]; differentiable."""
        x = jnp.asarray(x)
        if x.ndim != 4 or x.shape[1:] != self.input_shape:
            raise ValueError(f"`x` must have shape [batch, {', '.join(map(str, self.input_shape))}] (NHWC); "
                             f"got x.shape={x.shape}")
        patches = jax.lax.conv_general_dilated_patches(x, self.kernel_size, self.strides, self.padding,
                                                       dimension_numbers=_DIMS)
        return self.dense.read(patches, key)

    def with_batch(self, n: int | None) -> Conv2d:
        """The layer with a tape for `n` input samples (n H' W' patch samples underneath); None: no tape."""
        return replace(self, dense=self.dense.with_batch(n))

    def apply_update(self, grad: Conv2d, lr, key=None) -> tuple[Conv2d, Counters]:
        """The sum over patches of rank-one updates, as the dense layer underneath applies them."""
        dense, counters = self.dense.apply_update(grad.dense, lr, key)
        return replace(self, dense=dense), counters

    def advance(self, dt) -> Conv2d:
        return replace(self, dense=self.dense.advance(dt))


def _out_hw(hw, kernel_size, strides, padding) -> tuple[int, int]:
    if padding == "SAME":
        return tuple(-(-n // s) for n, s in zip(hw, strides, strict=True))
    return tuple((n - k) // s + 1 for n, k, s in zip(hw, kernel_size, strides, strict=True))


def kernel_to_matrix(kernel: Array) -> Array:
    """[kh, kw, C_in, C_out] kernel -> [C_in kh kw, C_out] array weights, rows in the order of the patches
    of `jax.lax.conv_general_dilated_patches` (channel slowest, then kernel row, then kernel column)."""
    kh, kw, c_in, c_out = kernel.shape
    return jnp.transpose(jnp.asarray(kernel), (2, 0, 1, 3)).reshape(c_in * kh * kw, c_out)


def matrix_to_kernel(w: Array, kernel_size: tuple[int, int], c_in: int) -> Array:
    """Inverse of `kernel_to_matrix`: [C_in kh kw, C_out] -> [kh, kw, C_in, C_out]."""
    kh, kw = kernel_size
    return jnp.transpose(w.reshape(c_in, kh, kw, w.shape[1]), (1, 2, 0, 3))


def _geometry(input_shape, kernel_size, strides, padding, out_channels):
    """Validated (input_shape, kernel_size, strides, padding) and the crossbar rows and cols they need."""
    if len(tuple(input_shape)) != 3:
        raise ValueError(f"`input_shape` must be (H, W, C_in); got input_shape={input_shape!r}")
    input_shape = tuple(check_int("input_shape", int(n) if isinstance(n, np.integer) else n, 1) for n in input_shape)
    kernel_size = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
    strides = (strides, strides) if isinstance(strides, int) else tuple(strides)
    if len(kernel_size) != 2 or len(strides) != 2:
        raise ValueError(f"`kernel_size` and `strides` must be ints or pairs; got kernel_size={kernel_size!r}, "
                         f"strides={strides!r}")
    for name, pair in (("kernel_size", kernel_size), ("strides", strides)):
        for n in pair:
            check_int(name, n, 1)
    check_choice("padding", padding, PADDINGS)
    check_int("out_channels", out_channels, 1)
    if padding == "VALID" and any(k > n for k, n in zip(kernel_size, input_shape[:2], strict=True)):
        raise ValueError(f"`kernel_size` {kernel_size} is larger than the input's (H, W) = {input_shape[:2]} "
                         f"with padding 'VALID'; use a smaller kernel, a larger input or padding 'SAME'")
    return input_shape, kernel_size, strides, padding


def analog_conv2d(xb: array.Crossbar, key, input_shape, kernel_size, *, kernel: Array | None = None,
                  strides=(1, 1), padding: str = "VALID", batch: int | None = None,
                  bias_line: bool = False) -> Conv2d:
    """A convolution whose kernel lives on the crossbar `xb` (rows C_in kh kw (+1 with `bias_line`), cols C_out).

    Args:
        xb: Array configuration (`crossbar.array.make_crossbar`).
        key: Random key of the devices' device-to-device spread.
        input_shape: (H, W, C_in) of one input sample.
        kernel_size: kh (square) or (kh, kw).
        kernel: [kh, kw, C_in, C_out] initial kernel (default zeros; the bias row starts at zero).
        strides: As `jax.lax.conv_general_dilated`.
        padding: As `jax.lax.conv_general_dilated` ("VALID" or "SAME").
        batch: Input samples per training step; None for a layer that is not trained.
        bias_line: An always-on input line per patch carries the per-channel bias on the devices.

    Raises:
        ValueError naming the argument: a kernel larger than the input, an array of the wrong shape, ...
    """
    geometry, w = on_array("xb", xb.rows, xb.cols, input_shape, kernel_size, strides, padding, kernel, bias_line)
    return conv_layer(analog_dense(xb, key, w, bias_line=bias_line), geometry, batch)


def float_conv2d(kernel: Array, input_shape, *, strides=(1, 1), padding: str = "VALID", batch: int | None = None,
                 bias_line: bool = False) -> Conv2d:
    """The float twin of `analog_conv2d` holding `kernel` [kh, kw, C_in, C_out] (bias row zero with `bias_line`)."""
    kernel = jnp.asarray(kernel, jnp.float32)
    if kernel.ndim != 4:
        raise ValueError(f"`kernel` must have shape [kh, kw, C_in, C_out]; got kernel.shape={kernel.shape}")
    input_shape, kernel_size, strides, padding = _geometry(input_shape, kernel.shape[:2], strides, padding,
                                                           kernel.shape[3])
    w = _kernel_rows(kernel, kernel_size, input_shape[2], kernel.shape[3], bias_line)
    return conv_layer(float_dense(w, bias_line=bias_line), (input_shape, kernel_size, strides, padding), batch)


def on_array(name: str, rows: int, cols: int, input_shape, kernel_size, strides, padding, kernel, bias_line: bool):
    """The validated geometry of a convolution on an array of `rows` x `cols` and its initial weights.

    Args:
        name: The array's argument name, for the messages (e.g. "xb", "cmp").
        rows: The array's rows: C_in kh kw (+ 1 with `bias_line`).
        cols: The array's columns: C_out.
        input_shape: (H, W, C_in) of one input sample.
        kernel_size: kh (square) or (kh, kw).
        strides: As `jax.lax.conv_general_dilated`.
        padding: "VALID" or "SAME".
        kernel: [kh, kw, C_in, C_out] initial kernel, or None (zeros).
        bias_line: An always-on input line per patch (its row starts at zero).

    Returns:
        ((input_shape, kernel_size, strides, padding), the [rows, cols] initial weights or None).

    Raises:
        ValueError: A bad geometry, kernel or array shape, naming the argument.
    """
    geometry = _geometry(input_shape, kernel_size, strides, padding, cols)
    input_shape, kernel_size = geometry[:2]
    need = input_shape[2] * kernel_size[0] * kernel_size[1] + int(bias_line)
    if rows != need:
        raise ValueError(f"`{name}.rows` must be C_in kh kw{' + 1' if bias_line else ''} = {need} for input_shape="
                         f"{input_shape} and kernel_size={kernel_size}; got {name}.rows={rows}")
    w = None if kernel is None else _kernel_rows(kernel, kernel_size, input_shape[2], cols, bias_line)
    return geometry, w


def conv_layer(dense, geometry, batch) -> Conv2d:
    """The `Conv2d` of a dense layer whose array holds the kernel matrix, with a tape for `batch` input samples.

    Args:
        dense: `AnalogDense`, `FloatDense` or `TransferDense` holding the [C_in kh kw (+1), C_out] kernel matrix.
        geometry: (input_shape, kernel_size, strides, padding), validated (`on_array`).
        batch: Input samples per training step; None for a layer that is not trained.
    """
    input_shape, kernel_size, strides, padding = geometry
    h, w = _out_hw(input_shape[:2], kernel_size, strides, padding)
    # Every output position is one rank-one sample of the update: the tape holds batch * H' W' of them.
    dense = replace(dense, patches=h * w)
    return Conv2d(dense, input_shape, kernel_size, strides, padding).with_batch(batch)


def _kernel_rows(kernel, kernel_size, c_in, c_out, bias_line) -> Array:
    kernel = jnp.asarray(kernel, jnp.float32)
    if kernel.shape != (*kernel_size, c_in, c_out):
        raise ValueError(f"`kernel` must have shape {(*kernel_size, c_in, c_out)}; got kernel.shape={kernel.shape}")
    w = kernel_to_matrix(kernel)
    return jnp.concatenate([w, jnp.zeros((1, c_out))], axis=0) if bias_line else w
