"""Find the Python files to lint under the given paths."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator, Sequence

from torchready.lint.config import Settings, settings_for, settings_for_directory
from torchready.lint.types import UsageError

SKIPPED_DIRECTORIES = {
    ".git", ".hg", ".svn", ".venv", "venv", ".tox", ".nox", "__pycache__", ".mypy_cache",
    ".pytest_cache", ".ruff_cache", ".torchready_cache", "node_modules", "site-packages",
    ".eggs", "build", "dist",
}


def discover(paths: Sequence[str]) -> list[Path]:
    """Python files under `paths`, in order, each once. Missing paths are a usage error."""
    return [path for path, _ in discover_with_settings(paths)]


def discover_with_settings(paths: Sequence[str]) -> list[tuple[Path, Settings]]:
    """`discover`, each file with the settings that apply to it (found once per directory)."""
    missing = [path for path in paths if not os.path.lexists(path)]
    if missing:
        raise UsageError(f"{missing[0]}: no such file or directory")
    seen: set[str] = set()
    found: list[tuple[Path, Settings]] = []
    for path in paths:
        for file, key, settings in _walk(Path(path)):
            if key not in seen:
                seen.add(key)
                found.append((file, settings))
    return found


def _walk(path: Path) -> Iterator[tuple[Path, str, Settings]]:
    """The files to lint under `path`, each with its resolved path (what makes two names of one
    file the same file) and its settings.

    Paths are strings until a file is kept: on transformers' tree (2,597 files in 560 folders)
    building `Path` objects for every step was most of a warm run's discovery."""
    if not path.is_dir():
        settings = settings_for(path)
        if not settings.excludes(path):
            yield path, str(path.resolve()), settings  # named explicitly: linted whatever suffix
        return
    # followlinks=False: a symlink loop cannot trap the walk.
    for directory, subdirectories, files in os.walk(path, followlinks=False):
        resolved_here = os.path.realpath(directory)  # once per directory, not per file
        settings = settings_for_directory(Path(resolved_here))
        excluding = bool(settings.exclude)
        subdirectories[:] = sorted(
            name for name in subdirectories
            if name not in SKIPPED_DIRECTORIES and not name.endswith(".egg-info")
            and not os.path.exists(os.path.join(directory, name, "pyvenv.cfg"))
            and not (excluding and settings.excludes(Path(directory, name)))
        )
        for name in sorted(files):
            if not name.endswith((".py", ".pyi")):
                continue
            file = Path(directory, name)
            if excluding and settings.excludes(file):
                continue
            if os.path.islink(file):  # a link takes the settings of where it points
                yield file, str(file.resolve()), settings_for(file)
            else:
                yield file, os.path.join(resolved_here, name), settings
