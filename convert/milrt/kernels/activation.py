"""Activations (coremltools defs: activation.py). `prelu` and `softplus_parametric` apply their
per-channel parameters along axis 1, as the MIL docstrings specify."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from torchready.convert.milrt.kernels._util import as_float_tensor, channel_view
from torchready.convert.milrt.registry import kernel_family

kernel = kernel_family("activation")


@kernel("relu")
def relu(x):
    return torch.relu(x)


@kernel("relu6")
def relu6(x):
    return torch.clamp(x, 0.0, 6.0)


@kernel("leaky_relu")
def leaky_relu(x, alpha):
    return torch.where(x >= 0, x, x * alpha)


@kernel("elu")
def elu(x, alpha):
    return torch.where(x > 0, x, alpha * torch.expm1(x))


@kernel("gelu")
def gelu(x, mode="EXACT"):
    if mode == "TANH_APPROXIMATION":
        return F.gelu(x, approximate="tanh")
    if mode == "SIGMOID_APPROXIMATION":
        return x * torch.sigmoid(1.702 * x)
    if mode != "EXACT":
        raise ValueError(f"unknown gelu mode {mode!r}")
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


@kernel("sigmoid")
def sigmoid(x):
    return torch.sigmoid(x)


@kernel("sigmoid_hard")
def sigmoid_hard(x, alpha, beta):
    return torch.clamp(alpha * x + beta, 0.0, 1.0)


@kernel("silu")
def silu(x):
    return x * torch.sigmoid(x)


@kernel("softplus")
def softplus(x):
    # log(1 + e^x) without overflow for large x.
    return torch.logaddexp(x, torch.zeros((), dtype=x.dtype))


@kernel("softplus_parametric")
def softplus_parametric(x, alpha, beta):
    alpha = channel_view(as_float_tensor(alpha), x.ndim)
    beta = channel_view(as_float_tensor(beta), x.ndim)
    return alpha * torch.logaddexp(beta * x, torch.zeros((), dtype=x.dtype))


@kernel("softsign")
def softsign(x):
    return x / (1.0 + torch.abs(x))


@kernel("clamped_relu")
def clamped_relu(x, alpha, beta):
    return torch.minimum(torch.where(x >= 0, x, alpha * x), torch.tensor(beta, dtype=x.dtype))


@kernel("linear_activation")
def linear_activation(x, alpha, beta):
    return alpha * x + beta


@kernel("prelu")
def prelu(x, alpha):
    alpha = channel_view(as_float_tensor(alpha), x.ndim)
    return torch.where(x > 0, x, alpha * x)


@kernel("scaled_tanh")
def scaled_tanh(x, alpha, beta):
    return alpha * torch.tanh(beta * x)


@kernel("thresholded_relu")
def thresholded_relu(x, alpha):
    return torch.where(x >= alpha, x, torch.zeros((), dtype=x.dtype))


@kernel("softmax")
def softmax(x, axis=-1):
    return torch.softmax(x, dim=axis)
