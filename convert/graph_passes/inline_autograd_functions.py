"""Inline custom `torch.autograd.Function`s (prim::PythonOp) into the graph.

Root cause: `torch.jit.trace` cannot look inside a `torch.autograd.Function`; it records each
`MyFunction.apply(x)` as one opaque `prim::PythonOp` node that calls back into Python. coremltools
has no converter for it ("PyTorch convert function for op 'PythonOp' not implemented", coremltools
issue #1135) and stops there. transformers' BLOOM does this in every layer: `BloomGelu.forward`
returns `GeLUFunction.apply(x)` (a tanh-GELU with a hand-written backward), even in eval mode.

What the tracer also does: while recording the PythonOp it traces the Function's `forward` and
keeps that trace on the node as its `Subgraph` attribute (torch's ONNX exporter inlines it the
same way). Inference runs only `forward`, so replacing the node by its subgraph computes exactly
what the model computes; the custom `backward` is irrelevant for Core ML.

Not inlined (left for coremltools to report, with the line): a PythonOp without a subgraph (a
scripted `@torch.jit.ignore` call) or whose inputs/outputs do not match its subgraph.
"""

from __future__ import annotations

from typing import Any

NAME = "inline_autograd_functions"
SUMMARY = ("custom torch.autograd.Function (prim::PythonOp): replaced by the forward the tracer "
           "recorded in its Subgraph")

_MAX_ROUNDS = 16  # a Function whose forward calls another Function: inline level by level


def apply(graph: Any) -> list[str]:
    rewrites: list[str] = []
    for _ in range(_MAX_ROUNDS):
        candidates = [node for node in graph.findAllNodes("prim::PythonOp", True)
                      if _inlinable(node)]
        if not candidates:
            break
        for node in candidates:
            rewrites.append(_inline(graph, node))
    return rewrites


def _inlinable(node: Any) -> bool:
    if not node.hasAttribute("Subgraph"):
        return False
    subgraph = node.g("Subgraph")
    return (len(list(subgraph.inputs())) == node.inputsSize()
            and len(list(subgraph.outputs())) == node.outputsSize())


def _inline(graph: Any, node: Any) -> str:
    described = f"inlined {_function_name(node)}{_called_at(node)}"
    with graph.insert_point_guard(node):
        outputs = graph.insertGraph(node.g("Subgraph"), list(node.inputs()))
    for old, new in zip(list(node.outputs()), outputs):
        old.replaceAllUsesWith(new)
    node.destroy()
    return described


def _function_name(node: Any) -> str:
    try:
        return node.pyname()
    except Exception:  # not every PythonOp exposes its Python name
        return "a torch.autograd.Function"


def _called_at(node: Any) -> str:
    """` (path:line)` of the `.apply(...)` call: the first recorded frame outside torch."""
    from torchready.convert.coreml.torch_graph import display_path
    from torchready.convert.source_lines import frames_of_node

    for path, line in frames_of_node(node):
        normalised = path.replace("\\", "/")
        if "/torch/" not in normalised:
            return f" ({display_path(path)}:{line})"
    return ""


def example() -> Any:
    """A tanh-GELU written as an autograd.Function with its own backward, as BLOOM does."""
    import torch

    class TanhGelu(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * 0.5 * (1.0 + torch.tanh(0.79788456 * x * (1 + 0.044715 * x * x)))

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            inner = torch.tanh(0.79788456 * x * (1 + 0.044715 * x * x))
            return grad * (0.5 * (1 + inner) + 0.5 * x * (1 - inner * inner) * 0.79788456)

    class FeedForward(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.up = torch.nn.Linear(8, 16)
            self.down = torch.nn.Linear(16, 8)

        def forward(self, x):
            return self.down(TanhGelu.apply(self.up(x)))

    torch.manual_seed(0)
    return FeedForward().eval(), (torch.randn(2, 5, 8),)
