"""linear, matmul, einsum and scaled_dot_product_attention (coremltools defs: linear.py,
iOS18/transformers.py)."""

from __future__ import annotations

import math

import torch

from torchready.convert.milrt.registry import kernel_family

kernel = kernel_family("linear algebra")


def _same_float(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    # iOS17 lets weights carry another dtype than x (e.g. fp16 weights, fp32 activations).
    return w if w.dtype == x.dtype else w.to(x.dtype)


@kernel("linear")
def linear(x, weight, bias=None):
    if not x.dtype.is_floating_point:
        out = x.double() @ weight.double().t()
        return out if bias is None else out + bias.double()
    weight = _same_float(x, weight)
    if bias is not None:
        bias = _same_float(x, bias)
    return torch.nn.functional.linear(x, weight, bias)


@kernel("matmul")
def matmul(x, y, transpose_x=False, transpose_y=False):
    if transpose_x and x.ndim > 1:
        x = x.transpose(-1, -2)
    if transpose_y and y.ndim > 1:
        y = y.transpose(-1, -2)
    if not x.dtype.is_floating_point or not y.dtype.is_floating_point:
        if x.dtype.is_floating_point or y.dtype.is_floating_point:
            return torch.matmul(x.float(), y.float())
        return torch.matmul(x.double(), y.double())
    return torch.matmul(x, _same_float(x, y))


@kernel("einsum")
def einsum(values, equation):
    x, y = values
    # The two supported MIL equations broadcast size-1 batch dims (-2 and, for rank 4, -4).
    if x.ndim == 4:
        x_shape = (max(x.shape[0], y.shape[0]), x.shape[1], max(x.shape[2], y.shape[2]), x.shape[3])
        y_shape = (max(x.shape[0], y.shape[0]), y.shape[1], max(x.shape[2], y.shape[2]), y.shape[3])
    else:
        x_shape = (x.shape[0], max(x.shape[1], y.shape[1]), x.shape[2])
        y_shape = (y.shape[0], max(x.shape[1], y.shape[1]), y.shape[2])
    return torch.einsum(equation, x.expand(x_shape), y.expand(y_shape))


@kernel("scaled_dot_product_attention")
def scaled_dot_product_attention(query, key, value, attn_mask=None):
    scores = torch.matmul(query, key.transpose(-1, -2)) / math.sqrt(query.shape[-1])
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attn_mask, float("-inf"))
        else:
            scores = scores + attn_mask
    return torch.matmul(torch.softmax(scores, dim=-1), value)
