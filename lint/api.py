"""The stable facade every front end calls: the CLI, the language server, pre-commit, and the
conversion pipeline's lint stage."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from torchready.lint.config import Settings, settings_for, validate_selectors
from torchready.lint.discovery import discover_with_settings
from torchready.lint.jobs import unified_diff
from torchready.lint.project import memory
from torchready.lint.project.runner import Options, Source, lint_project
from torchready.lint.results import FileResult, LintRun
from torchready.lint.targets import parse_targets
from torchready.lint.types import Diagnostic

if TYPE_CHECKING:
    from torchready.lint.rule import Rule

# The engine (and with it libcst, about half a second to import here) loads only when a file is
# analysed: a warm run answers from the cache without it.

__all__ = ["FileResult", "LintRun", "fix_text", "lint_paths", "lint_text", "rules_for",
           "unified_diff"]


def lint_text(source: str, path: str = "<stdin>", settings: Settings | None = None,
              select: Sequence[str] | None = None, ignore: Sequence[str] = (),
              targets: Sequence[str] | None = None) -> list[Diagnostic]:
    """Lint a source text as if it lived at `path` (editors, stdin): a project of one file.
    `targets`: capture targets (default: configured, else inferred from the text)."""
    from torchready.lint.engine import lint_source

    settings = settings or settings_for(Path(path))
    return lint_source(source, path, rules_for(Path(path), select, ignore, settings),
                       targets=_targets(targets, settings))


def fix_text(source: str, path: str = "<stdin>", unsafe_fixes: bool = False,
             select: Sequence[str] | None = None, ignore: Sequence[str] = (),
             targets: Sequence[str] | None = None) -> tuple[str, int]:
    """The fixed text (and how many fixes applied) for a source living at `path`."""
    from torchready.lint.engine import lint_source
    from torchready.lint.fixes import fix_source

    settings = settings_for(Path(path))
    rules = rules_for(Path(path), select, ignore, settings)
    chosen = _targets(targets, settings)
    return fix_source(source, lambda text: lint_source(text, path, rules, targets=chosen),
                      unsafe=unsafe_fixes)


def rules_for(path: Path, select: Sequence[str] | None = None, ignore: Sequence[str] = (),
              settings: Settings | None = None) -> tuple[type[Rule], ...]:
    settings = (settings or settings_for(path)).with_overrides(select, ignore)
    return settings.rules_for(path)


def lint_paths(paths: Sequence[str], *, select: Sequence[str] | None = None,
               ignore: Sequence[str] = (), fix: bool = False, unsafe_fixes: bool = False,
               diff: bool = False, jobs: int | None = None, cache: bool = True,
               targets: Sequence[str] | None = None,
               follow_imports: bool = False) -> LintRun:
    """Lint (with `fix`, rewrite; with `diff`, only preview) every Python file under `paths`,
    as one project: imports among the files are resolved, and code that forwards of other
    files reach is analysed with what those forwards pass.

    `targets`: the capture targets (trace, script, export, all; default: configured, else
    inferred from the files' own capture calls, else trace and export). `follow_imports`: also
    read the installed modules that reached code calls (never written, never run). Files run
    in a process pool (`jobs`, default: the number of cores); unchanged results come from
    `.torchready_cache/` unless fixing or `cache=False`.
    """
    validate_selectors(list(select or ()) + list(ignore), "command line")
    chosen = parse_targets(targets, "--target") if targets else None
    sources = []
    overridden: dict[Settings, Settings] = {}  # one per configuration, not per file
    for path, settings in discover_with_settings(paths):
        if settings not in overridden:
            overridden[settings] = settings.with_overrides(select, ignore)
        codes = overridden[settings].rule_codes_for(path)
        sources.append(Source(path, codes, settings.targets))
    return lint_project(sources, Options(
        targets=chosen, fix=fix, diff=diff, unsafe_fixes=unsafe_fixes, jobs=jobs,
        cache_root=Path.cwd() if cache else None, follow_imports=follow_imports,
        memory=memory.active()))


def _targets(given: Sequence[str] | None, settings: Settings) -> tuple[str, ...] | None:
    if given:
        return parse_targets(given, "--target")
    return settings.targets
