"""The source lines around a finding, as the report shows them under its message.

Paths are the diagnostics' own (relative to the working directory when the file is under it).
Generated code (`<torchready-wrapper-1>`) and files that cannot be read have no excerpt.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

MAX_SPAN_LINES = 8  # a multi-line finding shows at most this many of its own lines


class SourceExcerpts:
    """Reads each file once per report."""

    def __init__(self, context: int = 2) -> None:
        self.context = context
        self._files: dict[str, list[str] | None] = {}

    def lines_of(self, path: str) -> list[str] | None:
        if path not in self._files:
            self._files[path] = _read_lines(path)
        return self._files[path]

    def excerpt(self, path: str, line: int, column: int = 1, end_line: int | None = None,
                end_column: int | None = None) -> dict[str, Any] | None:
        """{"start_line", "lines", "line", "column", "end_line", "end_column"} or None."""
        lines = self.lines_of(path)
        if not lines or not 1 <= line <= len(lines):
            return None
        wanted_end = max(end_line or line, line)
        end_line = min(wanted_end, line + MAX_SPAN_LINES - 1, len(lines))
        if end_column is None or end_line != wanted_end:  # the span's end is not shown
            end_column = len(lines[end_line - 1]) + 1
        start = max(1, line - self.context)
        stop = min(len(lines), end_line + self.context)
        return {
            "start_line": start,
            "lines": lines[start - 1:stop],
            "line": line,
            "column": max(1, column),
            "end_line": end_line,
            "end_column": end_column,
        }


def _read_lines(path: str) -> list[str] | None:
    if not path or path.startswith("<"):
        return None
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return [line.rstrip("\r\n") for line in text.splitlines()]
