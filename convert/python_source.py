"""Facts about the user's Python source that dynamic diagnostics point at.

A dynamic check knows a file and a line (from a warning, a graph node or a compiler error); a
diagnostic wants a column range too, and some checks need a line that no runtime hands us: the
`return` statement of a forward, the `class` line of a model, the line where a parent module calls
a child. All of it comes from the standard `ast` module on the file as it is on disk, read once
per file. Every helper returns None instead of raising: a missing or unparsable file only costs
precision, never the diagnostic.
"""

from __future__ import annotations

import ast
import functools
import inspect
import linecache
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    """A 1-based line/column range; end_column is exclusive (like torchready.lint.types.Edit)."""

    line: int
    column: int
    end_line: int
    end_column: int


def line_text(path: str, line: int) -> str:
    parse_file(path)  # refreshes linecache when the file changed on disk
    return linecache.getline(path, line).rstrip("\n")


def _code_length(text: str) -> int:
    """Length of `text` without its trailing comment and whitespace (string quotes respected)."""
    quote = None
    index = 0
    while index < len(text):
        char = text[index]
        if quote is not None:
            if char == "\\":
                index += 1
            elif text.startswith(quote, index):
                index += len(quote) - 1
                quote = None
        elif char in "'\"":
            triple = text[index:index + 3]
            quote = triple if triple in ("'" * 3, '"' * 3) else char
            index += len(quote) - 1
        elif char == "#":
            return len(text[:index].rstrip())
        index += 1
    return len(text.rstrip())


def line_span(path: str, line: int) -> Span:
    """The span of a source line's code: no indentation, no trailing comment (column 1 if the
    line cannot be read)."""
    text = line_text(path, line)
    stripped = text.lstrip()
    if not stripped:
        return Span(line, 1, line, 1)
    start = len(text) - len(stripped) + 1
    return Span(line, start, line, max(start, _code_length(text) + 1))


def parse_file(path: str) -> ast.Module | None:
    # Keyed on the file's mtime: `--fix` may rewrite a model file in the same process.
    try:
        stamp = os.stat(path).st_mtime_ns
    except OSError:
        stamp = None
    return _parse(path, stamp)


@functools.lru_cache(maxsize=64)
def _parse(path: str, stamp: int | None) -> ast.Module | None:
    linecache.checkcache(path)
    lines = linecache.getlines(path)
    if not lines:
        return None
    try:
        return ast.parse("".join(lines), filename=path)
    except (SyntaxError, ValueError):
        return None


def node_span(node: ast.AST) -> Span:
    return Span(node.lineno, node.col_offset + 1,
                getattr(node, "end_lineno", None) or node.lineno,
                (getattr(node, "end_col_offset", None) or node.col_offset) + 1)


def nodes_on_line(path: str, line: int) -> Iterator[ast.AST]:
    tree = parse_file(path)
    if tree is None:
        return
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) == line:
            yield node


def narrow_span(path: str, line: int, wanted: Callable[[ast.AST], bool]) -> Span:
    """The span of the first (outermost) node starting on `line` that `wanted` accepts, else the
    whole line. Used to underline `math.sqrt(head_dim)` rather than the full statement."""
    candidates = [node for node in nodes_on_line(path, line) if wanted(node)]
    if not candidates:
        return line_span(path, line)
    node = min(candidates, key=lambda n: (n.col_offset, -(getattr(n, "end_col_offset", 0) or 0)))
    span = node_span(node)
    if span.end_line != span.line:
        return line_span(path, line)
    return span


def call_name(node: ast.AST) -> str:
    """`math.sqrt` for `math.sqrt(x)`, `item` for `t.item()`, `float` for `float(x)`, else ''."""
    if not isinstance(node, ast.Call):
        return ""
    func = node.func
    parts = []
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if isinstance(func, ast.Name):
        parts.append(func.id)
    return ".".join(reversed(parts))


def source_file_of(obj: object) -> str | None:
    try:
        path = inspect.getsourcefile(obj)  # type: ignore[arg-type]
    except (TypeError, OSError):
        return None
    return path


def definition_line(obj: object) -> tuple[str, int] | None:
    """(file, line) of the `class`/`def` statement of a class or function (decorators skipped)."""
    path = source_file_of(obj)
    if path is None:
        return None
    try:
        lines, start = inspect.getsourcelines(obj)  # type: ignore[arg-type]
    except (TypeError, OSError):
        return None
    for offset, text in enumerate(lines):
        stripped = text.lstrip()
        if stripped.startswith(("class ", "def ", "async def ")):
            return path, start + offset
    return path, start


@functools.lru_cache(maxsize=1024)
def function_node(func: object) -> tuple[str, ast.FunctionDef] | None:
    """The ast of a function or method as defined in its file (matched by its `def` line)."""
    func = inspect.unwrap(getattr(func, "__func__", func))  # type: ignore[arg-type]
    found = definition_line(func)
    if found is None:
        return None
    path, line = found
    tree = parse_file(path)
    if tree is None:
        return None
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.lineno == line:
            return path, node  # type: ignore[return-value]
    return None


def own_statements(func: ast.FunctionDef) -> Iterator[ast.AST]:
    """Nodes of a function body, not descending into nested functions, lambdas or classes."""
    stack: list[ast.AST] = list(func.body)
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda,
                                      ast.ClassDef)):
                stack.append(child)


def return_statements(func: object) -> list[tuple[str, ast.Return]]:
    found = function_node(func)
    if found is None:
        return []
    path, node = found
    returns = [n for n in own_statements(node) if isinstance(n, ast.Return)]
    return [(path, n) for n in sorted(returns, key=lambda n: n.lineno)]


@functools.lru_cache(maxsize=1024)
def attribute_use_lines(cls: type, attribute: str, method: str = "forward") -> tuple[int, ...]:
    """Lines of `cls.<method>` that read `self.<attribute>` (where a parent calls a child)."""
    func = getattr(cls, method, None)
    if func is None:
        return ()
    try:
        found = function_node(func)
    except TypeError:  # unhashable callables
        return ()
    if found is None:
        return ()
    _, node = found
    self_name = node.args.args[0].arg if node.args.args else "self"
    lines = {
        n.lineno for n in own_statements(node)
        if isinstance(n, ast.Attribute) and n.attr == attribute
        and isinstance(n.value, ast.Name) and n.value.id == self_name
    }
    return tuple(sorted(lines))


# Expressions that read a tensor's shape (as the static rules define them).
_SHAPE_METHODS = {"size", "dim", "numel", "nelement", "ndimension"}


def _reads_shape(node: ast.AST, shape_names: set[str]) -> bool:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Attribute) and sub.attr == "shape":
            return True
        if isinstance(sub, ast.Call):
            if isinstance(sub.func, ast.Attribute) and sub.func.attr in _SHAPE_METHODS:
                return True
            if isinstance(sub.func, ast.Name) and sub.func.id == "len":
                return True
        if isinstance(sub, ast.Name) and sub.id in shape_names:
            return True
    return False


def enclosing_function(path: str, line: int) -> ast.FunctionDef | None:
    tree = parse_file(path)
    if tree is None:
        return None
    best = None
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) \
                and node.lineno <= line <= (node.end_lineno or node.lineno):
            if best is None or node.lineno >= best.lineno:
                best = node
    return best  # type: ignore[return-value]


def _target_names(target: ast.AST) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [name for element in target.elts for name in _target_names(element)]
    return []


def shape_names(func: ast.FunctionDef) -> set[str]:
    """Local names of `func` that hold sizes (`head_dim = q.size(-1)`, `b, t, d = x.shape`, and
    names computed from those), to a fixed point."""
    names: set[str] = set()
    assignments = [node for node in own_statements(func)
                   if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign))]
    changed = True
    while changed:
        changed = False
        for node in assignments:
            if node.value is None or not _reads_shape(node.value, names):
                continue
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for name in (n for target in targets for n in _target_names(target)):
                if name not in names:
                    names.add(name)
                    changed = True
    return names


def line_reads_shape(path: str, line: int) -> bool:
    """Whether the code on `line` uses a tensor's shape, directly or through a local name."""
    return any(reads_shape(node, path, line) for node in expressions_at(path, line))


def reads_shape(node: ast.AST, path: str, line: int) -> bool:
    """Whether the expression `node` (on `line` of `path`) uses a tensor's shape, directly or
    through a local name of the function around it."""
    func = enclosing_function(path, line)
    return _reads_shape(node, shape_names(func) if func is not None else set())


def expressions_at(path: str, line: int) -> list[ast.AST]:
    """The expressions of the innermost statement covering `line`; for a compound statement
    (`if`, `while`, `for`, `with`) only its header (test, iterator, items), not its body."""
    tree = parse_file(path)
    if tree is None:
        return []
    best: ast.stmt | None = None
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt) and node.lineno <= line <= (node.end_lineno or node.lineno):
            if best is None or node.lineno >= best.lineno:
                best = node
    if best is None:
        return []
    if isinstance(best, (ast.If, ast.While)):
        return [best.test]
    if isinstance(best, (ast.For, ast.AsyncFor)):
        return [best.iter]
    if isinstance(best, (ast.With, ast.AsyncWith)):
        return [item.context_expr for item in best.items]
    if isinstance(best, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Try)):
        return []
    return [best]


def span_text(path: str, span: Span) -> str:
    if span.line != span.end_line:
        return line_text(path, span.line).strip()
    return line_text(path, span.line)[span.column - 1:span.end_column - 1]


def snap_to_node(path: str, span: Span) -> Span:
    """Widen a single-line span to the smallest expression that starts where it starts and
    covers it (TorchScript underlines `range(steps` without its closing parenthesis)."""
    if span.line != span.end_line:
        return span
    best = None
    for node in nodes_on_line(path, span.line):
        if not isinstance(node, ast.expr) or node.col_offset + 1 != span.column:
            continue
        if (node.end_lineno or node.lineno) != span.line:
            continue
        end = (node.end_col_offset or 0) + 1
        if end >= span.end_column and (best is None or end < best.end_column):
            best = Span(span.line, span.column, span.line, end)
    return best or span


def display_path(path: str) -> str:
    """Relative to the working directory when the file is under it (as lint shows paths), for
    the sentences capture writes (reasons, errors); diagnostics keep absolute paths."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return path
    return path if relative.startswith("..") else relative
