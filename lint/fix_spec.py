"""What a rule's fix says, in terms of the syntax tree: replace a node, insert lines before a
statement, ensure an import. The engine turns these into text edits (`torchready.lint.fixes`)."""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from torchready.lint.types import Applicability


@dataclass(frozen=True)
class Replace:
    """Replace `node`'s source with `code`."""

    node: cst.CSTNode
    code: str


@dataclass(frozen=True)
class InsertBefore:
    """Insert `code` (whole lines, already indented) before the line where `node` starts."""

    node: cst.CSTNode
    code: str


@dataclass(frozen=True)
class InsertImport:
    """Ensure `from module import name` exists at the top of the file."""

    module: str
    name: str


FixPart = Replace | InsertBefore | InsertImport


@dataclass(frozen=True)
class FixSpec:
    title: str
    parts: tuple[FixPart, ...]
    applicability: Applicability = Applicability.SAFE
