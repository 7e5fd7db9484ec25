"""Interpolation to a size known only at prediction time: the runtime-size half of the resize fixes.

Root cause (coremltools 9.0, frontend/torch/ops.py `upsample_bilinear2d` / `upsample_nearest2d`
and the graph pass ssa_passes/torch_upsample_to_core_upsample.py): with a runtime output size the
converters emit the torch-dialect `torch_upsample_bilinear` / `torch_upsample_nearest_neighbor`,
and the pass can only map them to core ops when the size is the input's own size times a
constant (`x.shape[-1] * 2`). `F.interpolate(x, size=skip.shape[-2:])` in a model with a
flexible input (feature pyramids, U-Net and segmentation decoders, mask upscaling) stops the
conversion on both frontends: an AssertionError in that pass, "Unable to map
torch_upsample_bilinear to core upsample", or on torch.export "output_height ... expects int32
but got fp32".

Fix: the resize is built from ops that take runtime sizes, with torch's index arithmetic
(aten/src/ATen/native/UpSample.h) along each of the last two axes:

* linear, align_corners=False: src = max(0, (i + 0.5) * (n / m) - 0.5)
* linear, align_corners=True:  src = i * (n - 1) / (m - 1)   (0 when m == 1)
* nearest:                     src = floor(i * (n / m))          (`nearest_idx`)
* nearest-exact:               src = floor((i + 0.5) * (n / m))

with n the input size and m the output size along the axis, `n / m` a float32 division and every
product a float32 product, as in torch's CPU kernels; indices are clamped to n - 1. Linear:
i0 = floor(src), i1 = min(i0 + 1, n - 1), out = x[i0] + (x[i1] - x[i0]) * (src - i0). These are
gathers along the axis, so they work for every deployment target; iOS 17's `resize` takes the
size as a tensor and does the linear case in one op (sampling mode UNALIGN_CORNERS is torch's
align_corners=False, STRICT_ALIGN_CORNERS its align_corners=True). Nearest stays on gathers: MIL
`resize` NEAREST_NEIGHBOR samples pixel centres.

The index arithmetic must stay float32 in an fp16 program: in fp16, `src` near 1000 has a
spacing of 0.5 and a nearest index or an interpolation weight would be wrong. Its ops carry
`FP32_MARK` in their names, and `keep_fp32` (part of the op selector the conversion hands to
coremltools' fp16 pass) leaves them in float32; the interpolated values follow the model's
precision.

One case is not exact by construction: an axis whose output size is a constant while its input
size is flexible divides by a constant, which coremltools' `divide_to_multiply` pass turns into a
multiplication by 1/m; that can move a nearest index by one where i * n / m lies within a float32
rounding of an integer (none for n = 2..63, m = 20). Sizes read from another tensor's shape, the
case this fixes, divide by a runtime value and are exact.

The op modules `upsample_bilinear` and `upsample_nearest` call `lower_at_runtime_size` first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

FP32_MARK = "torchready_fp32_index"


def keep_fp32(op: Any) -> bool:
    """coremltools' `FP16ComputePrecision(op_selector=...)`: False for the index arithmetic."""
    return FP32_MARK not in op.name


@dataclass(frozen=True)
class RuntimeResize:
    x: Any  # the MIL input, rank >= 3
    size: list[Any]  # [height, width] as int32 scalar Vars (const or not)
    align_corners: bool


def runtime_resize(context: Any, node: Any, linear: bool) -> RuntimeResize | None:
    """The resize a torch upsample node asks for, when its output size is a runtime value; None
    when the size is a constant or the node passes scale factors (coremltools handles those).

    Both overloads and both frontends: `(x, output_size, [align_corners,] scale_factors?)` or
    `(x, output_size, [align_corners,] scales_h?, scales_w?)`, `output_size` a list of scalar
    Vars or one 1-D Var."""
    from coremltools.converters.mil.frontend.torch.ops import _get_inputs

    inputs = _get_inputs(context, node, min_expected=3 if linear else 2)
    x, output_size = inputs[0], inputs[1]
    rest = inputs[3:] if linear else inputs[2:]
    align_corners = linear and inputs[2] is not None and bool(inputs[2].val)
    if output_size is None or any(value is not None for value in rest) or x.rank < 3:
        return None
    values = output_size if isinstance(output_size, (list, tuple)) else [output_size]
    if all(value.val is not None for value in values):
        return None  # a constant size
    size = _size_list(output_size)
    return RuntimeResize(x, size, align_corners) if size is not None else None


def _size_list(output_size: Any) -> list[Any] | None:
    from coremltools.converters.mil import Builder as mb

    if isinstance(output_size, (list, tuple)):
        values = list(output_size)
    elif output_size.rank == 1 and output_size.shape[0] == 2:
        values = [mb.gather(x=output_size, indices=i, axis=0) for i in (0, 1)]
    else:
        return None
    if len(values) != 2:
        return None
    return [value if _dtype(value) == "int32" else mb.cast(x=value, dtype="int32")
            for value in values]


def _dtype(value: Any) -> str:
    from coremltools.converters.mil.mil import types

    return types.builtin_to_string(value.dtype)


def input_sizes(x: Any) -> list[Any]:
    """The sizes of the last two axes of `x`, int32 scalars (consts when static)."""
    import numpy as np
    from coremltools.converters.mil import Builder as mb
    from coremltools.converters.mil.mil.types.symbolic import is_symbolic

    sizes = []
    shape = None
    for axis in (x.rank - 2, x.rank - 1):
        static = x.shape[axis]
        if not is_symbolic(static):
            sizes.append(mb.const(val=np.int32(static)))
            continue
        shape = shape if shape is not None else mb.shape(x=x)
        sizes.append(mb.gather(x=shape, indices=axis, axis=0))
    return sizes


class _Names:
    """Unique, marked names for the index arithmetic of one node."""

    def __init__(self, node_name: str) -> None:
        self.prefix = f"{node_name}_{FP32_MARK}"
        self.count = 0

    def __call__(self, what: str) -> str:
        self.count += 1
        return f"{self.prefix}_{what}_{self.count}"


def _float(value: Any, name: str) -> Any:
    from coremltools.converters.mil import Builder as mb

    return mb.cast(x=value, dtype="fp32", name=name)


def _positions(n: int | Any, m: Any, names: _Names) -> tuple[Any, Any]:
    """(i as float32, n / m as float32) for the m output positions."""
    from coremltools.converters.mil import Builder as mb

    index = mb.range_1d(start=0, end=m, step=1, name=names("range"))
    ratio = mb.real_div(x=_float(n, names("n")), y=_float(m, names("m")), name=names("ratio"))
    return _float(index, names("i")), ratio


def _along(x: Any, axis: int, index: Any, names: _Names) -> Any:
    from coremltools.converters.mil import Builder as mb

    return mb.gather(x=x, indices=index, axis=axis, name=names("gather"))


def _clamped_index(value: Any, n: Any, names: _Names) -> Any:
    from coremltools.converters.mil import Builder as mb

    last = mb.sub(x=n, y=1, name=names("last"))
    return mb.minimum(x=mb.cast(x=value, dtype="int32", name=names("int")), y=last,
                      name=names("clamp"))


def nearest_along(x: Any, axis: int, n: Any, m: Any, exact: bool, names: _Names) -> Any:
    """torch's "nearest" along `axis`, x[min(floor(i * (n / m)), n - 1)], or "nearest-exact",
    x[min(floor((i + 0.5) * (n / m)), n - 1)]."""
    from coremltools.converters.mil import Builder as mb

    position, ratio = _positions(n, m, names)
    if exact:
        position = mb.add(x=position, y=0.5, name=names("centre"))
    source = mb.floor(x=mb.mul(x=position, y=ratio, name=names("src")), name=names("floor"))
    return _along(x, axis, _clamped_index(source, n, names), names)


def linear_along(x: Any, axis: int, n: Any, m: Any, align_corners: bool, names: _Names) -> Any:
    """torch's linear interpolation along `axis` (one pass of bilinear)."""
    from coremltools.converters.mil import Builder as mb

    if align_corners:
        index = mb.range_1d(start=0, end=m, step=1, name=names("range"))
        steps = mb.maximum(x=mb.sub(x=m, y=1, name=names("m1")), y=1, name=names("steps"))
        ratio = mb.real_div(x=_float(mb.sub(x=n, y=1, name=names("n1")), names("n")),
                            y=_float(steps, names("m")), name=names("ratio"))
        source = mb.mul(x=_float(index, names("i")), y=ratio, name=names("src"))
    else:
        position, ratio = _positions(n, m, names)
        centre = mb.add(x=position, y=0.5, name=names("centre"))
        shifted = mb.sub(x=mb.mul(x=centre, y=ratio, name=names("scaled")), y=0.5,
                         name=names("shifted"))
        source = mb.maximum(x=shifted, y=0.0, name=names("src"))
    floor = mb.floor(x=source, name=names("floor"))
    low = _clamped_index(floor, n, names)
    high = mb.minimum(x=mb.add(x=low, y=1, name=names("next")),
                      y=mb.sub(x=n, y=1, name=names("last")), name=names("high"))
    weight = mb.sub(x=source, y=floor, name=names("weight"))
    if axis != x.rank - 1:  # broadcast along the axes after `axis`
        weight = mb.expand_dims(x=weight, axes=list(range(1, x.rank - axis)),
                                name=names("weight_axes"))
    a = _along(x, axis, low, names)
    b = _along(x, axis, high, names)
    if _dtype(x) != "fp32":
        weight = mb.cast(x=weight, dtype=_dtype(x))
    return mb.add(x=a, y=mb.mul(x=mb.sub(x=b, y=a), y=weight))


def size_vector(size: list[Any]) -> Any:
    """[height, width] as one int32 vector (iOS 17 `resize` takes the size as a tensor)."""
    from coremltools.converters.mil import Builder as mb

    return mb.concat(values=[mb.expand_dims(x=value, axes=[0]) for value in size], axis=0)


def targets_ios17() -> bool:
    from coremltools.converters.mil._deployment_compatibility import AvailableTarget
    from coremltools.converters.mil.mil.block import is_current_opset_version_compatible_with

    return is_current_opset_version_compatible_with(AvailableTarget.iOS17)


def lower_at_runtime_size(context: Any, node: Any, mode: str) -> bool:
    """Lower `node` ("linear", "nearest" or "nearest-exact") when its output size is a runtime
    value, and return True; False, emitting nothing, for every other node."""
    import numpy as np
    from coremltools.converters.mil import Builder as mb

    resize = runtime_resize(context, node, linear=mode == "linear")
    if resize is None:
        return False
    if mode == "linear" and targets_ios17():
        sampling = "STRICT_ALIGN_CORNERS" if resize.align_corners else "UNALIGN_CORNERS"
        result = mb.resize(x=resize.x, shape=size_vector(resize.size), resized_dims=np.uint32(2),
                           interpolation_mode="LINEAR", sampling_mode=sampling, name=node.name)
    else:
        result = _by_gathers(resize, mode, node.name)
    context.add(result, node.name)
    return True


def _by_gathers(resize: RuntimeResize, mode: str, name: str) -> Any:
    """The resize as gathers along the height, then the width (any deployment target)."""
    from coremltools.converters.mil import Builder as mb

    names = _Names(name)
    x = resize.x
    for axis, n, m in zip((x.rank - 2, x.rank - 1), input_sizes(x), resize.size):
        x = (linear_along(x, axis, n, m, resize.align_corners, names) if mode == "linear"
             else nearest_along(x, axis, n, m, mode == "nearest-exact", names))
    return mb.identity(x=x, name=name)
