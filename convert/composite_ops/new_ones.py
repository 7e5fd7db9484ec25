"""aten::new_ones -> fill (or a scalar const), in the requested dtype.

Why it is needed: coremltools 9.0 converts `torch.ones`, `new_zeros` and `new_full` but has no
converter for `Tensor.new_ones` ("PyTorch convert function for op 'new_ones' not implemented").
transformers 5.x calls `q_idx.new_ones((), dtype=torch.bool)` in its mask functions
(`masking_utils.and_masks`), so every traced decoder with a flexible sequence length hits it
right after `diff`.

Semantics: a tensor of ones with shape `size`, dtype `dtype` (default: the dtype of `self`).
Core ML has no 64-bit types: int64 becomes int32, float64 becomes fp32, as coremltools does for
every other op. The size may be dynamic (a list of shape scalars), hence `fill`.
"""

from __future__ import annotations

from typing import Any

KIND = "new_ones"
ALIASES: tuple[str, ...] = ()
OVERRIDE = False
SUMMARY = "Tensor.new_ones (aten::new_ones): fill(shape=size, value=1) in the requested dtype"


def lower(context: Any, node: Any) -> None:
    import numpy as np
    from coremltools.converters.mil import Builder as mb
    from coremltools.converters.mil.frontend.torch.ops import _get_inputs
    from coremltools.converters.mil.frontend.torch.utils import NUM_TO_NUMPY_DTYPE
    from coremltools.converters.mil.mil import types

    # TorchScript: new_ones(self, size, dtype, layout, device, pin_memory)
    inputs = _get_inputs(context, node, min_expected=2)
    x, size = inputs[0], inputs[1]
    dtype_var = inputs[2] if len(inputs) > 2 else None
    if dtype_var is not None and dtype_var.val is not None:
        np_dtype = NUM_TO_NUMPY_DTYPE[int(dtype_var.val)]
    else:
        np_dtype = types.nptype_from_builtin(x.dtype)
    one = np.array(1, dtype=np_dtype)  # fill's output dtype is the dtype of its value

    if isinstance(size, list):  # dynamic size: a list of scalar Vars
        size = mb.concat(values=[mb.expand_dims(x=s, axes=[0]) if s.rank == 0 else s
                                 for s in size], axis=0)
    if size.val is not None and len(size.val) == 0:  # new_ones(()) is a 0-d tensor
        result = mb.const(val=one, name=node.name)
    else:
        if types.is_float(size.dtype):
            size = mb.cast(x=size, dtype="int32")
        result = mb.fill(shape=size, value=one, name=node.name)
    context.add(result, node.name)


def example() -> Any:
    """Bool and default-dtype new_ones, one of them on a flexible dimension."""
    import numpy as np
    import torch

    from torchready.convert.composite_ops import CompositeExample

    class MaskedSelect(torch.nn.Module):
        def forward(self, x):
            keep = x.new_ones((x.size(0), x.size(1)), dtype=torch.bool)
            keep = keep & x.new_ones((), dtype=torch.bool)
            return torch.where(keep, x, -x) + x.new_ones(x.size(1))

    def convert_kwargs() -> dict[str, Any]:
        import coremltools as ct

        return {"inputs": [ct.TensorType(name="x", shape=(2, ct.RangeDim(1, 16, 5)),
                                         dtype=np.float32)]}

    return CompositeExample(MaskedSelect().eval(), (torch.randn(2, 5),), convert_kwargs)
