"""Find the Python files to lint under the given paths."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator, Sequence

from torchready.lint.config import settings_for
from torchready.lint.types import UsageError

SKIPPED_DIRECTORIES = {
    ".git", ".hg", ".svn", ".venv", "venv", ".tox", ".nox", "__pycache__", ".mypy_cache",
    ".pytest_cache", ".ruff_cache", ".torchready_cache", "node_modules", "site-packages",
    ".eggs", "build", "dist",
}


def discover(paths: Sequence[str]) -> list[Path]:
    """Python files under `paths`, in order, each once. Missing paths are a usage error."""
    missing = [path for path in paths if not os.path.lexists(path)]
    if missing:
        raise UsageError(f"{missing[0]}: no such file or directory")
    seen: set[Path] = set()
    found: list[Path] = []
    for path in paths:
        for file in _walk(Path(path)):
            key = file.resolve()
            if key not in seen:
                seen.add(key)
                found.append(file)
    return found


def _walk(path: Path) -> Iterator[Path]:
    if not path.is_dir():
        if not settings_for(path).excludes(path):
            yield path  # named explicitly: linted whatever its suffix
        return
    # followlinks=False: a symlink loop cannot trap the walk.
    for directory, subdirectories, files in os.walk(path, followlinks=False):
        here = Path(directory)
        settings = settings_for(here)
        subdirectories[:] = sorted(
            name for name in subdirectories
            if name not in SKIPPED_DIRECTORIES and not name.endswith(".egg-info")
            and not (here / name / "pyvenv.cfg").exists()
            and not settings.excludes(here / name)
        )
        for name in sorted(files):
            file = here / name
            if name.endswith((".py", ".pyi")) and not settings.excludes(file):
                yield file
