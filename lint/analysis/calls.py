"""Calls between the functions of one file: which parameter an argument binds, and what a
function returns (so `a, b = self.helper(x)` knows that `b` is a size and `a` a tensor)."""

from __future__ import annotations

import libcst as cst

from torchready.lint.analysis.imports import iter_statements
from torchready.lint.analysis.returns import Returns
from torchready.lint.analysis.values import ValueFacts


def bound_arguments(function: cst.FunctionDef, call: cst.Call):
    """(parameter name, argument expression) pairs of a call, by position and keyword; a
    method's `self` is bound by the call (`self.helper(x)`, `layer(x)` for a module's
    forward) unless the call names the class (`Base.forward(self, x)`)."""
    params = function.params
    positional = [*params.posonly_params, *params.params]
    if positional and positional[0].name.value in ("self", "cls") and \
            binds_self(call.func):
        positional = positional[1:]
    names = {param.name.value for param in (*positional, *params.kwonly_params)}
    index = 0
    for arg in call.args:
        if arg.star:
            return  # `*args`/`**kwargs`: the rest cannot be matched
        if arg.keyword is not None:
            if arg.keyword.value in names:
                yield arg.keyword.value, arg.value
        elif index < len(positional):
            yield positional[index].name.value, arg.value
            index += 1


def returns_of(function: cst.FunctionDef, facts: ValueFacts) -> Returns:
    """Summarize the return statements of a function (not those of nested functions)."""
    tensor = size = False
    elements: list[bool] | None = None
    element_sizes: list[bool] | None = None
    element_sequences: list[bool] | None = None
    tuple_only = True
    for statement in iter_statements(_body(function), enter_definitions=False):
        if not isinstance(statement, cst.Return) or statement.value is None:
            continue
        value = statement.value
        if isinstance(value, (cst.Tuple, cst.List)):
            parts = [element.value for element in value.elements]
            flags = [_holds_tensor(part, facts) for part in parts]
            size_flags = [facts.is_size(part) and not flag for part, flag in zip(parts, flags)]
            sequence_flags = [facts.is_sequence(part, ()) for part in parts]
            tensor = tensor or any(flags)
            if elements is None:
                elements, element_sizes, element_sequences = flags, size_flags, sequence_flags
            else:
                elements = [a or b for a, b in zip(elements, flags)]
                element_sizes = [a or b for a, b in zip(element_sizes, size_flags)]
                element_sequences = [a or b for a, b in zip(element_sequences, sequence_flags)]
        else:
            tuple_only = False
            is_tensor = _holds_tensor(value, facts)
            tensor = tensor or is_tensor
            size = size or (facts.is_size(value) and not is_tensor)
    sequence = elements is not None
    if not tuple_only:
        elements = element_sizes = element_sequences = None
    for statement in iter_statements(_body(function), enter_definitions=False):
        if isinstance(statement, cst.Return) and statement.value is not None and \
                facts.is_sequence(statement.value, ()):
            sequence = True
    return Returns(tensor=tensor, size=size, sequence=sequence,
                   elements=tuple(elements) if elements is not None else None,
                   element_sizes=tuple(element_sizes) if element_sizes is not None else None,
                   element_sequences=tuple(element_sequences)
                   if element_sequences is not None else None)


def _holds_tensor(node: cst.BaseExpression, facts: ValueFacts, depth: int = 0) -> bool:
    """A tensor, or a tuple/list of values holding one (`outputs = (x, attn); return outputs`,
    `return (x,) + outputs[1:]`)."""
    if facts.is_tensor(node):
        return True
    if depth > 3:
        return False
    if isinstance(node, (cst.Tuple, cst.List)):
        return any(_holds_tensor(element.value, facts, depth + 1) for element in node.elements
                   if not isinstance(element, cst.StarredElement))
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Add):
        return _holds_tensor(node.left, facts, depth + 1) or \
            _holds_tensor(node.right, facts, depth + 1)
    if isinstance(node, cst.Name):
        return any(not binding.element and _holds_tensor(binding.value, facts, depth + 1)
                   for binding in facts.bindings.get(node.value, ()))
    return False


def _body(function: cst.FunctionDef):
    body = function.body
    return body.body if isinstance(body, cst.IndentedBlock) else [cst.SimpleStatementLine(body.body)]


def binds_self(func: cst.BaseExpression) -> bool:
    """Whether calling `func` passes the instance implicitly: every call but `Class.method(...)`
    (a capitalised name before the dot)."""
    return not (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name)
                and func.value.value[:1].isupper())

