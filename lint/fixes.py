"""Fixes as text edits: built once from a rule's FixSpec, applied without overlaps.

Every consumer (the `--fix` loop, `--diff`, JSON, SARIF, the language server's code actions)
uses the same edits, so a fix shown is exactly the fix applied.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

import libcst as cst

from torchready.lint.fix_spec import FixSpec, InsertBefore, InsertImport, Replace
from torchready.lint.source_io import split_lines
from torchready.lint.types import Applicability, Diagnostic, Edit, Fix

if TYPE_CHECKING:
    from torchready.lint.context import FileContext


def fix_to_edits(context: "FileContext", spec: FixSpec, anchor: cst.CSTNode | None = None) -> Fix:
    edits: list[Edit] = []
    for part in spec.parts:
        if isinstance(part, Replace):
            span = context.range_of(part.node, anchor)
            edits.append(Edit(span.start.line, span.start.column + 1,
                              span.end.line, span.end.column + 1, part.code))
        elif isinstance(part, InsertBefore):
            line = context.range_of(part.node, anchor).start.line
            text = context.lines[line - 1]
            indent = text[: len(text) - len(text.lstrip())]
            newline = context.module.default_newline
            edits.append(Edit(line, 1, line, 1, f"{indent}{part.code}{newline}"))
        elif isinstance(part, InsertImport):
            edit = _import_edit(context, part)
            if edit is not None:
                edits.append(edit)
    return Fix(spec.applicability, tuple(sorted(edits)), spec.title)


def _import_edit(context: "FileContext", part: InsertImport) -> Edit | None:
    if context.imports.bindings.get(part.name) == f"{part.module}.{part.name}":
        return None
    line = _import_insertion_line(context)
    newline = context.module.default_newline
    return Edit(line, 1, line, 1, f"from {part.module} import {part.name}{newline}")


def _import_insertion_line(context: "FileContext") -> int:
    """The line after the file's leading docstring and import block (1 for an empty preamble)."""
    after = 0
    for statement in context.module.body:
        if isinstance(statement, cst.SimpleStatementLine):
            small = statement.body[0] if statement.body else None
            is_docstring = (after == 0 and isinstance(small, cst.Expr)
                            and isinstance(small.value, (cst.SimpleString, cst.ConcatenatedString)))
            if is_docstring or isinstance(small, (cst.Import, cst.ImportFrom)):
                after = context.range_of(statement).end.line
                continue
        break
    return after + 1


def applicable(diagnostic: Diagnostic, unsafe: bool) -> bool:
    fix = diagnostic.fix
    if fix is None or not fix.edits:
        return False
    if fix.applicability is Applicability.SAFE:
        return True
    return unsafe and fix.applicability is Applicability.UNSAFE


def apply_fixes(source: str, fixes: Iterable[Fix]) -> tuple[str, int]:
    """Apply every fix whose edits overlap no edit already taken; returns (text, fixes applied).

    Identical edits from different fixes (two annotations that both need `from typing import
    List`) are applied once. Fixes skipped for overlap are picked up by the next round of the
    fix loop, after re-linting.
    """
    taken: list[Edit] = []
    applied = 0
    for fix in fixes:
        new = [edit for edit in fix.edits if edit not in taken]
        if any(_overlaps(edit, other) for edit in new for other in taken):
            continue
        taken.extend(new)
        applied += 1
    return apply_edits(source, taken), applied


def _overlaps(a: Edit, b: Edit) -> bool:
    a_start, a_end = (a.line, a.column), (a.end_line, a.end_column)
    b_start, b_end = (b.line, b.column), (b.end_line, b.end_column)
    if a_start == a_end and b_start == b_end:
        return False  # two insertions at one point: both apply, in order
    return a_start < b_end and b_start < a_end or a_start == b_start


def apply_edits(source: str, edits: Iterable[Edit]) -> str:
    lines = split_lines(source, keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))

    def offset(line: int, column: int) -> int:
        if line - 1 >= len(lines):
            return len(source)
        return offsets[line - 1] + column - 1

    result = source
    # Apply from the end so earlier offsets stay valid; insertions at one point keep their order.
    ordered = sorted(enumerate(edits), key=lambda item: (offset(item[1].line, item[1].column),
                                                          item[0]), reverse=True)
    for _, edit in ordered:
        start = offset(edit.line, edit.column)
        end = offset(edit.end_line, edit.end_column)
        result = result[:start] + edit.content + result[end:]
    return result


MAX_FIX_ROUNDS = 10


class FixDidNotConverge(Exception):
    pass


def fix_source(source: str, lint, unsafe: bool = False) -> tuple[str, int]:
    """Apply fixes until none applies (ruff's loop): `lint(text)` returns the diagnostics of a
    text. Returns the fixed text and how many fixes were applied. Each round re-lints the text
    it produced, so fixes never see stale positions; a fix that produced unparsable code would
    show up as a syntax error and is refused."""
    total = 0
    text = source
    for _ in range(MAX_FIX_ROUNDS):
        fixes = [d.fix for d in lint(text) if applicable(d, unsafe)]
        if not fixes:
            return text, total
        new_text, applied = apply_fixes(text, fixes)
        if new_text == text or applied == 0:
            return text, total
        _check_parses(new_text)
        text, total = new_text, total + applied
    raise FixDidNotConverge(f"fixes did not converge after {MAX_FIX_ROUNDS} rounds")


def _check_parses(text: str) -> None:
    try:
        cst.parse_module(text)
    except cst.ParserSyntaxError as error:  # a bug in a rule's fix, never the user's fault
        raise RuntimeError(f"a fix produced code that does not parse: {error.message}") from error
