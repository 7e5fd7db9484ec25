"""Shared by the resampling lowerings: a separable linear resampling as `Wh @ x @ Ww^T`.

torch's bicubic and antialiased (bilinear/bicubic) interpolation are separable and linear: for
static sizes each is exactly an (H_out x H_in) matrix applied along the height and a
(W_out x W_in) matrix along the width. The matrices are not re-derived here: they are computed by
the very aten op being converted, applied to identity bases along one axis at conversion time, so
align_corners, scale factors, border clamping, cubic coefficients and antialiasing supports are
torch's own. (A private helper module, not a composite op: `_MODULES` does not list it.)
"""

from __future__ import annotations

from typing import Any


def parse_resize(context: Any, node: Any) -> tuple[Any, list[int], bool, list[float | None]]:
    """(x, output_size, align_corners, [scale_h, scale_w]) of an upsample node, either overload:
    `.vec(input, output_size?, align_corners, scale_factors?)` or
    `(input, output_size, align_corners, scales_h?, scales_w?)`."""
    from coremltools.converters.mil.frontend.torch.ops import _get_inputs
    from coremltools.converters.mil.mil.types.symbolic import any_symbolic

    inputs = _get_inputs(context, node, min_expected=3)
    x = inputs[0]
    if x.rank != 4 or any_symbolic(x.shape[-2:]):
        raise ValueError(f"{node.kind} needs a 4-D input with a fixed height and width "
                         f"(got shape {x.shape}); declare fixed image sizes to convert it")
    output_size = _ints(inputs[1], "output_size")
    align_corners = bool(inputs[2].val) if inputs[2] is not None and inputs[2].val is not None \
        else False
    if len(inputs) == 4:
        scales = _floats(inputs[3]) or [None, None]
    else:
        scales = [_float(v) for v in inputs[3:5]] + [None] * (5 - len(inputs))
    if output_size is None:
        if None in scales:
            raise ValueError(f"{node.kind} needs an output size or two scale factors")
        height, width = int(x.shape[-2]), int(x.shape[-1])
        output_size = [int(height * scales[0]), int(width * scales[1])]  # torch rounds down
    return x, output_size, align_corners, scales


def resample(x: Any, output_size: list[int], align_corners: bool, scales: list[float | None],
             aten_op: Any, name: str) -> Any:
    """`aten_op(x, ...)` as two matmuls with the op's own weights."""
    import numpy as np
    from coremltools.converters.mil import Builder as mb
    from coremltools.converters.mil.mil.types import nptype_from_builtin

    dtype = nptype_from_builtin(x.dtype)
    height, width = int(x.shape[-2]), int(x.shape[-1])
    rows = resampling_matrix(aten_op, height, output_size[0], align_corners, scales[0], axis=0)
    cols = resampling_matrix(aten_op, width, output_size[1], align_corners, scales[1], axis=1)
    resized_rows = mb.matmul(x=rows.astype(dtype), y=x, name=f"{name}_rows")
    return mb.matmul(x=resized_rows, y=np.ascontiguousarray(cols.T).astype(dtype), name=name)


def resampling_matrix(aten_op: Any, size: int, out_size: int, align_corners: bool,
                      scale: float | None, axis: int) -> Any:
    """The (out_size x size) matrix `aten_op` applies along one axis (0: height, 1: width).

    Column j is the op's response to the j-th unit vector along that axis. The other axis is 2
    pixels wide and stays 2 pixels wide, which the op maps to itself (checked: both copies must
    come out equal). Not 1 pixel: torch's antialiased kernels mishandle a 1 -> 1 axis.
    """
    import torch

    basis = torch.eye(size, dtype=torch.float64)
    if axis == 0:  # images (size, 1, size, 2): unit vectors along the height
        images = basis.reshape(size, 1, size, 1).expand(size, 1, size, 2).contiguous()
        out_shape, scales = [out_size, 2], (scale, None)
    else:  # images (size, 1, 2, size): unit vectors along the width
        images = basis.reshape(size, 1, 1, size).expand(size, 1, 2, size).contiguous()
        out_shape, scales = [2, out_size], (None, scale)
    responses = aten_op(images, out_shape, align_corners, *scales)
    first, second = (responses[:, 0, :, 0], responses[:, 0, :, 1]) if axis == 0 else \
        (responses[:, 0, 0, :], responses[:, 0, 1, :])
    if not torch.equal(first, second):
        raise ValueError(f"{aten_op} is not separable here; cannot lower it to matmuls")
    return first.T.numpy()


def _ints(var: Any, what: str) -> list[int] | None:
    if var is None:
        return None
    if var.val is None:
        raise ValueError(f"interpolation with a non-constant {what} cannot be converted; "
                         "declare fixed image sizes")
    return [int(v) for v in list(var.val)]


def _floats(var: Any) -> list[float | None] | None:
    if var is None:
        return None
    if var.val is None:
        raise ValueError("interpolation with non-constant scale factors cannot be converted")
    return [float(v) for v in list(var.val)]


def _float(var: Any) -> float | None:
    return None if var is None or var.val is None else float(var.val)
