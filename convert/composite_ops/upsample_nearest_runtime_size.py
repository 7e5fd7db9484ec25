"""aten::upsample_nearest2d to a size known only at prediction time: a fix (override=True).

Root cause: as for bilinear (`upsample_bilinear_runtime_size`), coremltools 9.0 emits the
torch-dialect `torch_upsample_nearest_neighbor` for a runtime output size and its graph pass
`torch_upsample_to_core_upsample` cannot map a size read from another tensor's shape
(`F.interpolate(mask, size=image.shape[-2:])`, the default mode "nearest").

Fix: torch's `nearest_idx`, x[min(floor(i * (n / m)), n - 1)] with float32 arithmetic, as gathers
along the height and the width, for every deployment target. (iOS 17's `resize` is not used: its
NEAREST_NEIGHBOR modes sample pixel centres, which is torch's "nearest-exact", not "nearest".)
Constant sizes and scale factors go to coremltools' converter unchanged.

One case is not exact by construction: an axis whose output size is a constant while its input
size is flexible divides by a constant, which coremltools' `divide_to_multiply` pass turns into a
multiplication by 1/m; that can move an index by one where i * n / m lies within a float32
rounding of an integer (none for n = 2..63, m = 20). Sizes read from another tensor's shape, the
case this fixes, divide by a runtime value and are exact.
"""

from __future__ import annotations

from typing import Any

KIND = "upsample_nearest2d"
ALIASES: tuple[str, ...] = ("upsample_nearest2d.vec",)
OVERRIDE = True
SUMMARY = ("nearest interpolation to a runtime size (F.interpolate(x, size=y.shape[-2:]) with "
           "flexible inputs): torch's nearest index as gathers")


def lower(context: Any, node: Any) -> bool:
    from coremltools.converters.mil.frontend.torch.ops import upsample_nearest2d as upstream

    from torchready.convert.composite_ops._runtime_size import resize_by_gathers, runtime_resize

    resize = runtime_resize(context, node, linear=False)
    if resize is None:
        upstream(context, node)
        return False
    context.add(resize_by_gathers(resize, linear=False, name=node.name), node.name)
    return True


def example() -> Any:
    """A decoder step: upsample coarse features to the skip connection's (flexible) size."""
    from torchready.convert.composite_ops._runtime_size_example import decoder_example

    return decoder_example("nearest")
