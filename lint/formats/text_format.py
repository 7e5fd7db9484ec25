"""`--format text`: `path:line:col: CODE message [targets]`, the source line and a caret under
the span, then a one-line summary (ruff's `full` output).

On a terminal the lines are coloured through rich; otherwise (pre-commit, CI logs, pipes) they
are written as plain text without importing rich, which keeps a one-file run short.
"""

from __future__ import annotations

from pathlib import Path

from torchready.lint.formats import with_targets
from torchready.lint.source_io import SourceError, read_source, split_lines
from torchready.lint.types import Applicability

Segment = tuple[str, str]  # (text, rich style)


def render(run, stream, *, unsafe_fixes: bool = False, source: str | None = None,
           show_source: bool = True, **_options) -> None:
    """`source`: the text the diagnostics refer to when it is not on disk (stdin)."""
    write = _writer(stream)
    sources: dict[str, list[str]] = {}
    if source is not None:
        sources.update({d.path: split_lines(source) for d in run.diagnostics})
    diagnostics = run.diagnostics
    for diagnostic in diagnostics:
        marker = ""
        if diagnostic.fix is not None and diagnostic.fix.edits:
            marker = " [*]" if diagnostic.fix.applicability is Applicability.SAFE else " [~]"
        write([(f"{diagnostic.path}:{diagnostic.line}:{diagnostic.column}:", "bold"),
               (f" {diagnostic.code}", "bold red"), (marker, "cyan"),
               (f" {with_targets(diagnostic)}", "")])
        excerpt = _excerpt(sources, diagnostic) if show_source else None
        if excerpt is not None:
            write(excerpt)
    write(_summary(diagnostics, run.fixes_applied, unsafe_fixes,
                   unreadable=len(getattr(run, 'errors', ()) or ())))


def _writer(stream):
    if getattr(stream, "isatty", lambda: False)():
        from rich.console import Console
        from rich.text import Text

        console = Console(file=stream, highlight=False, soft_wrap=True)
        return lambda segments: console.print(Text.assemble(*segments))
    return lambda segments: stream.write("".join(text for text, _ in segments) + "\n")


def _excerpt(sources: dict[str, list[str]], diagnostic) -> list[Segment] | None:
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
    return [(gutter, "dim"), (line + "\n", ""),
            (" " * len(gutter) + " " * (diagnostic.column - 1), "dim"), ("^" * width, "bold red")]


def _summary(diagnostics, fixes_applied: int, unsafe_fixes: bool,
             unreadable: int = 0) -> list[Segment]:
    safe = sum(1 for d in diagnostics if d.fix and d.fix.edits
               and d.fix.applicability is Applicability.SAFE)
    unsafe = sum(1 for d in diagnostics if d.fix and d.fix.edits
                 and d.fix.applicability is Applicability.UNSAFE)
    parts = []
    if fixes_applied:
        parts.append(f"Fixed {fixes_applied} finding{'s' * (fixes_applied != 1)}.")
    if not diagnostics and unreadable:
        # Not "All checks passed.": the files named on stderr were not checked at all.
        parts.append(f"No findings in the files that could be read; {unreadable} could not be "
                     "linted (errors on stderr).")
        return [(" ".join(parts), "bold")]
    if not diagnostics:
        parts.append("All checks passed." if not fixes_applied else "No findings remain.")
        return [(" ".join(parts), "green")]
    count = len(diagnostics)
    parts.append(f"Found {count} finding{'s' * (count != 1)}.")
    if safe:
        parts.append(f"[*] {safe} fixable with --fix.")
    if unsafe and not unsafe_fixes:
        parts.append(f"[~] {unsafe} more with --unsafe-fixes.")
    return [(" ".join(parts), "bold")]
