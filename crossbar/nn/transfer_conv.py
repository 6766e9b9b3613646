"""A 2-D convolution trained by a transfer algorithm (`crossbar.transfer`): the kernel matrix on the slow array C,
the gradient on the fast array A, as `TransferDense` holds them.

The convolution is `crossbar.nn.conv`'s im2col (`Conv2d`: every input patch one read of C, the backward pass one
transpose read per output position), with a `TransferDense` underneath instead of an `AnalogDense`: its update tape
holds one (patch, error) pair per output position, and `apply_update` hands them to the algorithm as that many
samples (A's pulses, `transfer_every` counted in patches, the transfer reads and writes), as aihwkit's analog
convolutions give their tile's transfer compound the unfolded patches as its mini-batch. `crossbar.nn.analog_sgd`
drives it like any other layer, and a checkpoint of the model's pytree holds A, C, the buffers and the choppers.

Shapes: inputs x [batch, H, W, C_in] (NHWC), outputs [batch, H', W', C_out].

References:
    Gokmen, Onen & Haensch, Front. Neurosci. 11:538 (2017) (convolutions on crossbars); Rasch et al., Nat.
    Commun. 15:7133 (2024) (c-TTv2 and AGAD, trained on convolutional networks); aihwkit `AnalogConv2d` with a
    `UnitCellRPUConfig` of a transfer compound.
"""

from __future__ import annotations

import jax

from crossbar import transfer as T
from crossbar.nn.conv import Conv2d, conv_layer, on_array
from crossbar.nn.transfer_dense import transfer_dense

Array = jax.Array


def transfer_conv2d(cmp: T.Compound, algorithm, key, input_shape, kernel_size, *, kernel: Array | None = None,
                    strides=(1, 1), padding: str = "VALID", batch: int | None = None, bias_line: bool = False,
                    loss_reduction: str = "mean") -> Conv2d:
    """A convolution whose kernel lives on the arrays of `cmp` (rows C_in kh kw (+1 with `bias_line`), cols C_out),
    trained by `algorithm`.

    Args:
        cmp: From `crossbar.transfer.make_compound`.
        algorithm: From `crossbar.transfer.make_algorithm` (gamma must be 0).
        key: Random key of the devices' spread and the references.
        input_shape: (H, W, C_in) of one input sample.
        kernel_size: kh (square) or (kh, kw).
        kernel: [kh, kw, C_in, C_out] initial kernel on C (default zeros; the bias row starts at zero).
        strides: As `jax.lax.conv_general_dilated`.
        padding: As `jax.lax.conv_general_dilated` ("VALID" or "SAME").
        batch: Input samples per training step; None for a layer that is not trained.
        bias_line: An always-on input line per patch carries the per-channel bias on the devices.
        loss_reduction: "mean" or "sum" (see `crossbar.nn.TransferDense`).

    Raises:
        TypeError: An argument of the wrong type, naming it.
        ValueError: A bad value (a kernel larger than the input, arrays of the wrong shape, gamma != 0), naming it.
    """
    geometry, w = on_array("cmp", cmp.rows, cmp.cols, input_shape, kernel_size, strides, padding, kernel, bias_line)
    dense = transfer_dense(cmp, algorithm, key, w, bias_line=bias_line, loss_reduction=loss_reduction)
    return conv_layer(dense, geometry, batch)
