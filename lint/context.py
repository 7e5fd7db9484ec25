"""Per-file state shared by the rules of one traversal.

It owns the parsed module, the capture targets, what the rest of the project says about the
file, the file-level analyses (imports, which functions are traced or scripted, per-function
value facts, all computed lazily and once), the function the traversal is in, and the raw
reports. Positions are resolved only when a file has findings: on transformers' models tree,
position metadata alone costs about 2x the parse (measured).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cached_property

import libcst as cst
from libcst.metadata import CodeRange

from torchready.lint.analysis.call_flow import CallFlow
from torchready.lint.analysis.call_index import CallIndex
from torchready.lint.analysis.imports import ImportTable
from torchready.lint.analysis.model_code import FunctionInfo, ModelCode
from torchready.lint.analysis.calls import bound_arguments
from torchready.lint.analysis.project_facts import ProjectFacts
from torchready.lint.analysis.returns import Returns
from torchready.lint.analysis.values import ValueFacts, is_model_attribute
from torchready.lint.fix_spec import FixSpec
from torchready.lint.source_io import split_lines
from torchready.lint.statement_positions import StatementPositions
from torchready.lint.targets import DEFAULT_TARGETS, PYTHON_RUNNING, SCRIPT, canonical
from torchready.lint.types import Severity


@dataclass(frozen=True)
class Report:
    code: str  # the rule's code, name and severity
    name: str
    severity: Severity
    node: cst.CSTNode
    message: str
    fix: FixSpec | None
    # The innermost statement being visited when the rule reported (of those whose line Python's
    # parser gives): the node is almost always inside it, so only that statement needs positions.
    anchor: cst.CSTNode | None = None
    targets: tuple[str, ...] = ()


class FileContext:
    def __init__(self, path: str, source: str, module: cst.Module,
                 python_ast: ast.Module | None = None,
                 targets: tuple[str, ...] = DEFAULT_TARGETS,
                 project: ProjectFacts | None = None) -> None:
        self.path = path
        self.source = source
        self.module = module
        self.python_ast = python_ast  # the same file parsed by Python (exact line numbers)
        self.targets = targets  # the capture targets checked for
        self.project = project or ProjectFacts()
        # Report only in code other files reach (an installed module read for its facts).
        self.only_reached = False
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
        return ModelCode(self.module, self.imports, self.calls, self.targets, self.project)

    @cached_property
    def call_numbers(self) -> dict[int, int]:
        """id(call) -> its index among the file's calls (how project facts name a call)."""
        return {id(call): index for index, call in enumerate(self.calls.calls)}

    @cached_property
    def lines(self) -> list[str]:
        return split_lines(self.source)

    @cached_property
    def call_flow(self) -> CallFlow:
        """What callers pass and callees return among this file's captured functions."""
        return CallFlow(
            self.model_code,
            lambda info, flow: self._build_facts(info, self._default_mode(info),
                                                 info.is_model_code, flow),
            lambda info: self.project.tensor_parameters.get(info.qualname, frozenset()),
            lambda info: self.project.size_parameters.get(info.qualname, frozenset()))

    def facts(self, info: FunctionInfo, mode: str | None = None,
              assume_model_code: bool = False) -> ValueFacts:
        """The value facts of the function (a nested function sees its parent's names), for
        capture in `mode` (default: trace when it is traced, else script). With
        `assume_model_code`, as if it were captured even when nothing here reaches it."""
        info = info.root
        default = self._default_mode(info)
        mode = mode or default or ("trace" if assume_model_code else None)
        model_code = info.is_model_code or assume_model_code
        key = (mode, model_code)
        found = info._facts.get(key)
        if found is None:
            if mode == default and model_code == info.is_model_code:
                found = self.call_flow.facts.get(id(info))
            if found is None:
                found = self._build_facts(info, mode, model_code, self.call_flow)
            info._facts[key] = found
        return found

    @staticmethod
    def _default_mode(info: FunctionInfo) -> str | None:
        return "trace" if info.traced else "script" if info.scripted else None

    def _build_facts(self, info: FunctionInfo, mode: str | None, model_code: bool,
                     flow: CallFlow) -> ValueFacts:
        return ValueFacts(
            info.node, self.imports, model_code=model_code, mode=mode,
            tensor_arguments=lambda: flow.tensor_arguments(info),
            root=info.name == "forward" and info.class_name
            not in self.model_code.submodule_classes,
            call_returns=lambda call: self._call_returns(info, call, flow),
            weight_arguments=lambda: self._weight_arguments(info),
            size_arguments=lambda: flow.size_arguments(info),
            sequence_arguments=lambda: flow.sequence_arguments(info))

    def _call_returns(self, caller: FunctionInfo, call: cst.Call,
                      flow: CallFlow) -> Returns | None:
        """What the function that `call` runs returns (None: not known): a function of this
        file, or one of another file of the project."""
        callee = self.model_code.callee(caller, call)
        if callee is not None:
            return flow.callee_returns(callee)
        if not self.project.call_returns:
            return None
        return self.project.call_returns.get(self.call_numbers.get(id(call), -1))

    def _weight_arguments(self, info: FunctionInfo) -> set[str]:
        """Parameters of a helper that every call in model code passes a model attribute to
        (`get_abs_pos(self.position_embeddings, ...)`); for a helper other files call too, the
        project's answer over all of its callers."""
        project = self.project.weight_parameters.get(info.qualname)
        if project is not None:
            return set(project)
        sites = self.model_code.call_sites.get(id(info.node))
        if not sites:
            return set()
        passed: dict[str, list[bool]] = {}
        for _, call in sites:
            for name, value in bound_arguments(info.node, call):
                passed.setdefault(name, []).append(is_model_attribute(value))
        return {name for name, flags in passed.items()
                if all(flags) and len(flags) == len(sites)}

    def captures(self, info: FunctionInfo | None) -> tuple[str, ...]:
        """The targets under which the function runs (all targets outside functions)."""
        if info is None:
            return self.targets
        found = set(PYTHON_RUNNING & set(self.targets)) if info.traced else set()
        if info.scripted:
            found.add(SCRIPT)
        return canonical(found)

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
    def ancestors(self) -> list[cst.CSTNode]:
        """The nodes from the module down to the node being visited (read-only)."""
        return self._nodes

    @property
    def parent(self) -> cst.CSTNode | None:
        """The parent of the node being visited (valid inside visit_* methods)."""
        return self._nodes[-2] if len(self._nodes) > 1 else None

    # The traversal calls these for every node: `type(node) is`, not isinstance (see walk.py's
    # `_Subclasses`).
    def enter(self, node: cst.CSTNode) -> None:
        self._nodes.append(node)
        if type(node) is cst.FunctionDef:
            self._functions.append(self.model_code.info_for(node, self.function))
            self._scopes.append(node)
        elif type(node) is cst.ClassDef:
            self._classes.append(node)

    def leave(self, node: cst.CSTNode) -> None:
        self._nodes.pop()
        if type(node) is cst.FunctionDef:
            self._functions.pop()
            self._scopes.pop()
        elif type(node) is cst.ClassDef:
            self._classes.pop()

    # -- reports ----------------------------------------------------------------------------
    def add_report(self, code: str, name: str, severity: Severity, node: cst.CSTNode,
                   message: str, fix: FixSpec | None, targets: tuple[str, ...] = ()) -> None:
        anchor = self._positions.innermost(self._nodes)
        self.reports.append(Report(code, name, severity, node, message, fix, anchor, targets))

    # -- positions --------------------------------------------------------------------------
    def range_of(self, node: cst.CSTNode, anchor: cst.CSTNode | None = None) -> CodeRange:
        """libcst's position of `node`; `anchor`: a statement around it (a report's), which
        spares generating the code of the whole module (see statement_positions.py)."""
        return self._positions.range_of(node, anchor)

    @cached_property
    def _positions(self) -> StatementPositions:
        return StatementPositions(self.module, self.python_ast)
