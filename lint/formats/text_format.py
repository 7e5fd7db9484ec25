"""`--format text`: `path:line:col: CODE message`, the source line and a caret under the span,
then a one-line summary (ruff's `full` output, through rich)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.text import Text

from lint.source_io import SourceError, read_source, split_lines
from lint.types import Applicability


def render(run, stream, *, unsafe_fixes: bool = False, source: str | None = None,
           show_source: bool = True, **_options) -> None:
    """`source`: the text the diagnostics refer to when it is not on disk (stdin)."""
    console = Console(file=stream, highlight=False, soft_wrap=True)
    sources: dict[str, list[str]] = {}
    if source is not None:
        sources.update({d.path: split_lines(source) for d in run.diagnostics})
    diagnostics = run.diagnostics
    for diagnostic in diagnostics:
        marker = ""
        if diagnostic.fix is not None and diagnostic.fix.edits:
            marker = " [*]" if diagnostic.fix.applicability is Applicability.SAFE else " [~]"
        header = Text()
        header.append(f"{diagnostic.path}:{diagnostic.line}:{diagnostic.column}:", style="bold")
        header.append(f" {diagnostic.code}", style="bold red")
        header.append(marker, style="cyan")
        header.append(f" {diagnostic.message}")
        console.print(header)
        excerpt = _excerpt(sources, diagnostic) if show_source else None
        if excerpt is not None:
            console.print(excerpt)
    console.print(_summary(diagnostics, run.fixes_applied, unsafe_fixes))


def _excerpt(sources: dict[str, list[str]], diagnostic) -> Text | None:
    if diagnostic.path not in sources:
        try:
            sources[diagnostic.path] = split_lines(read_source(Path(diagnostic.path)))
        except (SourceError, OSError):
            sources[diagnostic.path] = []
    lines = sources[diagnostic.path]
    if not 0 < diagnostic.line <= len(lines):
        return None
    line = lines[diagnostic.line - 1].expandtabs(1)
    gutter = f"{diagnostic.line:>4} | "
    end = diagnostic.end_column if diagnostic.end_line == diagnostic.line else len(line) + 1
    width = max(1, end - diagnostic.column)
    text = Text()
    text.append(gutter, style="dim")
    text.append(line + "\n")
    text.append(" " * len(gutter) + " " * (diagnostic.column - 1), style="dim")
    text.append("^" * width, style="bold red")
    return text


def _summary(diagnostics, fixes_applied: int, unsafe_fixes: bool) -> Text:
    safe = sum(1 for d in diagnostics if d.fix and d.fix.edits
               and d.fix.applicability is Applicability.SAFE)
    unsafe = sum(1 for d in diagnostics if d.fix and d.fix.edits
                 and d.fix.applicability is Applicability.UNSAFE)
    parts = []
    if fixes_applied:
        parts.append(f"Fixed {fixes_applied} finding{'s' * (fixes_applied != 1)}.")
    if not diagnostics:
        parts.append("All checks passed." if not fixes_applied else "No findings remain.")
        return Text(" ".join(parts), style="green")
    count = len(diagnostics)
    parts.append(f"Found {count} finding{'s' * (count != 1)}.")
    if safe:
        parts.append(f"[*] {safe} fixable with --fix.")
    if unsafe and not unsafe_fixes:
        parts.append(f"[~] {unsafe} more with --unsafe-fixes.")
    return Text(" ".join(parts), style="bold")
