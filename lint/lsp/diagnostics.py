"""torchready diagnostics as LSP diagnostics, carrying their quick fixes.

Everything a code action needs travels in `Diagnostic.data` (ruff's design): the fix's text
edits and the `# noqa` edit, already in the client's coordinates, plus the document version
they were computed for. A code action request then needs no re-lint, and a stale edit (the
document changed since) is refused by the client, which checks the version of a
`TextDocumentEdit` before applying it.
"""

from __future__ import annotations

from typing import Any, Sequence

from lsprotocol import types

from torchready.lint.engine import SYNTAX_ERROR_CODE
from torchready.lint.formats import with_targets
from torchready.lint.lsp.positions import UnitCounter, to_lsp_position, to_lsp_range, utf16_units
from torchready.lint.suppression import NOQA
from torchready.lint.types import Diagnostic, Severity

SOURCE = "torchready"

SEVERITIES = {
    Severity.ERROR: types.DiagnosticSeverity.Error,
    Severity.WARNING: types.DiagnosticSeverity.Warning,
    Severity.INFO: types.DiagnosticSeverity.Information,
}


def to_lsp_diagnostic(diagnostic: Diagnostic, lines: Sequence[str], version: int | None,
                      units: UnitCounter = utf16_units) -> types.Diagnostic:
    data: dict[str, Any] = {"code": diagnostic.code, "name": diagnostic.name, "version": version,
                            "targets": list(diagnostic.targets)}
    fix = diagnostic.fix
    if fix is not None and fix.edits:
        data["fix"] = {
            "title": fix.title or "apply the suggested edit",
            "applicability": fix.applicability.value,
            "edits": [_text_edit(lines, edit.line, edit.column, edit.end_line, edit.end_column,
                                 edit.content, units) for edit in fix.edits],
        }
    # A file that does not parse cannot be silenced: the fix is to repair the syntax.
    noqa = None if diagnostic.code == SYNTAX_ERROR_CODE else noqa_edit(
        lines, diagnostic.line, diagnostic.code, units)
    if noqa is not None:
        data["noqa"] = noqa
    return types.Diagnostic(
        range=to_lsp_range(lines, diagnostic.line, diagnostic.column, diagnostic.end_line,
                           diagnostic.end_column, units),
        message=with_targets(diagnostic),
        severity=SEVERITIES[diagnostic.severity],
        code=diagnostic.code,
        source=SOURCE,
        data=data,
    )


def noqa_edit(lines: Sequence[str], line: int, code: str,
              units: UnitCounter = utf16_units) -> dict[str, Any] | None:
    """The edit that silences `code` on `line`: extend an existing `# noqa: X` with the code,
    or append `  # noqa: CODE`. None where a comment cannot go (a line continued with a
    backslash, or past the end of the file)."""
    if not 0 < line <= len(lines):
        return None
    text = lines[line - 1]
    content = text.rstrip()
    if content.endswith("\\"):
        return None
    match = NOQA.search(text) if "#" in text else None
    if match is not None:
        if not match.group("codes"):
            return None  # a bare `# noqa` already silences everything on the line
        end = match.end("codes")
        return _text_edit(lines, line, end + 1, line, end + 1, f", {code}", units)
    return _text_edit(lines, line, len(content) + 1, line, len(text) + 1,
                      f"  # noqa: {code}", units)


def _text_edit(lines: Sequence[str], line: int, column: int, end_line: int, end_column: int,
               content: str, units: UnitCounter) -> dict[str, Any]:
    start = to_lsp_position(lines, line, column, units)
    end = to_lsp_position(lines, end_line, end_column, units)
    return {"range": {"start": {"line": start.line, "character": start.character},
                      "end": {"line": end.line, "character": end.character}},
            "newText": content}


def text_edit_from_data(edit: dict[str, Any]) -> types.TextEdit:
    start, end = edit["range"]["start"], edit["range"]["end"]
    return types.TextEdit(
        range=types.Range(start=types.Position(line=start["line"], character=start["character"]),
                          end=types.Position(line=end["line"], character=end["character"])),
        new_text=edit["newText"])
