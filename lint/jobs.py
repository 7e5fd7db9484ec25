"""One file's work, in this process or in a worker of the pool: read, analyse (and summarize
for the project), fix.

Jobs are small picklable records; the pool is created only when there are enough of them to pay
for its start-up.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from torchready.lint.analysis.project_facts import ProjectFacts
from torchready.lint.results import FileResult
from torchready.lint.source_io import (SourceError, decode_source, has_bom, read_bytes,
                                       write_source_atomically)
from torchready.lint.types import Diagnostic

if TYPE_CHECKING:
    from torchready.lint.project.summary import FileSummary
    from torchready.lint.rule import Rule

# Below this many files a process pool costs more than it saves.
MIN_FILES_PER_JOB = 4


@dataclass(frozen=True)
class Job:
    path: Path
    rule_codes: tuple[str, ...]
    targets: tuple[str, ...]
    project: ProjectFacts | None = None
    summarize: bool = False
    fix: bool = False
    write: bool = False
    unsafe_fixes: bool = False
    only_reached: bool = False  # report only in code other files' forwards reach


def run_jobs(jobs: Sequence[Job], workers: int | None,
             work: Callable[[Job], object] | None = None) -> list:
    work = work or run_job
    workers = workers or os.cpu_count() or 1
    workers = min(workers, len(jobs) // MIN_FILES_PER_JOB)
    if workers <= 1:
        return [work(job) for job in jobs]
    from concurrent.futures import ProcessPoolExecutor  # not needed for one file: import late
    from multiprocessing import get_context

    # forkserver, not fork: forking a process that runs threads (a language server, a test
    # runner) can copy a held lock into the child and hang it. The server imports the rules
    # once and forks each worker from that clean, single-threaded process.
    context = get_context("forkserver")
    context.set_forkserver_preload(["torchready.lint.jobs", "torchready.lint.rules"])
    chunk = max(1, len(jobs) // (workers * 8))
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        return list(pool.map(work, jobs, chunksize=chunk))


def run_job(job: Job) -> "tuple[FileResult, FileSummary | None]":
    from torchready.lint.rules import rule_by_code

    rules = tuple(rule_by_code(code) for code in job.rule_codes)
    return lint_file(job.path, rules, targets=job.targets, project=job.project,
                     summarize=job.summarize, fix=job.fix, write=job.write,
                     unsafe_fixes=job.unsafe_fixes, only_reached=job.only_reached)


def lint_file(path: Path, rules: Sequence[type[Rule]], *, targets: tuple[str, ...] | None = None,
              project: ProjectFacts | None = None, summarize: bool = False, fix: bool = False,
              write: bool = False, unsafe_fixes: bool = False,
              only_reached: bool = False) -> "tuple[FileResult, FileSummary | None]":
    # Imported here, not at the top: the project runner schedules jobs without needing libcst.
    from torchready.lint.engine import analyse_source
    from torchready.lint.fixes import fix_source

    display = str(path)
    result = FileResult(path)
    try:
        source = decode_source(path, read_bytes(path))
    except SourceError as error:
        result.error = str(error)
        return result, None

    def lint(text: str) -> list[Diagnostic]:
        return analyse_source(text, display, rules, targets=targets, project=project,
                              only_reached=only_reached).diagnostics

    if not fix:
        analysis = analyse_source(source, display, rules, targets=targets, project=project,
                                  summary=summarize, only_reached=only_reached)
        result.diagnostics = analysis.diagnostics
        return result, analysis.summary
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
    return result, None


def unified_diff(path: str, before: str, after: str) -> str:
    return "".join(difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True),
        fromfile=f"a/{path}", tofile=f"b/{path}"))
