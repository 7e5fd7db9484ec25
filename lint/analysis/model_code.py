"""Which functions of a file run under `torch.jit.trace` or `torch.jit.script`.

Rules about traced/scripted code only apply there. Traced code is the `forward` of every
`nn.Module` subclass (directly, or through classes of the same file) and whatever it calls in the
same file (`self.helper(...)`, `module_function(...)`). Scripted code is what is decorated with or
passed to `torch.jit.script` (a function, a class, or an instance `torch.jit.script(Net(...))`),
and what it calls. A forward that the file scripts is scripted, not traced: script compiles its
control flow instead of recording one path through it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from functools import cached_property
from typing import Iterator

import libcst as cst

from torchready.lint.analysis.call_index import CallIndex
from torchready.lint.analysis.guards import TRACE, dead_call_ids
from torchready.lint.analysis.imports import ImportTable, iter_statements
from torchready.lint.analysis.walk import walk

SCRIPT = {"torch.jit.script", "torch.jit.script_method", "torch.jit.export"}
NOT_COMPILED = {"torch.jit.ignore", "torch.jit.unused"}
# Bases that are nn.Module subclasses defined outside the file. Model libraries import them with
# relative imports, so they are matched by their last name.
SELF_RETURNING_METHODS = {"eval", "train", "to", "cpu", "float", "half", "requires_grad_"}
MODULE_BASE_NAMES = {"PreTrainedModel", "GradientCheckpointingLayer", "ModelMixin"}
MODULE_BASE_SUFFIXES = ("PreTrainedModel", "PretrainedModel")
# Modules that only run in training (losses, DETR-style target matchers): nobody captures them
# for inference, so their forward is not traced code.
TRAINING_ONLY_SUFFIXES = ("Loss", "Criterion", "Matcher")


@dataclass(eq=False)
class FunctionInfo:
    node: cst.FunctionDef
    class_name: str | None
    traced: bool = False
    scripted: bool = False
    parent: "FunctionInfo | None" = None
    _facts: object | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.node.name.value

    @property
    def qualname(self) -> str:
        return f"{self.class_name}.{self.name}" if self.class_name else self.name

    @property
    def is_model_code(self) -> bool:
        return self.traced or self.scripted


def decorator_names(node: cst.FunctionDef | cst.ClassDef, imports: ImportTable) -> set[str]:
    names = set()
    for decorator in node.decorators:
        target = decorator.decorator
        if isinstance(target, cst.Call):
            target = target.func
        name = imports.resolve_or_name(target)
        if name:
            names.add(name)
    return names


def iter_calls(node: cst.CSTNode) -> Iterator[cst.Call]:
    return (child for child in walk(node) if isinstance(child, cst.Call))


class ModelCode:
    """The roles of every function and method of one file."""

    def __init__(self, module: cst.Module, imports: ImportTable, calls: CallIndex) -> None:
        self.imports = imports
        self.calls = calls
        self.classes: dict[str, cst.ClassDef] = {}
        self.methods: dict[tuple[str, str], cst.FunctionDef] = {}
        self.functions: dict[str, cst.FunctionDef] = {}
        self.infos: dict[cst.FunctionDef, FunctionInfo] = {}
        # Callee (by id) -> the calls of it in model code: where its arguments come from.
        self.call_sites: dict[int, list[tuple[FunctionInfo, cst.Call]]] = {}
        self._attribute_classes: dict[tuple[str, str], str] | None = None
        self._collect(module)
        self.module_classes = self._module_classes()
        self._assign_roles(module)

    # -- collection -------------------------------------------------------------------------
    def _collect(self, module: cst.Module) -> None:
        for statement in iter_statements(module.body):
            if isinstance(statement, cst.ClassDef):
                self.classes.setdefault(statement.name.value, statement)
                for item in _suite(statement.body):
                    if isinstance(item, cst.FunctionDef):
                        self.methods[(statement.name.value, item.name.value)] = item
                        self.infos[item] = FunctionInfo(item, statement.name.value)
        for statement in _top_level(module.body):
            if isinstance(statement, cst.FunctionDef):
                self.functions[statement.name.value] = statement
                self.infos[statement] = FunctionInfo(statement, None)

    def base_names(self, class_name: str) -> list[str]:
        node = self.classes[class_name]
        names = []
        for base in node.bases:
            name = self.imports.resolve_or_name(base.value)
            if name:
                names.append(name)
        return names

    def _module_classes(self) -> set[str]:
        found: set[str] = set()
        changed = True
        while changed:
            changed = False
            for name in self.classes:
                if name in found:
                    continue
                if any(self._is_module_base(base, found) for base in self.base_names(name)):
                    found.add(name)
                    changed = True
        return found

    def _is_module_base(self, base: str, known: set[str]) -> bool:
        last = base.rsplit(".", 1)[-1]
        if base in known:
            return True
        if base.startswith(("torch.nn.", "nn.")) and last[:1].isupper():
            return True  # `nn.Module` even in a snippet that does not import nn
        if base.startswith("torch.jit.") and last in {"ScriptModule", "RecursiveScriptModule"}:
            return True
        # `EsmPreTrainedModel` imported from a sibling modeling file: a model base class.
        return last in MODULE_BASE_NAMES or last.endswith(MODULE_BASE_SUFFIXES)

    def class_lineage(self, class_name: str) -> Iterator[str]:
        """The class and its same-file bases, nearest first (for method lookup)."""
        seen: set[str] = set()
        queue = deque([class_name])
        while queue:
            name = queue.popleft()
            if name in seen or name not in self.classes:
                continue
            seen.add(name)
            yield name
            queue.extend(base.rsplit(".", 1)[-1] for base in self.base_names(name))

    def find_method(self, class_name: str, method: str) -> cst.FunctionDef | None:
        for name in self.class_lineage(class_name):
            found = self.methods.get((name, method))
            if found is not None:
                return found
        return None

    # -- roles ------------------------------------------------------------------------------
    def _assign_roles(self, module: cst.Module) -> None:
        scripted_roots = list(self._scripted_roots(module))
        # Scripting a model scripts its submodules and helpers too: what script reaches is
        # compiled, not traced.
        self._propagate(scripted_roots, "scripted")
        traced_roots = [
            forward
            for name in self.module_classes
            if (forward := self.methods.get((name, "forward"))) is not None
            and not self.infos[forward].scripted and not name.endswith(TRAINING_ONLY_SUFFIXES)
        ]
        self._propagate(traced_roots, "traced")

    def _scripted_roots(self, module: cst.Module) -> Iterator[cst.FunctionDef]:
        for node, info in self.infos.items():
            if decorator_names(node, self.imports) & SCRIPT:
                yield node
        for name, node in self.classes.items():
            if decorator_names(node, self.imports) & {"torch.jit.script"}:
                yield from (m for (c, _), m in self.methods.items() if c == name)
        for call in self.calls.calls:
            if self.imports.resolve(call.func) != "torch.jit.script" or not call.args:
                continue
            yield from self._scripted_targets(call.args[0].value, module)

    def _scripted_targets(self, target: cst.BaseExpression, module: cst.Module):
        if isinstance(target, cst.Name) and target.value in self.functions:
            yield self.functions[target.value]
            return
        for class_name in self._instantiated_classes(target, module):
            for method_name in ("forward",):
                method = self.find_method(class_name, method_name)
                if method is not None:
                    yield method
            for (owner, _), method in self.methods.items():
                if owner == class_name and decorator_names(method, self.imports) & SCRIPT:
                    yield method

    def _instantiated_classes(self, target: cst.BaseExpression, module: cst.Module) -> set[str]:
        """`Net(...)` names Net; a variable names the classes it is ever assigned from."""
        if isinstance(target, cst.Call) and isinstance(target.func, cst.Name):
            return {target.func.value} & self.classes.keys()
        if isinstance(target, cst.Call) and isinstance(target.func, cst.Attribute):
            # `Net(...).eval()`, `net.to(device)`: module methods that return the module itself.
            if target.func.attr.value in SELF_RETURNING_METHODS:
                return self._instantiated_classes(target.func.value, module)
        if isinstance(target, cst.Name):
            found = set()
            for assign in _assignments_to(module, target.value):
                found |= self._instantiated_classes(assign, module)
            return found
        return set()

    def _propagate(self, roots: list[cst.FunctionDef], role: str) -> None:
        queue = deque(roots)
        seen: set[int] = set()
        while queue:
            node = queue.popleft()
            if id(node) in seen:
                continue
            seen.add(id(node))
            if role == "scripted" and decorator_names(node, self.imports) & NOT_COMPILED:
                continue
            info = self.infos[node]
            if role == "traced" and info.scripted:
                continue  # a scripted function called from traced code stays compiled
            setattr(info, role, True)
            queue.extend(self._callees(info, role))

    def _callees(self, info: FunctionInfo, role: str) -> Iterator[cst.FunctionDef]:
        # A helper called only in a branch the trace never takes (the loss under
        # `if labels is not None:`, `if self.training:`) is not traced code.
        dead = dead_call_ids(info.node, TRACE, self.imports) if role == "traced" else ()
        for call in self.calls.calls_in(info.node):
            if id(call) in dead:
                continue
            callee = self.callee(info, call)
            if callee is not None:
                self._note_call_site(callee, info, call)
                yield callee

    def _note_call_site(self, callee: cst.FunctionDef, caller: FunctionInfo,
                        call: cst.Call) -> None:
        sites = self.call_sites.setdefault(id(callee), [])
        if all(site_call is not call for _, site_call in sites):
            sites.append((caller, call))

    # -- queries ----------------------------------------------------------------------------
    @cached_property
    def submodule_classes(self) -> set[str]:
        """Classes instantiated by a method of another module class: parts of a bigger model."""
        found = set()
        for (owner, _), method in self.methods.items():
            if owner not in self.module_classes:
                continue
            for call in self.calls.calls_in(method):
                if isinstance(call.func, cst.Name) and call.func.value != owner:
                    found.add(call.func.value)
        return found & self.classes.keys()

    def attribute_class(self, class_name: str, attribute: str) -> str | None:
        """The class of this file that `__init__` assigns to `self.<attribute>`
        (`self.patch_embeddings = PatchEmbeddings(config)`), searching the class's bases."""
        if self._attribute_classes is None:
            self._attribute_classes = {}
            for (owner, method), node in self.methods.items():
                if method != "__init__":
                    continue
                for statement in iter_statements(_suite(node.body), enter_definitions=False):
                    if not (isinstance(statement, cst.Assign) and isinstance(statement.value, cst.Call)
                            and isinstance(statement.value.func, cst.Name)
                            and statement.value.func.value in self.classes):
                        continue
                    for target in statement.targets:
                        target = target.target
                        if isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name) \
                                and target.value.value == "self":
                            self._attribute_classes.setdefault(
                                (owner, target.attr.value), statement.value.func.value)
        for name in self.class_lineage(class_name):
            found = self._attribute_classes.get((name, attribute))
            if found is not None:
                return found
        return None

    def callee(self, caller: FunctionInfo, call: cst.Call) -> cst.FunctionDef | None:
        """The function of this file a call runs: `helper(...)`, `self.method(...)`, or the
        forward of a submodule built in `__init__` (`self.embeddings(...)`)."""
        func = call.func
        if isinstance(func, cst.Name):
            return self.functions.get(func.value)
        if not (caller.class_name and isinstance(func, cst.Attribute)
                and isinstance(func.value, cst.Name)
                and func.value.value in ("self", "cls", caller.class_name)):
            return None
        method = self.find_method(caller.class_name, func.attr.value)
        if method is not None:
            return method
        submodule = self.attribute_class(caller.class_name, func.attr.value)
        if submodule is not None and submodule in self.module_classes:
            return self.find_method(submodule, "forward")
        return None

    def info_for(self, node: cst.FunctionDef, enclosing: FunctionInfo | None) -> FunctionInfo | None:
        """The role of a function; nested functions and lambdas run wherever their parent runs."""
        info = self.infos.get(node)
        if info is not None:
            return info
        if enclosing is None or not enclosing.is_model_code:
            return None
        nested = FunctionInfo(node, enclosing.class_name, enclosing.traced, enclosing.scripted,
                              parent=enclosing)
        self.infos[node] = nested
        return nested


def _suite(body: cst.BaseSuite) -> list[cst.BaseStatement]:
    return list(body.body) if isinstance(body, cst.IndentedBlock) else []


def _top_level(body) -> Iterator[cst.CSTNode]:
    """Module-level statements, looking into if/try blocks (conditional definitions)."""
    for statement in body:
        yield statement
        if isinstance(statement, (cst.If, cst.Try)):
            yield from _top_level(_suite(statement.body))
            orelse = getattr(statement, "orelse", None)
            if orelse is not None and isinstance(orelse.body, cst.IndentedBlock):
                yield from _top_level(_suite(orelse.body))


def _assignments_to(module: cst.Module, name: str) -> Iterator[cst.BaseExpression]:
    for statement in iter_statements(module.body):
        if isinstance(statement, cst.Assign):
            for target in statement.targets:
                if isinstance(target.target, cst.Name) and target.target.value == name:
                    yield statement.value
        elif isinstance(statement, cst.AnnAssign) and statement.value is not None:
            if isinstance(statement.target, cst.Name) and statement.target.value == name:
                yield statement.value
