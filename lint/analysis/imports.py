"""Resolve the names a file uses to the qualified names its imports bind them to.

`import math as m` makes `m.sqrt` mean `math.sqrt`; `from math import sqrt as s` makes `s` mean
`math.sqrt`; `from torch import nn` makes `nn.Module` mean `torch.nn.Module`. libcst's
QualifiedNameProvider answers the same question, but it needs scope analysis of the whole file and
costs about 6.7x the parse on transformers' models tree (measured); every rule here only asks
about imported names, so one pass over the import statements is enough. A local variable that
shadows an import is not tracked: model code that rebinds `math` or `torch` is rare.
"""

from __future__ import annotations

import libcst as cst

# Hot checks compare `type(node) is cst.<Concrete>`: see walk.py's `_Subclasses` for why.


def dotted_name(node: cst.BaseExpression) -> str | None:
    """`a.b.c` -> "a.b.c" for a chain of Names and Attributes, else None."""
    parts: list[str] = []
    while type(node) is cst.Attribute:
        parts.append(node.attr.value)
        node = node.value
    if type(node) is not cst.Name:
        return None
    parts.append(node.value)
    return ".".join(reversed(parts))


def _module_name(node: cst.BaseExpression | None, relative: int) -> str:
    base = dotted_name(node) if node is not None else ""
    return "." * relative + (base or "")


class ImportTable:
    """Local name -> qualified name, filled from every import statement in the file."""

    def __init__(self) -> None:
        self.bindings: dict[str, str] = {}

    @classmethod
    def from_module(cls, module: cst.Module) -> "ImportTable":
        table = cls()
        for statement in iter_statements(module.body):
            if isinstance(statement, cst.Import):
                table.add_import(statement)
            elif isinstance(statement, cst.ImportFrom):
                table.add_import_from(statement)
        return table

    def add_import(self, node: cst.Import) -> None:
        for alias in node.names:
            full = dotted_name(alias.name)
            if full is None:
                continue
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                self.bindings[alias.asname.name.value] = full
            else:
                # `import torch.nn` binds `torch`; the full path resolves through it.
                head = full.split(".")[0]
                self.bindings.setdefault(head, head)

    def add_import_from(self, node: cst.ImportFrom) -> None:
        if isinstance(node.names, cst.ImportStar):
            return
        module = _module_name(node.module, len(node.relative))
        for alias in node.names:
            name = dotted_name(alias.name)
            if name is None:
                continue
            local = name
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                local = alias.asname.name.value
            if not module:
                self.bindings[local] = name
            elif module.strip("."):
                self.bindings[local] = f"{module}.{name}"
            else:
                self.bindings[local] = f"{module}{name}"  # `from . import x` -> ".x"

    def resolve(self, node: cst.BaseExpression) -> str | None:
        """The qualified name of a dotted expression, when its head is an imported name."""
        name = dotted_name(node)
        if name is None:
            return None
        head, _, rest = name.partition(".")
        bound = self.bindings.get(head)
        if bound is None:
            return None
        return f"{bound}.{rest}" if rest else bound

    def resolve_or_name(self, node: cst.BaseExpression) -> str | None:
        """Like `resolve`, but a dotted name whose head is not imported is returned as written
        (builtins such as `float`, or locals such as `self.bias`)."""
        return self.resolve(node) or dotted_name(node)

    def binds_module(self, qualified: str) -> str | None:
        """A local name bound to the module `qualified` (e.g. "typing"), if any."""
        for local, bound in self.bindings.items():
            if bound == qualified:
                return local
        return None


def iter_statements(body, enter_definitions: bool = True):
    """Every small statement in a block, recursing into compound statements (not expressions).

    With `enter_definitions=False`, nested functions and classes are yielded but not entered:
    their statements belong to another scope.
    """
    for statement in body:
        if isinstance(statement, cst.SimpleStatementLine):
            yield from statement.body
            continue
        yield statement
        if not enter_definitions and isinstance(statement, (cst.FunctionDef, cst.ClassDef)):
            continue
        for block in child_blocks(statement):
            yield from iter_statements(block, enter_definitions)


def child_blocks(statement):
    """The statement lists nested in a compound statement: its body, else/elif/finally blocks,
    exception handlers and match cases."""
    body = getattr(statement, "body", None)
    if isinstance(body, cst.BaseSuite):
        yield _suite_statements(body)
    for branch in (getattr(statement, "orelse", None), getattr(statement, "finalbody", None)):
        if branch is not None:
            yield from child_blocks(branch)
    for nested in (*getattr(statement, "handlers", ()), *getattr(statement, "cases", ())):
        yield from child_blocks(nested)


def _suite_statements(suite: cst.BaseSuite):
    if isinstance(suite, cst.IndentedBlock):
        return suite.body
    return [cst.SimpleStatementLine(body=suite.body)]
