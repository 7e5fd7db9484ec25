"""What each speed lever of the linter buys: the same files linted with the lever and without it.

    python benchmarks/speed_levers.py [FOLDER] [--subset a-c] [--repeat N] [--levers 1,2,4a]

FOLDER defaults to the installed transformers `models/` tree (the files of
benchmarks/lint_speed.py, via benchmarks/corpus.py). Every file is read into memory first, then
linted in this process, one file after the other (one job), with `torchready.lint.engine.lint_source` and
each file's configured rules, so the timings hold parsing and analysis only: no process start,
no file reading, no cache, no pool. For each lever the script times the linter as shipped ("on")
and with that one lever switched off ("off") back to back, prints wall time, lines/s and the
off/on ratio (of wall time, and of this process's CPU time, which other load disturbs less),
and checks that both variants report the same diagnostics.

The levers, and how the benchmark switches each off (monkeypatching inside this process only;
the product has no flag for any of them):

1. textual pre-filter per rule: a rule whose `NEEDS_TEXT` substrings are all absent from a
   file is not run on it, and a file no rule needs is not even parsed.
   Off: `torchready.lint.engine._may_apply` answers True, so every rule runs on every file.
2. lazy positions: positions are computed only for the top-level statements that hold findings
   (`FileContext.range_of`). Off: libcst's `PositionProvider` is resolved over the whole module
   of every parsed file through a `MetadataWrapper`, as a naive linter does, and every finding
   takes its position from it. (The wrapper is built with `unsafe_skip_copy=True` so the rules'
   nodes stay valid keys; a naive linter that lets the wrapper deep-copy the tree pays more.)
3. own import resolution instead of libcst's scope analysis: rules resolve names with
   `torchready.lint.analysis.imports.ImportTable`. Off: libcst's `ScopeProvider` and
   `QualifiedNameProvider` are additionally resolved for every parsed file, as TorchFix does:
   the cost of the richer metadata (the rules still use their own resolution).
4. one traversal for all rules (`libcst.visit_batched` with every rule's visitor). Off, two
   ways: (4a) the engine runs once per selected rule and the times add up (parse and analyses
   repeated per rule, as with one linter run per check); (4b) one parse and one set of file
   analyses, but one traversal per rule (isolates the traversal itself).
5. direct-field walker (`torchready.lint.analysis.walk`) for the call index and the analyses' collectors.
   Off: the call index and collectors use libcst's generic `CSTVisitor` again, as they did
   before commits bc6530d (call index; `_VisitorCallIndex` below is its previous version) and
   2679daa (collectors in model_code and values).
6. `--jobs N` and the result cache are measured by benchmarks/lint_speed.py (cold 1 job vs cold
   all jobs, cold vs warm); not repeated here.

It prints numbers and asserts nothing: timings on a shared 2-core machine are noisy; use
`--repeat` (the best of N runs is kept) on a quiet machine.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from unittest import mock

import libcst as cst
from libcst.metadata import MetadataWrapper, QualifiedNameProvider, ScopeProvider

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.corpus import count_lines, python_files, subset, transformers_models  # noqa: E402
from torchready.lint import engine  # noqa: E402
from torchready.lint.api import rules_for  # noqa: E402
from torchready.lint.context import FileContext  # noqa: E402
from torchready.lint.rule import Rule  # noqa: E402
from torchready.lint.types import Diagnostic  # noqa: E402

WARMUP_FILES = 5


@dataclass(frozen=True)
class SourceFile:
    path: str
    text: str
    rules: tuple[type[Rule], ...]


# A linter over one file: (source, path, rules) -> diagnostics, like torchready.lint.engine.lint_source.
LintFunction = Callable[[str, str, Sequence[type[Rule]]], list[Diagnostic]]


@dataclass(frozen=True)
class Lever:
    key: str
    name: str
    switched_off: Callable[[], AbstractContextManager]  # patches that turn the lever off
    lint_off: LintFunction | None = None  # a different driver instead of (or with) patches


@dataclass
class Timing:
    seconds: float
    cpu_seconds: float  # this process's CPU time: less disturbed by other load than wall time
    diagnostics: list[Diagnostic]
    errors: int


# -- lever 1: textual pre-filter ------------------------------------------------------------
def _prefilter_off() -> AbstractContextManager:
    return mock.patch.object(engine, "_may_apply", lambda rule, source: True)


# -- lever 2: lazy positions ----------------------------------------------------------------
@contextlib.contextmanager
def _eager_positions() -> Iterator[None]:
    """Resolve whole-module positions for every parsed file, and answer every position
    from them."""
    original_init = FileContext.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self._module_positions  # noqa: B018  (a cached_property: resolves PositionProvider)

    def range_of(self, node, anchor=None):
        return self._module_positions[node]

    with mock.patch.object(FileContext, "__init__", init), \
            mock.patch.object(FileContext, "range_of", range_of):
        yield


# -- lever 3: no scope / qualified-name providers ---------------------------------------------
@contextlib.contextmanager
def _with_scope_metadata() -> Iterator[None]:
    original_init = FileContext.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        wrapper = MetadataWrapper(self.module, unsafe_skip_copy=True)
        wrapper.resolve_many([ScopeProvider, QualifiedNameProvider])

    with mock.patch.object(FileContext, "__init__", init):
        yield


# -- lever 4: one traversal for all rules -----------------------------------------------------
def _engine_per_rule(source: str, path: str, rules: Sequence[type[Rule]]) -> list[Diagnostic]:
    """4a: one full engine run per rule; the same finding (a syntax error) counts once."""
    found: set[Diagnostic] = set()
    for rule in rules:
        found.update(engine.lint_source(source, path, [rule]))
    return sorted(found, key=lambda d: d.sort_key)


@contextlib.contextmanager
def _traversal_per_rule() -> Iterator[None]:
    """4b: the engine's single `visit_batched` call becomes one traversal per rule visitor,
    sharing the parse and the file context."""
    batched = engine.visit_batched

    def one_by_one(node, visitors, before_visit=None, after_leave=None):
        for visitor in visitors:
            batched(node, [visitor], before_visit=before_visit, after_leave=after_leave)

    with mock.patch.object(engine, "visit_batched", one_by_one):
        yield


# -- lever 5: direct-field walker -------------------------------------------------------------
class _VisitorCallIndex(cst.CSTVisitor):
    """lint/analysis/call_index.py before the fast walk (commit 9bd9f2d), same interface."""

    def __init__(self, module: cst.Module) -> None:
        super().__init__()
        self.calls: list[cst.Call] = []
        self._by_function: dict[int, list[cst.Call]] = {}
        self._open: list[list[cst.Call]] = []
        module.visit(self)

    def calls_in(self, function: cst.FunctionDef) -> list[cst.Call]:
        return self._by_function.get(id(function), [])

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        calls: list[cst.Call] = []
        self._by_function[id(node)] = calls
        self._open.append(calls)

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self._open.pop()

    def visit_Call(self, node: cst.Call) -> None:
        self.calls.append(node)
        for calls in self._open:
            calls.append(node)


class _NodeCollector(cst.CSTVisitor):
    def __init__(self, root: cst.CSTNode, prune: tuple[type, ...]) -> None:
        super().__init__()
        self.root, self.prune, self.nodes = root, prune, []

    def on_visit(self, node: cst.CSTNode) -> bool:
        self.nodes.append(node)
        return node is self.root or not isinstance(node, self.prune)


def _visitor_walk(node: cst.CSTNode, prune: tuple[type, ...] = ()) -> Iterator[cst.CSTNode]:
    """`torchready.lint.analysis.walk.walk` done with libcst's generic visitor (the collectors' old way)."""
    collector = _NodeCollector(node, prune)
    node.visit(collector)
    return iter(collector.nodes)


@contextlib.contextmanager
def _generic_visitor_walks() -> Iterator[None]:
    """Every lint module that imported the fast `walk` or `CallIndex` gets the visitor
    versions (found by identity, so a new importer is covered too)."""
    from torchready.lint.analysis import walk as fast_walk
    from torchready.lint.analysis.call_index import CallIndex

    replacements = {id(fast_walk.walk): _visitor_walk, id(CallIndex): _VisitorCallIndex}
    with contextlib.ExitStack() as stack:
        for name, module in list(sys.modules.items()):
            if not name.startswith("torchready.lint.") or module is fast_walk:
                continue
            for attribute, value in list(vars(module).items()):
                if id(value) in replacements:
                    stack.enter_context(
                        mock.patch.object(module, attribute, replacements[id(value)]))
        yield


LEVERS = (
    Lever("1", "textual pre-filter per rule", _prefilter_off),
    Lever("2", "lazy positions", _eager_positions),
    Lever("3", "no scope/qualified-name metadata", _with_scope_metadata),
    Lever("4a", "one traversal (vs engine per rule)", contextlib.nullcontext,
          lint_off=_engine_per_rule),
    Lever("4b", "one traversal (vs traversal per rule)", _traversal_per_rule),
    Lever("5", "direct-field walker", _generic_visitor_walks),
)


# -- measuring --------------------------------------------------------------------------------
def lint_corpus(files: Sequence[SourceFile], lint: LintFunction) -> Timing:
    gc.collect()
    diagnostics: list[Diagnostic] = []
    errors = 0
    start, cpu_start = time.perf_counter(), time.process_time()
    for file in files:
        try:
            diagnostics.extend(lint(file.text, file.path, file.rules))
        except Exception:  # noqa: BLE001  an "off" variant may break; count it, keep going
            errors += 1
    return Timing(time.perf_counter() - start, time.process_time() - cpu_start, diagnostics,
                  errors)


def measure(lever: Lever, files: Sequence[SourceFile], repeat: int) -> tuple[Timing, Timing]:
    """Best of `repeat` runs with the lever on and off, alternated so drift hits both."""
    lint_off = lever.lint_off or engine.lint_source
    with lever.switched_off():
        lint_corpus(files[:WARMUP_FILES], lint_off)  # first-use imports and caches
    best_on = best_off = None
    for _ in range(repeat):
        on = lint_corpus(files, engine.lint_source)
        with lever.switched_off():
            off = lint_corpus(files, lint_off)
        best_on = on if best_on is None or on.seconds < best_on.seconds else best_on
        best_off = off if best_off is None or off.seconds < best_off.seconds else best_off
    return best_on, best_off


def same_diagnostics(on: Timing, off: Timing) -> str:
    if off.errors or on.errors:
        return f"NO: {on.errors} on / {off.errors} off files raised"
    if sorted(on.diagnostics, key=_key) == sorted(off.diagnostics, key=_key):
        return f"yes ({len(on.diagnostics)} = {len(off.diagnostics)})"
    only_on = len(set(on.diagnostics) - set(off.diagnostics))
    only_off = len(set(off.diagnostics) - set(on.diagnostics))
    return (f"NO: {len(on.diagnostics)} on vs {len(off.diagnostics)} off "
            f"({only_on} only on, {only_off} only off)")


def _key(diagnostic: Diagnostic):
    return (diagnostic.sort_key, repr(diagnostic))


# -- input and output -------------------------------------------------------------------------
def load(folder: Path) -> list[SourceFile]:
    """Every Python file of `folder` decoded in memory, with the rules its config selects."""
    loaded = []
    for path in python_files(folder):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        loaded.append(SourceFile(str(path), text, tuple(rules_for(path))))
    return loaded


def files_parsed(files: Sequence[SourceFile]) -> int:
    return sum(any(engine._may_apply(rule, file.text) for rule in file.rules) for file in files)


def print_row(lever: Lever, on: Timing, off: Timing, lines: int) -> None:
    print(f"{lever.key:3} {lever.name:38} {on.seconds:7.2f} {off.seconds:7.2f} "
          f"{lines / on.seconds:9.0f} {lines / off.seconds:9.0f} {off.seconds / on.seconds:6.2f}x"
          f" {off.cpu_seconds / on.cpu_seconds:6.2f}x  {same_diagnostics(on, off)}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", help="default: transformers/models")
    parser.add_argument("--subset", help="only model folders whose name starts with a letter in "
                                         "this range, e.g. a-c (the research notes' subset)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per variant; the best counts")
    parser.add_argument("--levers", help="comma-separated keys to run (default: all): "
                                         + ", ".join(lever.key for lever in LEVERS))
    args = parser.parse_args()
    wanted = set(args.levers.split(",")) if args.levers else {lever.key for lever in LEVERS}
    unknown = wanted - {lever.key for lever in LEVERS}
    if unknown:
        parser.error(f"unknown lever {min(unknown)!r}")

    folder = Path(args.folder).resolve() if args.folder else transformers_models()
    workdir = Path(tempfile.mkdtemp(prefix="torchready-levers-"))
    try:
        if args.subset:
            folder = subset(folder, args.subset, workdir / "subset")
        files = load(folder)
        lines = count_lines([Path(file.path) for file in files])
        print(f"folder: {folder}\nfiles: {len(files)}  lines: {lines}  one process, one job; "
              f"best of {args.repeat}\nfiles parsed with the pre-filter: {files_parsed(files)} "
              f"of {len(files)}\n")
        print(f"{'':3} {'lever':38} {'on s':>7} {'off s':>7} {'on ln/s':>9} {'off ln/s':>9} "
              f"{'off/on':>7} {'cpu':>7}  same diagnostics")
        for lever in LEVERS:
            if lever.key in wanted:
                print_row(lever, *measure(lever, files, args.repeat), lines)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print("\n6   --jobs N and the result cache: see benchmarks/lint_speed.py "
          "(cold 1 job vs N jobs, cold vs warm).")


if __name__ == "__main__":
    main()
