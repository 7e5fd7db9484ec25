"""Constants, compression, quantization, classifier and random ops.

`const` and every `constexpr_*` op are folded once when the program is loaded (the planner
calls pymil's `materialized_val_inference()` for the compressed-weight ops), so they cost
nothing per run. Random ops draw from a torch generator seeded with the op's `seed` (0 when
the program leaves it at -1): runs are reproducible, but no value can match a device's draw.
"""

from __future__ import annotations

import torch

from torchready.convert.milrt.kernels._util import ints
from torchready.convert.milrt.registry import kernel_family, register_load_time_op

for _op_type in (
    "const",
    "constexpr_affine_dequantize",
    "constexpr_blockwise_shift_scale",
    "constexpr_cast",
    "constexpr_lut_to_dense",
    "constexpr_lut_to_sparse",
    "constexpr_sparse_blockwise_shift_scale",
    "constexpr_sparse_to_dense",
):
    register_load_time_op(_op_type, "constants/compression")

kernel = kernel_family("quantization")


def _axis_view(param, data: torch.Tensor, axis) -> torch.Tensor:
    param = param if isinstance(param, torch.Tensor) else torch.tensor(param)
    if param.ndim == 0 or axis is None:
        return param
    view = [1] * data.ndim
    view[axis if axis >= 0 else axis + data.ndim] = -1
    return param.reshape(view)


@kernel("quantize")
def quantize(input, scale, output_dtype, zero_point=None, axis=None):
    scaled = torch.round(input / _axis_view(scale, input, axis).to(input.dtype))
    if zero_point is not None:
        scaled = scaled + _axis_view(zero_point, input, axis).to(scaled.dtype)
    low, high = (0, 255) if output_dtype == "uint8" else (-128, 127)
    return scaled.clamp(low, high)


@kernel("dequantize")
def dequantize(input, scale, zero_point=None, axis=None):
    values = input.to(torch.float32)
    if zero_point is not None:
        values = values - _axis_view(zero_point, input, axis).to(torch.float32)
    return values * _axis_view(scale, input, axis).to(torch.float32)


kernel = kernel_family("classifier")


@kernel("classify")
def classify(probabilities, classes):
    """The classifier head: (predicted label, {label: probability})."""
    flat = probabilities.reshape(-1)
    labels = list(classes)
    best = int(torch.argmax(flat))
    return labels[best], {label: float(p) for label, p in zip(labels, flat.tolist())}


kernel = kernel_family("random")


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(0 if seed == -1 else int(seed))


@kernel("random_bernoulli")
def random_bernoulli(shape, prob=0.5, seed=-1):
    return torch.bernoulli(torch.full(ints(shape), float(prob)), generator=_generator(seed))


@kernel("random_normal")
def random_normal(shape, mean=0.0, stddev=1.0, seed=-1):
    return torch.normal(float(mean), float(stddev), ints(shape), generator=_generator(seed))


@kernel("random_uniform")
def random_uniform(shape, low=0.0, high=1.0, seed=-1):
    return torch.rand(ints(shape), generator=_generator(seed)) * (float(high) - float(low)) + float(low)


@kernel("random_categorical")
def random_categorical(x, mode="logits", size=1, seed=-1):
    probabilities = torch.softmax(x, dim=-1) if mode == "logits" else x
    flat = probabilities.reshape(-1, probabilities.shape[-1])
    draws = torch.multinomial(flat, int(size), replacement=True, generator=_generator(seed))
    return draws.reshape(tuple(x.shape[:-1]) + (int(size),)).to(x.dtype)
