"""Resizing and resampling ops (coremltools defs: image_resizing.py).

Interpolation is separable and index-based, so every MIL sampling mode is one small grid
formula (`_grid`), taken verbatim from the resize_bilinear docstring:

    STRICT_ALIGN_CORNERS  i * (Xin - 1) / (Xout - 1)
    ALIGN_CORNERS         same, but (Xin - 1) / 2 when Xout == 1
    DEFAULT               i * Xin / Xout               (TF legacy, align_corners=False)
    OFFSET_CORNERS        0.5 * d + i * d, d = max(1, Xin - 1) / Xout
    UNALIGN_CORNERS       (i + 0.5) * Xin / Xout - 0.5  (half-pixel centers, PyTorch's
                                                       align_corners=False)

all clamped to [0, Xin - 1]. upsample_bilinear maps align_corners=True to STRICT_ALIGN_CORNERS and
align_corners=False to UNALIGN_CORNERS (DEFAULT when iOS16's half_pixel_centers is False).
Nearest neighbour: upsample_nearest_neighbor reads floor(i / scale) like PyTorch's "nearest";
resize_nearest_neighbor (and `resize` NEAREST_NEIGHBOR with DEFAULT/UNALIGN_CORNERS) reads
floor((i + 0.5) * Xin / Xout), TensorFlow's half-pixel rule that coremltools maps onto them.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from torchready.convert.milrt.kernels._util import ints
from torchready.convert.milrt.registry import kernel_family

kernel = kernel_family("image resampling")


def _grid(in_size: int, out_size: int, mode: str) -> torch.Tensor:
    i = torch.arange(out_size, dtype=torch.float64)
    if mode in ("STRICT_ALIGN_CORNERS", "ALIGN_CORNERS"):
        if out_size == 1:
            grid = torch.full(
                (1,), (in_size - 1) / 2.0 if mode == "ALIGN_CORNERS" else 0.0, dtype=torch.float64
            )
        else:
            grid = i * ((in_size - 1) / (out_size - 1))
    elif mode == "DEFAULT":
        grid = i * (in_size / out_size)
    elif mode == "OFFSET_CORNERS":
        delta = max(1, in_size - 1) / out_size
        grid = 0.5 * delta + i * delta
    elif mode == "UNALIGN_CORNERS":
        spacing = in_size / out_size
        grid = i * spacing + 0.5 * spacing - 0.5
    else:
        raise ValueError(f"unknown sampling mode {mode!r}")
    return grid.clamp(0.0, in_size - 1)


def _linear_along(x: torch.Tensor, dim: int, coords: torch.Tensor) -> torch.Tensor:
    size = x.shape[dim]
    low = torch.floor(coords).to(torch.int64).clamp(0, size - 1)
    high = (low + 1).clamp(max=size - 1)
    weight = (coords - low.to(coords.dtype)).to(x.dtype)
    view = [1] * x.ndim
    view[dim] = -1
    weight = weight.reshape(view)
    a, b = x.index_select(dim, low), x.index_select(dim, high)
    return a * (1 - weight) + b * weight


def _nearest_along(x: torch.Tensor, dim: int, index: torch.Tensor) -> torch.Tensor:
    return x.index_select(dim, index.clamp(0, x.shape[dim] - 1))


def _half_pixel_nearest(in_size: int, out_size: int) -> torch.Tensor:
    i = torch.arange(out_size, dtype=torch.float64)
    return torch.floor((i + 0.5) * (in_size / out_size)).to(torch.int64)


def _scaled_size(size: int, scale) -> int:
    return int(np.floor(np.float32(scale) * size))


@kernel("upsample_nearest_neighbor")
def upsample_nearest_neighbor(x, scale_factor_height=1, scale_factor_width=1):
    out = x
    for dim, scale in ((x.ndim - 2, scale_factor_height), (x.ndim - 1, scale_factor_width)):
        in_size = x.shape[dim]
        out_size = _scaled_size(in_size, scale)
        # PyTorch's nearest: floor(i * (1 / scale)) computed in float32.
        inverse = np.float32(1.0 / float(scale))
        index = torch.from_numpy(np.floor(np.arange(out_size, dtype=np.float32) * inverse).astype(np.int64))
        out = _nearest_along(out, dim, index)
    return out


@kernel("upsample_bilinear")
def upsample_bilinear(
    x, scale_factor_height=1, scale_factor_width=1, align_corners=True, half_pixel_centers=None
):
    if half_pixel_centers is None:
        half_pixel_centers = not align_corners
    mode = (
        "STRICT_ALIGN_CORNERS" if align_corners else ("UNALIGN_CORNERS" if half_pixel_centers else "DEFAULT")
    )
    out = x
    for dim, scale in ((x.ndim - 2, scale_factor_height), (x.ndim - 1, scale_factor_width)):
        in_size = x.shape[dim]
        out = _linear_along(out, dim, _grid(in_size, _scaled_size(in_size, scale), mode))
    return out


@kernel("resize_nearest_neighbor")
def resize_nearest_neighbor(x, target_size_height, target_size_width):
    out = x
    for dim, size in ((x.ndim - 2, target_size_height), (x.ndim - 1, target_size_width)):
        out = _nearest_along(out, dim, _half_pixel_nearest(x.shape[dim], int(size)))
    return out


@kernel("resize_bilinear")
def resize_bilinear(x, target_size_height=1, target_size_width=1, sampling_mode="DEFAULT"):
    out = x
    for dim, size in ((x.ndim - 2, target_size_height), (x.ndim - 1, target_size_width)):
        out = _linear_along(out, dim, _grid(x.shape[dim], int(size), sampling_mode))
    return out


@kernel("resize")
def resize(x, shape, resized_dims, interpolation_mode="LINEAR", sampling_mode="DEFAULT"):
    target = ints(shape)
    count = int(resized_dims)
    out = x.to(torch.float32) if not x.dtype.is_floating_point else x
    for i in range(count):
        dim = x.ndim - count + i
        size = target[len(target) - count + i]
        if size == 0:
            continue
        in_size = x.shape[dim]
        if interpolation_mode == "LINEAR":
            out = _linear_along(out, dim, _grid(in_size, size, sampling_mode))
        elif sampling_mode in ("DEFAULT", "UNALIGN_CORNERS"):
            out = _nearest_along(out, dim, _half_pixel_nearest(in_size, size))
        else:
            out = _nearest_along(
                out, dim, torch.floor(_grid(in_size, size, sampling_mode) + 0.5).to(torch.int64)
            )
    return out


@kernel("crop")
def crop(x, crop_height, crop_width):
    top, bottom = crop_height
    left, right = crop_width
    h, w = x.shape[-2], x.shape[-1]
    return x[..., top : h - bottom, left : w - right]


def _box_corners(boxes: torch.Tensor, mode: str) -> torch.Tensor:
    """(N, 4) boxes -> (N, 4) as [h_start, w_start, h_end, w_end]."""
    a, b, c, d = boxes.unbind(-1)
    if mode == "CORNERS_HEIGHT_FIRST":
        return torch.stack([a, b, c, d], -1)
    if mode == "CORNERS_WIDTH_FIRST":
        return torch.stack([b, a, d, c], -1)
    if mode == "CENTER_SIZE_HEIGHT_FIRST":
        return torch.stack([a - c / 2, b - d / 2, a + c / 2, b + d / 2], -1)
    if mode == "CENTER_SIZE_WIDTH_FIRST":
        return torch.stack([b - d / 2, a - c / 2, b + d / 2, a + c / 2], -1)
    raise ValueError(f"unknown box_coordinate_mode {mode!r}")


def _box_grid(start: float, end: float, out_size: int, mode: str) -> torch.Tensor:
    """Sample positions inside [start, end] (pixel units), using the resize sampling modes
    with the box's extent playing Xin - 1."""
    length = end - start
    i = torch.arange(out_size, dtype=torch.float64)
    if mode in ("STRICT_ALIGN_CORNERS", "ALIGN_CORNERS"):
        if out_size == 1:
            return torch.full(
                (1,), start + length / 2 if mode == "ALIGN_CORNERS" else start, dtype=torch.float64
            )
        return start + i * (length / (out_size - 1))
    extent = length + 1
    if mode == "DEFAULT":
        return start + i * (extent / out_size)
    if mode == "OFFSET_CORNERS":
        delta = max(1.0, length) / out_size
        return start + 0.5 * delta + i * delta
    if mode == "UNALIGN_CORNERS":
        spacing = extent / out_size
        return start + i * spacing + 0.5 * spacing - 0.5
    raise ValueError(f"unknown sampling mode {mode!r}")


def _sample_2d(image: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor, pad_value: float) -> torch.Tensor:
    """Bilinear samples of image (C, H, W) at the grid ys x xs; outside the image -> pad_value."""
    h, w = image.shape[-2], image.shape[-1]
    rows = _linear_along(image, 1, ys.clamp(0, h - 1))
    out = _linear_along(rows, 2, xs.clamp(0, w - 1))
    outside = ((ys < 0) | (ys > h - 1)).reshape(-1, 1) | ((xs < 0) | (xs > w - 1)).reshape(1, -1)
    return torch.where(outside, torch.tensor(pad_value, dtype=out.dtype), out)


@kernel("crop_resize")
def crop_resize(
    x,
    roi=None,
    boxes=None,
    box_indices=None,
    target_height=1,
    target_width=1,
    normalized_coordinates=False,
    spatial_scale=1.0,
    box_coordinate_mode="CORNERS_HEIGHT_FIRST",
    sampling_mode="DEFAULT",
    pad_value=0.0,
):
    batch, _, h, w = x.shape
    legacy = roi is not None  # iOS15/16: roi (N, 1, 4|5, 1, 1), output (N, B|1, C, th, tw)
    if legacy:
        flat = roi.reshape(roi.shape[0], -1).to(torch.float64)
        if flat.shape[1] == 5:
            indices, coords = flat[:, 0].to(torch.int64), flat[:, 1:]
        else:
            indices, coords = None, flat
    else:
        coords = boxes.to(torch.float64)
        indices = box_indices.to(torch.int64) if box_indices is not None else torch.arange(coords.shape[0])
    corners = _box_corners(coords * float(spatial_scale), box_coordinate_mode)
    if normalized_coordinates:
        corners = corners * torch.tensor([h - 1, w - 1, h - 1, w - 1], dtype=torch.float64)
    crops = []
    for n in range(corners.shape[0]):
        h0, w0, h1, w1 = corners[n].tolist()
        ys = _box_grid(h0, h1, int(target_height), sampling_mode)
        xs = _box_grid(w0, w1, int(target_width), sampling_mode)
        images = range(batch) if indices is None else [int(indices[n])]
        crops.append(torch.stack([_sample_2d(x[b], ys, xs, float(pad_value)) for b in images]))
    out = torch.stack(crops)  # (N, B|1, C, th, tw)
    return out if legacy else out[:, 0]


def _to_pixels(coords: torch.Tensor, size: int, mode: str, align_corners: bool) -> torch.Tensor:
    if mode == "unnormalized":
        return coords
    if mode == "normalized_minus_one_to_one":
        return (coords + 1) / 2 * (size - 1) if align_corners else ((coords + 1) * size - 1) / 2
    if mode == "normalized_zero_to_one":
        return coords * (size - 1) if align_corners else coords * size - 0.5
    raise ValueError(f"unknown coordinates_mode {mode!r}")


def _fold(pixels: torch.Tensor, size: int, padding_mode: str) -> torch.Tensor:
    if padding_mode == "border":
        return pixels.clamp(0, size - 1)
    if padding_mode == "reflection":  # |1,2,3| -> 2,3,2,1,2,3,2,1 (edges not repeated)
        period = 2 * (size - 1)
        if period == 0:
            return torch.zeros_like(pixels)
        folded = torch.remainder(pixels, period)
        return torch.where(folded > size - 1, period - folded, folded)
    if padding_mode == "symmetric":  # |1,2,3| -> 3,2,1,1,2,3,3,2,1 (edges repeated)
        period = 2 * size
        folded = torch.remainder(pixels + 0.5, period)
        folded = torch.where(folded > size, period - folded, folded) - 0.5
        return folded.clamp(0, size - 1)
    return pixels  # constant: handled by zero padding in grid_sample


@kernel("resample")
def resample(x, coordinates, sampling_mode, padding_mode, padding_value, coordinates_mode, align_corners):
    h, w = x.shape[-2], x.shape[-1]
    coords = coordinates.to(torch.float64)
    px = _fold(_to_pixels(coords[..., 0], w, coordinates_mode, align_corners), w, padding_mode)
    py = _fold(_to_pixels(coords[..., 1], h, coordinates_mode, align_corners), h, padding_mode)
    # grid_sample with align_corners=True maps -1/1 to the centres of the edge pixels.
    grid = torch.stack([2 * px / max(w - 1, 1) - 1, 2 * py / max(h - 1, 1) - 1], dim=-1).to(x.dtype)
    mode = "nearest" if sampling_mode == "nearest" else "bilinear"
    if padding_mode == "constant":
        value = float(padding_value)
        return F.grid_sample(x - value, grid, mode=mode, padding_mode="zeros", align_corners=True) + value
    return F.grid_sample(x, grid, mode=mode, padding_mode="border", align_corners=True)


@kernel("affine")
def affine(
    x,
    transform_matrix,
    output_height,
    output_width,
    sampling_mode,
    padding_mode,
    padding_value,
    coordinates_mode,
    align_corners,
):
    batch, channels = x.shape[0], x.shape[1]
    theta = transform_matrix.reshape(-1, 2, 3).to(x.dtype).expand(batch, 2, 3)
    grid = F.affine_grid(
        theta, [batch, channels, int(output_height), int(output_width)], align_corners=align_corners
    )
    value = float(padding_value)
    return (
        F.grid_sample(x - value, grid, mode="bilinear", padding_mode="zeros", align_corners=align_corners)
        + value
    )
