"""Which functions of a file run under `torch.jit.trace` / `torch.export` or `torch.jit.script`.

Rules about captured code only apply there. Traced code (the Python that trace and export run)
is the `forward` of every `nn.Module` subclass (directly, or through classes of the same file)
and whatever it calls in the same file (`self.helper(...)`, `module_function(...)`,
`super().forward(...)`). Scripted code is what is decorated with or passed to `torch.jit.script`
(a function, a class, or an instance `torch.jit.script(Net(...))`), and what it calls; when
`script` is a capture target, every forward and what it calls is scripted code too. A forward
that the file scripts itself is scripted, not traced: script compiles its control flow instead
of recording one path through it.

The rest of the project adds what one file cannot see (`ProjectFacts`): helpers of this file
that forwards of other files call, classes that are modules through bases of other files.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from functools import cached_property
from typing import Iterator

import libcst as cst

from torchready.lint.analysis.call_index import CallIndex
from torchready.lint.analysis.guards import dead_call_ids_in_all, python_capture_modes
from torchready.lint.analysis.imports import ImportTable, iter_statements
from torchready.lint.analysis.project_facts import ProjectFacts
from torchready.lint.analysis.walk import walk
from torchready.lint.targets import DEFAULT_TARGETS, PYTHON_RUNNING, SCRIPT as SCRIPT_TARGET

SCRIPT = {"torch.jit.script", "torch.jit.script_method", "torch.jit.export"}
NOT_COMPILED = {"torch.jit.ignore", "torch.jit.unused"}
# Bases that are nn.Module subclasses defined outside the file. Model libraries import them with
# relative imports, so they are matched by their last name.
SELF_RETURNING_METHODS = {"eval", "train", "to", "cpu", "float", "half", "requires_grad_"}
MODULE_BASE_NAMES = {"PreTrainedModel", "GradientCheckpointingLayer", "ModelMixin"}
MODULE_TYPES = {"torch.nn.Module", "nn.Module"}
MODULE_BASE_SUFFIXES = ("PreTrainedModel", "PretrainedModel")
# Modules that only run in training (losses, DETR-style target matchers): nobody captures them
# for inference, so their forward is not traced code.
TRAINING_ONLY_SUFFIXES = ("Loss", "Criterion", "Matcher")


@dataclass(eq=False)
class FunctionInfo:
    node: cst.FunctionDef
    class_name: str | None
    traced: bool = False  # runs as Python under torch.jit.trace / torch.export
    scripted: bool = False  # compiled by torch.jit.script
    parent: "FunctionInfo | None" = None
    # Scripted by the code itself (`torch.jit.script(...)`, `@torch.jit.script`), whatever the
    # capture targets: trace never records it, script always compiles it.
    explicitly_scripted: bool = False
    # For code only another file's forward reaches: "RAFT.forward via raft.py:426" (traced),
    # and the path script compiles it by (another forward, maybe).
    reached_from: str | None = None
    scripted_from: str | None = None
    _facts: dict = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return self.node.name.value

    @property
    def qualname(self) -> str:
        return f"{self.class_name}.{self.name}" if self.class_name else self.name

    @property
    def is_model_code(self) -> bool:
        return self.traced or self.scripted

    @property
    def root(self) -> "FunctionInfo":
        info = self
        while info.parent is not None:
            info = info.parent
        return info


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

    def __init__(self, module: cst.Module, imports: ImportTable, calls: CallIndex,
                 targets: tuple[str, ...] = DEFAULT_TARGETS,
                 project: ProjectFacts | None = None) -> None:
        self.imports = imports
        self.calls = calls
        self.targets = targets
        self.project = project or ProjectFacts()
        self.classes: dict[str, cst.ClassDef] = {}
        self.methods: dict[tuple[str, str], cst.FunctionDef] = {}
        self.functions: dict[str, cst.FunctionDef] = {}
        self.infos: dict[cst.FunctionDef, FunctionInfo] = {}
        # Callee (by id) -> the calls of it in model code: where its arguments come from.
        self.call_sites: dict[int, list[tuple[FunctionInfo, cst.Call]]] = {}
        self._attribute_calls: dict[tuple[str, str], cst.BaseExpression] | None = None
        # id(the ModuleList/Sequential call of an attribute) -> what builds its elements
        self._containers: dict[int, cst.BaseExpression] = {}
        self._loops: dict[int, dict[str, str]] = {}
        self._collect(module)
        self.module_classes = self._module_classes() | (
            self.project.module_classes & self.classes.keys())
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

    def find_method(self, class_name: str, method: str,
                    skip_own: bool = False) -> cst.FunctionDef | None:
        """The method a call on an instance of the class runs (with `skip_own`, the one
        `super().method(...)` runs)."""
        for name in self.class_lineage(class_name):
            if skip_own and name == class_name:
                continue
            found = self.methods.get((name, method))
            if found is not None:
                return found
        return None

    # -- roles ------------------------------------------------------------------------------
    def _assign_roles(self, module: cst.Module) -> None:
        # Scripting a model scripts its submodules and helpers too: what script reaches is
        # compiled, not traced.
        self._propagate(list(self._scripted_roots(module)), "explicitly_scripted")
        for info in self.infos.values():
            info.scripted = info.explicitly_scripted
        forwards = [forward for name in sorted(self.module_classes)
                    if (forward := self.methods.get((name, "forward"))) is not None
                    and not name.endswith(TRAINING_ONLY_SUFFIXES)]
        entries = {role: [(self._entry_node(qualname),
                           entry.reached_from if role == "traced" else entry.scripted_from)
                          for qualname, entry in sorted(self.project.entries.items())
                          if getattr(entry, role) and self._entry_node(qualname) is not None]
                   for role in ("traced", "scripted")}
        if SCRIPT_TARGET in self.targets:
            self._propagate(forwards, "scripted")
        self._propagate([node for node, _ in entries["scripted"]], "scripted",
                        [label for _, label in entries["scripted"]])
        if PYTHON_RUNNING & set(self.targets):
            roots = forwards + [function for function in self.functions.values()
                                if self._takes_module(function)]
            self._propagate([root for root in roots
                             if not self.infos[root].explicitly_scripted], "traced")
            self._propagate([node for node, _ in entries["traced"]], "traced",
                            [label for _, label in entries["traced"]])

    def _takes_module(self, function: cst.FunctionDef) -> bool:
        """`def sdpa_attention_forward(module: nn.Module, query: torch.Tensor, ...)`: a function
        that models call from their forward with themselves as an argument (attention
        implementations chosen at run time from a registry, which no call names)."""
        return any(param.annotation is not None and self.imports.resolve_or_name(
            param.annotation.annotation) in MODULE_TYPES for param in function.params.params)

    def _entry_node(self, qualname: str) -> cst.FunctionDef | None:
        owner, _, name = qualname.rpartition(".")
        return self.methods.get((owner, name)) if owner else self.functions.get(name)

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

    def _propagate(self, roots: list[cst.FunctionDef], role: str,
                   labels: list[str] | None = None) -> None:
        """Give `role` to the roots and everything they call in this file. `labels`: for
        roots another file's forward reaches, where from (inherited by what they call, unless
        this file's own code reaches it too)."""
        queue = deque(zip(roots, labels or [None] * len(roots)))
        seen: set[int] = set()
        while queue:
            node, label = queue.popleft()
            if id(node) in seen:
                continue
            seen.add(id(node))
            if role != "traced" and decorator_names(node, self.imports) & NOT_COMPILED:
                continue
            info = self.infos[node]
            if role == "traced" and info.explicitly_scripted:
                continue  # a scripted function called from traced code stays compiled
            if label is not None:
                if getattr(info, role):
                    continue  # this file's own code already gives it the role
                path = "reached_from" if role == "traced" else "scripted_from"
                if getattr(info, path) is None:
                    setattr(info, path, label)
            setattr(info, role, True)
            queue.extend((callee, label) for callee in self._callees(info, role))

    def _callees(self, info: FunctionInfo, role: str) -> Iterator[cst.FunctionDef]:
        # A helper called only in a branch the trace never takes (the loss under
        # `if labels is not None:`, `if self.training:`) is not traced code.
        dead = dead_call_ids_in_all(info.node, python_capture_modes(self.targets),
                                    self.imports) if role == "traced" else ()
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
        """Classes instantiated by a method of another module class (of this file, or of
        another file of the project): parts of a bigger model."""
        found = set()
        for (owner, _), method in self.methods.items():
            if owner not in self.module_classes:
                continue
            for call in self.calls.calls_in(method):
                if isinstance(call.func, cst.Name) and call.func.value != owner:
                    found.add(call.func.value)
        return (found | self.project.submodule_classes) & self.classes.keys()

    def attribute_call(self, class_name: str, attribute: str) -> cst.BaseExpression | None:
        """What `__init__` calls to build `self.<attribute>` (`self.patch_embeddings =
        PatchEmbeddings(config)` gives `PatchEmbeddings`), searching the class's bases."""
        if self._attribute_calls is None:
            self._attribute_calls = {}
            for (owner, method), node in self.methods.items():
                if method != "__init__":
                    continue
                for statement in iter_statements(_suite(node.body), enter_definitions=False):
                    if not (isinstance(statement, cst.Assign)
                            and isinstance(statement.value, cst.Call)):
                        continue
                    for target in statement.targets:
                        target = target.target
                        if isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name) \
                                and target.value.value == "self":
                            self._attribute_calls.setdefault(
                                (owner, target.attr.value), statement.value.func)
                            element = self._container_element(statement.value)
                            if element is not None:
                                self._containers[id(statement.value.func)] = element
        for name in self.class_lineage(class_name):
            found = self._attribute_calls.get((name, attribute))
            if found is not None:
                return found
        return None

    def _container_element(self, call: cst.Call) -> cst.BaseExpression | None:
        """`nn.ModuleList([Block(c) for _ in range(n)])`, `nn.ModuleList([Block(c), Block(c)])`
        -> `Block` (one class for all elements, or nothing)."""
        if self.imports.resolve_or_name(call.func) not in MODULE_CONTAINERS or not call.args:
            return None
        items = call.args[0].value
        if isinstance(items, (cst.ListComp, cst.GeneratorExp)):
            elements = [items.elt]
        elif isinstance(items, (cst.List, cst.Tuple)):
            elements = [element.value for element in items.elements]
        else:
            return None
        builders = {self.imports.resolve_or_name(element.func) for element in elements
                    if isinstance(element, cst.Call)}
        if len(builders) != 1 or len(elements) == 0 or not all(
                isinstance(element, cst.Call) for element in elements):
            return None
        return next(element.func for element in elements if isinstance(element, cst.Call))

    def element_call(self, caller: FunctionInfo, name: str) -> cst.BaseExpression | None:
        """What builds the modules a loop variable runs through: in `for layer in self.layers:`
        (also `enumerate(self.layers)`), with `self.layers = nn.ModuleList([Block(...) ...])`
        in `__init__`, `layer(...)` calls `Block`."""
        attribute = self._loop_attributes(caller.root.node).get(name)
        if attribute is None or caller.class_name is None:
            return None
        built = self.attribute_call(caller.class_name, attribute)
        return self._containers.get(id(built)) if built is not None else None

    def element_class(self, caller: FunctionInfo, name: str) -> str | None:
        return self._local_class(self.element_call(caller, name))

    def _local_class(self, built: cst.BaseExpression | None) -> str | None:
        """The class of this file that `built` names (`Block` in `Block(config)`)."""
        if isinstance(built, cst.Name) and built.value in self.classes:
            return built.value
        return None

    def _loop_attributes(self, function: cst.FunctionDef) -> dict[str, str]:
        """Loop variable -> the `self.<attribute>` it iterates, in one function."""
        found = self._loops.get(id(function))
        if found is None:
            found = self._loops[id(function)] = {}
            for node in walk(function.body):
                if not isinstance(node, (cst.For, cst.CompFor)):
                    continue
                iterable, target = node.iter, node.target
                if isinstance(iterable, cst.Call) and isinstance(iterable.func, cst.Name) and \
                        iterable.func.value == "enumerate" and iterable.args and \
                        isinstance(target, cst.Tuple) and len(target.elements) == 2:
                    iterable, target = iterable.args[0].value, target.elements[1].value
                if isinstance(iterable, cst.Subscript):
                    iterable = iterable.value  # `self.layers[1:]`
                if isinstance(target, cst.Name) and isinstance(iterable, cst.Attribute) and \
                        isinstance(iterable.value, cst.Name) and iterable.value.value == "self":
                    found[target.value] = iterable.attr.value
        return found

    def attribute_class(self, class_name: str, attribute: str) -> str | None:
        """The class of this file that `__init__` assigns to `self.<attribute>`."""
        return self._local_class(self.attribute_call(class_name, attribute))

    def callee(self, caller: FunctionInfo, call: cst.Call) -> cst.FunctionDef | None:
        """The function of this file a call runs: `helper(...)`, `self.method(...)`,
        `super().method(...)`, or the forward of a submodule built in `__init__`
        (`self.embeddings(...)`)."""
        func = call.func
        if isinstance(func, cst.Name):
            found = self.functions.get(func.value)
            if found is None and caller.class_name:
                element = self.element_class(caller, func.value)
                if element is not None and element in self.module_classes:
                    return self.find_method(element, "forward")
            return found
        if caller.class_name and is_super_call(func):
            return self.find_method(caller.class_name, func.attr.value, skip_own=True)
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
                              parent=enclosing,
                              explicitly_scripted=enclosing.explicitly_scripted,
                              reached_from=enclosing.reached_from,
                              scripted_from=enclosing.scripted_from)
        self.infos[node] = nested
        return nested


MODULE_CONTAINERS = {"torch.nn.ModuleList", "nn.ModuleList", "ModuleList",
                     "torch.nn.Sequential", "nn.Sequential", "Sequential"}


def is_super_call(func: cst.BaseExpression) -> bool:
    """`super().method` (the function part of `super().method(...)`)."""
    return isinstance(func, cst.Attribute) and isinstance(func.value, cst.Call) and \
        isinstance(func.value.func, cst.Name) and func.value.func.value == "super"


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
