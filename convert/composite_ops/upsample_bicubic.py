"""aten::upsample_bicubic2d (and its antialiased variant) -> two matmuls with torch's own weights.

Why it is needed: coremltools 9.0 has no converter for bicubic interpolation ("PyTorch convert
function for op 'upsample_bicubic2d' not implemented"; coremltools removed an approximate one in
PR #2555 and asked users to register their own lowering). MIL's resize ops have no cubic mode.
transformers' DINOv2 (and every ViT-family model that calls `interpolate_pos_encoding`) resizes its
position embeddings with `F.interpolate(..., mode="bicubic")`, and always does so while tracing.

Lowering: bicubic resampling (with or without antialiasing) is separable and linear, so for static
sizes it is exactly `Wh @ x @ Ww^T`, with the weight matrices computed by the same aten op at
conversion time (`_separable`): align_corners, scale factors, border clamping and the cubic
coefficient (-0.75) are torch's. Needs static input and output sizes; otherwise the conversion
stops with a message saying so.
"""

from __future__ import annotations

from typing import Any

KIND = "upsample_bicubic2d"
# the .vec overloads are the names torch.export's graphs use
ALIASES: tuple[str, ...] = ("_upsample_bicubic2d_aa", "upsample_bicubic2d.vec",
                            "_upsample_bicubic2d_aa.vec")
OVERRIDE = False
SUMMARY = ("bicubic interpolation (aten::upsample_bicubic2d, antialiased too): Wh @ x @ Ww^T with "
           "weight matrices computed by torch's own kernel")


def lower(context: Any, node: Any) -> None:
    import torch
    from coremltools.converters.mil.frontend.torch.utils import sanitize_op_kind

    from torchready.convert.composite_ops._separable import parse_resize, resample

    x, output_size, align_corners, scales = parse_resize(context, node)
    antialias = sanitize_op_kind(node.kind).startswith("_")
    aten_op = torch.ops.aten._upsample_bicubic2d_aa if antialias \
        else torch.ops.aten.upsample_bicubic2d
    context.add(resample(x, output_size, align_corners, scales, aten_op, node.name), node.name)


def resampling_matrix(size: int, out_size: int, align_corners: bool, scale: float | None,
                      antialias: bool, axis: int) -> Any:
    """The matrix this lowering applies along `axis` (for the tests)."""
    import torch

    from torchready.convert.composite_ops._separable import resampling_matrix as matrix

    aten_op = torch.ops.aten._upsample_bicubic2d_aa if antialias \
        else torch.ops.aten.upsample_bicubic2d
    return matrix(aten_op, size, out_size, align_corners, scale, axis)


def example() -> Any:
    """DINOv2's position-embedding resize: a learned grid resized bicubically, plus a
    scale-factor upsampling with align_corners and an antialiased downsampling of the input."""
    import torch
    import torch.nn.functional as F

    from torchready.convert.composite_ops._separable import image_example

    class Resizes(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.grid = torch.nn.Parameter(torch.randn(1, 4, 3, 3), requires_grad=False)

        def forward(self, x):
            grid = F.interpolate(self.grid, size=(x.size(2), x.size(3)), mode="bicubic",
                                 align_corners=False)
            up = F.interpolate(x, scale_factor=1.5, mode="bicubic", align_corners=True)
            down = F.interpolate(x, size=(3, 4), mode="bicubic", antialias=True)
            return (x + grid).sum() + up.mean(dim=(2, 3)) + down.amax(dim=(2, 3))

    torch.manual_seed(0)  # the grid
    return image_example(Resizes(), (1, 4, 6, 8))
