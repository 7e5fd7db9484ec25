"""Which module a file is, and which file a module is: without importing anything.

A file's module name comes from the packages above it (directories with `__init__.py`), as
Python would import it with the directory above the top package on `sys.path`. Projects laid out
without `__init__.py` files (namespace packages, `src/` folders run from their root) are found
too: a dotted name also matches any linted file whose path ends with it (`models.raft` matches
`src/models/raft.py`). `--follow-imports` finds installed modules with `importlib`'s path
finder, one package level at a time, which reads directories and never runs a package's code.
"""

from __future__ import annotations

import os
import sys
from functools import lru_cache
from importlib.machinery import PathFinder, SourceFileLoader
from pathlib import Path


@lru_cache(maxsize=None)
def _is_package_directory(directory: str) -> bool:
    return os.path.isfile(os.path.join(directory, "__init__.py"))


def forget_packages() -> None:
    """A long-running process: an `__init__.py` may have been added or removed since."""
    _is_package_directory.cache_clear()


def module_name(path: Path) -> tuple[str, bool]:
    """(dotted module name, whether the file is a package's `__init__.py`)."""
    # os.path, not pathlib: a link asks for every file of the project (2,597 on transformers'
    # tree, where pathlib's objects cost 0.1 s of every link)
    directory, filename = os.path.split(os.path.abspath(path))
    stem = os.path.splitext(filename)[0]
    is_package = stem == "__init__"
    if is_package:
        directory, stem = os.path.split(directory)
    innermost_first = [stem]
    while _is_package_directory(directory):
        parent, name = os.path.split(directory)
        if parent == directory:
            break
        innermost_first.append(name)
        directory = parent
    return ".".join(reversed(innermost_first)), is_package


@lru_cache(maxsize=1 << 16)  # the link asks tens of thousands of times for a few thousand
def absolute_name(reference: str, module: str, is_package: bool) -> str:
    """`..utils.helper` in `pkg.models.raft` -> `pkg.utils.helper`; absolute names unchanged."""
    level = len(reference) - len(reference.lstrip("."))
    if not level:
        return reference
    parts = module.split(".")
    if not is_package:
        parts = parts[:-1]
    if level > 1:
        parts = parts[:len(parts) - (level - 1)] if level - 1 <= len(parts) else []
    rest = reference[level:]
    return ".".join([*parts, rest] if rest else parts)


class ModuleIndex:
    """Module name -> file, for the files of one project."""

    def __init__(self) -> None:
        self.by_name: dict[str, int] = {}
        self._by_suffix: dict[str, set[int]] = {}

    def add(self, name: str, path: Path, file: int) -> None:
        self.by_name.setdefault(name, file)
        # Namespace layouts: every dotted tail of the path names the file too.
        # (os.path: pathlib's parsing of every path cost a link of 2,597 files 0.1 s)
        parts = os.path.splitext(os.path.abspath(path))[0].split(os.sep)
        if parts and parts[-1] == "__init__":
            parts.pop()
        for start in range(max(0, len(parts) - 4), len(parts)):
            self._by_suffix.setdefault(".".join(parts[start:]), set()).add(file)

    def find(self, name: str) -> int | None:
        found = self.by_name.get(name)
        if found is not None:
            return found
        candidates = self._by_suffix.get(name)
        if candidates and len(candidates) == 1:
            return next(iter(candidates))
        return None


# Packages never followed: the capture machinery itself and libraries without model code.
NEVER_FOLLOWED = frozenset({"torch", "numpy", "coremltools", "scipy", "pandas", "typing_extensions",
                            "torchready", "libcst", "triton", "sympy"}) | frozenset(
    sys.stdlib_module_names)


def find_installed_module(name: str) -> Path | None:
    """The source file of an installed module (`transformers.masking_utils`), found on
    `sys.path` level by level without importing its packages; None for modules that are not
    pure-Python source or not installed."""
    parts = name.split(".")
    if not parts or parts[0] in NEVER_FOLLOWED:
        return None
    search = None
    spec = None
    for index in range(len(parts)):
        spec = PathFinder.find_spec(".".join(parts[:index + 1]), search)
        if spec is None:
            return None
        if index < len(parts) - 1:
            search = list(spec.submodule_search_locations or [])
            if not search:
                return None
    if spec is None or not isinstance(spec.loader, SourceFileLoader) or not spec.origin:
        return None
    return Path(spec.origin)
