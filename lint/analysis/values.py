"""What the values inside one function are: sizes, tensors, or plain Python data.

A *size* comes from `t.size(...)`, `t.shape` (and its indexing or unpacking), `t.dim()`,
`t.numel()`, `len(t)` of a tensor, or is computed from sizes by assignments in the same function
(`d = x.size(-1); h = d // 4` makes `h` a size). Under `torch.jit.trace` sizes are 0-dim tensors
whose arithmetic with Python operators is recorded; converting one to a Python number bakes the
example's value into the trace.

A *tensor* is a parameter of a traced or scripted function (unless annotated or defaulted as something else),
the result of a `torch.*` call, of calling a submodule (`self.proj(x)`), of a tensor method, or of
arithmetic and indexing on tensors. The analysis is flow-insensitive: a name is a size (tensor) if
any assignment in the function makes it one. That is the right bias for a linter that must not
miss the talk's `d = x.size(-1); math.sqrt(d)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import libcst as cst

from lint.analysis.imports import ImportTable, dotted_name, iter_statements

SIZE_METHODS = {"size", "dim", "numel", "ndimension", "nelement"}
SIZE_ATTRIBUTES = {"shape", "ndim"}
SIZE_PRESERVING_BUILTINS = {"min", "max", "abs", "int", "float", "round", "sum"}
NON_TENSOR_ANNOTATIONS = {"int", "float", "bool", "str", "List", "list", "Tuple", "tuple",
                          "Dict", "dict", "typing.List", "typing.Tuple", "typing.Dict"}
# Tensor methods that return Python data, not tensors.
TENSOR_TO_PYTHON_METHODS = {"item", "tolist", "numpy"} | SIZE_METHODS
NON_TENSOR_TORCH_FUNCTIONS = {"torch.is_tensor", "torch.numel", "torch.is_floating_point",
                              "torch.jit.is_scripting", "torch.jit.is_tracing",
                              "torch.is_grad_enabled", "torch.get_default_dtype"}


@dataclass(frozen=True)
class Binding:
    """One value assigned to a name; `element` when the name is one target of an unpacking."""

    value: cst.BaseExpression
    element: bool = False


class ValueFacts:
    def __init__(self, function: cst.FunctionDef, imports: ImportTable, model_code: bool) -> None:
        self.function = function
        self.imports = imports
        self.bindings: dict[str, list[Binding]] = {}
        self.parameters: dict[str, cst.Param] = {}
        self._collect_parameters(model_code)
        self._collect_bindings()
        # Tensors first: `len(t)` is a size only when `t` is a tensor.
        self.tensors = self._fixpoint(self._binding_is_tensor, seed=self._tensor_parameters)
        self.sizes = self._fixpoint(self._binding_is_size)

    # -- collection -------------------------------------------------------------------------
    def _collect_parameters(self, model_code: bool) -> None:
        params = self.function.params
        for param in (*params.posonly_params, *params.params, *params.kwonly_params):
            self.parameters[param.name.value] = param
        self._tensor_parameters: set[str] = set()
        if not model_code:
            return
        for index, (name, param) in enumerate(self.parameters.items()):
            if index == 0 and name in ("self", "cls"):
                continue
            if param.annotation is not None:
                annotation = self.imports.resolve_or_name(_annotation_head(param.annotation))
                if annotation and annotation.rsplit(".", 1)[-1] in NON_TENSOR_ANNOTATIONS:
                    continue
            if param.default is not None and not _is_none(param.default):
                continue  # `scale=1.0`, `flag=True`: Python values, not inputs
            self._tensor_parameters.add(name)

    def _collect_bindings(self) -> None:
        for statement in iter_statements(_suite(self.function.body), enter_definitions=False):
            if isinstance(statement, cst.Assign):
                for target in statement.targets:
                    self._bind(target.target, statement.value)
            elif isinstance(statement, cst.AnnAssign) and statement.value is not None:
                self._bind(statement.target, statement.value)
            elif isinstance(statement, cst.AugAssign):
                self._bind(statement.target, cst.BinaryOperation(
                    left=statement.target, operator=cst.Add(), right=statement.value))
            elif isinstance(statement, (cst.For,)):
                self._bind(statement.target, statement.iter, element=True)

    def _bind(self, target: cst.BaseExpression, value: cst.BaseExpression,
              element: bool = False) -> None:
        if isinstance(target, cst.Name):
            self.bindings.setdefault(target.value, []).append(Binding(value, element))
        elif isinstance(target, (cst.Tuple, cst.List)):
            values = value.elements if isinstance(value, (cst.Tuple, cst.List)) else None
            for index, item in enumerate(target.elements):
                inner = item.value
                if isinstance(inner, cst.StarredElement):
                    inner = inner.value
                if values is not None and index < len(values):
                    self._bind(inner, values[index].value, element)
                else:
                    self._bind(inner, value, element=True)

    def _fixpoint(self, rule, seed: set[str] | None = None) -> set[str]:
        found = set(seed or ())
        changed = True
        while changed:
            changed = False
            for name, bindings in self.bindings.items():
                if name not in found and any(rule(binding, found) for binding in bindings):
                    found.add(name)
                    changed = True
        return found

    # -- sizes ------------------------------------------------------------------------------
    def _binding_is_size(self, binding: Binding, sizes: set[str]) -> bool:
        return self._is_size(binding.value, sizes)

    def is_size(self, node: cst.BaseExpression) -> bool:
        return self._is_size(node, self.sizes)

    def _is_size(self, node: cst.BaseExpression, sizes: set[str]) -> bool:
        if isinstance(node, cst.Name):
            return node.value in sizes
        if isinstance(node, cst.Attribute):
            return node.attr.value in SIZE_ATTRIBUTES and not _is_self(node.value)
        if isinstance(node, cst.Subscript):
            return self._is_size(node.value, sizes)
        if isinstance(node, cst.Call):
            func = node.func
            if isinstance(func, cst.Attribute) and func.attr.value in SIZE_METHODS:
                return not _is_self(func.value)
            name = self.imports.resolve_or_name(func)
            if name == "len" and node.args:
                argument = node.args[0].value
                return self.is_tensor(argument) or self._is_size(argument, sizes)
            if name in SIZE_PRESERVING_BUILTINS:
                return any(self._is_size(arg.value, sizes) for arg in node.args)
            if name == "torch.numel":
                return True
            return False
        if isinstance(node, cst.BinaryOperation):
            return self._is_size(node.left, sizes) or self._is_size(node.right, sizes)
        if isinstance(node, cst.UnaryOperation):
            return self._is_size(node.expression, sizes)
        if isinstance(node, cst.IfExp):
            return self._is_size(node.body, sizes) or self._is_size(node.orelse, sizes)
        return False

    def mentions_size(self, node: cst.BaseExpression) -> bool:
        """True when the expression or any part of it is a size."""
        return any(self.is_size(part) for part in _expressions(node))

    # -- tensors ----------------------------------------------------------------------------
    def _binding_is_tensor(self, binding: Binding, tensors: set[str]) -> bool:
        return self._is_tensor(binding.value, tensors)

    def is_tensor(self, node: cst.BaseExpression) -> bool:
        return self._is_tensor(node, self.tensors)

    def _is_tensor(self, node: cst.BaseExpression, tensors: set[str]) -> bool:
        if isinstance(node, cst.Name):
            return node.value in tensors
        if isinstance(node, cst.Subscript):
            return self._is_tensor(node.value, tensors)
        if isinstance(node, cst.Call):
            return self._call_is_tensor(node, tensors)
        if isinstance(node, cst.BinaryOperation):
            return self._is_tensor(node.left, tensors) or self._is_tensor(node.right, tensors)
        if isinstance(node, cst.UnaryOperation):
            return self._is_tensor(node.expression, tensors)
        if isinstance(node, cst.IfExp):
            return self._is_tensor(node.body, tensors) or self._is_tensor(node.orelse, tensors)
        if isinstance(node, cst.Attribute):
            # `x.T`, `x.mT`, `x.real`: tensor views; `self.weight` is a parameter.
            if node.attr.value in ("T", "mT", "H", "real", "imag", "data"):
                return self._is_tensor(node.value, tensors)
            return _is_self(node.value) and node.attr.value in ("weight", "bias")
        return False

    def _call_is_tensor(self, node: cst.Call, tensors: set[str]) -> bool:
        func = node.func
        name = self.imports.resolve(func)
        if name is not None:
            if name in NON_TENSOR_TORCH_FUNCTIONS:
                return False
            return name.startswith("torch.") and name.rsplit(".", 1)[-1][:1].islower()
        if isinstance(func, cst.Attribute):
            if func.attr.value in TENSOR_TO_PYTHON_METHODS:
                return False
            if _is_self(func.value):
                return True  # calling a submodule or a helper of the model
            return self._is_tensor(func.value, tensors)
        return False


def _annotation_head(annotation: cst.Annotation) -> cst.BaseExpression:
    node = annotation.annotation
    return node.value if isinstance(node, cst.Subscript) else node


def _is_none(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Name) and node.value == "None"


def _is_self(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Name) and node.value == "self" or (
        isinstance(node, cst.Attribute) and _is_self(node.value))


def _suite(body: cst.BaseSuite):
    return body.body if isinstance(body, cst.IndentedBlock) else [cst.SimpleStatementLine(body.body)]


def _expressions(node: cst.CSTNode) -> Iterator[cst.BaseExpression]:
    collector = _ExpressionCollector()
    node.visit(collector)
    return iter(collector.found)


class _ExpressionCollector(cst.CSTVisitor):
    def __init__(self) -> None:
        self.found: list[cst.BaseExpression] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, cst.BaseExpression):
            self.found.append(node)
        # A nested function or lambda has its own values.
        return not isinstance(node, (cst.Lambda, cst.FunctionDef))


__all__ = ["ValueFacts", "dotted_name"]
