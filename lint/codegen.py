"""Source text for fixes: render nodes, and parenthesise only where Python's precedence needs it.

A fix that turns `math.floor(a / b)` into `a // b` must write `x * (a // b)` inside `x * ...`,
but plain `a // b` inside a call argument; getting this wrong silently changes the arithmetic.
"""

from __future__ import annotations

import libcst as cst

ATOM = 10
POWER = 8
UNARY = 7
MULTIPLICATIVE = 6
ADDITIVE = 5
SHIFT = 4
BITWISE = 3
COMPARISON = 2
NOT = 1
LOWEST = 0

_BINARY = {
    cst.Power: POWER,
    cst.Multiply: MULTIPLICATIVE, cst.Divide: MULTIPLICATIVE, cst.FloorDivide: MULTIPLICATIVE,
    cst.Modulo: MULTIPLICATIVE, cst.MatrixMultiply: MULTIPLICATIVE,
    cst.Add: ADDITIVE, cst.Subtract: ADDITIVE,
    cst.LeftShift: SHIFT, cst.RightShift: SHIFT,
    cst.BitAnd: BITWISE, cst.BitXor: BITWISE, cst.BitOr: BITWISE,
}


def precedence(node: cst.CSTNode) -> int:
    if getattr(node, "lpar", None):
        return ATOM
    if isinstance(node, cst.BinaryOperation):
        return _BINARY.get(type(node.operator), BITWISE)
    if isinstance(node, cst.UnaryOperation):
        return NOT if isinstance(node.operator, cst.Not) else UNARY
    if isinstance(node, cst.Comparison):
        return COMPARISON
    if isinstance(node, (cst.BooleanOperation, cst.IfExp, cst.Lambda, cst.NamedExpr)):
        return LOWEST
    return ATOM


def code(module: cst.Module, node: cst.CSTNode) -> str:
    return module.code_for_node(node)


def operand(module: cst.Module, node: cst.CSTNode, minimum: int) -> str:
    """The node's code, parenthesised when its precedence is below `minimum`."""
    text = code(module, node)
    return text if precedence(node) >= minimum else f"({text})"


def fits_in_parent(replacement_precedence: int, node: cst.CSTNode,
                   parent: cst.CSTNode | None) -> bool:
    """Whether an expression of the given precedence can replace `node` without parentheses."""
    if parent is None:
        return True
    if isinstance(parent, cst.Attribute) and parent.value is node:
        return replacement_precedence >= ATOM
    if isinstance(parent, cst.Subscript) and parent.value is node:
        return replacement_precedence >= ATOM
    if isinstance(parent, cst.Call) and parent.func is node:
        return replacement_precedence >= ATOM
    if isinstance(parent, cst.UnaryOperation):
        return replacement_precedence >= UNARY
    if isinstance(parent, cst.BinaryOperation):
        parent_precedence = precedence(cst.BinaryOperation(
            left=parent.left, operator=parent.operator, right=parent.right))
        if replacement_precedence != parent_precedence:
            return replacement_precedence > parent_precedence
        # Equal precedence: `**` groups to the right, everything else to the left.
        if isinstance(parent.operator, cst.Power):
            return parent.right is node
        return parent.left is node
    return True


def in_parent(text: str, replacement_precedence: int, node: cst.CSTNode,
              parent: cst.CSTNode | None) -> str:
    return text if fits_in_parent(replacement_precedence, node, parent) else f"({text})"
