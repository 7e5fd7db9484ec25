"""Normalization ops (coremltools defs: normalization.py). Variances are biased (divide by N)
and epsilon is added to the variance, as in the MIL docstrings."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from torchready.convert.milrt.kernels._util import as_float_tensor, axes_tuple, channel_view
from torchready.convert.milrt.registry import kernel_family

kernel = kernel_family("normalization")


@kernel("batch_norm")
def batch_norm(x, mean, variance, gamma=None, beta=None, epsilon=1e-5):
    rank = x.ndim
    out = (x - channel_view(as_float_tensor(mean), rank)) / torch.sqrt(
        channel_view(as_float_tensor(variance), rank) + epsilon
    )
    if gamma is not None:
        out = out * channel_view(as_float_tensor(gamma), rank)
    if beta is not None:
        out = out + channel_view(as_float_tensor(beta), rank)
    return out


@kernel("instance_norm")
def instance_norm(x, gamma=None, beta=None, epsilon=1e-5):
    dims = tuple(range(2, x.ndim))
    mean = x.mean(dim=dims, keepdim=True)
    variance = ((x - mean) ** 2).mean(dim=dims, keepdim=True)
    out = (x - mean) / torch.sqrt(variance + epsilon)
    if gamma is not None:
        out = out * channel_view(as_float_tensor(gamma), x.ndim)
    if beta is not None:
        out = out + channel_view(as_float_tensor(beta), x.ndim)
    return out


@kernel("layer_norm")
def layer_norm(x, axes=None, gamma=None, beta=None, epsilon=1e-5):
    dims = axes_tuple(axes, x.ndim)
    trailing = dims == tuple(range(x.ndim - len(dims), x.ndim))
    if trailing and dims:
        normalized = tuple(x.shape[d] for d in dims)
        weight = as_float_tensor(gamma).reshape(normalized) if gamma is not None else None
        bias = as_float_tensor(beta).reshape(normalized) if beta is not None else None
        return F.layer_norm(x, normalized, weight, bias, epsilon)
    mean = x.mean(dim=dims, keepdim=True)
    variance = ((x - mean) ** 2).mean(dim=dims, keepdim=True)
    out = (x - mean) / torch.sqrt(variance + epsilon)
    view = [x.shape[d] if d in dims else 1 for d in range(x.ndim)]
    if gamma is not None:
        out = out * as_float_tensor(gamma).reshape(view)
    if beta is not None:
        out = out + as_float_tensor(beta).reshape(view)
    return out


@kernel("l2_norm")
def l2_norm(x, epsilon=1e-6):
    # The last three dims are normalized together; leading dims are batch.
    dims = tuple(range(x.ndim - 3, x.ndim))
    return x / torch.sqrt(torch.sum(x * x, dim=dims, keepdim=True) + epsilon)


@kernel("local_response_norm")
def local_response_norm(x, size, alpha=1e-4, beta=0.75, k=1.0):
    return F.local_response_norm(x, size, alpha=alpha, beta=beta, k=k)
