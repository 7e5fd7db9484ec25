"""reduce_* ops (coremltools defs: reduction.py).

`axes=None` reduces every axis; an empty `axes` reduces none (numpy semantics, which the MIL
value_inference uses). Integer inputs are reduced in float64 and truncated back by the declared
int32 output, as numpy's mean of an int array would be.
"""

from __future__ import annotations

import torch

from torchready.convert.milrt.kernels._util import axes_tuple, axis_index
from torchready.convert.milrt.registry import kernel_family

kernel = kernel_family("reduction")


def _prepare(x: torch.Tensor, axes) -> tuple[torch.Tensor, tuple[int, ...]]:
    if not x.dtype.is_floating_point:
        x = x.double()
    return x, axes_tuple(axes, x.ndim)


def _reduction(reduce):
    def apply(x, axes=None, keep_dims=False):
        x, dims = _prepare(x, axes)
        if not dims:
            return reduce(x.unsqueeze(0), (0,), False)  # no axis: each element reduced alone
        return reduce(x, dims, keep_dims)

    return apply


_REDUCTIONS = {
    "reduce_sum": lambda x, d, k: torch.sum(x, dim=d, keepdim=k),
    "reduce_mean": lambda x, d, k: torch.mean(x, dim=d, keepdim=k),
    "reduce_prod": lambda x, d, k: _prod(x, d, k),
    "reduce_max": lambda x, d, k: torch.amax(x, dim=d, keepdim=k),
    "reduce_min": lambda x, d, k: torch.amin(x, dim=d, keepdim=k),
    "reduce_l1_norm": lambda x, d, k: torch.sum(torch.abs(x), dim=d, keepdim=k),
    "reduce_l2_norm": lambda x, d, k: torch.sqrt(torch.sum(x * x, dim=d, keepdim=k)),
    "reduce_sum_square": lambda x, d, k: torch.sum(x * x, dim=d, keepdim=k),
    "reduce_log_sum": lambda x, d, k: torch.log(torch.sum(x, dim=d, keepdim=k)),
    "reduce_log_sum_exp": lambda x, d, k: torch.logsumexp(x, dim=d, keepdim=k),
}


def _prod(x: torch.Tensor, dims: tuple[int, ...], keep: bool) -> torch.Tensor:
    for dim in sorted(dims, reverse=True):
        x = torch.prod(x, dim=dim, keepdim=keep)
    return x


for _op_type, _reduce in _REDUCTIONS.items():
    kernel(_op_type)(_reduction(_reduce))


@kernel("reduce_argmax")
def reduce_argmax(x, axis=-1, keep_dims=False, output_dtype="int32"):
    return torch.argmax(x, dim=axis_index(axis, x.ndim), keepdim=keep_dims)


@kernel("reduce_argmin")
def reduce_argmin(x, axis=-1, keep_dims=False, output_dtype="int32"):
    return torch.argmin(x, dim=axis_index(axis, x.ndim), keepdim=keep_dims)
