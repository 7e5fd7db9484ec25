"""aten::upsample_bilinear2d to a size known only at prediction time: a fix (override=True).

Root cause (coremltools 9.0, frontend/torch/ops.py `upsample_bilinear2d` and the graph pass
ssa_passes/torch_upsample_to_core_upsample.py): with a runtime output size the converter emits the
torch-dialect `torch_upsample_bilinear`, and the pass can only map it to a core op when the size is
the input's own size times a constant. `F.interpolate(x, size=skip.shape[-2:], mode="bilinear")`
(feature pyramids, U-Net and segmentation decoders, mask upscaling) in a model with a flexible
input stops the conversion on both frontends ("Unable to map torch_upsample_bilinear to core
upsample", or an AssertionError in that pass).

Fix: when the output size is a runtime value, iOS 17+ targets get one `resize` op (its size is a
tensor; sampling mode UNALIGN_CORNERS is torch's align_corners=False, STRICT_ALIGN_CORNERS its
align_corners=True); older targets get torch's index arithmetic as gathers along the height and
the width (`_runtime_size`). Constant sizes and scale factors go to coremltools' converter
unchanged (the lowering returns False, so audit does not list it).
"""

from __future__ import annotations

from typing import Any

KIND = "upsample_bilinear2d"
ALIASES: tuple[str, ...] = ("upsample_bilinear2d.vec",)
OVERRIDE = True
SUMMARY = ("bilinear interpolation to a runtime size (F.interpolate(x, size=y.shape[-2:]) with "
           "flexible inputs): iOS17 `resize`, or torch's index arithmetic as gathers")


def lower(context: Any, node: Any) -> bool:
    import numpy as np
    from coremltools.converters.mil import Builder as mb
    from coremltools.converters.mil.frontend.torch.ops import upsample_bilinear2d as upstream

    from torchready.convert.composite_ops._runtime_size import (resize_by_gathers, runtime_resize,
                                                                size_vector, targets_ios17)

    resize = runtime_resize(context, node, linear=True)
    if resize is None:
        upstream(context, node)
        return False
    if targets_ios17():
        mode = "STRICT_ALIGN_CORNERS" if resize.align_corners else "UNALIGN_CORNERS"
        result = mb.resize(x=resize.x, shape=size_vector(resize.size), resized_dims=np.uint32(2),
                           interpolation_mode="LINEAR", sampling_mode=mode, name=node.name)
    else:
        result = resize_by_gathers(resize, linear=True, name=node.name)
    context.add(result, node.name)
    return True


def example() -> Any:
    """A decoder step: upsample coarse features to the skip connection's (flexible) size."""
    from torchready.convert.composite_ops._runtime_size_example import decoder_example

    return decoder_example("bilinear")
