"""`x[i, j] = value` (coremltools' `_internal_op_tensor_inplace_copy`): a fix (override=True).

Root cause (coremltools 9.0): its torch IR pass `generate_tensor_assignment_ops` fuses the
`select`/`slice` chain plus `aten::copy_` of an indexed assignment into one
`_internal_op_tensor_inplace_copy_` node, converted to `torch_tensor_assign` / `slice_update`, which
demand `updates` of exactly the slot's shape. torch's `copy_` broadcasts its source to the slot
instead, and coremltools also stores a traced Python number (`prim::NumToTensor`, 0-d in torch)
as a shape-(1,) constant. So assigning a traced size-derived scalar to one element fails: "The
updates tensor should have shape []. Got (1,)". transformers' BEiT (and Data2Vec-vision) build
their relative position index this way, `index[0, 0] = num_relative_distance - 1`, where the
number comes from the input's size.

Fix: coremltools' converter, unchanged, except that when the slot's shape is known and `updates`
does not have it, `updates` is brought to it with torch's copy_ semantics: reshaped when it holds
the same number of elements (the (1,)-for-0-d case), broadcast (tile) otherwise. The lowering
returns False when nothing had to change, so audit lists it only where coremltools would fail.
"""

from __future__ import annotations

from typing import Any

KIND = "_internal_op_tensor_inplace_copy"
ALIASES: tuple[str, ...] = ()
OVERRIDE = True
SUMMARY = ("indexed assignment x[...] = value (aten::copy_ into a slice): broadcast the value "
           "to the slot's shape like torch's copy_ (coremltools needs the exact shape)")


def lower(context: Any, node: Any) -> bool:
    from coremltools.converters.mil.frontend.torch.ops import (
        _get_slice_params,
        _translate_torch_tensor_assign,
    )
    from coremltools.converters.mil.mil.ops.defs._utils import promote_input_dtypes

    data = context[node.inputs[0]]
    updates = context[node.inputs[1]]
    begin, end, stride, begin_mask, end_mask, squeeze_mask = _get_slice_params(
        context, data, node.inputs[2:]
    )
    slot = _slot_shape(data, begin, end, stride, begin_mask, end_mask, squeeze_mask)
    fixed = False
    if slot is not None and tuple(updates.shape) != slot:
        updates = _broadcast_to(updates, slot, name=f"{node.name}_updates")
        fixed = True
    data, updates = promote_input_dtypes([data, updates])
    context.add(_translate_torch_tensor_assign(
        x=data, updates=updates, begin=begin, end=end, stride=stride, begin_mask=begin_mask,
        end_mask=end_mask, squeeze_mask=squeeze_mask, name=node.name,
    ))
    return fixed


def _slot_shape(data: Any, begin: Any, end: Any, stride: Any, begin_mask: Any, end_mask: Any,
                squeeze_mask: Any) -> tuple[int, ...] | None:
    """The static shape of `data[begin:end:stride]`, or None when it is not known here."""
    from coremltools.converters.mil.mil.ops.defs._utils import solve_slice_by_index_shape
    from coremltools.converters.mil.mil.types.symbolic import any_symbolic

    if begin.val is None or end.val is None or any_symbolic(data.shape):
        return None
    shape = solve_slice_by_index_shape(data.shape, begin.val, end.val, stride, begin_mask,
                                       end_mask, squeeze_mask)
    return None if any_symbolic(shape) else tuple(int(size) for size in shape)


def _broadcast_to(updates: Any, shape: tuple[int, ...], name: str) -> Any:
    """`updates` with torch's copy_ broadcasting to `shape` (static shapes only)."""
    import numpy as np
    from coremltools.converters.mil import Builder as mb
    from coremltools.converters.mil.mil.types.symbolic import any_symbolic

    source = tuple(updates.shape)
    if any_symbolic(source):
        return updates  # leave it to coremltools' own shape check and its message
    if int(np.prod(source, dtype=np.int64)) == int(np.prod(shape, dtype=np.int64)) and \
            [s for s in source if s != 1] == [s for s in shape if s != 1]:
        if updates.val is not None:
            return mb.const(val=np.asarray(updates.val).reshape(shape), name=name)
        if not shape:
            return mb.squeeze(x=updates, name=name)
        return mb.reshape(x=updates, shape=list(shape), name=name)
    # Broadcasting proper: align on the right, size-1 dims repeat (torch's expand rules).
    trimmed = list(source)
    while len(trimmed) > len(shape) and trimmed[0] == 1:
        trimmed.pop(0)
    aligned = [1] * (len(shape) - len(trimmed)) + trimmed
    if len(aligned) != len(shape) or any(a not in (1, s) for a, s in zip(aligned, shape)):
        return updates  # not broadcastable: torch would have refused too
    if updates.val is not None:
        return mb.const(val=np.broadcast_to(np.asarray(updates.val).reshape(aligned),
                                            shape).copy(), name=name)
    reshaped = mb.reshape(x=updates, shape=aligned) if tuple(aligned) != source else updates
    reps = [s if a == 1 else 1 for a, s in zip(aligned, shape)]
    return mb.tile(x=reshaped, reps=reps, name=name)


def example() -> Any:
    """BEiT's relative position index: a traced size assigned to single elements and rows."""
    import numpy as np
    import torch

    from torchready.convert.composite_ops import CompositeExample

    class RelativePositionIndex(torch.nn.Module):
        def forward(self, x):
            distance = x.size(1) * 2 + 3  # a traced size, as window sizes are in BEiT
            index = torch.zeros(3, 3, dtype=torch.int64)
            index[0, 1:] = distance - 3
            index[1:, 0] = distance - 2
            index[0, 0] = distance - 1
            return x + index.to(x.dtype)

    def convert_kwargs() -> dict[str, Any]:
        import coremltools as ct

        return {"inputs": [ct.TensorType(name="x", shape=(3, 3), dtype=np.float32)]}

    return CompositeExample(RelativePositionIndex().eval(), (torch.rand(3, 3),), convert_kwargs)
