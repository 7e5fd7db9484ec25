"""Parse an edited file again, reusing the statements of its last parse (the lint daemon's and
the language server's).

libcst has no incremental parser, and its parse is the largest single cost of linting a big file
(0.4 s of the 1.5 s an edit of transformers' largest model file cost the daemon). An edit
usually changes one top-level statement, one class or function, of many. So a process that
lints the same files again (the daemon, an editor's language server) cuts each file at its
top-level statements, which Python's parser (run first anyway) locates, parses each piece on
its own and keeps the result by the piece's text: the next parse of the file parses only the
pieces that changed and puts the module together from the kept statements.

A piece ends where the next statement begins, so the blank lines and comments between two
statements are the end of a piece. libcst shares them out by what follows (comments indented
under a block are its footer, the others the next statement's `leading_lines`), and at the end
of a file it does so differently (it drops a blank line before an indented comment there). So
every piece but the last is parsed followed by a `pass` statement: the lines libcst gives that
statement are those the next piece's statement gets in the whole parse. The result equals the
whole file's parse (`deep_equals`: tested on generated modules, the fixtures and transformers'
models, and checked on every file of its `models/`). Whatever this does not handle is parsed
whole: a file with `\\r` newlines, pieces whose indentation libcst detects differently, a
piece libcst rejects (the whole parse reports the error at its place in the file).
"""

from __future__ import annotations

import ast
import threading
from collections import OrderedDict
from typing import Sequence

import libcst as cst

# Lines whose parse is kept, the most recently parsed files first (the daemon lints a few edited
# files at a time, an editor a few open ones): a parse kept takes about 3 kB a line.
MAX_LINES = 30_000

_kept: StatementMemory | None = None

# Parsed after each piece but the last, in place of the next piece's statement.
_NEXT = "pass\n"


def parse_module(source: str, python_ast: ast.Module | None, path: str) -> cst.Module:
    """libcst's parse of `source`; from kept statements when this process keeps them."""
    if _kept is None or python_ast is None:
        return cst.parse_module(source)
    return _kept.parse(source, python_ast, path)


def keep_statements() -> None:
    """Keep statements between parses in this process from now on (the daemon and the language
    server call this once; a library caller never does)."""
    global _kept
    _kept = _kept or StatementMemory()


class StatementMemory:
    def __init__(self) -> None:
        # path -> ({piece text: the piece's parse}, lines): the pieces of the file's last parse
        self._files: OrderedDict[str, tuple[dict[str, cst.Module], int]] = OrderedDict()
        self._lines = 0
        self._lock = threading.Lock()  # the language server parses in worker threads

    def parse(self, source: str, python_ast: ast.Module, path: str) -> cst.Module:
        pieces = _pieces(source, python_ast)
        if pieces is None:
            return cst.parse_module(source)
        with self._lock:
            known, lines = self._files.pop(path, ({}, 0))
            self._lines -= lines
        modules: list[cst.Module] = []
        try:
            for piece in pieces:
                # A piece met twice in the file (two equal functions) is parsed twice: every
                # node of a tree is its own object, as in a whole parse (positions key by id).
                kept = known.pop(piece, None)
                modules.append(kept if kept is not None else cst.parse_module(piece))
        except cst.ParserSyntaxError:
            return cst.parse_module(source)  # raises with the error's place in the whole file
        with self._lock:
            _, lines = self._files.pop(path, ({}, 0))  # (another thread parsed it meanwhile)
            self._lines -= lines
            lines = source.count("\n")
            self._files[path] = (dict(zip(pieces, modules)), lines)
            self._lines += lines
            while self._lines > MAX_LINES and len(self._files) > 1:
                _, (_, dropped) = self._files.popitem(last=False)
                self._lines -= dropped
        return _joined(modules) or cst.parse_module(source)


def _pieces(source: str, python_ast: ast.Module) -> list[str] | None:
    """The texts to parse: the source cut before each top-level statement (the first piece
    holds the file's header), `_NEXT` after all but the last; None when the file is not cut."""
    if "\r" in source or len(python_ast.body) < 2:
        return None
    starts: list[int] = []  # 0-based lines where a statement (or its first decorator) begins
    for statement in python_ast.body:
        if statement.col_offset:
            continue  # after a `;` (`x = [1,\n2]; y = 3`): part of the line before
        decorators = getattr(statement, "decorator_list", ())
        line = min([statement.lineno, *(decorator.lineno for decorator in decorators)]) - 1
        if not starts or line > starts[-1]:
            starts.append(line)  # (`a = 1; b = 2` is one statement line for libcst)
    lines = source.split("\n")
    bounds = [0, *starts[1:], len(lines)]
    pieces = ["\n".join(lines[begin:end]) + "\n" + _NEXT
              for begin, end in zip(bounds, bounds[1:-1])]
    return [*pieces, "\n".join(lines[bounds[-2]:])]


def _joined(modules: list[cst.Module]) -> cst.Module | None:
    """One module from the parses of consecutive pieces, as libcst parses the whole text."""
    # Blocks whose indentation equals the module's default keep `indent=None`: the pieces must
    # agree on it (a piece without indented blocks gets libcst's default, four spaces).
    if len({module.default_indent for module in modules}) != 1 or \
            len({module.default_newline for module in modules}) != 1 or \
            any(len(module.body) != 2 or module.footer for module in modules[:-1]) or \
            len(modules[-1].body) != 1:
        return None
    body = []
    lines_before: Sequence[cst.EmptyLine] = ()
    for module in modules:
        statement = module.body[0]
        if lines_before:
            statement = statement.with_changes(
                leading_lines=[*lines_before, *statement.leading_lines])
        body.append(statement)
        lines_before = module.body[1].leading_lines if len(module.body) == 2 else ()
    first, last = modules[0], modules[-1]
    return cst.Module(body=body, header=first.header, footer=last.footer,
                      encoding=first.encoding, default_indent=first.default_indent,
                      default_newline=first.default_newline,
                      has_trailing_newline=last.has_trailing_newline)
