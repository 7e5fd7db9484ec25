"""gather / scatter families (coremltools defs: scatter_gather.py).

Indices out of range are an error, not a silent clamp: Core ML leaves them undefined. Negative
indices wrap in iOS15/16 programs; from iOS17 the op definitions declare them out of range.
Scatter modes: update (last write wins for duplicates), add, sub, mul, div, max, min.
"""

from __future__ import annotations

import math

import torch

from torchready.convert.milrt.kernels._util import axis_index, wrap_indices
from torchready.convert.milrt.registry import kernel_family

kernel = kernel_family("gather/scatter")


def _negative_ok(op) -> bool:
    return op.opset < 17


def _gather_plain(x: torch.Tensor, index: torch.Tensor, axis: int) -> torch.Tensor:
    out = x.index_select(axis, index.reshape(-1))
    return out.reshape(tuple(x.shape[:axis]) + tuple(index.shape) + tuple(x.shape[axis + 1 :]))


@kernel("gather")
def gather(x, indices, axis=0, batch_dims=0, validate_indices=False, *, _op):
    axis = axis_index(axis, x.ndim)
    index = wrap_indices(indices, x.shape[axis], _negative_ok(_op), f"gather {_op.location}")
    if batch_dims == 0:
        return _gather_plain(x, index, axis)
    # batch_dims > 0: the leading dims of x and indices are paired; gather per batch element.
    batch_shape = tuple(x.shape[:batch_dims])
    flat_x = x.reshape((-1,) + tuple(x.shape[batch_dims:]))
    flat_index = index.reshape((-1,) + tuple(index.shape[batch_dims:]))
    parts = [_gather_plain(flat_x[b], flat_index[b], axis - batch_dims) for b in range(flat_x.shape[0])]
    out = torch.stack(parts)
    return out.reshape(batch_shape + tuple(out.shape[1:]))


@kernel("gather_along_axis")
def gather_along_axis(x, indices, axis=0, validate_indices=False, *, _op):
    axis = axis_index(axis, x.ndim)
    index = wrap_indices(indices, x.shape[axis], _negative_ok(_op), f"gather_along_axis {_op.location}")
    return torch.gather(x, axis, index)


def _nd_index(x: torch.Tensor, indices: torch.Tensor, batch_dims: int, allow_negative: bool, what: str):
    depth = indices.shape[-1]
    columns = [
        wrap_indices(indices[..., k], x.shape[batch_dims + k], allow_negative, what) for k in range(depth)
    ]
    return depth, columns


@kernel("gather_nd")
def gather_nd(x, indices, batch_dims=0, validate_indices=False, *, _op):
    depth, columns = _nd_index(x, indices, batch_dims, _negative_ok(_op), f"gather_nd {_op.location}")
    batch = math.prod(x.shape[:batch_dims])
    flat_x = x.reshape((batch,) + tuple(x.shape[batch_dims:]))
    flat_columns = [c.reshape(batch, -1) for c in columns]
    batch_index = torch.arange(batch).reshape(-1, 1).expand_as(flat_columns[0]) if flat_columns else None
    out = flat_x[(batch_index, *flat_columns)]
    return out.reshape(tuple(indices.shape[:-1]) + tuple(x.shape[batch_dims + depth :]))


def _combine(mode: str, current: torch.Tensor, update: torch.Tensor) -> torch.Tensor:
    if mode == "update":
        return update
    if mode == "add":
        return current + update
    if mode == "sub":
        return current - update
    if mode == "mul":
        return current * update
    if mode == "div":
        return current / update
    if mode == "max":
        return torch.maximum(current, update)
    if mode == "min":
        return torch.minimum(current, update)
    raise ValueError(f"unknown scatter mode {mode!r}")


def _scatter_rows(data: torch.Tensor, rows: torch.Tensor, updates: torch.Tensor, mode: str) -> torch.Tensor:
    """Scatter updates[i] into data[rows[i]] (dim 0) with `mode`, applying duplicates in order."""
    out = data.clone()
    if mode in ("add", "sub"):
        out.index_add_(0, rows, updates if mode == "add" else -updates)
        return out
    for i, row in enumerate(rows.tolist()):
        out[row] = _combine(mode, out[row], updates[i])
    return out


@kernel("scatter")
def scatter(data, indices, updates, axis=0, mode="add", validate_indices=False, *, _op):
    axis = axis_index(axis, data.ndim)
    rows = wrap_indices(indices.reshape(-1), data.shape[axis], _negative_ok(_op), f"scatter {_op.location}")
    moved = data.movedim(axis, 0)
    moved_updates = updates.movedim(axis, 0).to(data.dtype)
    return _scatter_rows(moved, rows, moved_updates, mode).movedim(0, axis)


_REDUCE = {"mul": "prod", "max": "amax", "min": "amin"}


@kernel("scatter_along_axis")
def scatter_along_axis(data, indices, updates, axis=0, mode="add", validate_indices=False, *, _op):
    axis = axis_index(axis, data.ndim)
    index = wrap_indices(indices, data.shape[axis], _negative_ok(_op), f"scatter_along_axis {_op.location}")
    updates = updates.to(data.dtype)
    if mode == "update":
        return data.scatter(axis, index, updates)
    if mode == "add":
        return data.scatter_add(axis, index, updates)
    if mode == "sub":
        return data.scatter_add(axis, index, -updates)
    if mode in _REDUCE:
        return data.scatter_reduce(axis, index, updates, reduce=_REDUCE[mode], include_self=True)
    if mode == "div":
        divisor = torch.ones_like(data).scatter_reduce(axis, index, updates, reduce="prod", include_self=True)
        return data / divisor
    raise ValueError(f"unknown scatter mode {mode!r}")


@kernel("scatter_nd")
def scatter_nd(data, indices, updates, mode="add", validate_indices=False, *, _op):
    depth, columns = _nd_index(data, indices, 0, _negative_ok(_op), f"scatter_nd {_op.location}")
    lead = tuple(data.shape[:depth])
    rows = torch.zeros_like(columns[0]) if columns else torch.zeros(indices.shape[:-1], dtype=torch.int64)
    for k, column in enumerate(columns):
        rows = rows * lead[k] + column
    flat = data.reshape((math.prod(lead),) + tuple(data.shape[depth:]))
    flat_updates = updates.reshape((-1,) + tuple(data.shape[depth:])).to(data.dtype)
    return _scatter_rows(flat, rows.reshape(-1), flat_updates, mode).reshape(data.shape)
