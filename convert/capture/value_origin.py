"""Where a value that Python pulled out of a trace came from: the input's data, its shape, or
the model's own constants.

A TracerWarning is raised while the tracer is still recording, inside the frame that converts
the value. At that moment every tensor the frame can see still has its graph value
(`torch._C._get_value_trace`), so we can walk the recorded producers backwards: reaching a graph
input through data ops means the value depends on the input's contents (`x.sum() > 0`); stopping
at `aten::size` means it depends on the input's shape (`math.sqrt(q.size(-1))`, transformers'
`q_length > 1`); reaching only parameters (`prim::TracedAttr`) and constants means it is the same
for every input (`self.scale.item()`), so freezing it is harmless.

Only the operands of the converting expression are looked at (the `if` test, the arguments of
`float(...)`/`math.sqrt(...)`, the receiver of `.item()`), and a name used only through a shape
accessor (`y` in `y.size(1)`) counts as shape, not data.

When the converted value is what a plain Python function returned (`if use_gqa_in_sdpa(mask, key,
value):` in transformers), its arguments say nothing: the function may only have measured them.
Its `return` expressions are read instead, with each parameter standing for the argument passed
(`key.shape[-1] == value.shape[-1] <= 256` reads shapes only). The function is followed only when
every name its returns use is a parameter it never reassigns, or a global; anything computed in
the function falls back to the arguments, which is never less careful.
"""

from __future__ import annotations

import ast
import builtins
from types import FrameType
from typing import Any

from torchready.convert.python_source import call_name, expressions_at

SIZE_KINDS = {"aten::size", "aten::dim", "aten::numel", "aten::sym_size", "aten::len"}
PARAMETER_KINDS = {"prim::TracedAttr", "prim::GetAttr"}
_SHAPE_METHODS = {"size", "dim", "numel", "nelement", "ndimension"}
_CONVERSIONS = {"float", "int", "bool", "round", "item", "tolist", "numpy", "tensor",
                "as_tensor", "from_numpy", "sqrt", "floor", "ceil", "log", "log2", "exp", "pow"}


def value_origins(value: Any, limit: int = 5000) -> set[str]:
    """{"data", "shape", "parameter", "constant"} reached walking a graph value's producers."""
    found: set[str] = set()
    stack = [value]
    seen: set[str] = set()
    while stack and len(seen) < limit:
        current = stack.pop()
        name = current.debugName() + str(id(current.node()))
        if name in seen:
            continue
        seen.add(name)
        node = current.node()
        kind = node.kind()
        if kind in SIZE_KINDS:
            found.add("shape")
        elif kind == "prim::Param":
            found.add("data")
        elif kind in PARAMETER_KINDS:
            found.add("parameter")
        elif kind == "prim::Constant" or node.inputsSize() == 0:
            found.add("constant")
        else:
            stack.extend(node.inputs())
    return found


def _tensor_origins(obj: Any) -> set[str]:
    import torch

    if isinstance(obj, torch.Tensor):
        try:
            return value_origins(torch._C._get_value_trace(obj))
        except Exception:  # a tensor made outside the trace (a global, a cached buffer)
            return {"constant"}
    if isinstance(obj, (list, tuple)):
        found: set[str] = set()
        for item in obj[:64]:
            found |= _tensor_origins(item)
        return found
    return set()


def _operands(expression: ast.AST) -> tuple[list[ast.AST], bool]:
    """The values `expression` computes with (maximal Name/Attribute chains, receivers of method
    calls), and whether it measures a tensor (`.shape`, `.size()`, `len()`: those receivers are
    not operands, only their shape is)."""
    operands: list[ast.AST] = []
    measured = False

    def visit(node: ast.AST) -> None:
        nonlocal measured
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute):
                if func.attr in _SHAPE_METHODS:
                    measured = True
                else:
                    visit(func.value)  # `x` in `x.sum()`
            elif isinstance(func, ast.Name) and func.id == "len":
                measured = True
                return
            for argument in node.args:
                visit(argument)
            for keyword in node.keywords:
                visit(keyword.value)
            return
        if isinstance(node, ast.Attribute):
            if node.attr == "shape":
                measured = True
            else:
                operands.append(node)  # the whole chain: `self.scale`
            return
        if isinstance(node, ast.Name):
            operands.append(node)
            return
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(expression)
    return operands, measured


def _evaluate(node: ast.AST, frame: FrameType) -> Any:
    if isinstance(node, ast.Name):
        for scope in (frame.f_locals, frame.f_globals, vars(builtins)):
            if node.id in scope:
                return scope[node.id]
        raise LookupError(node.id)
    if isinstance(node, ast.Attribute):
        return _stored_attribute(_evaluate(node.value, frame), node.attr)
    raise LookupError(type(node).__name__)


def _stored_attribute(obj: Any, name: str) -> Any:
    """An attribute's stored value, never running a property: evaluating user code here would
    record extra ops into the trace that is being taken."""
    for store in ("_parameters", "_buffers", "_modules"):
        values = getattr(obj, "__dict__", {}).get(store)
        if isinstance(values, dict) and name in values:
            return values[name]
    values = getattr(obj, "__dict__", None)
    if isinstance(values, dict) and name in values:
        return values[name]
    raise LookupError(name)


def _converting_expression(path: str, line: int) -> list[ast.AST]:
    """The part of the line that turns a tensor into Python: conversion calls if any, else the
    statement's header expressions (an `if` test, the iterable of a loop)."""
    expressions = expressions_at(path, line)
    calls = [node for expression in expressions for node in ast.walk(expression)
             if isinstance(node, ast.Call) and getattr(node, "lineno", None) == line
             and call_name(node).rsplit(".", 1)[-1] in _CONVERSIONS]
    if calls:
        parts: list[ast.AST] = []
        for call in calls:
            parts += list(call.args)
            if isinstance(call.func, ast.Attribute) and call.func.attr in ("item", "tolist",
                                                                            "numpy"):
                parts.append(call.func.value)
        return parts
    return expressions


def origin_at(frame: FrameType | None, path: str, line: int) -> frozenset[str]:
    """What the value converted at `path:line` depends on, seen from the live frame."""
    if frame is None:
        return frozenset()
    found: set[str] = set()
    for expression in _converting_expression(path, line):
        followed = _returned_values(expression, frame)
        if followed is not None:
            values, measured = followed
            if measured:
                found.add("shape")
            for value in values:
                found |= _tensor_origins(value)
            continue
        operands, measured = _operands(expression)
        if measured:
            found.add("shape")
        for operand in operands:
            try:
                value = _evaluate(operand, frame)
            except Exception:
                continue
            found |= _tensor_origins(value)
    return frozenset(found)


def _returned_values(expression: ast.AST, frame: FrameType) -> tuple[list[Any], bool] | None:
    """For `f(...)` (or `not f(...)`) calling a plain Python function: the values its `return`
    expressions read (arguments standing in for parameters, globals) and whether they measure a
    shape; None when the call cannot be followed that way."""
    import inspect
    import textwrap
    import types

    while isinstance(expression, ast.UnaryOp) and isinstance(expression.op, ast.Not):
        expression = expression.operand
    if not isinstance(expression, ast.Call) or any(
            isinstance(a, ast.Starred) for a in expression.args) or any(
            k.arg is None for k in expression.keywords):
        return None
    try:
        function = _callable(expression.func, frame)
    except LookupError:
        return None
    bound_self = getattr(function, "__self__", None)
    plain = getattr(function, "__func__", function)
    if not isinstance(plain, types.FunctionType):
        return None
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(plain)))
        arguments = inspect.signature(function).bind(*expression.args, **{
            k.arg: k.value for k in expression.keywords})
    except (OSError, TypeError, SyntaxError, ValueError):
        return None
    definition = next((node for node in tree.body
                       if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))), None)
    if definition is None:
        return None
    arguments.apply_defaults()
    parameters = dict(arguments.arguments)
    if bound_self is not None and definition.args.args:
        parameters[definition.args.args[0].arg] = bound_self
    assigned = {node.id for node in ast.walk(definition)
                if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del))}
    values: list[Any] = []
    measured_any = False
    for node in _own_returns(definition):
        operands, measured = _operands(node.value)
        measured_any |= measured
        for operand in operands:
            root = operand
            while isinstance(root, ast.Attribute):
                root = root.value
            if not isinstance(root, ast.Name) or root.id in assigned:
                return None  # computed in the function (a local, a reassigned parameter)
            if root.id in parameters:
                try:
                    value = _argument_value(parameters[root.id], frame)
                except LookupError:
                    return None
            elif root.id in plain.__globals__:
                value = plain.__globals__[root.id]
            elif hasattr(builtins, root.id):
                continue
            else:
                return None
            try:
                values.append(_attribute_chain(value, operand))
            except LookupError:
                return None
    return values, measured_any


def _argument_value(argument: Any, frame: FrameType) -> Any:
    """The value a parameter was bound to: a default, a literal, or a name in the caller."""
    if not isinstance(argument, ast.AST):
        return argument  # the parameter's default value
    if isinstance(argument, ast.Constant):
        return argument.value
    return _evaluate(argument, frame)  # LookupError for anything computed at the call


def _own_returns(definition: ast.AST) -> list[ast.Return]:
    """The function's `return value` statements, not those of functions nested in it."""
    found: list[ast.Return] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda,
                                  ast.ClassDef)):
                continue
            if isinstance(child, ast.Return) and child.value is not None:
                found.append(child)
            visit(child)

    visit(definition)
    return found


def _attribute_chain(value: Any, operand: ast.AST) -> Any:
    """`value` followed along the attributes of `operand` (`config.x` -> value.x)."""
    chain = []
    while isinstance(operand, ast.Attribute):
        chain.append(operand.attr)
        operand = operand.value
    for name in reversed(chain):
        value = _stored_attribute(value, name)
    return value


def _callable(node: ast.AST, frame: FrameType) -> Any:
    """The function a call's `func` names, without running any property: a name, a module's
    function, or a method found on the receiver's class."""
    if isinstance(node, ast.Attribute):
        receiver = _evaluate(node.value, frame)
        try:
            return _stored_attribute(receiver, node.attr)
        except LookupError:
            for klass in type(receiver).__mro__:
                candidate = vars(klass).get(node.attr)
                if candidate is not None:
                    if isinstance(candidate, staticmethod):
                        return candidate.__func__
                    if callable(candidate) and hasattr(candidate, "__get__"):
                        return candidate.__get__(receiver, type(receiver))
                    raise LookupError(node.attr)
            raise
    return _evaluate(node, frame)


def find_frame(start: FrameType | None, path: str, line: int) -> FrameType | None:
    frame = start
    while frame is not None:
        if frame.f_code.co_filename == path and frame.f_lineno == line:
            return frame
        frame = frame.f_back
    return None
