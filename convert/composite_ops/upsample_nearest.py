"""aten::upsample_nearest2d at a non-integer scale or a runtime size, and nearest-exact: a fix
(override=True).

Root cause (coremltools 9.0, converters/mil/frontend/torch/ops.py, `upsample_nearest2d`): the
converter turns the output size into a scale factor and emits MIL `upsample_nearest_neighbor`,
whose source index for output pixel i is floor(i / scale) computed from that derived factor. For
an integer factor (2x, 3x) that is torch's rule; for any other size it is not: 10 -> 13 rows
(`F.interpolate(x, size=(13, 4), mode="nearest")`, FPN-style upsampling to a skip connection's
size) converts without a warning and picks other rows than torch (parity fails with cosine
0.7), and `scale_factor=2.5, recompute_scale_factor=True` too. `mode="nearest-exact"`
(`aten::_upsample_nearest_exact2d`) has no converter at all.

Fix: nearest resampling is a selection, linear and separable: for static sizes it is exactly
`Sh @ x @ Sw^T` with 0/1 matrices computed by torch's own kernel at conversion time (`_separable`,
as bicubic), so the indices, the scale factor in double precision and nearest-exact's half-pixel
rule are torch's. A runtime output size (`F.interpolate(mask, size=image.shape[-2:])` with
flexible inputs), which coremltools' graph pass `torch_upsample_to_core_upsample` cannot map, is
lowered by `_runtime_size`: torch's nearest (or nearest-exact) index arithmetic as gathers. An
integer upscaling without an explicit odd scale factor is left to coremltools' converter, which
is exact there (the lowering returns False, so audit does not list it), and so is a flexible
input resized by a constant scale factor.
"""

from __future__ import annotations

from typing import Any

KIND = "upsample_nearest2d"
# .vec: torch.export's names; _exact: mode="nearest-exact"
ALIASES: tuple[str, ...] = ("upsample_nearest2d.vec", "_upsample_nearest_exact2d",
                            "_upsample_nearest_exact2d.vec")
OVERRIDE = True
SUMMARY = ("nearest resize to a non-integer or runtime size and nearest-exact "
           "(aten::upsample_nearest2d, _upsample_nearest_exact2d): torch's own index selection "
           "as two matmuls, or torch's index arithmetic at runtime")


def lower(context: Any, node: Any) -> bool:
    import torch
    from coremltools.converters.mil.frontend.torch.utils import sanitize_op_kind

    from torchready.convert.composite_ops._runtime_size import lower_at_runtime_size
    from torchready.convert.composite_ops._separable import is_static_resize, parse_resize, resample

    exact = sanitize_op_kind(node.kind).startswith("_")
    if lower_at_runtime_size(context, node, "nearest-exact" if exact else "nearest"):
        return True
    if not is_static_resize(context, node) and not exact:
        return _upstream(context, node)
    x, output_size, _, scales = parse_resize(context, node, with_align_corners=False)
    sizes = (int(x.shape[-2]), int(x.shape[-1]))
    if not exact and all(out % size == 0 and (scale is None or scale == out // size)
                         for out, size, scale in zip(output_size, sizes, scales)):
        return _upstream(context, node)  # an integer upscaling: coremltools is exact there
    aten_op = torch.ops.aten._upsample_nearest_exact2d if exact else torch.ops.aten.upsample_nearest2d

    def nearest(images: Any, size: list[int], _align_corners: bool, scale_h: Any,
                scale_w: Any) -> Any:
        return aten_op(images, size, scale_h, scale_w)

    context.add(resample(x, output_size, False, scales, nearest, node.name), node.name)
    return True


def _upstream(context: Any, node: Any) -> bool:
    from torchready.convert.composite_ops import upstream_converter

    upstream_converter(node)(context, node)
    return False


def example() -> Any:
    """An FPN-style nearest upsampling to a skip connection's size, and a nearest-exact one."""
    import torch
    import torch.nn.functional as F

    from torchready.convert.composite_ops._separable import image_example

    class SkipResize(torch.nn.Module):
        def forward(self, x):
            up = F.interpolate(x, size=(13, 4), mode="nearest")
            exact = F.interpolate(x, scale_factor=1.5, mode="nearest-exact")
            return up.sum(dim=(2, 3)) + exact.amax(dim=(2, 3))

    return image_example(SkipResize(), (1, 2, 10, 10))
