"""Git repositories for running the real `pre-commit` against this project's hooks.

Used by tests/lint/test_precommit_hooks.py and benchmarks/hook_latency.py.

pre-commit installs a hook repository by cloning it at a commit. `pre-commit try-repo` on a
work tree with uncommitted changes clones HEAD and carries over only the changes to *tracked*
files (pre_commit/commands/try_repo.py: `git add -u`), so new files (a new hook manifest, a new
module) would be missing. `hook_source` therefore uses this repository as it is when its tree
is clean (CI's fresh clone) and otherwise a one-commit snapshot of the work tree: tracked and
untracked files, minus what .gitignore excludes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "torchready tests", "GIT_AUTHOR_EMAIL": "tests@torchready.invalid",
    "GIT_COMMITTER_NAME": "torchready tests", "GIT_COMMITTER_EMAIL": "tests@torchready.invalid",
}


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", "-c", "commit.gpgsign=false", "-c", "core.autocrlf=false",
                           *args], cwd=cwd, check=True, capture_output=True, text=True,
                          env=dict(os.environ, **GIT_IDENTITY)).stdout.strip()


def commit_all(repo: Path, message: str = "snapshot") -> str:
    git("add", "--all", cwd=repo)
    git("commit", "--quiet", "--allow-empty", "-m", message, cwd=repo)
    return git("rev-parse", "HEAD", cwd=repo)


def new_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git("init", "--quiet", "--initial-branch=main", cwd=path)
    return path


def hook_source(scratch: Path) -> tuple[Path, str, bool]:
    """(repository, commit, is_snapshot) holding this work tree's hooks."""
    if not git("status", "--porcelain", cwd=ROOT):
        return ROOT, git("rev-parse", "HEAD", cwd=ROOT), False
    snapshot = new_repo(scratch / "torchready-snapshot")
    listed = git("ls-files", "--cached", "--others", "--exclude-standard", "-z", cwd=ROOT)
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the work tree is simply left out
            target = snapshot / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return snapshot, commit_all(snapshot, "work tree snapshot"), True


def consumer_repo(path: Path, files: dict[str, str]) -> Path:
    """A user's repository: model files, committed."""
    new_repo(path)
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text, encoding="utf-8")
    commit_all(path, "models")
    return path


def write_config(repo: Path, hooks_repo: Path, rev: str, *hook_ids: str,
                 args: tuple[str, ...] = ()) -> None:
    """The `.pre-commit-config.yaml` a user writes (README), pinned to `rev`; `args` for every
    hook."""
    extra = f"        args: [{', '.join(args)}]\n" if args else ""
    hooks = "".join(f"      - id: {hook}\n{extra}" for hook in hook_ids)
    (repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {hooks_repo}\n    rev: {rev}\n    hooks:\n{hooks}", encoding="utf-8")
    commit_all(repo, "pre-commit config")


def pre_commit_env(home: Path) -> dict[str, str]:
    """The environment for running pre-commit: its own store, and nothing that would let the
    hook import torchready from this checkout instead of from the environment it installed."""
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    environment.update(PRE_COMMIT_HOME=str(home), PRE_COMMIT_COLOR="never",
                       PIP_DISABLE_PIP_VERSION_CHECK="1", **GIT_IDENTITY)
    return environment


def pre_commit(*args: str, cwd: Path, home: Path, timeout: float = 900
               ) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pre_commit", *args], cwd=cwd,
                          env=pre_commit_env(home), capture_output=True, text=True,
                          timeout=timeout)


def hook_python(home: Path) -> Path:
    """The interpreter of the environment pre-commit built for the hooks."""
    (python,) = home.glob("repo*/py_env-*/bin/python")
    return python
