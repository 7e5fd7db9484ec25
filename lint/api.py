"""The stable facade every front end calls: the CLI, the language server, pre-commit, and the
conversion pipeline's lint stage."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from lint.config import Settings, settings_for, validate_selectors
from lint.discovery import discover
from lint.engine import lint_source
from lint.fixes import fix_source
from lint.rule import Rule
from lint.source_io import SourceError, has_bom, read_source, write_source_atomically
from lint.types import Diagnostic


@dataclass
class FileResult:
    path: Path
    diagnostics: list[Diagnostic] = field(default_factory=list)
    error: str | None = None  # the file could not be linted (unreadable, not UTF-8, ...)
    fixes_applied: int = 0
    diff: str = ""  # what --fix changed (or would change, with --diff)


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


def lint_text(source: str, path: str = "<stdin>", settings: Settings | None = None,
              select: Sequence[str] | None = None, ignore: Sequence[str] = ()) -> list[Diagnostic]:
    """Lint a source text as if it lived at `path` (editors, stdin)."""
    settings = (settings or settings_for(Path(path))).with_overrides(select, ignore)
    return lint_source(source, path, settings.rules_for(Path(path)))


def lint_paths(paths: Sequence[str], *, select: Sequence[str] | None = None,
               ignore: Sequence[str] = (), fix: bool = False, unsafe_fixes: bool = False,
               diff: bool = False) -> LintRun:
    """Lint (and with `fix`, rewrite; with `diff`, only preview) every Python file under paths."""
    validate_selectors(list(select or ()) + list(ignore), "command line")
    files = discover(paths)
    results = []
    for path in files:
        rules = settings_for(path).with_overrides(select, ignore).rules_for(path)
        results.append(lint_one(path, rules, fix=fix or diff, write=fix and not diff,
                                unsafe_fixes=unsafe_fixes))
    return LintRun(results)


def lint_one(path: Path, rules: Sequence[type[Rule]], *, fix: bool = False, write: bool = False,
             unsafe_fixes: bool = False) -> FileResult:
    display = str(path)
    result = FileResult(path)
    try:
        source = read_source(path)
    except SourceError as error:
        result.error = str(error)
        return result

    def lint(text: str) -> list[Diagnostic]:
        return lint_source(text, display, rules)

    if not fix:
        result.diagnostics = lint(source)
        return result
    fixed, applied = fix_source(source, lint, unsafe=unsafe_fixes)
    result.fixes_applied = applied
    result.diagnostics = lint(fixed)
    if fixed != source:
        result.diff = unified_diff(display, source, fixed)
        if write:
            try:
                write_source_atomically(path, fixed, had_bom=has_bom(path))
            except SourceError as error:
                result.error = str(error)
                result.diagnostics = lint(source)
                result.fixes_applied = 0
    return result


def unified_diff(path: str, before: str, after: str) -> str:
    return "".join(difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True),
        fromfile=f"a/{path}", tofile=f"b/{path}"))
