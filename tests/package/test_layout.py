"""The one import package: `lint/` and `convert/` are only ever imported as `torchready.lint` /
`torchready.convert`, and no two files import each other, directly or around a loop."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# import name prefix -> folder in the repository (setup.py maps the same way)
PACKAGE_FOLDERS = {"torchready.lint": ROOT / "lint", "torchready.convert": ROOT / "convert",
                   "torchready": ROOT / "torchready"}
CHECKED_FOLDERS = ("torchready", "lint", "convert", "tests", "benchmarks", "fixtures", "scripts")


def _python_files(*folders: str) -> list[Path]:
    return sorted(path for folder in folders for path in (ROOT / folder).rglob("*.py"))


def _module_file(module: str) -> Path | None:
    for prefix, folder in PACKAGE_FOLDERS.items():  # longest prefixes first
        if module == prefix or module.startswith(prefix + "."):
            rest = module[len(prefix):].lstrip(".").split(".") if module != prefix else []
            base = folder.joinpath(*rest)
            for candidate in (base.with_suffix(".py"), base / "__init__.py"):
                if candidate.is_file():
                    return candidate
            return None
    return None


def _module_level_imports(path: Path) -> set[str]:
    """Imports outside functions (a lazy import inside a function is how heavy or optional modules
    are kept off the start-up path; it is not a design dependency). `if TYPE_CHECKING:` counts."""
    names: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # `from pkg import submodule` depends on the submodule, not on pkg/__init__.py
                for alias in node.names:
                    submodule = f"{node.module}.{alias.name}"
                    names.add(submodule if _module_file(submodule) else node.module)
            elif isinstance(node, (ast.If, ast.Try)):
                visit(node.body)
                visit(node.orelse)
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)
            elif isinstance(node, ast.ClassDef):
                visit(node.body)

    visit(tree.body)
    return names


def test_no_top_level_lint_or_convert_imports():
    offenders = []
    for path in _python_files(*CHECKED_FOLDERS):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            modules = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                       else [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0
                       and node.module else [])
            offenders += [f"{path.relative_to(ROOT)}:{node.lineno} imports {module}"
                          for module in modules if module.split(".")[0] in ("lint", "convert")]
    assert offenders == []


def test_no_import_cycles_between_files():
    graph: dict[Path, set[Path]] = {}
    for path in _python_files("torchready", "lint", "convert"):
        targets = {_module_file(name) for name in _module_level_imports(path)}
        graph[path] = {target for target in targets if target is not None and target != path}
    cycles = [sorted(str(p.relative_to(ROOT)) for p in component)
              for component in _strongly_connected(graph) if len(component) > 1]
    assert cycles == []


def _strongly_connected(graph: dict[Path, set[Path]]) -> list[set[Path]]:
    """Tarjan's algorithm, iterative (the import graph is a few hundred files deep at most)."""
    index: dict[Path, int] = {}
    low: dict[Path, int] = {}
    stack: list[Path] = []
    on_stack: set[Path] = set()
    components: list[set[Path]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    components.append(component)
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph.get(child, ())))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return components


def test_the_cycle_finder_finds_a_loop_of_three():
    a, b, c, d = (Path(name) for name in "abcd")
    components = _strongly_connected({a: {b}, b: {c}, c: {a, d}, d: set()})
    assert sorted(map(len, components)) == [1, 3]
