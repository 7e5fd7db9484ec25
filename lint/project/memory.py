"""What a long-running process keeps between lint runs (the lint daemon, `torchready daemon`).

A one-shot `torchready lint` reads the project index and, when it links, every file summary from
`.torchready_cache/`, and hashes every file. A process that lints again and again keeps them:

* the project states (the index and the summaries already read), one per project;
* per file, the `os.stat` signature it had when it was last hashed, and that digest: a file
  whose signature did not change is not read again (ruff's cache trusts mtimes the same way).

Everything kept is keyed by content, as on disk, so a result from memory is the result a fresh
run computes. The disk cache is still written: a one-shot run after the daemon finds it warm.
"""

from __future__ import annotations

import importlib
import os
from collections import OrderedDict
from pathlib import Path

from torchready.lint.project.state import ProjectState

# Projects kept (an editor and a pre-commit hook lint different sets of paths: each is one).
MAX_PROJECTS = 8

_active: RunMemory | None = None


class RunMemory:
    def __init__(self) -> None:
        self._states: OrderedDict[tuple[Path, str], ProjectState] = OrderedDict()
        self._hashed: dict[str, tuple[tuple[int, ...], str]] = {}

    def state(self, root: Path, project_key: str) -> ProjectState:
        key = (root, project_key)
        found = self._states.get(key)
        if found is None:
            found = self._states[key] = ProjectState(root, project_key)
            while len(self._states) > MAX_PROJECTS:
                self._states.popitem(last=False)
        self._states.move_to_end(key)
        return found

    def unchanged_digest(self, path: Path) -> tuple[tuple[int, ...] | None, str | None]:
        """The file's stat signature now, and its digest if it was hashed with that signature.
        The signature is taken before the file is read, so an edit made while it is read shows
        as a different signature next time."""
        try:
            stat = os.stat(path)
        except OSError:
            return None, None
        signature = (stat.st_mtime_ns, stat.st_ctime_ns, stat.st_size, stat.st_ino)
        known = self._hashed.get(str(path))
        return signature, known[1] if known and known[0] == signature else None

    def remember_digest(self, path: Path, signature: tuple[int, ...] | None, sha: str) -> None:
        if signature is not None:
            self._hashed[str(path)] = (signature, sha)


def keep_runs_in_memory() -> RunMemory:
    """Make every later `lint_paths` of this process use one memory (the daemon calls this once;
    a library caller never does)."""
    global _active
    _active = _active or RunMemory()
    return _active


def active() -> RunMemory | None:
    return _active


def forget_file_system() -> None:
    """Drop what was learned about files other than by content (settings read from
    pyproject.toml, which directories are packages, installed modules): a long-running process
    calls this before each run so edits to them count."""
    from torchready.lint.config import reload_settings
    from torchready.lint.project import modules

    reload_settings()
    modules.forget_packages()
    importlib.invalidate_caches()
