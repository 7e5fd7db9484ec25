"""The cache directory: `.torchready_cache/` (like `.ruff_cache`), one folder per build.

Everything a run caches lives under `.torchready_cache/<fingerprint>/`, where the fingerprint is
torchready's version plus the lint code on disk (editing a rule invalidates the cache even
without a release). What is kept there, and how it is keyed by file content, is the project
cache's business (`torchready.lint.project.state`): file summaries and, per project, every
file's diagnostics with their fixes, so a warm run parses nothing.
"""

from __future__ import annotations

import hashlib
import os
from functools import cache
from typing import TYPE_CHECKING

from torchready.about import __version__

if TYPE_CHECKING:
    from pathlib import Path

# (pathlib and shutil load late: `lint --daemon`'s client names its daemon by the fingerprint,
# and every millisecond of its start-up is the user's.)

CACHE_DIRECTORY = ".torchready_cache"


@cache
def code_fingerprint() -> str:
    """torchready's version and the size/mtime of every file of the lint package."""
    digest = hashlib.sha256(__version__.encode())
    package = os.path.dirname(os.path.realpath(__file__))
    found = []
    for directory, subdirectories, names in os.walk(package):
        subdirectories[:] = [name for name in subdirectories if name != "__pycache__"]
        found += [os.path.join(directory, name) for name in names
                  if name.endswith((".py", ".json"))]
    for path in sorted(found):
        stat = os.stat(path)
        relative = os.path.relpath(path, package).replace(os.sep, "/")
        digest.update(f"{relative}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def ensure_gitignore(cache_root: Path) -> None:
    """Keep the cache out of version control (what ruff does for `.ruff_cache`)."""
    ignore = cache_root / ".gitignore"
    try:
        if not ignore.exists():
            ignore.write_text("# created by torchready\n*\n")
    except OSError:
        pass


def clean(root: Path) -> bool:
    """Remove the cache under `root`; True when there was one."""
    import shutil

    directory = root / CACHE_DIRECTORY
    if not directory.exists():
        return False
    shutil.rmtree(directory)
    return True
