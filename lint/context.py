"""Per-file state shared by the rules of one traversal.

It owns the parsed module, the file-level analyses (imports, which functions are traced or
scripted, per-function value facts, all computed lazily and once), the function the traversal is
in, and the raw reports. Positions are resolved only when a file has findings: on transformers'
models tree, position metadata alone costs about 2x the parse (measured).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider

from lint.analysis.call_index import CallIndex
from lint.analysis.imports import ImportTable
from lint.analysis.model_code import FunctionInfo, ModelCode
from lint.analysis.values import ValueFacts
from lint.source_io import split_lines

if TYPE_CHECKING:
    from lint.rule import FixSpec, Rule


@dataclass(frozen=True)
class Report:
    rule: type["Rule"]
    node: cst.CSTNode
    message: str
    fix: "FixSpec | None"


class FileContext:
    def __init__(self, path: str, source: str, module: cst.Module) -> None:
        self.path = path
        self.source = source
        self.module = module
        self.reports: list[Report] = []
        self._functions: list[FunctionInfo | None] = []
        self._classes: list[cst.ClassDef] = []
        self._scopes: list[cst.Module | cst.FunctionDef] = [module]
        self._nodes: list[cst.CSTNode] = []

    # -- analyses ---------------------------------------------------------------------------
    @cached_property
    def imports(self) -> ImportTable:
        return ImportTable.from_module(self.module)

    @cached_property
    def calls(self) -> CallIndex:
        return CallIndex(self.module)

    @cached_property
    def model_code(self) -> ModelCode:
        return ModelCode(self.module, self.imports, self.calls)

    @cached_property
    def lines(self) -> list[str]:
        return split_lines(self.source)

    def facts(self, info: FunctionInfo) -> ValueFacts:
        if info.parent is not None:
            return self.facts(info.parent)  # a nested function sees its parent's names
        if info._facts is None:
            info._facts = ValueFacts(info.node, self.imports, model_code=info.is_model_code)
        return info._facts  # type: ignore[return-value]

    def qualified_name(self, node: cst.BaseExpression) -> str | None:
        return self.imports.resolve(node)

    # -- where the traversal is -------------------------------------------------------------
    @property
    def function(self) -> FunctionInfo | None:
        """The innermost enclosing function, if it is traced or scripted code."""
        return self._functions[-1] if self._functions else None

    @property
    def current_class(self) -> cst.ClassDef | None:
        return self._classes[-1] if self._classes else None

    @property
    def scope(self) -> cst.Module | cst.FunctionDef:
        """The innermost function (any function, model code or not), or the module."""
        return self._scopes[-1]

    @property
    def parent(self) -> cst.CSTNode | None:
        """The parent of the node being visited (valid inside visit_* methods)."""
        return self._nodes[-2] if len(self._nodes) > 1 else None

    def enter(self, node: cst.CSTNode) -> None:
        self._nodes.append(node)
        if isinstance(node, cst.FunctionDef):
            self._functions.append(self.model_code.info_for(node, self.function))
            self._scopes.append(node)
        elif isinstance(node, cst.ClassDef):
            self._classes.append(node)

    def leave(self, node: cst.CSTNode) -> None:
        self._nodes.pop()
        if isinstance(node, cst.FunctionDef):
            self._functions.pop()
            self._scopes.pop()
        elif isinstance(node, cst.ClassDef):
            self._classes.pop()

    # -- reports ----------------------------------------------------------------------------
    def add_report(self, rule: "Rule", node: cst.CSTNode, message: str,
                   fix: "FixSpec | None") -> None:
        self.reports.append(Report(type(rule), node, message, fix))

    @cached_property
    def positions(self):
        wrapper = MetadataWrapper(self.module, unsafe_skip_copy=True)
        return wrapper.resolve(PositionProvider)

    def range_of(self, node: cst.CSTNode) -> CodeRange:
        return self.positions[node]
