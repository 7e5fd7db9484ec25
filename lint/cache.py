"""The result cache: `.torchready_cache/` (like `.ruff_cache`), keyed by file content.

A key is the SHA-256 of the file's bytes, its path, the selected rules and a fingerprint of
torchready itself (version plus the rule code on disk, so editing a rule invalidates the cache
even without a release). Unlike ruff's cache, which only remembers that a file was clean, an
entry holds the file's diagnostics, fixes included: a warm run never parses.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from functools import cache
from pathlib import Path

from torchready.about import __version__
from torchready.lint.types import Diagnostic, diagnostic_from_json

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


class ResultCache:
    def __init__(self, root: Path) -> None:
        self.directory = root / CACHE_DIRECTORY / code_fingerprint()

    def key(self, path: str, data: bytes, rule_codes: tuple[str, ...]) -> str:
        digest = hashlib.sha256(data)
        digest.update(b"\0" + path.encode("utf-8", "surrogateescape"))
        digest.update(b"\0" + ",".join(rule_codes).encode())
        return digest.hexdigest()

    def get(self, key: str) -> list[Diagnostic] | None:
        try:
            entries = json.loads((self.directory / key[:2] / key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        try:
            return [diagnostic_from_json(entry) for entry in entries]
        except (KeyError, TypeError, ValueError):
            return None  # an entry from an incompatible build: lint again

    def put(self, key: str, diagnostics: list[Diagnostic]) -> None:
        folder = self.directory / key[:2]
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self._ensure_gitignore()
            descriptor, temporary = tempfile.mkstemp(dir=folder, suffix=".tmp")
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                json.dump([_entry(d) for d in diagnostics], handle)
            os.replace(temporary, folder / key)
        except OSError:
            pass  # a read-only checkout still lints, just without a cache

    def _ensure_gitignore(self) -> None:
        ignore = self.directory.parent / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# created by torchready\n*\n")


def _entry(diagnostic: Diagnostic) -> dict:
    """The JSON output shape, plus the fix title (the language server shows it)."""
    entry = diagnostic.to_json()
    if diagnostic.fix is not None:
        entry["fix"]["title"] = diagnostic.fix.title
    return entry


def clean(root: Path) -> bool:
    """Remove the cache under `root`; True when there was one."""
    directory = root / CACHE_DIRECTORY
    if not directory.exists():
        return False
    shutil.rmtree(directory)
    return True
