"""The TorchScript-relevant type of an expression: int, float, bool, str, Tensor, List[int] (a
slice of a shape), or unknown.

Used where a rule needs to name a type in a fix (`generated: List[int] = []`) or tell Python data
from tensors. Unknown is a real answer: rules stay silent rather than guess.
"""

from __future__ import annotations

import libcst as cst

from torchready.lint.analysis.values import SIZE_METHODS, ValueFacts

INT, FLOAT, BOOL, STR, TENSOR = "int", "float", "bool", "str", "Tensor"
INT_LIST = "List[int]"
_CONSTRUCTORS = {"int": INT, "len": INT, "float": FLOAT, "bool": BOOL, "isinstance": BOOL,
                 "str": STR, "repr": STR}
_ANNOTATIONS = {"int": INT, "float": FLOAT, "bool": BOOL, "str": STR,
                "torch.Tensor": TENSOR, "Tensor": TENSOR}


def python_type(node: cst.BaseExpression, facts: ValueFacts,
                seen: frozenset[str] = frozenset()) -> str | None:
    if isinstance(node, cst.Integer):
        return INT
    if isinstance(node, cst.Float):
        return FLOAT
    if isinstance(node, (cst.SimpleString, cst.FormattedString, cst.ConcatenatedString)):
        return STR
    if isinstance(node, cst.Name):
        return _name_type(node.value, facts, seen)
    if isinstance(node, cst.Call):
        return _call_type(node, facts, seen)
    if isinstance(node, cst.UnaryOperation):
        if isinstance(node.operator, cst.Not):
            return BOOL
        return python_type(node.expression, facts, seen)
    if isinstance(node, cst.BinaryOperation):
        return _binary_type(node, facts, seen)
    if isinstance(node, cst.Comparison):
        return TENSOR if facts.is_tensor(node.left) else BOOL
    if isinstance(node, cst.BooleanOperation):
        left = python_type(node.left, facts, seen)
        return left if left == python_type(node.right, facts, seen) else None
    if isinstance(node, cst.Subscript):
        if facts.is_size(node.value):
            # `x.shape[-2:]` is a list of sizes under script, `x.shape[0]` one
            return INT_LIST if any(isinstance(element.slice, cst.Slice)
                                   for element in node.slice) else INT
        return TENSOR if facts.is_tensor(node.value) else None
    if facts.is_tensor(node):
        return TENSOR
    return None


def _name_type(name: str, facts: ValueFacts, seen: frozenset[str]) -> str | None:
    if name in ("True", "False"):
        return BOOL
    if name in seen:
        return None
    if name in facts.tensors:
        return TENSOR
    parameter = facts.parameters.get(name)
    if parameter is not None and parameter.annotation is not None:
        annotation = facts.imports.resolve_or_name(parameter.annotation.annotation)
        return _ANNOTATIONS.get(annotation or "")
    bindings = facts.bindings.get(name)
    if not bindings:
        return None
    types = set()
    for binding in bindings:
        if binding.element:
            types.add(INT if _is_range(binding.value, facts) or facts.is_size(binding.value)
                      else None)
        else:
            types.add(python_type(binding.value, facts, seen | {name}))
    return types.pop() if len(types) == 1 else None


def _call_type(node: cst.Call, facts: ValueFacts, seen: frozenset[str]) -> str | None:
    name = facts.imports.resolve_or_name(node.func)
    if name in _CONSTRUCTORS:
        return _CONSTRUCTORS[name]
    if name in ("min", "max", "abs") and node.args:
        types = {python_type(arg.value, facts, seen) for arg in node.args}
        return types.pop() if len(types) == 1 else None
    if isinstance(node.func, cst.Attribute) and node.func.attr.value in SIZE_METHODS:
        return INT if node.args or node.func.attr.value != "size" else None
    if name and name.startswith("math."):
        return INT if name in ("math.floor", "math.ceil", "math.prod") else FLOAT
    return TENSOR if facts.is_tensor(node) else None


def _binary_type(node: cst.BinaryOperation, facts: ValueFacts, seen: frozenset[str]) -> str | None:
    left = python_type(node.left, facts, seen)
    right = python_type(node.right, facts, seen)
    if TENSOR in (left, right):
        return TENSOR
    if left is None or right is None:
        return None
    if left == right == STR and isinstance(node.operator, cst.Add):
        return STR
    if {left, right} <= {INT, BOOL}:
        return FLOAT if isinstance(node.operator, cst.Divide) else INT
    if {left, right} <= {INT, FLOAT, BOOL}:
        return FLOAT
    return None


def _is_range(node: cst.BaseExpression, facts: ValueFacts) -> bool:
    return isinstance(node, cst.Call) and facts.imports.resolve_or_name(node.func) == "range"
