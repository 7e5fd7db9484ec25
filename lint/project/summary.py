"""One file's summary: what the project's link step needs to know about it.

Definitions (functions, classes with their bases, methods and the classes `__init__` builds for
each attribute), imports, the roles the file gives its own functions, and for every function
the calls that may run code of the project (with what each argument is: a tensor, a traced
size, a model weight, or one of the caller's parameters passed through) and what they return.
Made from the parse the lint already did; plain data with a JSON form, cached by the file's
content.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any, Iterator

import libcst as cst

from torchready.lint.analysis.calls import binds_self, returns_of
from torchready.lint.analysis.imports import iter_statements
from torchready.lint.analysis.model_code import (TRAINING_ONLY_SUFFIXES, FunctionInfo, ModelCode,
                                                 is_super_call)
from torchready.lint.analysis.project_facts import returns_from_json, returns_to_json
from torchready.lint.analysis.returns import Returns
from torchready.lint.analysis.values import ValueFacts, is_model_attribute
from torchready.lint.analysis.guards import dead_call_ids_in_all, python_capture_modes
from torchready.lint.targets import CAPTURE_CALLS

# What a call's target is, before the link step resolves it across files.
LOCAL = "local"  # a function of this file: its qualname
NAME = "name"  # an imported (or undefined) name: its qualified name, relative imports as dots
SELF = "self"  # `self.method(...)` not defined in the file: a method of a base of another file
SUPER = "super"  # `super().method(...)` whose base is in another file
ATTRIBUTE = "attribute"  # `self.sub(...)` where `__init__` builds `sub` from an imported class

# What a call passes (one code per argument).
TENSOR, SIZE, WEIGHT, OTHER = "t", "s", "w", ""
PARAMETER = "p:"  # "p:name": the caller's own parameter, passed through

# Qualified-name prefixes that are never code of the project.
EXTERNAL_PREFIXES = ("torch.", "numpy.", "math.", "typing.", "collections.", "functools.",
                     "itertools.", "warnings.", "logging.", "os.", "sys.", "builtins.")


@dataclass
class CallSite:
    index: int  # position of the call among the file's calls (CallIndex order)
    kind: str  # LOCAL, NAME, SELF, SUPER or ATTRIBUTE
    target: str
    line: int
    dead: bool  # in a branch that trace never takes
    method: bool  # a method's `self` is bound by the call (not `Class.method(obj, ...)`)
    arguments: list[tuple[str, str]]  # (position "0" or keyword, argument code)

    def to_json(self) -> list:
        return [self.index, self.kind, self.target, self.line, int(self.dead), int(self.method),
                [list(pair) for pair in self.arguments]]

    @classmethod
    def from_json(cls, data: list) -> "CallSite":
        index, kind, target, line, dead, method, arguments = data
        return cls(index, kind, target, line, bool(dead), bool(method),
                   [(key, code) for key, code in arguments])


@dataclass
class FunctionSummary:
    qualname: str
    positional: list[str]  # positional parameter names, `self` included
    keyword_only: list[str]
    traced: bool = False  # the roles the file gives it by itself
    scripted: bool = False
    explicitly_scripted: bool = False  # scripted by the code itself, whatever the targets
    tensor_parameters: list[str] = field(default_factory=list)  # as the file sees them
    size_parameters: list[str] = field(default_factory=list)
    calls: list[CallSite] = field(default_factory=list)
    returns: Returns | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"p": self.positional}
        if self.keyword_only:
            data["k"] = self.keyword_only
        if self.traced or self.scripted:
            data["r"] = [int(self.traced), int(self.scripted), int(self.explicitly_scripted)]
        if self.tensor_parameters:
            data["t"] = self.tensor_parameters
        if self.size_parameters:
            data["s"] = self.size_parameters
        if self.calls:
            data["c"] = [call.to_json() for call in self.calls]
        if self.returns is not None:
            data["ret"] = returns_to_json(self.returns)
        return data

    @classmethod
    def from_json(cls, qualname: str, data: dict[str, Any]) -> "FunctionSummary":
        traced, scripted, explicit = data.get("r", (0, 0, 0))
        returns = data.get("ret")
        return cls(qualname, data["p"], data.get("k", []), bool(traced), bool(scripted),
                   bool(explicit), data.get("t", []), data.get("s", []),
                   [CallSite.from_json(call) for call in data.get("c", [])],
                   returns_from_json(returns) if returns is not None else None)


@dataclass
class ClassSummary:
    bases: list[str]  # local class names or qualified names, as the imports resolve them
    module: bool = False  # an nn.Module subclass as far as the file can tell
    training_only: bool = False
    attributes: dict[str, str] = field(default_factory=dict)  # attribute -> class built for it
    instantiates: list[str] = field(default_factory=list)  # classes its methods build

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"b": self.bases}
        if self.module:
            data["m"] = 1
        if self.training_only:
            data["x"] = 1
        if self.attributes:
            data["a"] = self.attributes
        if self.instantiates:
            data["i"] = self.instantiates
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ClassSummary":
        return cls(data["b"], bool(data.get("m")), bool(data.get("x")), data.get("a", {}),
                   data.get("i", []))


@dataclass
class FileSummary:
    imports: dict[str, str]
    classes: dict[str, ClassSummary]
    functions: dict[str, FunctionSummary]  # qualname ("f", "Class.method") -> summary
    # What the file passes to torch.jit.script / trace / export: (target, qualified name)
    capture_roots: list[tuple[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"imports": self.imports,
                "classes": {name: item.to_json() for name, item in self.classes.items()},
                "functions": {name: item.to_json() for name, item in self.functions.items()},
                "capture_roots": [list(root) for root in self.capture_roots]}

    def without_lines(self) -> dict[str, Any]:
        """`to_json` with every call's line left out: what the link computes from the file,
        apart from the line numbers its labels (`via file.py:LINE`) quote."""
        data = self.to_json()
        for function in data["functions"].values():
            for call in function.get("c", ()):
                call[3] = 0
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "FileSummary":
        return cls(dict(data["imports"]),
                   {name: ClassSummary.from_json(item) for name, item in data["classes"].items()},
                   {name: FunctionSummary.from_json(name, item)
                    for name, item in data["functions"].items()},
                   [(target, name) for target, name in data.get("capture_roots", [])])


def summarize(context) -> FileSummary:
    """The summary of the file a `FileContext` holds (after or without its lint)."""
    model_code: ModelCode = context.model_code
    imports = context.imports
    lines = _call_lines(context)
    classes = {name: _class_summary(model_code, name) for name in model_code.classes}
    functions: dict[str, FunctionSummary] = {}
    for node, info in list(model_code.infos.items()):
        if info.parent is None:
            functions[info.qualname] = _function_summary(context, info, lines)
    roots = []
    for call in context.calls.calls:
        target = CAPTURE_CALLS.get(imports.resolve(call.func) or "")
        if target and call.args:
            reference = _constructed(call.args[0].value, imports)
            if reference is not None and reference not in model_code.classes and \
                    reference not in model_code.functions:
                roots.append((target, reference))
    return FileSummary(dict(imports.bindings), classes, functions, roots)


def _class_summary(model_code: ModelCode, name: str) -> ClassSummary:
    summary = ClassSummary(model_code.base_names(name), name in model_code.module_classes,
                           name.endswith(TRAINING_ONLY_SUFFIXES))
    for (owner, method), node in model_code.methods.items():
        if owner != name:
            continue
        if method == "__init__":
            for attribute in _self_attributes(node):
                built = model_code.attribute_call(name, attribute)
                reference = model_code.imports.resolve_or_name(built) if built is not None \
                    else None
                if reference and _is_class_name(reference):
                    summary.attributes[attribute] = reference
        if summary.module:
            for call in model_code.calls.calls_in(node):
                reference = model_code.imports.resolve_or_name(call.func)
                if reference and _is_class_name(reference) and \
                        reference != name and reference not in summary.instantiates:
                    summary.instantiates.append(reference)
    return summary


def _self_attributes(init: cst.FunctionDef) -> Iterator[str]:
    body = init.body.body if isinstance(init.body, cst.IndentedBlock) else ()
    for statement in iter_statements(body, enter_definitions=False):
        if isinstance(statement, cst.Assign) and isinstance(statement.value, cst.Call):
            for target in statement.targets:
                node = target.target
                if isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name) and \
                        node.value.value == "self":
                    yield node.attr.value


def _function_summary(context, info: FunctionInfo, lines: list[int] | None) -> FunctionSummary:
    params = info.node.params
    summary = FunctionSummary(
        info.qualname,
        [param.name.value for param in (*params.posonly_params, *params.params)],
        [param.name.value for param in params.kwonly_params],
        info.traced, info.scripted, info.explicitly_scripted)
    sites = [site for site in _call_sites(context, info) if site is not None]
    facts: ValueFacts | None = None
    if sites or info.class_name is None or _returns_a_value(info.node):
        facts = context.facts(info, assume_model_code=True)
        summary.tensor_parameters = sorted(facts.tensors & set(facts.parameters))
        summary.size_parameters = sorted(facts.sizes & set(facts.parameters))
    dead = dead_call_ids_in_all(info.node, python_capture_modes(context.targets),
                                context.imports) if sites else set()
    for kind, target, call in sites:
        index = context.call_numbers[id(call)]
        summary.calls.append(CallSite(
            index, kind, target, lines[index] if lines else _line_of(context, call),
            id(call) in dead, binds_self(call.func),
            list(_argument_codes(call, facts, set(facts.parameters) if facts else set()))))
    if facts is not None:
        summary.returns = returns_of(info.node, facts)
    return summary


def _returns_a_value(function: cst.FunctionDef) -> bool:
    body = function.body.body if isinstance(function.body, cst.IndentedBlock) else ()
    return any(isinstance(statement, cst.Return) and statement.value is not None
               for statement in iter_statements(body, enter_definitions=False))


def _call_sites(context, info: FunctionInfo):
    """(kind, target, call) for the calls of the function that may run project code."""
    model_code: ModelCode = context.model_code
    imports = context.imports
    for call in model_code.calls.calls_in(info.node):
        func = call.func
        callee = model_code.callee(info, call)
        if callee is not None:
            found = model_code.infos.get(callee)
            if found is not None:
                yield LOCAL, found.qualname, call
            continue
        if info.class_name and is_super_call(func):
            yield SUPER, func.attr.value, call
            continue
        if isinstance(func, cst.Name) and info.class_name:
            built = model_code.element_call(info, func.value)  # `for layer in self.layers:`
            reference = imports.resolve(built) if built is not None else None
            if reference and not reference.startswith(EXTERNAL_PREFIXES):
                yield ATTRIBUTE, reference, call
                continue
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and \
                func.value.value == "self" and info.class_name:
            built = model_code.attribute_call(info.class_name, func.attr.value)
            if built is not None:
                reference = imports.resolve(built)
                if reference and not reference.startswith(EXTERNAL_PREFIXES):
                    yield ATTRIBUTE, reference, call
            elif func.attr.value not in ("training",):
                yield SELF, func.attr.value, call
            continue
        reference = imports.resolve(func)
        if reference is not None and not reference.startswith(EXTERNAL_PREFIXES) and \
                not _is_class_name(reference):
            yield NAME, reference, call


def _is_class_name(reference: str) -> bool:
    """`pkg.mod.Attention`: classes are capitalised (what they run when called is their
    `__init__`, not model code)."""
    return reference.rsplit(".", 1)[-1][:1].isupper()


def _argument_codes(call: cst.Call, facts: ValueFacts | None,
                    parameters: set[str]) -> Iterator[tuple[str, str]]:
    position = 0
    for arg in call.args:
        if arg.star:
            return  # the rest cannot be matched to parameters
        key = arg.keyword.value if arg.keyword is not None else str(position)
        if arg.keyword is None:
            position += 1
        value = arg.value
        if isinstance(value, cst.Name) and value.value in parameters and \
                value.value not in facts.bindings:
            code = PARAMETER + value.value
        elif is_model_attribute(value):
            code = WEIGHT
        elif facts is not None and facts.is_shape_size(value):
            code = SIZE
        elif facts is not None and facts.is_confirmed_tensor(value) and \
                not facts.is_sequence(value, ()):
            code = TENSOR
        else:
            code = OTHER
        yield key, code


def _constructed(node: cst.BaseExpression, imports) -> str | None:
    """`Net(...)` / `Net(...).eval()` / `helper` -> the qualified name of what is captured."""
    while isinstance(node, cst.Call):
        if isinstance(node.func, cst.Attribute) and isinstance(node.func.value, cst.Call):
            node = node.func.value  # `Net().eval()`
            continue
        node = node.func
        break
    return imports.resolve_or_name(node)


def _call_lines(context) -> list[int] | None:
    """The line of every call, in CallIndex order, from Python's tree: both trees list calls
    in source order (outer before inner at the same start), so they pair up one to one."""
    if context.python_ast is None:
        return None
    calls = [node for node in ast.walk(context.python_ast) if isinstance(node, ast.Call)]
    if len(calls) != len(context.calls.calls):
        return None
    calls.sort(key=lambda node: (node.lineno, node.col_offset, -(node.end_lineno or 0),
                                 -(node.end_col_offset or 0)))
    return [node.lineno for node in calls]


def _line_of(context, call: cst.Call) -> int:
    return context.range_of(call).start.line
