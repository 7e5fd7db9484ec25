"""Evidence that a parameter is a tensor: how the function body uses it.

`forward(self, x, mask=None)` says nothing about `mask`; `mask.view(...)`, `mask[..., None]`,
`q @ mask` or `torch.exp(mask)` do. A helper's `seq_len` used as `torch.zeros(b, seq_len)` is a size,
so only the first argument of torch math counts, and never the arguments of factories.
"""

from __future__ import annotations

import libcst as cst

from torchready.lint.analysis import traversal
from torchready.lint.analysis.imports import ImportTable
from torchready.lint.analysis.torch_api import (NON_TENSOR_TORCH_FUNCTIONS, NON_TENSOR_TORCH_NAMESPACES,
                                     TENSOR_EVIDENCE, TORCH_FACTORIES)


def used_as_tensor(function: cst.FunctionDef, imports: ImportTable) -> set[str]:
    """Names the function uses as tensors: `p.shape`, `p.view(...)`, `p @ w`, `p[..., 0]`,
    `p[:, :n]`, or a direct argument of a `torch.*` call."""
    finder = _TensorUseFinder(imports)
    traversal.visit(function.body, finder)
    return finder.names


class _TensorUseFinder(cst.CSTVisitor):
    def __init__(self, imports: ImportTable) -> None:
        self.imports = imports
        self.names: set[str] = set()

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if isinstance(node.value, cst.Name) and node.attr.value in TENSOR_EVIDENCE:
            self.names.add(node.value.value)

    def visit_BinaryOperation(self, node: cst.BinaryOperation) -> None:
        if isinstance(node.operator, cst.MatrixMultiply):
            for side in (node.left, node.right):
                if isinstance(side, cst.Name):
                    self.names.add(side.value)

    def visit_Subscript(self, node: cst.Subscript) -> None:
        if not isinstance(node.value, cst.Name):
            return
        # Lists and tuples take one index; several, `...` or `None` mean a tensor.
        if len(node.slice) > 1 or any(
                isinstance(element.slice, cst.Index) and (
                    isinstance(element.slice.value, cst.Ellipsis) or _is_none(element.slice.value))
                for element in node.slice):
            self.names.add(node.value.value)

    def visit_Call(self, node: cst.Call) -> None:
        name = self.imports.resolve(node.func)
        if not name or not name.startswith("torch.") or name in NON_TENSOR_TORCH_FUNCTIONS \
                or name.startswith(NON_TENSOR_TORCH_NAMESPACES) or \
                name.rsplit(".", 1)[-1] in TORCH_FACTORIES or not node.args:
            return
        # The first argument of torch math is its input tensor (`torch.exp(p)`,
        # `torch.cat([p, q])`); later ones are often sizes or dims (`torch.narrow(x, 0, s, n)`).
        first = node.args[0]
        if first.keyword is not None or first.star:
            return
        values = first.value.elements if isinstance(first.value, (cst.List, cst.Tuple)) else ()
        for value in (first.value, *(element.value for element in values)):
            if isinstance(value, cst.Name):
                self.names.add(value.value)


def _is_none(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Name) and node.value == "None"
