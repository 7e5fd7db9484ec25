"""The rules' shared traversal: `libcst.visit_batched`'s calls, in its order, without its copies.

libcst walks a tree by rebuilding it: every node's `_visit_and_replace_children` constructs and
validates a new node, even for visitors that cannot change anything. On a 500-line model file an
empty batched visit costs about 0.10 s, a plain walk over the child fields about 0.02 s
(measured). Rules only read the tree, so this walk calls exactly what `visit_batched` calls
(`before_visit`, the `visit_<Node>` methods, the children, the `leave_<Node>` methods,
`after_leave`), on the same (original) nodes, in the same order, and builds nothing.

libcst visits a node's children in the order its `_visit_and_replace_children` names them, which
is the source order and not always the dataclass field order (a `FunctionDef`'s decorators come
before its name). That method is generated code, one `visit_*(self, "<field>", ...)` call per
child field, so the field names among its code object's constants, in order of first
appearance, are that order (tests/lint/test_traversal.py checks this against the methods' source
for every node class, and the whole event sequence against libcst on real files).

The return value of a `visit_<Node>` method is ignored, as libcst's batched visitor ignores it:
children are always visited.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Iterable, Mapping, Sequence

import libcst as cst
from libcst import MaybeSentinel

VisitorMethod = Callable[[cst.CSTNode], object]

_FIELD_ORDER: dict[type, tuple[str, ...]] = {}


def child_fields(node_type: type) -> tuple[str, ...]:
    """The fields libcst visits on a node of `node_type`, in the order it visits them."""
    fields = _FIELD_ORDER.get(node_type)
    if fields is None:
        names = {field.name for field in dataclasses.fields(node_type)}
        constants = node_type._visit_and_replace_children.__code__.co_consts
        # dict.fromkeys keeps the first appearance of each name, in order.
        fields = tuple(dict.fromkeys(
            constant for constant in constants if type(constant) is str and constant in names))
        _FIELD_ORDER[node_type] = fields
    return fields


def visit_batched(node: cst.CSTNode, visitors: Iterable[cst.BatchableCSTVisitor],
                  before_visit: VisitorMethod | None = None,
                  after_leave: VisitorMethod | None = None) -> None:
    """Run `visitors` over `node` as `libcst.visit_batched(node, visitors, before_visit,
    after_leave)` does (the tree is not returned: nothing changes it)."""
    visitors = list(visitors)
    methods = _visitor_methods(visitors)
    if any(_is_attribute_method(name) for name in methods):
        # visit_<Node>_<field> methods run around each field; no rule has one, so rather than
        # pay for those calls on every field, such a run goes through libcst itself.
        cst.visit_batched(node, visitors, before_visit=before_visit, after_leave=after_leave)
        return
    _Walk(methods, before_visit, after_leave).visit(node)


def _visitor_methods(visitors: Sequence[cst.BatchableCSTVisitor]
                     ) -> dict[str, tuple[VisitorMethod, ...]]:
    """Method name -> the visitors' methods of that name, in visitor order (as libcst's
    `_get_visitor_methods` collects them)."""
    collected: dict[str, list[VisitorMethod]] = {}
    for visitor in visitors:
        for name, method in visitor.get_visitors().items():
            collected.setdefault(name, []).append(method)
    return {name: tuple(found) for name, found in collected.items()}


def _is_attribute_method(name: str) -> bool:
    parts = name.split("_", 2)
    return len(parts) == 3 and isinstance(getattr(cst, parts[1], None), type)


def _ignore(node: cst.CSTNode) -> None:
    pass


class _Walk:
    def __init__(self, methods: Mapping[str, tuple[VisitorMethod, ...]],
                 before_visit: VisitorMethod | None, after_leave: VisitorMethod | None) -> None:
        self.methods = methods
        self.before = before_visit or _ignore
        self.after = after_leave or _ignore
        # node type -> (its visit_ methods, its leave_ methods, its child fields)
        self.table: dict[type, tuple[tuple, tuple, tuple[str, ...]]] = {}

    def _entry(self, node_type: type) -> tuple[tuple, tuple, tuple[str, ...]]:
        name = node_type.__name__
        entry = self.table[node_type] = (self.methods.get(f"visit_{name}", ()),
                                         self.methods.get(f"leave_{name}", ()),
                                         child_fields(node_type))
        return entry

    def visit(self, node: cst.CSTNode) -> None:
        # Locals, not attribute look-ups, in the per-node path: this runs for every node,
        # whitespace included (libcst visits those too, and before_visit sees them).
        table, entry_for, before, after = self.table, self._entry, self.before, self.after

        def visit(node: cst.CSTNode) -> None:
            node_type = type(node)
            entry = table.get(node_type) or entry_for(node_type)
            visits, leaves, fields = entry
            before(node)
            for method in visits:
                method(node)
            for child in _children(node, fields):
                visit(child)
            for method in leaves:
                method(node)
            after(node)

        visit(node)


def visit(node: cst.CSTNode, visitor: cst.CSTVisitor) -> None:
    """`node.visit(visitor)` for a visitor that only reads: the same `on_visit` / `on_leave`
    calls in the same order (a `visit_<Node>` returning False skips that node's children, as in
    libcst), without rebuilding the tree. The analyses' own small visitors (evidence, guards,
    expressions) ran through libcst's rebuilding walk: about a third of the analysis of a large
    model file (measured on gpt_neo, 915 lines)."""
    if _has_attribute_methods(type(visitor)):
        node.visit(visitor)  # visit_<Node>_<field> methods: libcst calls them per field
        return
    on_visit, on_leave = visitor.on_visit, visitor.on_leave

    def walk(node: cst.CSTNode) -> None:
        if on_visit(node):
            for child in _children(node, _FIELD_ORDER.get(type(node)) or child_fields(type(node))):
                walk(child)
        on_leave(node)

    walk(node)


def _children(node: cst.CSTNode, fields: tuple[str, ...]) -> list[cst.CSTNode]:
    """The node's children in the order libcst visits them (`fields`: its child fields)."""
    found = []
    for name in fields:
        value = getattr(node, name)
        value_type = type(value)
        if value_type is tuple or value_type is list:
            found.extend(value)
        elif value is not None and value_type is not MaybeSentinel:
            found.append(value)
    return found


_ATTRIBUTE_METHODS: dict[type, bool] = {}


def _has_attribute_methods(visitor_type: type) -> bool:
    """Whether the visitor's own classes define `visit_<Node>_<field>` methods (libcst's base
    classes define no-op stubs for every one) or replace the per-field hooks."""
    found = _ATTRIBUTE_METHODS.get(visitor_type)
    if found is None:
        own = [vars(cls) for cls in visitor_type.__mro__ if not cls.__module__.startswith("libcst")]
        found = _ATTRIBUTE_METHODS[visitor_type] = any(
            _is_attribute_method(name) or name in ("on_visit_attribute", "on_leave_attribute")
            for names in own for name in names)
    return found
