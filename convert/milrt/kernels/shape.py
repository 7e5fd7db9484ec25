"""Shape and layout ops: reshape, transpose, squeeze, slicing, concat/split, pad, tile, ...
(coremltools defs: tensor_transformation.py, tensor_operation.py).

Slicing follows numpy semantics, as `solve_slice_by_index_slice` in coremltools does: negative
indices count from the end, out-of-range bounds are clamped, masks replace begin/end, and a
squeeze mask picks the single element at `begin`. `pad` lists its (before, after) pairs for the
last N dimensions in natural order (torch's F.pad lists them last dimension first).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from torchready.convert.milrt.kernels._util import axis_index, ints, scalar
from torchready.convert.milrt.registry import kernel_family

kernel = kernel_family("shape")


@kernel("reshape")
def reshape(x, shape):
    target = list(ints(shape))
    if 0 in target and len(target) == x.ndim:
        target = [x.shape[i] if d == 0 else d for i, d in enumerate(target)]
    return x.reshape(target)


@kernel("reshape_like")
def reshape_like(x, ref_tensors, begins, ends, end_masks):
    shape: list[int] = []
    for ref, begin, end, end_mask in zip(ref_tensors, begins, ends, end_masks):
        dims = list(ref.shape)
        begin, end = int(scalar(begin)), int(scalar(end))
        shape.extend(dims[begin:] if bool(scalar(end_mask)) else dims[begin:end])
    return x.reshape(shape)


@kernel("expand_dims")
def expand_dims(x, axes):
    out_rank = x.ndim + len(axes)
    shape = list(x.shape)
    for axis in sorted(a + out_rank if a < 0 else a for a in axes):
        shape.insert(axis, 1)
    return x.reshape(shape)


@kernel("squeeze")
def squeeze(x, axes=None):
    if axes is None:
        return x.reshape([d for d in x.shape if d != 1])
    drop = {axis_index(a, x.ndim) for a in axes}
    # PyTorch semantics (per the MIL docstring): non-1 dimensions named in axes are kept.
    return x.reshape([d for i, d in enumerate(x.shape) if not (i in drop and d == 1)])


@kernel("transpose")
def transpose(x, perm):
    if x.ndim == 0:
        return x
    return x.permute([axis_index(p, x.ndim) for p in perm])


@kernel("flatten2d")
def flatten2d(x, axis=1):
    axis = axis_index(axis, x.ndim)
    return x.reshape(math.prod(x.shape[:axis]), math.prod(x.shape[axis:]))


@kernel("shape")
def shape(x):
    return torch.tensor(list(x.shape), dtype=torch.int32)


@kernel("identity")
def identity(x):
    return x


@kernel("reverse")
def reverse(x, axes=None):
    dims = list(range(x.ndim)) if axes is None else [axis_index(a, x.ndim) for a in axes]
    return torch.flip(x, dims) if dims else x


@kernel("reverse_sequence")
def reverse_sequence(x, lengths, seq_axis=0, batch_axis=0):
    seq_axis, batch_axis = axis_index(seq_axis, x.ndim), axis_index(batch_axis, x.ndim)
    seq_len = x.shape[seq_axis]
    positions = torch.arange(seq_len)
    lengths = lengths.to(torch.int64).reshape(-1, 1)
    # For batch b, position p < len[b] reads len[b] - 1 - p; the rest stay in place.
    source = torch.where(positions < lengths, lengths - 1 - positions, positions)  # (B, S)
    index_shape = [1] * x.ndim
    index_shape[batch_axis] = source.shape[0]
    index_shape[seq_axis] = seq_len
    if batch_axis > seq_axis:
        source = source.t()
    index = source.reshape(index_shape).expand(x.shape)
    return torch.gather(x, seq_axis, index)


@kernel("tile")
def tile(x, reps):
    return x.repeat(ints(reps))


@kernel("concat")
def concat(values, axis, interleave=False):
    if values[0].ndim == 0:
        return torch.stack(values)
    axis = axis_index(axis, values[0].ndim)
    if interleave:
        stacked = torch.stack(values, dim=axis + 1)
        shape = list(values[0].shape)
        shape[axis] *= len(values)
        return stacked.reshape(shape)
    return torch.cat(values, dim=axis)


@kernel("stack")
def stack(values, axis):
    return torch.stack(values, dim=axis_index(axis, values[0].ndim + 1))


@kernel("split")
def split(x, axis, num_splits=None, split_sizes=None):
    axis = axis_index(axis, x.ndim)
    if split_sizes is not None:
        sizes = list(ints(split_sizes))
    else:
        if x.shape[axis] % num_splits:
            raise ValueError(f"dimension {x.shape[axis]} is not divisible into {num_splits} splits")
        sizes = [x.shape[axis] // num_splits] * num_splits
    return tuple(torch.split(x, sizes, dim=axis))


def _slices(shape, begin, end, stride, begin_mask, end_mask, squeeze_mask):
    """Per dimension: (start, stop, step) numpy-style, or an int index for squeezed dims."""
    rank = len(shape)
    begin = list(ints(begin))
    end = list(ints(end))
    stride = list(ints(stride)) if stride is not None else [1] * rank
    begin_mask = list(begin_mask) if begin_mask is not None else [False] * rank
    end_mask = list(end_mask) if end_mask is not None else [False] * rank
    squeeze_mask = list(squeeze_mask) if squeeze_mask is not None else [False] * rank
    result = []
    for dim in range(rank):
        size = shape[dim]
        if squeeze_mask[dim]:
            index = begin[dim] + size if begin[dim] < 0 else begin[dim]
            if not 0 <= index < size:
                raise IndexError(f"squeezed index {begin[dim]} out of range for dimension of size {size}")
            result.append(index)
            continue
        start = None if begin_mask[dim] else begin[dim]
        stop = None if end_mask[dim] else end[dim]
        result.append(slice(start, stop, stride[dim]).indices(size))
    return result


def _apply_slices(x: torch.Tensor, slices) -> torch.Tensor:
    out = x
    squeeze_dims = []
    for dim, item in enumerate(slices):
        if isinstance(item, int):
            out = out.narrow(dim, item, 1)
            squeeze_dims.append(dim)
            continue
        start, stop, step = item
        if step == 1:
            out = out.narrow(dim, start, max(0, stop - start))
        else:
            index = torch.arange(start, stop, step)
            out = out.index_select(dim, index)
    if squeeze_dims:
        out = out.reshape([d for i, d in enumerate(out.shape) if i not in squeeze_dims])
    return out


@kernel("slice_by_index")
def slice_by_index(x, begin, end, stride=None, begin_mask=None, end_mask=None, squeeze_mask=None):
    return _apply_slices(x, _slices(x.shape, begin, end, stride, begin_mask, end_mask, squeeze_mask))


@kernel("slice_by_size")
def slice_by_size(x, begin, size):
    out = x
    for dim, (start, length) in enumerate(zip(ints(begin), ints(size))):
        if start < 0:
            start += x.shape[dim]
        if length == -1:
            length = x.shape[dim] - start
        out = out.narrow(dim, start, length)
    return out


@kernel("slice_update")
def slice_update(x, update, begin, end, stride=None, begin_mask=None, end_mask=None, squeeze_mask=None):
    slices = _slices(x.shape, begin, end, stride, begin_mask, end_mask, squeeze_mask)
    index = []
    for dim, item in enumerate(slices):
        positions = torch.tensor([item]) if isinstance(item, int) else torch.arange(*item)
        view = [1] * x.ndim
        view[dim] = positions.numel()
        index.append(positions.reshape(view))
    out = x.clone()
    target_shape = [i.numel() for i in index]
    out[tuple(index)] = update.reshape(target_shape).to(out.dtype)
    return out


@kernel("pad")
def pad(x, pad, mode="constant", constant_val=0.0):
    amounts = ints(pad)
    pairs = [(amounts[2 * i], amounts[2 * i + 1]) for i in range(len(amounts) // 2)]
    first_dim = x.ndim - len(pairs)
    if mode == "constant":
        torch_pad = []
        for before, after in reversed(pairs):
            torch_pad += [before, after]
        return F.pad(x, torch_pad, mode="constant", value=float(constant_val))
    out = x
    for offset, (before, after) in enumerate(pairs):
        if before == 0 and after == 0:
            continue
        dim = first_dim + offset
        size = x.shape[dim]
        positions = torch.arange(-before, size + after)
        if mode == "reflect":
            if before >= size or after >= size:
                raise ValueError(
                    f"reflect padding of {max(before, after)} needs a dimension larger than {size}"
                )
            period = 2 * (size - 1)
            positions = positions.remainder(period) if period else torch.zeros_like(positions)
            positions = torch.where(positions >= size, period - positions, positions)
        elif mode == "replicate":
            positions = positions.clamp(0, size - 1)
        else:
            raise ValueError(f"unknown pad mode {mode!r}")
        out = out.index_select(dim, positions)
    return out


@kernel("sliding_windows")
def sliding_windows(x, axis, size, stride=1):
    axis = axis_index(axis, x.ndim)
    return x.unfold(axis, size, stride).movedim(-1, axis + 1)


kernel = kernel_family("layout")


@kernel("depth_to_space")
def depth_to_space(x, block_size):
    # TensorFlow's DCR order: output[n, c, h*b + i, w*b + j] = x[n, (i*b + j)*C + c, h, w].
    n, c, h, w = x.shape
    b = block_size
    out = x.reshape(n, b, b, c // (b * b), h, w).permute(0, 3, 4, 1, 5, 2)
    return out.reshape(n, c // (b * b), h * b, w * b)


@kernel("space_to_depth")
def space_to_depth(x, block_size):
    n, c, h, w = x.shape
    b = block_size
    out = x.reshape(n, c, h // b, b, w // b, b).permute(0, 3, 5, 1, 2, 4)
    return out.reshape(n, c * b * b, h // b, w // b)


@kernel("pixel_shuffle")
def pixel_shuffle(x, upscale_factor):
    return F.pixel_shuffle(x, upscale_factor)


@kernel("pixel_unshuffle")
def pixel_unshuffle(x, downscale_factor):
    return F.pixel_unshuffle(x, downscale_factor)


@kernel("space_to_batch")
def space_to_batch(x, block_shape, paddings):
    (bh, bw), ((pt, pb), (pl, pr)) = block_shape, paddings
    x = F.pad(x, [pl, pr, pt, pb])
    n, c, h, w = x.shape
    out = x.reshape(n, c, h // bh, bh, w // bw, bw).permute(3, 5, 0, 1, 2, 4)
    return out.reshape(bh * bw * n, c, h // bh, w // bw)


@kernel("batch_to_space")
def batch_to_space(x, block_shape, crops):
    (bh, bw), ((ct, cb), (cl, cr)) = block_shape, crops
    nb, c, h, w = x.shape
    n = nb // (bh * bw)
    out = x.reshape(bh, bw, n, c, h, w).permute(2, 3, 4, 0, 5, 1).reshape(n, c, h * bh, w * bw)
    return out[:, :, ct : h * bh - cb, cl : w * bw - cr]
