"""aten::upsample_bilinear2d with a scale factor that gives a fractional size, or to a size known
only at prediction time: a fix (override=True).

Root cause (coremltools 9.0, converters/mil/frontend/torch/ops.py, `upsample_bilinear2d`): with a
scale factor (recompute_scale_factor unset) and align_corners=False, the converter raises
"recompute_scale_factor = False, align_corners = False with float output size is not supported"
whenever input size x scale is not a whole number: `F.interpolate(x, scale_factor=0.75,
mode="bilinear")` on a 10-pixel axis (torch's output: floor(7.5) = 7 pixels, sampled at source
positions (i + 0.5) / 0.75 - 0.5) cannot be converted.

Fix: exactly those nodes are lowered like bicubic (`_separable`): two matmuls with the weight
matrices computed by torch's own `upsample_bilinear2d` at conversion time, with the output size
and the scale in double precision as torch has them. A runtime output size
(`F.interpolate(x, size=skip.shape[-2:])` with flexible inputs), which coremltools' graph pass
`torch_upsample_to_core_upsample` cannot map, is lowered by `_runtime_size` (iOS 17 `resize`, or
torch's index arithmetic as gathers). Every other node goes to the converter registered before
this one (the lowering returns False, so audit does not list it).
"""

from __future__ import annotations

from typing import Any

KIND = "upsample_bilinear2d"
ALIASES: tuple[str, ...] = ("upsample_bilinear2d.vec",)  # torch.export's name
OVERRIDE = True
SUMMARY = ("bilinear resize by a scale factor giving a fractional size, or to a runtime size "
           "(aten::upsample_bilinear2d): torch's own weights as two matmuls, or torch's index "
           "arithmetic at runtime; coremltools refuses both")


def lower(context: Any, node: Any) -> bool:
    import torch

    from torchready.convert.composite_ops import upstream_converter
    from torchready.convert.composite_ops._runtime_size import lower_at_runtime_size
    from torchready.convert.composite_ops._separable import is_static_resize, parse_resize, resample

    if lower_at_runtime_size(context, node, "linear"):
        return True
    if is_static_resize(context, node):
        x, output_size, align_corners, scales = parse_resize(context, node)
        sizes = (int(x.shape[-2]), int(x.shape[-1]))
        fractional = any(scale is not None and size * scale != int(size * scale)
                         for size, scale in zip(sizes, scales))
        if fractional and not align_corners:
            context.add(resample(x, output_size, align_corners, scales,
                                 torch.ops.aten.upsample_bilinear2d, node.name), node.name)
            return True
    upstream_converter(node)(context, node)
    return False


def example() -> Any:
    """A 0.75x bilinear downscaling of a 10x10 map (7.5 -> 7 pixels), next to a 2x one."""
    import torch
    import torch.nn.functional as F

    from torchready.convert.composite_ops._separable import image_example

    class Pyramid(torch.nn.Module):
        def forward(self, x):
            small = F.interpolate(x, scale_factor=0.75, mode="bilinear", align_corners=False)
            large = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
            return small.sum(dim=(2, 3)) + large.mean(dim=(2, 3))

    return image_example(Pyramid(), (1, 2, 10, 10))
