"""Float-only unary ops on integers (sqrt, rsqrt, exp, log, sin, cos, tanh, sigmoid, erf, reciprocal,
...): torch's type promotion, a fix (override=True).

Root cause (coremltools 9.0, converters/mil/frontend/torch/ops.py): the converters of these ops
hand their input straight to the MIL op (`mb.sqrt(x=...)`), whose input must be fp16 or fp32.
torch computes them on integer and bool tensors (and TorchScript on ints) by promoting to the
default float dtype first, so an integer reaches MIL and coremltools stops: `Op ... (op_type:
sqrt) Input x=... expects tensor or scalar of dtype from type domain ['fp16', 'fp32'] but got
tensor[int32]`. Real models do this: `torch.sqrt(torch.tensor(n))` on a count (RAFT's
correlation scaling, on every capture path), `math.sqrt(q.size(-1))` in a scripted attention,
`torch.rsqrt(position_ids + 1)`. (`log`/`log1p` promote already; they are covered so that every
op of the family behaves the same.)

Fix: an integer or bool input is cast to fp32 (torch's result dtype) under a name of its own, and
the node goes, unchanged otherwise, to the converter registered before this one. A float input
goes there untouched (the lowering returns False, so audit does not list it).
"""

from __future__ import annotations

import copy
from typing import Any

KIND = "sqrt"
# (asinh and acosh are left out: coremltools 9.0's converters for them call MIL ops that do not
# exist, `mb.asinh`/`mb.acosh`, and fail on floats too)
ALIASES: tuple[str, ...] = ("rsqrt", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p",
                            "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh",
                            "atanh", "sigmoid", "erf", "reciprocal")
OVERRIDE = True
SUMMARY = ("float-only unary ops (sqrt, exp, log, sin, tanh, sigmoid, erf, reciprocal, ...) on an "
           "integer input: promoted to fp32 first, as torch does")


def lower(context: Any, node: Any) -> bool:
    from coremltools.converters.mil import Builder as mb
    from coremltools.converters.mil.mil import types

    from torchready.convert.composite_ops import upstream_converter

    upstream = upstream_converter(node)
    source = node.inputs[0]
    x = context[source] if isinstance(source, str) and source in context else None
    if x is None or not (types.is_int(x.dtype) or types.is_bool(x.dtype)):
        upstream(context, node)
        return False
    promoted = mb.cast(x=x, dtype="fp32", name=f"{node.name}_as_fp32")
    context.add(promoted, torch_name=promoted.name)
    patched = copy.copy(node)
    patched.inputs = [promoted.name, *node.inputs[1:]]
    upstream(context, patched)
    return True


def example() -> Any:
    """Positions scaled by 1/sqrt(position): an integer input through rsqrt, sqrt and exp."""
    import numpy as np
    import torch

    from torchready.convert.composite_ops import CompositeExample

    class PositionScale(torch.nn.Module):
        def forward(self, x, positions):
            scale = torch.rsqrt(positions + 1) + torch.sqrt(positions) * 0.1
            return x * scale + torch.exp(positions.neg()) + torch.sigmoid(positions)

    def convert_kwargs() -> dict[str, Any]:
        import coremltools as ct

        return {"inputs": [ct.TensorType(name="x", shape=(1, 6), dtype=np.float32),
                           ct.TensorType(name="positions", shape=(1, 6), dtype=np.int32)]}

    return CompositeExample(PositionScale().eval(),
                            (torch.randn(1, 6, generator=torch.Generator().manual_seed(0)),
                             torch.arange(6).unsqueeze(0)), convert_kwargs)
