"""Small helpers shared by kernels."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch


def ints(value: Any) -> tuple[int, ...]:
    """A shape/axes/pad-like input (tensor, tuple, numpy, scalar) as a tuple of Python ints."""
    if isinstance(value, torch.Tensor):
        return tuple(int(v) for v in value.reshape(-1).tolist())
    if isinstance(value, (int, np.integer)):
        return (int(value),)
    return tuple(int(v) for v in np.asarray(value).reshape(-1).tolist())


def scalar(value: Any) -> Any:
    """A scalar input (0-d tensor or Python value) as a Python number/bool."""
    if isinstance(value, torch.Tensor):
        return value.reshape(-1)[0].item()
    if isinstance(value, np.ndarray):
        return value.reshape(-1)[0].item()
    return value


def as_float_tensor(value: Any) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value if value.dtype == torch.float32 else value.to(torch.float32)
    return torch.as_tensor(value, dtype=torch.float32)


def axis_index(axis: int, rank: int) -> int:
    return axis + rank if axis < 0 else axis


def axes_tuple(axes: Sequence[int] | None, rank: int) -> tuple[int, ...]:
    if axes is None:
        return tuple(range(rank))
    return tuple(sorted(axis_index(int(a), rank) for a in axes))


def channel_view(vector: torch.Tensor, rank: int) -> torch.Tensor:
    """A per-channel vector shaped to broadcast against an (N, C, ...) tensor of `rank`."""
    return vector.reshape((1, -1) + (1,) * (rank - 2))


def wrap_indices(indices: torch.Tensor, size: int, allow_negative: bool, what: str) -> torch.Tensor:
    """int64 indices into a dimension of `size`; out-of-range indices are an error because
    Core ML leaves them undefined (iOS17+ also treats negative indices as out of range)."""
    index = indices.to(torch.int64)
    if index.numel() == 0:
        return index
    low, high = int(index.min()), int(index.max())
    if allow_negative:
        if low < -size or high >= size:
            raise IndexError(f"{what}: index out of range [{-size}, {size}) (got {low}..{high})")
        if low < 0:
            index = torch.where(index < 0, index + size, index)
    elif low < 0 or high >= size:
        raise IndexError(
            f"{what}: index out of range [0, {size}) (got {low}..{high}); from iOS17 Core ML treats "
            "negative or too-large indices as undefined behaviour"
        )
    return index
