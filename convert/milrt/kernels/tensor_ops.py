"""Tensor-producing and sorting ops: fill, range_1d, band_part, cumsum, topk, argsort, one_hot,
non_zero, non_maximum_suppression (coremltools defs: tensor_operation.py)."""

from __future__ import annotations

import torch

from torchready.convert.milrt.kernels._util import axis_index, ints, scalar
from torchready.convert.milrt.registry import kernel_family

kernel = kernel_family("tensor")


def _fill_value(value) -> torch.Tensor:
    return value if isinstance(value, torch.Tensor) else torch.tensor(value)


@kernel("fill")
def fill(shape, value=0.0):
    value = _fill_value(value)
    return torch.full(ints(shape), value.item(), dtype=value.dtype)


@kernel("fill_like")
def fill_like(ref_tensor, value=0.0):
    value = _fill_value(value)
    return torch.full(tuple(ref_tensor.shape), value.item(), dtype=value.dtype)


@kernel("range_1d")
def range_1d(end, start, step):
    start, end, step = scalar(start), scalar(end), scalar(step)
    return torch.arange(
        start, end, step, dtype=torch.float64 if isinstance(start + end + step, float) else torch.int64
    )


@kernel("band_part")
def band_part(x, lower=-1, upper=-1):
    rows, cols = x.shape[-2], x.shape[-1]
    m = torch.arange(rows).reshape(-1, 1)
    n = torch.arange(cols).reshape(1, -1)
    keep = torch.ones((rows, cols), dtype=torch.bool)
    if lower >= 0:
        keep &= (m - n) <= lower
    if upper >= 0:
        keep &= (n - m) <= upper
    return torch.where(keep, x, torch.zeros((), dtype=x.dtype))


@kernel("cumsum")
def cumsum(x, axis=0, exclusive=False, reverse=False):
    axis = axis_index(axis, x.ndim)
    out = torch.flip(x, (axis,)) if reverse else x
    out = torch.cumsum(out, dim=axis)
    if exclusive:
        out = out - (torch.flip(x, (axis,)) if reverse else x)
    return torch.flip(out, (axis,)) if reverse else out


def _sort_indices(x: torch.Tensor, axis: int, ascending: bool) -> torch.Tensor:
    # Stable, so ties keep input order (the MIL docs leave tie order open).
    return torch.sort(x, dim=axis, descending=not ascending, stable=True).indices


@kernel("argsort")
def argsort(x, axis=-1, ascending=False):
    return _sort_indices(x, axis_index(axis, x.ndim), ascending)


@kernel("topk")
def topk(x, k=1, axis=-1, ascending=False, sort=True, return_indices=True, output_indices_dtype="int32"):
    axis = axis_index(axis, x.ndim)
    if k == -1:
        k = x.shape[axis]
    indices = _sort_indices(x, axis, ascending).narrow(axis, 0, k)
    values = torch.gather(x, axis, indices)
    return (values, indices) if return_indices else values


@kernel("one_hot")
def one_hot(indices, one_hot_vector_size, axis=-1, on_value=1, off_value=0):
    depth = int(scalar(one_hot_vector_size))
    on, off = _fill_value(on_value), _fill_value(off_value)
    index = indices.to(torch.int64)
    # Out-of-range indices (negative or >= depth) give an all-off vector, as in TensorFlow.
    hot = torch.nn.functional.one_hot(index.clamp(0, depth - 1), depth).to(torch.bool)
    hot &= ((index >= 0) & (index < depth)).unsqueeze(-1)
    out = torch.where(hot, on, off)
    axis = axis if axis >= 0 else axis + indices.ndim + 1
    return out.movedim(-1, axis)


@kernel("non_zero")
def non_zero(x):
    return torch.nonzero(x).to(torch.int32)


@kernel("non_maximum_suppression")
def non_maximum_suppression(
    boxes, scores, iou_threshold, score_threshold, max_boxes, per_class_suppression=False
):
    """Boxes are (x_center, y_center, width, height); output padded to max_boxes per batch."""
    batch, count, classes = scores.shape
    out_boxes = torch.zeros((batch, max_boxes, 4), dtype=boxes.dtype)
    out_scores = torch.zeros((batch, max_boxes, classes), dtype=scores.dtype)
    out_indices = torch.full((batch, max_boxes), -1, dtype=torch.int32)
    out_counts = torch.zeros((batch,), dtype=torch.int32)
    for b in range(batch):
        best_score, best_class = scores[b].max(dim=-1)
        order = torch.argsort(best_score, descending=True, stable=True)
        selected: list[int] = []
        for i in order.tolist():
            if best_score[i] < score_threshold or len(selected) >= max_boxes:
                continue
            if all(
                (per_class_suppression and best_class[i] != best_class[j])
                or _iou(boxes[b, i], boxes[b, j]) <= iou_threshold
                for j in selected
            ):
                selected.append(i)
        for slot, i in enumerate(selected):
            out_boxes[b, slot] = boxes[b, i]
            out_scores[b, slot] = scores[b, i]
            out_indices[b, slot] = i
        out_counts[b] = len(selected)
    return out_boxes, out_scores, out_indices, out_counts


def _iou(a: torch.Tensor, b: torch.Tensor) -> float:
    ax0, ay0, ax1, ay1 = a[0] - a[2] / 2, a[1] - a[3] / 2, a[0] + a[2] / 2, a[1] + a[3] / 2
    bx0, by0, bx1, by1 = b[0] - b[2] / 2, b[1] - b[3] / 2, b[0] + b[2] / 2, b[1] + b[3] / 2
    inter = max(0.0, float(min(ax1, bx1) - max(ax0, bx0))) * max(0.0, float(min(ay1, by1) - max(ay0, by0)))
    union = float(a[2] * a[3] + b[2] * b[3]) - inter
    return inter / union if union > 0 else 0.0
