"""Lint one source text: parse once, run every selected rule in one traversal, make diagnostics.

The engine owns everything rules should not care about: parsing and syntax errors, the capture
targets, the shared traversal, positions, fixes as text edits, and `# noqa`. For a project run
it also returns the file's summary (what the project's link step needs), from the same parse.
"""

from __future__ import annotations

import ast
import re
import sys
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import libcst as cst

from torchready.lint import forked
from torchready.lint.analysis.capture_calls import captures_in, names_a_capture
from torchready.lint.analysis.project_facts import ProjectFacts
from torchready.lint.analysis.traversal import visit_batched
from torchready.lint.context import FileContext, Report
from torchready.lint.fixes import fix_to_edits
from torchready.lint.reparse import parse_module
from torchready.lint.rule import Rule
from torchready.lint.suppression import is_suppressed
from torchready.lint.targets import SCRIPT, infer_targets
from torchready.lint.types import Diagnostic, Severity

if TYPE_CHECKING:
    from torchready.lint.project.summary import FileSummary

SYNTAX_ERROR_CODE = "TR000"
SYNTAX_ERROR_NAME = "syntax-error"


@dataclass
class Analysis:
    diagnostics: list[Diagnostic]
    summary: "FileSummary | None" = None  # when asked for, and the file parses


def lint_source(source: str, path: str, rules: Sequence[type[Rule]], *,
                targets: tuple[str, ...] | None = None,
                project: ProjectFacts | None = None) -> list[Diagnostic]:
    """All unsuppressed findings of `rules` in `source`, sorted by position. `targets`: the
    capture targets (default: inferred from the file's own capture calls); `project`: what
    the other files of the project say about this one."""
    return analyse_source(source, path, rules, targets=targets, project=project).diagnostics


def analyse_source(source: str, path: str, rules: Sequence[type[Rule]], *,
                   targets: tuple[str, ...] | None = None,
                   project: ProjectFacts | None = None, summary: bool = False,
                   only_reached: bool = False) -> Analysis:
    """`lint_source`, and with `summary` the file's summary for the project's link step.
    `only_reached`: report only in code that other files' forwards reach (an installed module
    read for --follow-imports)."""
    # Python's own parser runs first, at about 7% of libcst's cost (measured): it gives the exact
    # position of a syntax error, and it rejects the pathological inputs (thousands of nested
    # operators) on which libcst's native parser overflows its stack and kills the process.
    python_ast = _python_parse(source)
    if not isinstance(python_ast, ast.Module):
        return Analysis([_python_syntax_error(path, python_ast)])
    if targets is None:
        targets = infer_targets(captures_in(python_ast) if names_a_capture(source) else set())
    # Code other files reach may hold hazards without naming torch (size arithmetic in a
    # helper): the text pre-filter is only for files the project says nothing about.
    applicable = [rule for rule in rules if project or _may_apply(rule, source, targets)]
    if not applicable and not summary:
        return Analysis([])

    def work() -> Analysis:
        return _analyse_parsed(source, path, applicable, python_ast, targets, project, summary,
                               only_reached)

    try:
        return work()
    except RecursionError:
        # Long operator chains (`a + b + ...` over hundreds of terms) recurse deeper than
        # Python's default limit in the traversal and libcst's visitors; retry once on a thread
        # with a big stack.
        return _with_deep_recursion(work, path)


def _analyse_parsed(source: str, path: str, rules: Sequence[type[Rule]],
                    python_ast: ast.Module | None, targets: tuple[str, ...],
                    project: ProjectFacts | None, want_summary: bool,
                    only_reached: bool = False) -> Analysis:
    try:
        module = parse_module(source, python_ast, path)
    except cst.ParserSyntaxError as error:
        return Analysis([syntax_error(path, source, error)])
    context = FileContext(path, source, module, python_ast, targets, project)
    context.only_reached = only_reached
    summary = _start_summary(context, project) if want_summary else None
    try:
        diagnostics = _lint(context, [rule for rule in rules if _concerns(rule, targets)])
    except BaseException:
        if summary is not None:
            summary.cancel()
        raise
    return Analysis(diagnostics, summary.result() if summary is not None else None)


def _lint(context: FileContext, rules: Sequence[type[Rule]]) -> list[Diagnostic]:
    if rules:
        visitors = [rule(context) for rule in rules]
        visit_batched(context.module, visitors, before_visit=context.enter,
                      after_leave=context.leave)
    diagnostics = [_diagnostic(context, report) for report in context.reports]
    diagnostics = [d for d in diagnostics if not _suppressed(context, d)]
    return sorted(set(diagnostics), key=lambda d: d.sort_key)


def _start_summary(context: FileContext,
                   project: ProjectFacts | None) -> forked.Pending[FileSummary]:
    """The file's summary for the link, computed while the file is linted where it can be."""
    # Only project runs of several files summarize: a one-file run never imports it.
    from torchready.lint.project.summary import summarize

    # The summary is the file's own view (the link adds the project's): linted with the facts of
    # the last link, the file is summarized from the same parse without them. Without such
    # facts it is summarized from the lint's context, after the lint (sharing what the lint
    # computed), or meanwhile by a forked child where the process allows it (the daemon).
    own = context if not project else FileContext(
        context.path, context.source, context.module, context.python_ast, context.targets, None)
    return forked.start(lambda: summarize(own))


def _python_parse(source: str) -> ast.Module | BaseException:
    """Python's parse of the file, or the exception that says why it does not parse."""
    try:
        return compile(source, "<lint>", "exec", flags=ast.PyCF_ONLY_AST, dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as error:
        return error


def _python_syntax_error(path: str, error: BaseException) -> Diagnostic:
    if not isinstance(error, SyntaxError):
        reason = {MemoryError: "it is too complex for Python's parser",
                  RecursionError: "it is nested too deeply for Python's parser"}.get(
            type(error), str(error))
        return _unparsable(path, reason)
    line = error.lineno or 1
    column = error.offset or 1
    return Diagnostic(path=path, line=line, column=column, end_line=line, end_column=column,
                      code=SYNTAX_ERROR_CODE, name=SYNTAX_ERROR_NAME, severity=Severity.ERROR,
                      message=f"the file does not parse: {error.msg}")


DEEP_STACK_BYTES = 512 * 1024 * 1024
DEEP_RECURSION_LIMIT = 200_000


def _with_deep_recursion(work, path: str) -> Analysis:
    outcome: list = []

    def target() -> None:
        try:
            outcome.append(work())
        except RecursionError:
            outcome.append(Analysis([_unparsable(path, "it is nested too deeply to analyse")]))

    previous_limit = sys.getrecursionlimit()
    previous_stack = threading.stack_size()
    threading.stack_size(DEEP_STACK_BYTES)
    sys.setrecursionlimit(DEEP_RECURSION_LIMIT)
    try:
        thread = threading.Thread(target=target, name="torchready-deep-lint")
        thread.start()
        thread.join()
    finally:
        sys.setrecursionlimit(previous_limit)
        threading.stack_size(previous_stack)
    return outcome[0]


def _may_apply(rule: type[Rule], source: str, targets: tuple[str, ...]) -> bool:
    needs = rule.NEEDS_TEXT
    if SCRIPT in targets and SCRIPT in rule.TARGETS:
        # Scripting rules wait for `jit` in a file only while nothing else says it is scripted.
        needs = Rule.NEEDS_TEXT
    return any(text in source for text in needs)


def _concerns(rule: type[Rule], targets: tuple[str, ...]) -> bool:
    """A rule runs when it reports hazards of a target the run checks; scripting rules always
    run, because code that scripts itself (`@torch.jit.script`) is compiled whatever the
    targets."""
    return bool(rule.TARGETS & set(targets)) or SCRIPT in rule.TARGETS


def _diagnostic(context: FileContext, report: Report) -> Diagnostic:
    span = context.range_of(report.node, report.anchor)
    return Diagnostic(
        path=context.path,
        line=span.start.line,
        column=span.start.column + 1,
        end_line=span.end.line,
        end_column=span.end.column + 1,
        code=report.code,
        name=report.name,
        severity=report.severity,
        message=report.message,
        fix=fix_to_edits(context, report.fix, report.anchor) if report.fix else None,
        targets=report.targets,
    )


def _suppressed(context: FileContext, diagnostic: Diagnostic) -> bool:
    lines = context.lines
    if diagnostic.line > len(lines):
        return False
    return is_suppressed(lines[diagnostic.line - 1], diagnostic.code)


def syntax_error(path: str, source: str, error: cst.ParserSyntaxError) -> Diagnostic:
    """Python accepted the file but libcst's grammar does not (newer syntax): report libcst's
    position and message."""
    line, column, message = _libcst_position(error)
    return Diagnostic(
        path=path,
        line=line,
        column=column,
        end_line=line,
        end_column=column,
        code=SYNTAX_ERROR_CODE,
        name=SYNTAX_ERROR_NAME,
        severity=Severity.ERROR,
        message=f"torchready's parser does not support this syntax: {message}",
    )


def _unparsable(path: str, reason: str) -> Diagnostic:
    return Diagnostic(path=path, line=1, column=1, end_line=1, end_column=1,
                      code=SYNTAX_ERROR_CODE, name=SYNTAX_ERROR_NAME, severity=Severity.ERROR,
                      message=f"the file cannot be analysed: {reason}")


def _libcst_position(error: cst.ParserSyntaxError) -> tuple[int, int, str]:
    match = re.search(r"error at (\d+):(\d+): (.*)", error.message)
    if match:
        return int(match.group(1)), int(match.group(2)), match.group(3)
    return error.raw_line, error.raw_column + 1, error.message
