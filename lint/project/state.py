"""The project cache: what the last run over the same files learned, so the next run redoes only
what changed.

Two parts under `.torchready_cache/<torchready fingerprint>/`:

* `summaries/`: file summaries, content-addressed (the file's bytes and the capture targets,
  which decide the roles a file gives its own functions), shared by every project;
* `projects/<key>.json`: one index per project (the paths and options of an invocation): per
  file its content digest, the capture calls it makes, its summary's key, the project facts the
  last link gave it, and its diagnostics under the key they were computed for.

A warm run reads the index and hashes the files; an unchanged project needs nothing else. A
changed file is analysed again; only when its summary changed does the project link again, and
then only files whose project facts changed are linted again. Entries are JSON (a cache must
never run code: a pickle planted in a checkout would), written atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torchready.lint.cache import CACHE_DIRECTORY, code_fingerprint, ensure_gitignore

if TYPE_CHECKING:
    from torchready.lint.project.summary import FileSummary
    from torchready.lint.results import FileResult

INDEX_VERSION = 1


def digest(*parts: bytes | str) -> str:
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(part.encode("utf-8", "surrogateescape") if isinstance(part, str) else part)
        hasher.update(b"\0")
    return hasher.hexdigest()


class ProjectState:
    def __init__(self, root: Path | None, project_key: str) -> None:
        """`root`: where `.torchready_cache/` lives (None: keep nothing between runs)."""
        self.directory = root / CACHE_DIRECTORY / code_fingerprint() if root else None
        self.index_path = self.directory / "projects" / f"{project_key[:32]}.json" \
            if self.directory else None
        self.files: dict[str, dict[str, Any]] = self._load_index()
        self._summaries: dict[str, "FileSummary"] = {}
        # file -> (result key, its diagnostics parsed): a state kept in memory between runs
        # (the daemon's) parses each file's cached diagnostics once
        self.parsed_results: dict[str, tuple[str, "FileResult"]] = {}
        self.changed = False

    # -- the index --------------------------------------------------------------------------
    def _load_index(self) -> dict[str, dict[str, Any]]:
        if self.index_path is None:
            return {}
        try:
            data = json.loads(self.index_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("version") != INDEX_VERSION:
            return {}
        files = data.get("files")
        return files if isinstance(files, dict) else {}

    def entry(self, path: str) -> dict[str, Any]:
        return self.files.setdefault(path, {})

    def update(self, path: str, **values: Any) -> None:
        entry = self.entry(path)
        for key, value in values.items():
            if entry.get(key) != value:
                entry[key] = value
                self.changed = True

    def keep_only(self, paths: set[str]) -> None:
        for path in list(self.files):
            if path not in paths:
                del self.files[path]
                self.changed = True
        # Summaries read or made this run that no file points to any more (an edited file's
        # old one): a state kept in memory between runs would otherwise grow with every edit.
        used = {entry.get("summary") for entry in self.files.values()}
        for key in [key for key in self._summaries if key not in used]:
            del self._summaries[key]

    def save(self) -> None:
        if self.index_path is None or not self.changed:
            return
        _write_atomically(self.index_path, json.dumps(
            {"version": INDEX_VERSION, "files": self.files}, separators=(",", ":")))
        ensure_gitignore(self.directory.parent)
        self.changed = False

    # -- summaries --------------------------------------------------------------------------
    def summary(self, key: str) -> "FileSummary | None":
        from torchready.lint.project.summary import FileSummary

        found = self._summaries.get(key)
        if found is not None or self.directory is None:
            return found
        try:
            data = json.loads(self._summary_path(key).read_text(encoding="utf-8"))
            found = FileSummary.from_json(data)
        except (OSError, ValueError, KeyError, TypeError):
            return None
        self._summaries[key] = found
        return found

    def put_summary(self, key: str, summary: "FileSummary") -> None:
        self._summaries[key] = summary
        if self.directory is not None:
            _write_atomically(self._summary_path(key),
                              json.dumps(summary.to_json(), separators=(",", ":")))

    def _summary_path(self, key: str) -> Path:
        return self.directory / "summaries" / key[:2] / key


def _write_atomically(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except OSError:
        pass  # a read-only checkout still lints, just without a cache


def empty_summary() -> "FileSummary":
    """The summary of a file that does not parse: it defines and calls nothing."""
    from torchready.lint.project.summary import FileSummary

    return FileSummary({}, {}, {})

