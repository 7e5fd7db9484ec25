"""aten::diff -> concat + two slices + sub (logical_xor for bool).

Why it is needed: coremltools 9.0 has no converter for `torch.diff` ("PyTorch convert function for
op 'diff' not implemented"). transformers 5.x emits it in every decoder traced with a flexible
sequence length: `masking_utils.find_packed_sequence_indices` computes
`torch.diff(position_ids, prepend=position_ids[:, :1] - 1, dim=-1)` to detect packed sequences.

Semantics (torch.diff): join `prepend`, `input`, `append` along `dim` (unless n is 0: then the
input is returned as it is), then `n` times take
`x[1:] - x[:-1]` along `dim` (logical xor, i.e. `!=`, for bool tensors: MIL's `not_equal` takes
no bools, its `logical_xor` is the same function on them). The slices use begin/end
masks so they stay valid when the dimension is flexible (a `ct.RangeDim`).
"""

from __future__ import annotations

from typing import Any

KIND = "diff"
ALIASES: tuple[str, ...] = ()
OVERRIDE = False
SUMMARY = "torch.diff (aten::diff): concat(prepend, x, append) then x[1:] - x[:-1] along dim, n times"


def lower(context: Any, node: Any) -> None:
    from coremltools.converters.mil import Builder as mb
    from coremltools.converters.mil.frontend.torch.ops import _get_inputs
    from coremltools.converters.mil.mil import types

    inputs = _get_inputs(context, node, min_expected=1)
    x = inputs[0]
    n = _constant_int(inputs[1] if len(inputs) > 1 else None, default=1, what="n")
    dim = _constant_int(inputs[2] if len(inputs) > 2 else None, default=-1, what="dim")
    prepend = inputs[3] if len(inputs) > 3 else None
    append = inputs[4] if len(inputs) > 4 else None

    # n=0 returns the input itself: torch ignores prepend and append then
    parts = [part for part in (prepend, x, append) if part is not None] if n > 0 else [x]
    if len(parts) > 1:
        x = mb.concat(values=parts, axis=dim)
    rank = x.rank
    axis = dim % rank
    whole = [True] * rank
    for step in range(n):
        # x[..., 1:, ...] and x[..., :-1, ...] along `axis`; every other axis taken whole.
        later = mb.slice_by_index(
            x=x, begin=_at(rank, axis, 1), end=[0] * rank,
            begin_mask=_at(whole, axis, False), end_mask=whole,
        )
        earlier = mb.slice_by_index(
            x=x, begin=[0] * rank, end=_at(rank, axis, -1),
            begin_mask=whole, end_mask=_at(whole, axis, False),
        )
        # The last op carries the node's name so the MIL program reads like the torch graph.
        named = {"name": node.name} if step == n - 1 else {}
        if types.is_bool(x.dtype):
            x = mb.logical_xor(x=later, y=earlier, **named)
        else:
            x = mb.sub(x=later, y=earlier, **named)
    if n == 0:
        x = mb.identity(x=x, name=node.name)
    context.add(x, node.name)


def _at(base: Any, axis: int, value: Any) -> list[Any]:
    """A list like `base` (or `[0] * base` for an int) with `value` at `axis`."""
    items = [0] * base if isinstance(base, int) else list(base)
    items[axis] = value
    return items


def _constant_int(var: Any, *, default: int, what: str) -> int:
    if var is None:
        return default
    if var.val is None:
        raise ValueError(f"torch.diff with a non-constant '{what}' cannot be converted")
    return int(var.val)


def example() -> Any:
    """The transformers pattern on a flexible dimension: diff with a prepended column."""
    import numpy as np
    import torch

    from torchready.convert.composite_ops import CompositeExample

    class PackedSequenceBoundaries(torch.nn.Module):
        def forward(self, position_ids):
            steps = torch.diff(position_ids, prepend=position_ids[:, :1] - 1, dim=-1)
            return (steps != 1).to(torch.float32).cumsum(-1) + torch.diff(position_ids, n=2)[:, :1]

    def convert_kwargs() -> dict[str, Any]:
        import coremltools as ct

        return {
            "inputs": [ct.TensorType(name="position_ids", shape=(1, ct.RangeDim(3, 32, 7)),
                                     dtype=np.float32)],
        }

    position_ids = torch.tensor([[0.0, 1.0, 2.0, 0.0, 1.0, 5.0, 6.0]])
    return CompositeExample(PackedSequenceBoundaries().eval(), (position_ids,), convert_kwargs)
