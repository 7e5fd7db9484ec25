"""Code actions: one quick fix per fixable diagnostic, `# noqa` per diagnostic, and fix-all.

Quick fixes and noqa edits come ready-made in each diagnostic's `data` (see
`torchready.lint.lsp.diagnostics`). Fix-all (`source.fixAll.torchready`, what editors run on save) reruns
the engine's fix loop on the current text, so it matches `torchready lint --fix` exactly, and
returns the change as one edit spanning only the lines that changed.
"""

from __future__ import annotations

from typing import Sequence

from lsprotocol import types

from torchready.lint.lsp.diagnostics import SOURCE, text_edit_from_data
from torchready.lint.lsp.positions import UnitCounter, to_lsp_position, utf16_units
from torchready.lint.source_io import split_lines

FIX_ALL_KIND = f"{types.CodeActionKind.SourceFixAll.value}.{SOURCE}"
QUICK_FIX = types.CodeActionKind.QuickFix
KINDS = [QUICK_FIX, FIX_ALL_KIND]


def wants(kind: str, only: Sequence[str] | None) -> bool:
    """LSP kinds are hierarchical: asking for `source.fixAll` (or `source`) includes
    `source.fixAll.torchready`."""
    if not only:
        return True
    return any(kind == wanted or kind.startswith(f"{wanted}.") for wanted in only)


def quick_fixes(uri: str, diagnostic: types.Diagnostic,
                document_changes: bool = True) -> list[types.CodeAction]:
    data = diagnostic.data if isinstance(diagnostic.data, dict) else None
    if diagnostic.source != SOURCE or data is None:
        return []
    code = data.get("code") or diagnostic.code
    version = data.get("version")
    actions = []
    fix = data.get("fix")
    if fix and fix.get("edits"):
        applicability = fix.get("applicability")
        label = {"safe": "Fix", "unsafe": "Fix (unsafe)"}.get(applicability, "Suggestion")
        actions.append(types.CodeAction(
            title=f"{label}: {fix['title']}",
            kind=QUICK_FIX,
            diagnostics=[diagnostic],
            is_preferred=applicability == "safe",
            edit=workspace_edit(uri, version, [text_edit_from_data(e) for e in fix["edits"]],
                                document_changes),
        ))
    noqa = data.get("noqa")
    if noqa:
        actions.append(types.CodeAction(
            title=f"Add `# noqa: {code}`",
            kind=QUICK_FIX,
            diagnostics=[diagnostic],
            edit=workspace_edit(uri, version, [text_edit_from_data(noqa)], document_changes),
        ))
    return actions


def fix_all_action(uri: str, version: int | None, before: str, after: str,
                   units: UnitCounter = utf16_units,
                   document_changes: bool = True) -> types.CodeAction | None:
    if before == after:
        return None
    return types.CodeAction(
        title="torchready: fix all safely fixable problems",
        kind=FIX_ALL_KIND,
        edit=workspace_edit(uri, version, [minimal_edit(before, after, units)], document_changes),
    )


def workspace_edit(uri: str, version: int | None, edits: list[types.TextEdit],
                   document_changes: bool) -> types.WorkspaceEdit:
    if document_changes:
        return types.WorkspaceEdit(document_changes=[types.TextDocumentEdit(
            text_document=types.OptionalVersionedTextDocumentIdentifier(uri=uri,
                                                                         version=version),
            edits=edits)])
    return types.WorkspaceEdit(changes={uri: edits})


def minimal_edit(before: str, after: str, units: UnitCounter = utf16_units) -> types.TextEdit:
    """One edit replacing only the span between the texts' common prefix and suffix, so the
    editor keeps cursors, folds and marks outside it."""
    limit = min(len(before), len(after))
    prefix = 0
    while prefix < limit and before[prefix] == after[prefix]:
        prefix += 1
    suffix = 0
    while (suffix < limit - prefix
           and before[len(before) - 1 - suffix] == after[len(after) - 1 - suffix]):
        suffix += 1
    # Never split a \r\n pair: a position between them does not exist in LSP.
    if 0 < prefix < len(before) and before[prefix - 1] == "\r" and before[prefix] == "\n":
        prefix -= 1
    end = len(before) - suffix
    if 0 < end < len(before) and before[end - 1] == "\r" and before[end] == "\n":
        end += 1
        suffix -= 1
    lines = split_lines(before)
    return types.TextEdit(
        range=types.Range(start=_position(before, lines, prefix, units),
                          end=_position(before, lines, end, units)),
        new_text=after[prefix: len(after) - suffix])


def _position(text: str, lines: Sequence[str], offset: int,
              units: UnitCounter) -> types.Position:
    line_start = 0
    for index, line_with_end in enumerate(split_lines(text, keepends=True)):
        line_end = line_start + len(line_with_end)
        if offset < line_end or (offset == line_end and index == len(lines) - 1
                                 and line_with_end == lines[index]):
            return to_lsp_position(lines, index + 1, offset - line_start + 1, units)
        line_start = line_end
    return types.Position(line=len(lines), character=0)

