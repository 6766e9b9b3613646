"""Analog layers for any JAX model: forward reads on crossbars, `jax.grad` through transpose reads, pulsed updates.

`dense` (`AnalogDense`, `analog_dense`, the layer call `dense`), `float_dense` (`FloatDense`, its float twin),
`conv` (`Conv2d`: im2col convolution on one crossbar, `analog_conv2d`, `float_conv2d`),
`tiled` (`TiledDense`: a layer over fixed-size arrays, per-tile periphery; off unless asked for),
`hwa` (`HWADense`: a float layer trained with the chip's noise in its forward pass, hardware-aware training),
`transfer_dense` (`TransferDense`: trained by a transfer algorithm of `crossbar.transfer`, driven by `analog_sgd`),
`transfer_conv` (`transfer_conv2d`: a `Conv2d` trained by a transfer algorithm),
`tape` (`UpdateTape`: the batch's inputs and errors that `jax.grad` hands back for a layer), `tree` (`is_layer`,
`with_batch`), `optim` (`analog_sgd`: pulsed updates of the layers, SGD or an optax transform for the rest).
"""

from crossbar.nn.conv import Conv2d, analog_conv2d, float_conv2d, kernel_to_matrix, matrix_to_kernel
from crossbar.nn.dense import AnalogDense, analog_dense, dense
from crossbar.nn.float_dense import FloatDense, float_dense
from crossbar.nn.hwa import HWADense, HWANoise, float_layers, hardware_aware, hwa_dense
from crossbar.nn.optim import AnalogOptimizer, AnalogSGDState, analog_sgd
from crossbar.nn.tape import UpdateTape
from crossbar.nn.tiled import TiledDense, tiled_dense
from crossbar.nn.transfer_conv import transfer_conv2d
from crossbar.nn.transfer_dense import TransferDense, transfer_dense
from crossbar.nn.tree import is_layer, with_batch

__all__ = ["AnalogDense", "analog_dense", "dense", "FloatDense", "float_dense", "UpdateTape", "is_layer",
           "with_batch", "analog_sgd", "AnalogOptimizer", "AnalogSGDState",
           "Conv2d", "analog_conv2d", "float_conv2d", "kernel_to_matrix", "matrix_to_kernel",
           "TiledDense", "tiled_dense", "HWADense", "HWANoise", "hwa_dense", "hardware_aware", "float_layers",
           "TransferDense", "transfer_dense", "transfer_conv2d"]
