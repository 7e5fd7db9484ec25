"""Lint the files of one invocation as a project.

1. Read every file and decide the capture targets (given, configured, or inferred from the
   capture calls the files make).
2. Analyse every file that changed since the last run, in the process pool, with the facts the
   last link gave it: its diagnostics and its summary, from one parse.
3. Link the summaries (in this process) when one of them changed, unless the change only moved
   lines no message quotes: each file gets the facts the rest of the project adds
   (`ProjectFacts`). With `--follow-imports`, installed modules that reached code calls are
   summarized too and the project links again.
4. Lint again, in the pool, only the files whose facts differ from those they were analysed
   with and whose result is not cached for exactly those facts.

Everything is cached by content (`ProjectState`): a warm run hashes the files and reads one
index; one edited file costs its own analysis, and a link only if its summary changed.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Sequence

from torchready.lint.analysis.capture_calls import captures_in_source
from torchready.lint.analysis.project_facts import ProjectFacts
from torchready.lint.jobs import Job, run_jobs
from torchready.lint.project.memory import RunMemory
from torchready.lint.project.modules import find_installed_module, module_name
from torchready.lint.project.state import ProjectState, digest, empty_summary
from torchready.lint.results import FileResult, LintRun
from torchready.lint.source_io import SourceError, decode_source, read_bytes
from torchready.lint.targets import infer_targets
from torchready.lint.types import Diagnostic, diagnostic_from_json

# --follow-imports reads at most this many installed modules, in at most this many rounds of
# link -> find what reached code calls -> summarize.
MAX_FOLLOWED_FILES = 400
MAX_FOLLOW_ROUNDS = 4


@dataclass
class Source:
    """One file of the project."""

    path: Path
    rule_codes: tuple[str, ...]
    configured_targets: tuple[str, ...] | None = None
    followed: bool = False  # read for its facts (--follow-imports), never written
    error: str | None = None
    sha: str = ""
    captures: list[str] = field(default_factory=list)
    targets: tuple[str, ...] = ()
    summary_key: str = ""

    @cached_property
    def key(self) -> str:
        return str(self.path)


@dataclass
class Options:
    targets: tuple[str, ...] | None = None  # given on the command line
    fix: bool = False
    diff: bool = False
    unsafe_fixes: bool = False
    jobs: int | None = None
    cache_root: Path | None = None  # None: no cache
    follow_imports: bool = False
    memory: RunMemory | None = None  # a long-running process's (the daemon's)


def lint_project(sources: Sequence[Source], options: Options) -> LintRun:
    sources = list(sources)
    state = _open_state(_project_key(sources, options), options)
    project = [source for source in sources if _read(source, state, options.memory)]
    if options.follow_imports:
        # Installed modules an earlier run followed: read again (they may have changed).
        linted = {source.key for source in sources}
        project += [source for key, entry in sorted(state.files.items())
                    if entry.get("followed") and key not in linted
                    for source in [Source(Path(key), _followed_rules(sources), followed=True)]
                    if _read(source, state, options.memory, quiet=True)]
    project_targets = options.targets or infer_targets(
        capture for source in project for capture in source.captures)
    for source in project:
        source.targets = options.targets or source.configured_targets or project_targets
        source.summary_key = digest("summary", source.sha, ",".join(source.targets))

    fresh, relink = _analyse_changed(project, state, options)
    relink = relink or set(state.files) != {source.key for source in project} or any(
        "facts" not in state.files.get(source.key, {}) for source in project)
    if len(project) == 1 and not options.follow_imports:
        facts = {project[0].key: ProjectFacts()}  # one file: nothing to link
    elif relink:
        facts = _link(project, state, options)
    else:
        facts = {source.key: StoredFacts(state, source.key) for source in project}
    results = _lint_with_facts(project, facts, state, fresh, options)

    state.keep_only({source.key for source in project})
    state.save()
    by_key = {source.key: result for source, result in zip(project, results)}
    followed = [result for source, result in zip(project, results)
                if source.followed and result.diagnostics]
    return LintRun([by_key.get(source.key) or FileResult(source.path, error=source.error)
                    for source in sources] + followed)


def _project_key(sources: Sequence[Source], options: Options) -> str:
    cwd = os.getcwd()  # (Path.absolute() per file cost a warm run of 2,597 files 0.15 s)
    paths = sorted(os.path.join(cwd, source.key) for source in sources)
    return digest(*paths, repr(options.targets), repr(options.follow_imports))


def _open_state(project_key: str, options: Options) -> ProjectState:
    if options.fix or options.diff or options.cache_root is None:
        return ProjectState(None, project_key)  # fixing writes files: nothing cached holds
    if options.memory is not None:
        return options.memory.state(options.cache_root, project_key)
    return ProjectState(options.cache_root, project_key)


def _read(source: Source, state: ProjectState, memory: RunMemory | None,
          quiet: bool = False) -> bool:
    try:
        signature, known = memory.unchanged_digest(source.path) if memory else (None, None)
        entry = state.files.get(source.key, {})
        if known is not None and entry.get("sha") == known and "captures" in entry:
            source.sha, source.captures = known, entry["captures"]  # not read again
        else:
            data = read_bytes(source.path)
            source.sha = digest(data)
            if entry.get("sha") == source.sha and "captures" in entry:
                source.captures = entry["captures"]  # these bytes decoded last time
            else:
                source.captures = sorted(captures_in_source(decode_source(source.path, data)))
            if memory is not None:
                memory.remember_digest(source.path, signature, source.sha)
    except SourceError as error:
        source.error = None if quiet else str(error)
        return False
    state.update(source.key, sha=source.sha, captures=source.captures, followed=source.followed)
    return True


def _analyse_changed(sources: list[Source], state: ProjectState, options: Options,
                     summarize: bool | None = None) -> tuple[dict[str, Fresh], bool]:
    """Analyse the files whose summary is not cached: their results by path, and whether a
    summary differs from the one the last link used.

    A file is linted with the facts the last link gave it: when its summary did not change (an
    edit inside a function body) the link would give the same facts, so this one analysis is
    the file's result; after a link its facts are compared and it is linted again only if they
    differ."""
    if summarize is None:
        # A project of one file has nothing to link (unless installed modules may join it):
        # only its result counts.
        summarize = len(sources) > 1 or options.follow_imports
    changed = [source for source in sources
               if state.files.get(source.key, {}).get("summary") != source.summary_key
               if summarize or state.files.get(source.key, {}).get("result")
               != _result_key(source, "")]
    known = [_last_facts(state, source) if summarize else ProjectFacts() for source in changed]
    jobs = [Job(source.path, () if source.followed else source.rule_codes, source.targets,
                project=facts or None, summarize=summarize)
            for source, facts in zip(changed, known)]
    fresh: dict[str, Fresh] = {}
    relink = False
    for source, facts, (result, summary) in zip(changed, known, run_jobs(jobs, options.jobs)):
        if result.error is None and not source.followed:  # followed: summarized, not linted
            fresh[source.key] = Fresh(result, facts.key())
        if not summarize:
            continue
        summary = summary or empty_summary()
        state.put_summary(source.summary_key, summary)
        interface = digest(json.dumps(summary.to_json(), sort_keys=True))
        shape = digest(json.dumps(summary.without_lines(), sort_keys=True))
        entry = state.files.get(source.key, {})
        if entry.get("interface") != interface and (
                entry.get("shape") != shape or _quoted_in_labels(state, source)):
            relink = True
        state.update(source.key, summary=source.summary_key, interface=interface, shape=shape)
    return fresh, relink


def _quoted_in_labels(state: ProjectState, source: Source) -> bool:
    """Whether the facts of the last link quote a line of the file (`reached from X via
    file.py:LINE`). When an edit moved only the file's lines (its summary without lines is the
    same) and no label quotes them, a new link would give every file the same facts: skipping
    it keeps an edit inside a function body from relinking the whole tree."""
    quoted = f" via {source.key}:"
    return any(quoted in label for entry in state.files.values()
               for found in entry.get("facts", {}).get("entries", {}).values()
               for label in found[2:])


@dataclass
class Fresh:
    """A result of this run's analysis of a changed file, and the facts it was linted with."""

    result: FileResult
    facts_key: str


def _last_facts(state: ProjectState, source: Source) -> ProjectFacts:
    """The facts the last link gave the file (none when it is new or was not linked)."""
    data = state.files.get(source.key, {}).get("facts")
    try:
        return ProjectFacts.from_json(data) if data else ProjectFacts()
    except (AttributeError, KeyError, TypeError, ValueError):
        return ProjectFacts()  # an entry from an incompatible build


def _link(sources: list[Source], state: ProjectState,
          options: Options) -> dict[str, ProjectFacts]:
    """Each file's project facts from a new link (following installed imports if asked)."""
    from torchready.lint.project.link import link  # a one-file run never links

    if options.follow_imports:
        _follow_imports(sources, state, options)
    files = [_project_file(source, state, options) for source in sources]
    result = link(files, _dominant_targets(sources))
    facts = {}
    for source, found in zip(sources, result.facts):
        facts[source.key] = found
        state.update(source.key, facts=found.to_json(), facts_key=found.key())
    return facts


def _dominant_targets(sources: list[Source]) -> tuple[str, ...]:
    """The targets of the link: those of most files (files differ only when their
    pyproject.toml files say different things)."""
    counts: dict[tuple[str, ...], int] = {}
    for source in sources:
        counts[source.targets] = counts.get(source.targets, 0) + 1
    return max(counts, key=counts.get) if counts else ()


def _project_file(source: Source, state: ProjectState, options: Options):
    from torchready.lint.project.link import ProjectFile

    module, is_package = module_name(source.path)
    summary = state.summary(source.summary_key)
    if summary is None:  # the cache lost it: analyse the file again
        state.update(source.key, summary=None)
        _analyse_changed([source], state, options, summarize=True)
        summary = state.summary(source.summary_key) or empty_summary()
    return ProjectFile(source.key, module, is_package, summary, followed=source.followed)


def _follow_imports(sources: list[Source], state: ProjectState, options: Options) -> None:
    """Add installed modules that reached code calls (and base classes name), read-only."""
    from torchready.lint.project.link import link

    known = {str(source.path.resolve()) for source in sources}
    followed = sum(1 for source in sources if source.followed)
    for _ in range(MAX_FOLLOW_ROUNDS):
        files = [_project_file(source, state, options) for source in sources]
        unresolved = link(files, _dominant_targets(sources)).unresolved
        added = []
        for module in sorted({_module_part(name) for name in unresolved} - {None}):
            path = find_installed_module(module)
            if path is None or str(path.resolve()) in known or followed >= MAX_FOLLOWED_FILES:
                continue
            known.add(str(path.resolve()))
            source = Source(_display(path), _followed_rules(sources), followed=True)
            if not _read(source, state, options.memory, quiet=True):
                continue
            source.targets = _dominant_targets(sources)
            source.summary_key = digest("summary", source.sha, ",".join(source.targets))
            added.append(source)
            followed += 1
        if not added:
            return
        _analyse_changed(added, state, options, summarize=True)
        sources.extend(added)


def _followed_rules(sources: list[Source]) -> tuple[str, ...]:
    """Installed modules are checked with the rules of the linted files."""
    linted = [source.rule_codes for source in sources if not source.followed]
    return max(linted, key=len) if linted else ()


def _module_part(name: str) -> str | None:
    """`pkg.mod.helper` -> `pkg.mod` (an installed module's file is what is looked for)."""
    module, _, _ = name.rpartition(".")
    return module or None


def _display(path: Path) -> Path:
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


class StoredFacts:
    """The facts the last link stored for a file, parsed only when the file is linted again: a
    warm run needs just their key, to find the file's cached result (parsing every file's facts
    cost a warm run of transformers' tree a tenth of a second)."""

    def __init__(self, state: ProjectState, file: str) -> None:
        self._state, self._file = state, file

    def key(self) -> str:
        stored = self._state.files[self._file].get("facts_key")
        if not isinstance(stored, str):  # an index written before keys were kept
            stored = self.facts.key()
            self._state.update(self._file, facts_key=stored)
        return stored

    @cached_property
    def facts(self) -> ProjectFacts:
        return ProjectFacts.from_json(self._state.files[self._file]["facts"])


def _lint_with_facts(sources: list[Source], facts: dict[str, ProjectFacts | StoredFacts],
                     state: ProjectState, fresh: dict[str, Fresh],
                     options: Options) -> list[FileResult]:
    fixing = options.fix or options.diff
    results: dict[str, FileResult] = {}
    pending: list[tuple[Source, Job, str]] = []
    for source in sources:
        found = facts.get(source.key)
        facts_key = found.key() if found is not None else ""
        if source.followed and not _parsed(found).entries:
            continue  # nothing of the project reaches it: nothing to report there
        key = _result_key(source, facts_key)
        entry = state.files.get(source.key, {})
        cached = _cached_result(source, entry, state) if entry.get("result") == key else None
        if cached is not None and not fixing:
            results[source.key] = cached
            continue
        analysed = fresh.get(source.key)
        if not fixing and analysed is not None and analysed.facts_key == facts_key:
            results[source.key] = analysed.result
            _remember(state, source, key, analysed.result)
            continue
        project = _parsed(found)
        pending.append((source, Job(source.path, source.rule_codes, source.targets,
                                    project=project or None, fix=fixing and not source.followed,
                                    write=options.fix and not options.diff
                                    and not source.followed,
                                    unsafe_fixes=options.unsafe_fixes,
                                    only_reached=source.followed), key))
    for (source, _, key), (result, _) in zip(pending,
                                             run_jobs([job for _, job, _ in pending],
                                                      options.jobs)):
        results[source.key] = result
        if result.error is None and not fixing:
            _remember(state, source, key, result)
    return [results.get(source.key) or FileResult(source.path) for source in sources]


def _parsed(found: ProjectFacts | StoredFacts | None) -> ProjectFacts:
    if isinstance(found, StoredFacts):
        return found.facts
    return found or ProjectFacts()


def _result_key(source: Source, facts_key: str) -> str:
    """What a file's diagnostics depend on: its bytes, its path (shown in them), the rules, the
    targets and the project facts (their key)."""
    return digest(source.sha, source.key, ",".join(source.rule_codes), ",".join(source.targets),
                  facts_key, str(source.followed))


def _cached_result(source: Source, entry: dict, state: ProjectState) -> FileResult | None:
    kept = state.parsed_results.get(source.key)
    if kept is not None and kept[0] == entry["result"]:
        return kept[1]
    try:
        diagnostics = [diagnostic_from_json(item) for item in entry["diagnostics"]]
    except (KeyError, TypeError, ValueError):
        return None  # an entry from an incompatible build: lint again
    result = FileResult(source.path, diagnostics, cached=True)
    state.parsed_results[source.key] = (entry["result"], result)
    return result


def _remember(state: ProjectState, source: Source, key: str, result: FileResult) -> None:
    state.update(source.key, result=key, diagnostics=[_entry(d) for d in result.diagnostics])


def _entry(diagnostic: Diagnostic) -> dict:
    """The JSON output shape, plus the fix title (the language server shows it)."""
    entry = diagnostic.to_json()
    if diagnostic.fix is not None:
        entry["fix"]["title"] = diagnostic.fix.title
    return entry

