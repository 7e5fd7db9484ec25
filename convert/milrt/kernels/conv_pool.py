"""conv, conv_transpose and pooling, 1-D to 3-D (coremltools defs: conv.py, pool.py).

Padding follows the MIL pad_type: "valid" none; "custom" the given (before, after) pairs;
"same" pads so that out = ceil(in / stride) with the odd extra element at the end (bottom /
right), "same_lower" puts it at the start. Pooled output sizes follow the MIL formulas,
including the ceil_mode rule that drops a last window starting inside the right padding.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from torchready.convert.milrt.kernels._util import ints
from torchready.convert.milrt.registry import kernel_family

kernel = kernel_family("convolution/pooling")

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
_MAX_POOL = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
_AVG_POOL = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


def _same_pads(sizes, kernel_sizes, strides, dilations, lower: bool) -> list[tuple[int, int]]:
    pads = []
    for size, k, s, d in zip(sizes, kernel_sizes, strides, dilations):
        effective = (k - 1) * d + 1
        total = max(0, (math.ceil(size / s) - 1) * s + effective - size)
        small, large = total // 2, total - total // 2
        pads.append((large, small) if lower else (small, large))
    return pads


def _pads(pad_type, pad, sizes, kernel_sizes, strides, dilations) -> list[tuple[int, int]]:
    n = len(sizes)
    if pad_type == "valid":
        return [(0, 0)] * n
    if pad_type == "custom":
        amounts = ints(pad) if pad is not None else (0,) * (2 * n)
        return [(amounts[2 * i], amounts[2 * i + 1]) for i in range(n)]
    if pad_type in ("same", "same_lower"):
        return _same_pads(sizes, kernel_sizes, strides, dilations, pad_type == "same_lower")
    raise ValueError(f"unknown pad_type {pad_type!r}")


def _explicit_pad(x: torch.Tensor, pads: list[tuple[int, int]], value: float = 0.0) -> torch.Tensor:
    torch_pad = []
    for before, after in reversed(pads):
        torch_pad += [before, after]
    return F.pad(x, torch_pad, value=value) if any(torch_pad) else x


@kernel("conv")
def conv(x, weight, bias=None, strides=None, pad_type="valid", pad=None, dilations=None, groups=1):
    n = x.ndim - 2
    strides = tuple(strides) if strides is not None else (1,) * n
    dilations = tuple(dilations) if dilations is not None else (1,) * n
    weight = weight.to(x.dtype)
    bias = bias.to(x.dtype) if bias is not None else None
    pads = _pads(pad_type, pad, x.shape[2:], weight.shape[2:], strides, dilations)
    if all(before == after for before, after in pads):
        padding = tuple(before for before, _ in pads)
    else:
        x, padding = _explicit_pad(x, pads), 0
    return _CONV[n](x, weight, bias, strides, padding, dilations, groups)


@kernel("conv_transpose")
def conv_transpose(
    x,
    weight,
    bias=None,
    pad=None,
    output_shape=None,
    pad_type="valid",
    strides=None,
    dilations=None,
    groups=1,
):
    n = x.ndim - 2
    strides = tuple(strides) if strides is not None else (1,) * n
    dilations = tuple(dilations) if dilations is not None else (1,) * n
    weight = weight.to(x.dtype)
    full = _CONV_T[n](x, weight, None, strides, 0, 0, groups, dilations)
    in_sizes = x.shape[2:]
    target = list(ints(output_shape)[2:]) if output_shape is not None else None
    crops = []
    for i in range(n):
        full_size = full.shape[2 + i]
        if pad_type == "same":
            want = target[i] if target else in_sizes[i] * strides[i]
            total = full_size - want
            before = max(total, 0) // 2
            crops.append((before, full_size - before - want))
        elif pad_type == "custom":
            amounts = ints(pad)
            before, after = amounts[2 * i], amounts[2 * i + 1]
            if target:
                after = full_size - before - target[i]
            crops.append((before, after))
        else:  # valid
            crops.append((0, full_size - target[i]) if target else (0, 0))
    out = full
    for i, (before, after) in enumerate(crops):
        if before > 0 or after > 0:
            keep = full.shape[2 + i] - max(before, 0) - max(after, 0)
            out = out.narrow(2 + i, max(before, 0), keep)
    if any(before < 0 or after < 0 for before, after in crops):  # output larger than computed
        out = _explicit_pad(out, [(max(-b, 0), max(-a, 0)) for b, a in crops])
    if bias is not None:
        out = out + bias.to(out.dtype).reshape((1, -1) + (1,) * n)
    return out


@kernel("conv_quantized")
def conv_quantized(
    x,
    weight,
    quantization_type,
    quant_scale,
    quant_bias,
    bias=None,
    nbits=8,
    strides=None,
    pad_type="valid",
    pad=None,
    dilations=None,
    groups=1,
):
    if quantization_type != "linear":
        raise ValueError(f"conv_quantized with quantization_type={quantization_type!r} is not implemented")
    real_weight = weight.to(torch.float32) * _as_tensor(quant_scale) + _as_tensor(quant_bias)
    return conv(x, real_weight, bias, strides, pad_type, pad, dilations, groups)


def _as_tensor(value) -> torch.Tensor:
    return value if isinstance(value, torch.Tensor) else torch.tensor(value, dtype=torch.float32)


def _pool_layout(x, kernel_sizes, strides, pad_type, pad, ceil_mode):
    n = len(kernel_sizes)
    sizes = x.shape[2:]
    strides = tuple(strides) if strides is not None else (1,) * n
    pads = _pads(pad_type, pad, sizes, kernel_sizes, strides, (1,) * n)
    outs, extra = [], []
    for size, k, s, (before, after) in zip(sizes, kernel_sizes, strides, pads):
        span = size + before + after - k
        if ceil_mode:
            out = math.ceil(span / s) + 1
            if (out - 1) * s >= size + before and before + after > 0:
                out -= 1
        else:
            out = span // s + 1
        outs.append(out)
        extra.append(max(0, (out - 1) * s + k - (size + before + after)))
    return strides, pads, outs, extra


def _simple(pads, extra, kernel_sizes) -> bool:
    return not any(extra) and all(b == a and b <= k // 2 for (b, a), k in zip(pads, kernel_sizes))


@kernel("max_pool")
def max_pool(x, kernel_sizes, pad_type, strides=None, pad=None, ceil_mode=False):
    n = x.ndim - 2
    strides, pads, _, extra = _pool_layout(x, kernel_sizes, strides, pad_type, pad, ceil_mode)
    if _simple(pads, extra, kernel_sizes):
        return _MAX_POOL[n](x, kernel_sizes, strides, tuple(b for b, _ in pads))
    padded = _explicit_pad(x, [(b, a + e) for (b, a), e in zip(pads, extra)], value=float("-inf"))
    return _MAX_POOL[n](padded, kernel_sizes, strides)


def _window_sums(x, kernel_sizes, strides, pads, extra, exclude_padding):
    """Window sums of x and the number of counted elements per window."""
    n = x.ndim - 2
    size = math.prod(kernel_sizes)
    padded = _explicit_pad(x, [(b, a + e) for (b, a), e in zip(pads, extra)])
    sums = _AVG_POOL[n](padded, kernel_sizes, strides) * size
    # Padding counts unless excluded; the ceil-mode overhang past the padding never counts
    # (PyTorch's rule, which the torch frontend maps onto this op).
    mask = torch.ones((1, 1) + tuple(x.shape[2:]), dtype=x.dtype)
    if exclude_padding:
        mask = _explicit_pad(mask, [(b, a + e) for (b, a), e in zip(pads, extra)])
    else:
        mask = _explicit_pad(_explicit_pad(mask, pads, value=1.0), [(0, e) for e in extra])
    counts = _AVG_POOL[n](mask, kernel_sizes, strides) * size
    return sums, counts


@kernel("avg_pool")
def avg_pool(
    x, kernel_sizes, pad_type, strides=None, pad=None, exclude_padding_from_average=False, ceil_mode=False
):
    n = x.ndim - 2
    strides, pads, _, extra = _pool_layout(x, kernel_sizes, strides, pad_type, pad, ceil_mode)
    if _simple(pads, extra, kernel_sizes):
        return _AVG_POOL[n](
            x,
            kernel_sizes,
            strides,
            tuple(b for b, _ in pads),
            count_include_pad=not exclude_padding_from_average,
        )
    sums, counts = _window_sums(x, kernel_sizes, strides, pads, extra, exclude_padding_from_average)
    return sums / counts


@kernel("l2_pool")
def l2_pool(x, kernel_sizes, pad_type, strides=None, pad=None, ceil_mode=False):
    strides, pads, _, extra = _pool_layout(x, kernel_sizes, strides, pad_type, pad, ceil_mode)
    sums, _ = _window_sums(x * x, kernel_sizes, strides, pads, extra, False)
    return torch.sqrt(sums)
