"""Small syntactic questions about expressions that several rules ask."""

from __future__ import annotations

import libcst as cst

from torchready.lint.analysis import traversal

# Names that may appear in an expression computed from the model's own weights or constants
# only: its value is the same for every input.
INPUT_FREE_ROOTS = {"self", "torch", "math", "True", "False", "None"}


def input_free(node: cst.BaseExpression, modules: frozenset[str] = frozenset()) -> bool:
    """Only weights, constants and torch functions: no input data flows into the value
    (`self.logit_scale.exp()`, `torch.tensor(1.0)`, `2 ** self.bits`). `modules`: more names
    that are imported modules (`nn`, `F`)."""
    finder = _NameFinder()
    traversal.visit(node, finder)
    return finder.names <= INPUT_FREE_ROOTS | modules


def chain_root(node: cst.BaseExpression) -> cst.BaseExpression:
    """`np.random.rand(1).item` -> `np.random.rand(1)`: the first call of a method chain."""
    while True:
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and \
                isinstance(node.func.value, (cst.Call, cst.Subscript)):
            node = node.func.value
        elif isinstance(node, cst.Subscript):
            node = node.value
        else:
            return node


def self_attribute(node: cst.BaseExpression) -> str | None:
    """`self.name` -> "name"."""
    if isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name) and \
            node.value.value == "self":
        return node.attr.value
    return None


class _NameFinder(cst.CSTVisitor):
    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_Name(self, node: cst.Name) -> None:
        self.names.add(node.value)

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        # `self.scale`: the root name counts, not the attribute name
        traversal.visit(node.value, self)
        return False

    def visit_Arg(self, node: cst.Arg) -> bool:
        traversal.visit(node.value, self)  # keyword names are not values
        return False


class AttributeReads(cst.CSTVisitor):
    """`self.<name>` reads (not assignment targets) in the visited code."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_Attribute(self, node: cst.Attribute) -> None:
        name = self_attribute(node)
        if name:
            self.names.add(name)

    def visit_AssignTarget(self, node: cst.AssignTarget) -> bool:
        # `self.x = ...` is a write; `self.x[i] = ...` reads `self.x`.
        return not isinstance(node.target, cst.Attribute)
