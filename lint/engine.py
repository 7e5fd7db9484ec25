"""Lint one source text: parse once, run every selected rule in one traversal, make diagnostics.

The engine owns everything rules should not care about: parsing and syntax errors, the shared
traversal, positions, fixes as text edits, and `# noqa`.
"""

from __future__ import annotations

import ast
import re
from typing import Sequence

import libcst as cst

from lint.context import FileContext, Report
from lint.fixes import fix_to_edits
from lint.rule import Rule
from lint.suppression import is_suppressed
from lint.types import Diagnostic, Severity

SYNTAX_ERROR_CODE = "TR000"
SYNTAX_ERROR_NAME = "syntax-error"


def lint_source(source: str, path: str, rules: Sequence[type[Rule]]) -> list[Diagnostic]:
    """All unsuppressed findings of `rules` in `source`, sorted by position."""
    try:
        module = cst.parse_module(source)
    except cst.ParserSyntaxError as error:
        return [syntax_error(path, source, error)]
    applicable = [rule for rule in rules if _may_apply(rule, source)]
    if not applicable:
        return []
    context = FileContext(path, source, module)
    visitors = [rule(context) for rule in applicable]
    cst.visit_batched(module, visitors, before_visit=context.enter, after_leave=context.leave)
    diagnostics = [_diagnostic(context, report) for report in context.reports]
    diagnostics = [d for d in diagnostics if not _suppressed(context, d)]
    return sorted(set(diagnostics), key=lambda d: d.sort_key)


def _may_apply(rule: type[Rule], source: str) -> bool:
    return any(text in source for text in rule.NEEDS_TEXT)


def _diagnostic(context: FileContext, report: Report) -> Diagnostic:
    span = context.range_of(report.node)
    rule = report.rule
    return Diagnostic(
        path=context.path,
        line=span.start.line,
        column=span.start.column + 1,
        end_line=span.end.line,
        end_column=span.end.column + 1,
        code=rule.CODE,
        name=rule.NAME,
        severity=rule.SEVERITY,
        message=report.message,
        fix=fix_to_edits(context, report.fix) if report.fix else None,
    )


def _suppressed(context: FileContext, diagnostic: Diagnostic) -> bool:
    lines = context.lines
    if diagnostic.line > len(lines):
        return False
    return is_suppressed(lines[diagnostic.line - 1], diagnostic.code)


def syntax_error(path: str, source: str, error: cst.ParserSyntaxError) -> Diagnostic:
    """TR000 at the position Python itself reports (libcst's own line can be off by one); when
    Python accepts the file, libcst's grammar is the limit and its message is used."""
    line, column, message = _libcst_position(error)
    try:
        compile(source, path, "exec", flags=ast.PyCF_ONLY_AST, dont_inherit=True)
    except SyntaxError as python_error:
        line = python_error.lineno or line
        column = python_error.offset or column
        message = python_error.msg
    except (ValueError, RecursionError, MemoryError):
        pass
    return Diagnostic(
        path=path,
        line=line,
        column=column,
        end_line=line,
        end_column=column,
        code=SYNTAX_ERROR_CODE,
        name=SYNTAX_ERROR_NAME,
        severity=Severity.ERROR,
        message=f"the file does not parse: {message}",
    )


def _libcst_position(error: cst.ParserSyntaxError) -> tuple[int, int, str]:
    match = re.search(r"error at (\d+):(\d+): (.*)", error.message)
    if match:
        return int(match.group(1)), int(match.group(2)), match.group(3)
    return error.raw_line, error.raw_column + 1, error.message
