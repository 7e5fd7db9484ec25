"""What a lint run returns: per file its diagnostics (or why it could not be read), the fixes
applied and their diff."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from torchready.lint.types import Diagnostic


@dataclass
class FileResult:
    path: Path
    diagnostics: list[Diagnostic] = field(default_factory=list)
    error: str | None = None  # the file could not be linted (unreadable, not UTF-8, ...)
    fixes_applied: int = 0
    diff: str = ""  # what --fix changed (or would change, with --diff)
    cached: bool = False


@dataclass
class LintRun:
    files: list[FileResult]

    @property
    def diagnostics(self) -> list[Diagnostic]:
        return sorted((d for f in self.files for d in f.diagnostics), key=lambda d: d.sort_key)

    @property
    def errors(self) -> list[str]:
        return [f.error for f in self.files if f.error]

    @property
    def fixes_applied(self) -> int:
        return sum(f.fixes_applied for f in self.files)
