"""The same training on a GPU, estimated from its floating-point work and a named GPU's published figures.

Two estimates bracket it. `peak`: the FLOPs at the GPU's peak FP32 throughput, at its board power (a lower
bound on the time; GPUs reach a fraction of peak on small matrices). `latency`: batch-1 SGD is a chain of
small dependent kernels, so each costs at least a launch-and-synchronise latency (estimate: 5 us per kernel,
the order measured for CUDA launches; 5 kernels per layer: forward product, activation, transpose product,
slope, update), at board power (an upper bound on the power of a mostly idle GPU).

References:
    NVIDIA Tesla V100 datasheet (2017, SXM2): 15.7 TFLOPS FP32, 300 W maximum board power.
    NVIDIA A100 Tensor Core GPU datasheet (2020-2021, SXM4 80 GB): 19.5 TFLOPS FP32, 400 W maximum power.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GPU:
    """A GPU's published figures.

    Attributes:
        name: Model and form factor.
        fp32_flops: Peak FP32 throughput (FLOP/s) from the datasheet.
        power: Maximum board power (W) from the datasheet.
        kernel_latency: Smallest time of one dependent kernel (s), estimate.
        source: The datasheet.
    """

    name: str
    fp32_flops: float
    power: float
    kernel_latency: float = 5e-6
    source: str = ""


GPUS = {
    "V100": GPU("NVIDIA Tesla V100 SXM2", 15.7e12, 300.0, source="NVIDIA Tesla V100 datasheet (2017)"),
    "A100": GPU("NVIDIA A100 SXM4 80GB", 19.5e12, 400.0, source="NVIDIA A100 Tensor Core GPU datasheet (2021)"),
}
KERNELS_PER_LAYER = 5


def mlp_matrices(sizes: tuple[int, ...]) -> tuple[tuple[int, int, int], ...]:
    """The weight matrices of an MLP with biases: ((rows incl. the bias, cols, uses per sample), ...)."""
    return tuple((n_in + 1, n_out, 1) for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True))


def matrix_training_flops(matrices, samples: int) -> float:
    """FLOPs of SGD on a network of weight matrices ((rows, cols, uses per sample), ...; a convolution's matrix
    is used once per output position, as im2col GEMMs do on a GPU): per weight and use 2 (forward) + 2
    (transpose, all layers but the first) + 2 (outer-product update); activations and the loss are negligible."""
    total = 0.0
    for i, (rows, cols, uses) in enumerate(matrices):
        total += (6 if i > 0 else 4) * rows * cols * uses
    return total * samples


def training_flops(sizes: tuple[int, ...], samples: int) -> float:
    """FLOPs of SGD on an MLP with biases (`matrix_training_flops` of `mlp_matrices(sizes)`)."""
    return matrix_training_flops(mlp_matrices(sizes), samples)


def gpu_estimate(sizes: tuple[int, ...] | None, samples: int, gpu: GPU, batch_size: int = 1, *,
                 matrices=None) -> dict:
    """Time (s) and energy (J) of training on `gpu`: both estimates (see the module docstring).

    Args:
        sizes: An MLP's layer widths, or None with `matrices` ((rows, cols, uses per sample), ...) for any
            network of weight matrices (e.g. a CNN's im2col matrices).
    """
    if sizes is None and matrices is None:
        raise ValueError("gpu_estimate needs `sizes` (an MLP's widths) or `matrices`; got neither")
    matrices = mlp_matrices(sizes) if matrices is None else tuple(matrices)
    flops = matrix_training_flops(matrices, samples)
    peak_time = flops / gpu.fp32_flops
    steps = samples / batch_size
    latency_time = max(peak_time, steps * len(matrices) * KERNELS_PER_LAYER * gpu.kernel_latency)
    return {"gpu": gpu.name, "source": gpu.source, "flops": flops, "batch_size": batch_size,
            "peak": {"time_s": peak_time, "energy_j": peak_time * gpu.power},
            "latency": {"time_s": latency_time, "energy_j": latency_time * gpu.power}}
