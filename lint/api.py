"""The stable facade every front end calls: the CLI, the language server, pre-commit, and the
conversion pipeline's lint stage."""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from torchready.lint.cache import ResultCache
from torchready.lint.config import Settings, settings_for, validate_selectors
from torchready.lint.discovery import discover
from torchready.lint.engine import lint_source
from torchready.lint.fixes import fix_source
from torchready.lint.rule import Rule
from torchready.lint.source_io import SourceError, decode_source, has_bom, read_bytes, write_source_atomically
from torchready.lint.types import Diagnostic

# Below this many files a process pool costs more than it saves.
MIN_FILES_PER_JOB = 4


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


@dataclass(frozen=True)
class _Job:
    """One file's work, small enough to send to a worker process."""

    path: Path
    rule_codes: tuple[str, ...]
    fix: bool
    write: bool
    unsafe_fixes: bool
    cache_key: str | None


def lint_text(source: str, path: str = "<stdin>", settings: Settings | None = None,
              select: Sequence[str] | None = None, ignore: Sequence[str] = ()) -> list[Diagnostic]:
    """Lint a source text as if it lived at `path` (editors, stdin)."""
    return lint_source(source, path, rules_for(Path(path), select, ignore, settings))


def fix_text(source: str, path: str = "<stdin>", unsafe_fixes: bool = False,
             select: Sequence[str] | None = None, ignore: Sequence[str] = ()) -> tuple[str, int]:
    """The fixed text (and how many fixes applied) for a source living at `path`."""
    rules = rules_for(Path(path), select, ignore)
    return fix_source(source, lambda text: lint_source(text, path, rules), unsafe=unsafe_fixes)


def rules_for(path: Path, select: Sequence[str] | None = None, ignore: Sequence[str] = (),
              settings: Settings | None = None) -> tuple[type[Rule], ...]:
    settings = (settings or settings_for(path)).with_overrides(select, ignore)
    return settings.rules_for(path)


def lint_paths(paths: Sequence[str], *, select: Sequence[str] | None = None,
               ignore: Sequence[str] = (), fix: bool = False, unsafe_fixes: bool = False,
               diff: bool = False, jobs: int | None = None, cache: bool = True) -> LintRun:
    """Lint (with `fix`, rewrite; with `diff`, only preview) every Python file under `paths`.

    Files run in a process pool (`jobs`, default: the number of cores); results of unchanged
    files come from the cache in `.torchready_cache/` unless fixing or `cache=False`.
    """
    validate_selectors(list(select or ()) + list(ignore), "command line")
    files = discover(paths)
    result_cache = ResultCache(Path.cwd()) if cache and not (fix or diff) else None
    results: dict[int, FileResult] = {}
    pending: list[tuple[int, _Job]] = []
    for index, path in enumerate(files):
        codes = tuple(rule.CODE for rule in rules_for(path, select, ignore))
        key = None
        if result_cache is not None:
            try:
                key = result_cache.key(str(path), read_bytes(path), codes)
            except SourceError as error:
                results[index] = FileResult(path, error=str(error))
                continue
            hit = result_cache.get(key)
            if hit is not None:
                results[index] = FileResult(path, hit, cached=True)
                continue
        pending.append((index, _Job(path, codes, fix or diff, fix and not diff, unsafe_fixes, key)))
    for (index, job), result in zip(pending, _run_jobs([job for _, job in pending], jobs)):
        results[index] = result
        if result_cache is not None and job.cache_key and result.error is None:
            result_cache.put(job.cache_key, result.diagnostics)
    return LintRun([results[index] for index in range(len(files))])


def _run_jobs(jobs: list[_Job], workers: int | None) -> list[FileResult]:
    workers = workers or os.cpu_count() or 1
    workers = min(workers, len(jobs) // MIN_FILES_PER_JOB)
    if workers <= 1:
        return [_run_job(job) for job in jobs]
    from concurrent.futures import ProcessPoolExecutor  # not needed for one file: import late
    from multiprocessing import get_context

    # forkserver, not fork: forking a process that runs threads (a language server, a test
    # runner) can copy a held lock into the child and hang it. The server imports the rules
    # once and forks each worker from that clean, single-threaded process.
    context = get_context("forkserver")
    context.set_forkserver_preload(["torchready.lint.api", "torchready.lint.rules"])
    chunk = max(1, len(jobs) // (workers * 8))
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        return list(pool.map(_run_job, jobs, chunksize=chunk))


def _run_job(job: _Job) -> FileResult:
    from torchready.lint.rules import rule_by_code

    rules = tuple(rule_by_code(code) for code in job.rule_codes)
    return lint_one(job.path, rules, fix=job.fix, write=job.write, unsafe_fixes=job.unsafe_fixes)


def lint_one(path: Path, rules: Sequence[type[Rule]], *, fix: bool = False, write: bool = False,
             unsafe_fixes: bool = False) -> FileResult:
    display = str(path)
    result = FileResult(path)
    try:
        source = decode_source(path, read_bytes(path))
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
