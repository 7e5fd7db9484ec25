"""The cache directory: `.torchready_cache/` (like `.ruff_cache`), one folder per build.

Everything a run caches lives under `.torchready_cache/<fingerprint>/`, where the fingerprint is
torchready's version plus the lint code on disk (editing a rule invalidates the cache even
without a release). What is kept there, and how it is keyed by file content, is the project
cache's business (`torchready.lint.project.state`): file summaries and, per project, every
file's diagnostics with their fixes, so a warm run parses nothing.
"""

from __future__ import annotations

import hashlib
import shutil
from functools import cache
from pathlib import Path

from torchready.about import __version__

CACHE_DIRECTORY = ".torchready_cache"


@cache
def code_fingerprint() -> str:
    """torchready's version and the size/mtime of every file of the lint package."""
    digest = hashlib.sha256(__version__.encode())
    package = Path(__file__).resolve().parent
    for path in sorted(package.rglob("*")):
        if path.suffix in (".py", ".json") and "__pycache__" not in path.parts:
            stat = path.stat()
            digest.update(f"{path.relative_to(package)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
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
    directory = root / CACHE_DIRECTORY
    if not directory.exists():
        return False
    shutil.rmtree(directory)
    return True
