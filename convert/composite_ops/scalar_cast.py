"""aten::Int / aten::Bool on a constant one-element tensor: a fix, not a new op (override=True).

Root cause (coremltools 9.0, converters/mil/frontend/torch/ops.py, `_cast`, used by the `int` and
`bool` converters): when the input can be folded to a constant it returns
`mb.const(val=dtype(x.val))`, i.e. `int(np.array([7]))`. The tracer records sizes used in
arithmetic as 0-d tensors (`prim::NumToTensor`), coremltools represents them as shape-(1,)
arrays, and NumPy >= 2.4 refuses `int()` of an array with ndim > 0 ("only 0-dimensional arrays can
be converted to Python scalars"; deprecated since NumPy 1.25). With a fixed input shape the size
is a compile-time constant, so every traced model that slices by `size + offset` hits it: BERT,
ELECTRA, Llama, Qwen2, Mistral, Phi, Gemma, GPT-Neo, OPT, BLOOM, GPT-NeoX, DINOv2, Swin, DPT and
MobileViT in transformers 5.24 (`position_ids[:, past : seq_length + past]`).

Fix: identical to coremltools' `_cast`, except that the constant is unwrapped with `.item()` when
it has exactly one element. The non-constant path (squeeze + cast) is unchanged.
"""

from __future__ import annotations

from typing import Any

KIND = "int"
ALIASES: tuple[str, ...] = ("bool",)
OVERRIDE = True
SUMMARY = ("int()/bool() of a constant 1-element tensor (aten::Int, aten::Bool): unwrap with "
           ".item(); fixes coremltools 9.0 on NumPy >= 2.4")

_TARGETS = {"int": (int, "int32"), "bool": (bool, "bool")}


def lower(context: Any, node: Any) -> bool:
    import numpy as np
    from coremltools.converters.mil import Builder as mb
    from coremltools.converters.mil.frontend.torch.ops import _get_inputs
    from coremltools.converters.mil.frontend.torch.utils import sanitize_op_kind

    python_type, mil_dtype = _TARGETS[sanitize_op_kind(node.kind)]
    x = _get_inputs(context, node, expected=1)[0]
    if not (len(x.shape) == 0 or all(d == 1 for d in x.shape)):
        raise ValueError(f"input to {node.kind} must be either a scalar or a length 1 tensor")

    fixed = False
    if x.can_be_folded_to_const():
        value = x.val
        if isinstance(value, np.ndarray) and value.ndim > 0:
            value = value.item()  # the fix: int(np.array([7])) fails on NumPy >= 2.4
            fixed = True
        result = value if isinstance(value, python_type) else python_type(value)
        output = mb.const(val=result, name=node.name)
    elif len(x.shape) > 0:
        squeezed = mb.squeeze(x=x, name=node.name + "_item")
        output = mb.cast(x=squeezed, dtype=mil_dtype, name=node.name)
    else:
        output = mb.cast(x=x, dtype=mil_dtype, name=node.name)
    context.add(output, node.name)
    return fixed  # audit lists this fix only where coremltools' own converter would have failed


def example() -> Any:
    """BERT's position-id slice, `buffer[:, 0 : seq_len + past]`, traced at a fixed shape."""
    import numpy as np
    import torch

    from torchready.convert.composite_ops import CompositeExample

    class PositionSlice(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("positions", torch.arange(16.0).unsqueeze(0))

        def forward(self, x):
            past = 0
            seq_length = x.size(1)
            return x + self.positions[:, past : seq_length + past]

    def convert_kwargs() -> dict[str, Any]:
        import coremltools as ct

        return {"inputs": [ct.TensorType(name="x", shape=(1, 5), dtype=np.float32)]}

    return CompositeExample(PositionSlice().eval(), (torch.rand(1, 5),), convert_kwargs)
