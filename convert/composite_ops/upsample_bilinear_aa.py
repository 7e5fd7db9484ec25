"""aten::_upsample_bilinear2d_aa (antialiased bilinear resize): a fix (override=True).

Root cause (coremltools 9.0, converters/mil/frontend/torch/ops.py): `_upsample_bilinear2d_aa` is
registered as an alias of the plain `upsample_bilinear2d` converter, so the antialias flag is
dropped. A downsampling `F.interpolate(x, size=..., mode="bilinear", antialias=True)`
(torchvision's `Resize(antialias=True)`, the default for tensors since torchvision 0.17) converts
without any warning and computes a different image: on a 12x16 -> 3x4 resize the converted model
is off by more than the signal itself (relative max error 1.26). Upsampling differs too with
align_corners=True (torch's antialiased kernel maps coordinates differently from the plain one:
a 2x2 -> 3x3 resize is off by 0.9), and coremltools refuses a scale factor that gives a
fractional size.

Fix: every static-size node is lowered like bicubic (`_separable`): two matmuls with the weight
matrices computed by torch's own `_upsample_bilinear2d_aa` at conversion time. Dynamic sizes go
to the converter registered before this one (the lowering returns False, so audit does not list
it).
"""

from __future__ import annotations

from typing import Any

KIND = "_upsample_bilinear2d_aa"
ALIASES: tuple[str, ...] = ("_upsample_bilinear2d_aa.vec",)  # torch.export's name
OVERRIDE = True
SUMMARY = ("antialiased bilinear downsampling (aten::_upsample_bilinear2d_aa): torch's own "
           "antialiasing weights as two matmuls; coremltools drops the antialias flag")


def lower(context: Any, node: Any) -> bool:
    import torch

    from torchready.convert.composite_ops import upstream_converter
    from torchready.convert.composite_ops._separable import is_static_resize, parse_resize, resample

    upstream = upstream_converter(node)
    if not is_static_resize(context, node):
        upstream(context, node)  # dynamic sizes: nothing better to offer than coremltools'
        return False
    x, output_size, align_corners, scales = parse_resize(context, node)
    resized = resample(x, output_size, align_corners, scales,
                       torch.ops.aten._upsample_bilinear2d_aa, node.name)
    context.add(resized, node.name)
    return True


def example() -> Any:
    """torchvision-style antialiased downsizing of an image, next to an upsizing."""
    import torch
    import torch.nn.functional as F

    from torchready.convert.composite_ops._separable import image_example

    class Thumbnail(torch.nn.Module):
        def forward(self, image):
            small = F.interpolate(image, size=(3, 4), mode="bilinear", antialias=True)
            large = F.interpolate(image, scale_factor=2.0, mode="bilinear", antialias=True)
            return small.sum(dim=(2, 3)) + large.mean(dim=(2, 3))

    return image_example(Thumbnail(), (1, 2, 12, 16), name="image")
