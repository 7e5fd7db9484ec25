"""A fast pre-order walk over a libcst tree.

libcst's visitor protocol calls several Python methods per node and per attribute; for analyses
that only need to *see* nodes (collect calls, names, uses), walking the node's child fields
directly is about 4x faster (measured on transformers' modeling files). The child fields of each
node type are found once, from its dataclass fields.
"""

from __future__ import annotations

import dataclasses
from typing import Iterator

import libcst as cst

_CHILD_FIELDS: dict[type, tuple[str, ...]] = {}
# Fields that hold only whitespace, comments and punctuation: no expression or statement there.
_SKIPPED = frozenset({"whitespace", "whitespace_before", "whitespace_after", "lpar", "rpar",
                      "leading_lines", "lines_after_decorators", "header", "footer", "comma",
                      "semicolon", "trailing_whitespace", "colon", "equal", "star",
                      "whitespace_before_colon", "whitespace_after_def", "whitespace_after_name",
                      "whitespace_before_params", "whitespace_after_star",
                      "whitespace_after_param", "whitespace_before_value",
                      "whitespace_before_indent", "whitespace_after_arg",
                      "whitespace_before_args", "whitespace_after_func", "whitespace_after_at",
                      "whitespace_after_await", "whitespace_before_from",
                      "whitespace_after_from", "whitespace_after_import",
                      "whitespace_before_import", "whitespace_after_lambda",
                      "whitespace_before_in", "whitespace_after_in", "whitespace_before_if",
                      "whitespace_after_if", "whitespace_before_else",
                      "whitespace_after_else", "whitespace_before_as", "whitespace_after_as",
                      "whitespace_after_for", "whitespace_before_for",
                      "whitespace_after_class"})


# Where the dataclass field order is not the source order.
_SOURCE_ORDER = {
    "FunctionDef": ("decorators", "name", "params", "returns"),
    "ClassDef": ("decorators", "name", "bases", "keywords"),
    "IfExp": ("body", "test"),
    "Arg": ("keyword",),
    "ExceptHandler": ("type", "name"),
}


def _child_fields(node_type: type) -> tuple[str, ...]:
    fields = _CHILD_FIELDS.get(node_type)
    if fields is None:
        names = [f.name for f in dataclasses.fields(node_type) if f.name not in _SKIPPED]
        first = [name for name in _SOURCE_ORDER.get(node_type.__name__, ()) if name in names]
        fields = tuple(first + [name for name in names if name not in first])
        _CHILD_FIELDS[node_type] = fields
    return fields


class _Subclasses(dict):
    """type -> whether it is a subclass of `bases`, answered once per type: CSTNode and libcst's
    other node bases are ABCs, and isinstance against an ABC goes through the slow
    ABCMeta.__instancecheck__, a large share of a one-file lint (measured with cProfile).
    Against a concrete node class the hot paths compare `type(node) is cst.<Concrete>`
    instead: parsed trees never hold subclasses of the concrete classes."""

    def __init__(self, bases: type | tuple[type, ...]) -> None:
        super().__init__()
        self.bases = bases

    def __missing__(self, kind: type) -> bool:
        found = self[kind] = issubclass(kind, self.bases)
        return found


_IS_NODE = _Subclasses(cst.CSTNode)
_PRUNED: dict[tuple[type, ...], _Subclasses] = {}


def child_list(node: cst.CSTNode) -> list[cst.CSTNode]:
    """The node's children, in source order."""
    found = []
    is_node = _IS_NODE
    for name in _child_fields(type(node)):
        value = getattr(node, name)
        if is_node[type(value)]:
            found.append(value)
        elif isinstance(value, (tuple, list)):
            found.extend(item for item in value if is_node[type(item)])
    return found


def walk(node: cst.CSTNode, prune: tuple[type, ...] = ()) -> Iterator[cst.CSTNode]:
    """`node` and every node below it, parents before children, in source order. Nodes of a
    `prune` type are yielded but not entered."""
    pruned = _PRUNED.get(prune)
    if pruned is None:
        pruned = _PRUNED[prune] = _Subclasses(prune)
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        if current is node or not pruned[type(current)]:
            found = child_list(current)
            found.reverse()
            stack.extend(found)
