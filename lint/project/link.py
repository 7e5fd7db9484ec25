"""The project's link step: from every file's summary to what each file cannot see alone.

It resolves imports among the project's files (relative and absolute, re-exports through
packages' `__init__.py`), base classes across files, and call targets: plain calls of imported
functions, `self.method(...)` and `super().method(...)` inherited from a base of another file,
and `self.sub(...)` where `__init__` built `sub` from an imported class. From the roots (every
module's forward, what the code passes to trace/script/export) it walks the call graph per role
(traced, scripted), carrying what callers pass (tensors, traced sizes, weights, their own
parameters), and hands each file the facts that differ from its own view (`ProjectFacts`).
It reads summaries only: on transformers' models tree it takes a fraction of a second.
"""

from __future__ import annotations

import gc
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from torchready.lint.analysis.project_facts import Entry, ProjectFacts
from torchready.lint.project.modules import ModuleIndex, absolute_name
from torchready.lint.project.summary import (ATTRIBUTE, LOCAL, NAME, PARAMETER, SELF, SIZE,
                                             SUPER, TENSOR, WEIGHT, CallSite, FileSummary,
                                             FunctionSummary)
from torchready.lint.targets import PYTHON_RUNNING, SCRIPT

MODULE_BASE_PREFIXES = ("torch.nn.", "nn.")
FORWARD = "forward"
MAX_RESOLVE_DEPTH = 8

Node = tuple[int, str]  # (file index, function qualname)


@dataclass
class ProjectFile:
    path: str  # as displayed in messages
    module: str
    is_package: bool
    summary: FileSummary
    followed: bool = False  # an installed module (--follow-imports): reached, never a root


@dataclass
class Edge:
    caller: Node
    callee: Node
    site: CallSite


@dataclass
class LinkResult:
    facts: list[ProjectFacts]  # per file, in the order given
    # Calls of reached code into modules outside the project (what --follow-imports reads)
    unresolved: set[str] = field(default_factory=set)


def link(files: list[ProjectFile], targets: tuple[str, ...]) -> LinkResult:
    with _cyclic_gc_paused():
        return _Linker(files, targets).run()


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """The link makes and drops about a million small acyclic objects (edges, tuples, sets),
    which reference counting frees; the cyclic collector's passes over them, and over a daemon's
    heap of thousands of kept summaries, took half the link's time on transformers' tree (0.95 s
    against 0.50 s). Paused for the link only (the analysis does make cycles: pausing a whole
    one-job run grew its memory 4.5x), and restored as the caller had it."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _Linker:
    def __init__(self, files: list[ProjectFile], targets: tuple[str, ...]) -> None:
        self.files = files
        self.targets = targets
        self.index = ModuleIndex()
        for number, file in enumerate(files):
            self.index.add(file.module, Path(file.path), number)
        self._class_cache: dict[tuple[int, str], tuple[int, str] | None] = {}
        self._lineage_cache: dict[tuple[int, str], tuple[tuple[int, str], ...]] = {}
        self._out_edges: dict[Node, list[Edge]] = {}
        self.missing: dict[Node, list[str]] = {}

    # -- names ------------------------------------------------------------------------------
    def absolute(self, file: int, reference: str) -> str:
        project_file = self.files[file]
        return absolute_name(reference, project_file.module, project_file.is_package)

    def resolve(self, file: int, reference: str, depth: int = 0) -> tuple[str, int, str] | None:
        """("function" | "class", file, name) for a name as written in `file` (a local name
        or a qualified/relative one)."""
        summary = self.files[file].summary
        if "." not in reference.lstrip(".") and not reference.startswith("."):
            if reference in summary.functions:
                return "function", file, reference
            if reference in summary.classes:
                return "class", file, reference
            bound = summary.imports.get(reference)
            if bound is None or depth > MAX_RESOLVE_DEPTH:
                return None
            reference = bound
        return self.resolve_qualified(self.absolute(file, reference), depth + 1)

    def resolve_qualified(self, name: str, depth: int = 0) -> tuple[str, int, str] | None:
        if depth > MAX_RESOLVE_DEPTH:
            return None
        parts = name.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            owner = self.index.find(".".join(parts[:cut]))
            if owner is None:
                continue
            rest = parts[cut:]
            if len(rest) == 1:
                return self.resolve(owner, rest[0], depth + 1)
            if len(rest) == 2 and rest[0] in self.files[owner].summary.classes:
                qualname = ".".join(rest)
                if qualname in self.files[owner].summary.functions:
                    return "function", owner, qualname
            return None
        return None

    def class_of(self, file: int, reference: str) -> tuple[int, str] | None:
        key = (file, reference)
        if key not in self._class_cache:
            found = self.resolve(file, reference)
            self._class_cache[key] = (found[1], found[2]) if found and found[0] == "class" \
                else None
        return self._class_cache[key]

    # -- classes ----------------------------------------------------------------------------
    def lineage(self, file: int, name: str) -> tuple[tuple[int, str], ...]:
        """The class and its bases across the project, nearest first (asked tens of thousands
        of times on transformers' tree, for a few thousand classes: kept)."""
        key = (file, name)
        found = self._lineage_cache.get(key)
        if found is None:
            found = self._lineage_cache[key] = tuple(self._bases_first(file, name))
        return found

    def _bases_first(self, file: int, name: str) -> Iterator[tuple[int, str]]:
        seen: set[tuple[int, str]] = set()
        queue = deque([(file, name)])
        while queue:
            current = queue.popleft()
            if current in seen or current[1] not in self.files[current[0]].summary.classes:
                continue
            seen.add(current)
            yield current
            for base in self.files[current[0]].summary.classes[current[1]].bases:
                found = self.class_of(current[0], base)
                if found is not None:
                    queue.append(found)

    def find_method(self, file: int, name: str, method: str,
                    skip_own: bool = False) -> Node | None:
        for owner_file, owner in self.lineage(file, name):
            if skip_own and (owner_file, owner) == (file, name):
                continue
            qualname = f"{owner}.{method}"
            if qualname in self.files[owner_file].summary.functions:
                return owner_file, qualname
        return None

    def attribute_class(self, file: int, name: str, attribute: str) -> tuple[int, str] | None:
        for owner_file, owner in self.lineage(file, name):
            built = self.files[owner_file].summary.classes[owner].attributes.get(attribute)
            if built is not None:
                return self.class_of(owner_file, built)
        return None

    def module_classes(self) -> set[tuple[int, str]]:
        found = {(file, name) for file, project_file in enumerate(self.files)
                 for name, item in project_file.summary.classes.items() if item.module}
        changed = True
        while changed:
            changed = False
            for file, project_file in enumerate(self.files):
                for name, item in project_file.summary.classes.items():
                    if (file, name) in found:
                        continue
                    if any(base.startswith(MODULE_BASE_PREFIXES)
                           or self.class_of(file, base) in found for base in item.bases):
                        found.add((file, name))
                        changed = True
        return found

    # -- the call graph ---------------------------------------------------------------------
    def function(self, node: Node) -> FunctionSummary:
        return self.files[node[0]].summary.functions[node[1]]

    def callee(self, caller: Node, site: CallSite) -> Node | None:
        file, qualname = caller
        owner = qualname.rsplit(".", 1)[0] if "." in qualname else None
        if site.kind == LOCAL:
            return (file, site.target) if site.target in self.files[file].summary.functions \
                else None
        if site.kind == NAME:
            found = self.resolve_qualified(self.absolute(file, site.target))
            return (found[1], found[2]) if found and found[0] == "function" else None
        if owner is None:
            return None
        if site.kind == SELF:
            method = self.find_method(file, owner, site.target)
            if method is not None:
                return method
            built = self.attribute_class(file, owner, site.target)
            return self.find_method(*built, FORWARD) if built else None
        if site.kind == SUPER:
            return self.find_method(file, owner, site.target, skip_own=True)
        if site.kind == ATTRIBUTE:
            built = self.class_of(file, site.target)
            return self.find_method(*built, FORWARD) if built else None
        return None

    def out_edges(self, caller: Node) -> list[Edge]:
        """The calls `caller` makes into functions of the project; the qualified names it calls
        that no file of the project defines go to `self.missing` (what --follow-imports looks
        for). Resolved when the walk from the roots first reaches the caller: the functions no
        root reaches (most of a big project's) are never resolved."""
        found = self._out_edges.get(caller)
        if found is not None:
            return found
        found = self._out_edges[caller] = []
        file = caller[0]
        for site in self.function(caller).calls:
            callee = self.callee(caller, site)
            if callee is not None and callee != caller:
                found.append(Edge(caller, callee, site))
            elif callee is None and site.kind in (NAME, ATTRIBUTE):
                self.missing.setdefault(caller, []).append(self.absolute(file, site.target))
        return found

    def roots(self, modules: set[tuple[int, str]]) -> dict[str, list[Node]]:
        forwards = []
        for file, name in sorted(modules):
            item = self.files[file].summary.classes[name]
            if item.training_only:
                continue
            qualname = f"{name}.{FORWARD}"
            if qualname in self.files[file].summary.functions:
                forwards.append((file, qualname))
        # What each file captures by itself is captured in the project too (its own forwards,
        # and functions it scripts or passes modules to).
        traced = [(file, qualname) for file, project_file in enumerate(self.files)
                  for qualname, function in project_file.summary.functions.items()
                  if function.traced]
        scripted = [(file, qualname) for file, project_file in enumerate(self.files)
                    for qualname, function in project_file.summary.functions.items()
                    if function.scripted]
        for file, project_file in enumerate(self.files):
            for target, reference in project_file.summary.capture_roots:
                found = self.resolve(file, reference)
                if found is None:
                    continue
                node = (found[1], found[2]) if found[0] == "function" else \
                    self.find_method(found[1], found[2], FORWARD)
                if node is not None:
                    (scripted if target == SCRIPT else traced).append(node)
        # Forwards first: a helper reached from a forward is labelled with that forward, not
        # with a method its own file calls from there.
        if SCRIPT in self.targets:
            scripted = forwards + scripted
        if PYTHON_RUNNING & set(self.targets):
            traced = forwards + traced
        # An installed module's own code runs only where the project reaches it.
        return {role: [node for node in dict.fromkeys(nodes) if not self.files[node[0]].followed]
                for role, nodes in (("traced", traced), ("scripted", scripted))}

    def reach(self, roots: list[Node], role: str, explicit: set[Node]) -> dict[Node, Edge | None]:
        """Breadth first from the roots: node -> the edge it was first reached by."""
        reached: dict[Node, Edge | None] = {}
        queue: deque[tuple[Node, Edge | None]] = deque((root, None) for root in roots)
        while queue:
            node, edge = queue.popleft()
            if node in reached:
                continue
            if role == "traced" and node in explicit:
                continue  # a scripted function called from traced code stays compiled
            reached[node] = edge
            for out in self.out_edges(node):
                if role == "traced" and out.site.dead:
                    continue
                if out.callee not in reached:
                    queue.append((out.callee, out))
        return reached

    def label(self, node: Node, reached: dict[Node, Edge | None]) -> str:
        """"RAFT.forward via models/raft.py:426": the root, and the call that entered the
        node's file."""
        via: Edge | None = None
        current = node
        seen = set()
        while reached.get(current) is not None and current not in seen:
            seen.add(current)
            edge = reached[current]
            if via is None and edge.caller[0] != node[0]:
                via = edge
            current = edge.caller
        root = current[1]
        if via is None:
            return root
        return f"{root} via {self.files[via.caller[0]].path}:{via.site.line}"

    # -- what callers pass -------------------------------------------------------------------
    def bound(self, edge: Edge) -> Iterator[tuple[str, str]]:
        callee = self.function(edge.callee)
        positional = list(callee.positional)
        if positional and positional[0] in ("self", "cls") and edge.site.method:
            positional = positional[1:]
        names = set(positional) | set(callee.keyword_only)
        for key, code in edge.site.arguments:
            if key.isdigit():
                if int(key) < len(positional):
                    yield positional[int(key)], code
            elif key in names:
                yield key, code

    def parameter_kinds(self, edges: list[Edge]) -> tuple[dict[Node, set[str]],
                                                          dict[Node, set[str]]]:
        """Parameters that callers pass tensors / traced sizes to, over every reached call
        (a caller's own parameter passed on counts as what that parameter is)."""
        tensors: dict[Node, set[str]] = {}
        sizes: dict[Node, set[str]] = {}
        for node in {edge.caller for edge in edges} | {edge.callee for edge in edges}:
            function = self.function(node)
            tensors[node] = set(function.tensor_parameters)
            sizes[node] = set(function.size_parameters)
        outgoing: dict[Node, list[int]] = {}
        for number, edge in enumerate(edges):
            outgoing.setdefault(edge.caller, []).append(number)
        arguments = [list(self.bound(edge)) for edge in edges]
        # A worklist, not rounds over every edge: when a function learns a parameter, only the
        # calls it makes can pass more on (the same fixed point, a few times faster on
        # transformers' tree).
        pending = deque(range(len(edges)))
        queued = set(pending)
        while pending:
            number = pending.popleft()
            queued.discard(number)
            edge = edges[number]
            grew = False
            for name, code in arguments[number]:
                if code.startswith(PARAMETER):
                    passed = code[len(PARAMETER):]
                    is_tensor = passed in tensors[edge.caller]
                    is_size = passed in sizes[edge.caller]
                else:
                    is_tensor, is_size = code == TENSOR, code == SIZE
                if is_tensor and name not in tensors[edge.callee]:
                    tensors[edge.callee].add(name)
                    grew = True
                if is_size and name not in sizes[edge.callee]:
                    sizes[edge.callee].add(name)
                    grew = True
            if grew:
                for later in outgoing.get(edge.callee, ()):
                    if later not in queued:
                        queued.add(later)
                        pending.append(later)
        return tensors, sizes

    # -- the result -------------------------------------------------------------------------
    def run(self) -> LinkResult:
        modules = self.module_classes()
        roots = self.roots(modules)
        explicit = {(file, qualname) for file, project_file in enumerate(self.files)
                    for qualname, function in project_file.summary.functions.items()
                    if function.explicitly_scripted}
        reached = {role: self.reach(nodes, role, explicit)
                   for role, nodes in roots.items()}
        live_nodes = set(reached["traced"]) | set(reached["scripted"])
        live = [edge for node in live_nodes for edge in self.out_edges(node)]
        unresolved = {name for node in live_nodes for name in self.missing.get(node, ())}
        for file, project_file in enumerate(self.files):
            for name, item in project_file.summary.classes.items():
                for base in item.bases:
                    if self.class_of(file, base) is None and "." in base:
                        unresolved.add(self.absolute(file, base))
        tensors, sizes = self.parameter_kinds(live)
        facts: list[dict] = [dict(entries={}, tensor_parameters={}, size_parameters={},
                                  weight_parameters={}, call_returns={}) for _ in self.files]
        for node in live_nodes:
            function = self.function(node)
            traced = node in reached["traced"] and not function.traced
            scripted = node in reached["scripted"] and not function.scripted
            if traced or scripted:
                facts[node[0]]["entries"][node[1]] = Entry(
                    traced, scripted,
                    self.label(node, reached["traced"]) if traced else "",
                    self.label(node, reached["scripted"]) if scripted else "")
        self._parameter_facts(live, tensors, sizes, facts)
        module_extra: dict[int, set[str]] = {}
        for file, name in modules:
            if not self.files[file].summary.classes[name].module:
                module_extra.setdefault(file, set()).add(name)
        submodules: dict[int, set[str]] = {}
        for file, name in modules:
            for reference in self.files[file].summary.classes[name].instantiates:
                found = self.class_of(file, reference)
                if found is not None and found[0] != file:
                    submodules.setdefault(found[0], set()).add(found[1])
        return LinkResult([
            ProjectFacts(module_classes=frozenset(module_extra.get(file, ())),
                         submodule_classes=frozenset(submodules.get(file, ())), **facts[file])
            for file in range(len(self.files))], unresolved)

    def _parameter_facts(self, live: list[Edge], tensors, sizes, facts: list[dict]) -> None:
        crossing = [edge for edge in live if edge.caller[0] != edge.callee[0]]
        weights: dict[Node, dict[str, list[bool]]] = {}
        local_weights: dict[Node, dict[str, list[bool]]] = {}
        sites: dict[Node, int] = {}
        local_sites: dict[Node, int] = {}
        called_across = {edge.callee for edge in crossing}
        for edge in live:
            if edge.callee not in called_across:
                continue
            is_local = edge.caller[0] == edge.callee[0]
            sites[edge.callee] = sites.get(edge.callee, 0) + 1
            if is_local:
                local_sites[edge.callee] = local_sites.get(edge.callee, 0) + 1
            for name, code in self.bound(edge):
                weights.setdefault(edge.callee, {}).setdefault(name, []).append(code == WEIGHT)
                if is_local:
                    local_weights.setdefault(edge.callee, {}).setdefault(name, []).append(
                        code == WEIGHT)
        for node in called_across:
            function = self.function(node)
            file, qualname = node
            own_tensors = set(function.tensor_parameters)
            own_sizes = set(function.size_parameters)
            passed_tensors = set()
            passed_sizes = set()
            for edge in crossing:
                if edge.callee != node:
                    continue
                for name, code in self.bound(edge):
                    if code.startswith(PARAMETER):
                        passed = code[len(PARAMETER):]
                        if passed in tensors.get(edge.caller, ()):
                            passed_tensors.add(name)
                        if passed in sizes.get(edge.caller, ()):
                            passed_sizes.add(name)
                    elif code == TENSOR:
                        passed_tensors.add(name)
                    elif code == SIZE:
                        passed_sizes.add(name)
            if passed_tensors - own_tensors:
                facts[file]["tensor_parameters"][qualname] = frozenset(passed_tensors - own_tensors)
            if passed_sizes - own_sizes:
                facts[file]["size_parameters"][qualname] = frozenset(passed_sizes - own_sizes)
            every = {name for name, flags in weights.get(node, {}).items()
                     if all(flags) and len(flags) == sites[node]}
            local = {name for name, flags in local_weights.get(node, {}).items()
                     if all(flags) and len(flags) == local_sites.get(node, 0)}
            if every != local:
                facts[file]["weight_parameters"][qualname] = frozenset(every)
        for edge in crossing:
            # What a function of another file returns, also when it is no tensor: a method
            # inherited from another file is otherwise taken for a submodule (a tensor).
            returns = self.function(edge.callee).returns
            if returns is not None:
                facts[edge.caller[0]]["call_returns"][edge.site.index] = returns
