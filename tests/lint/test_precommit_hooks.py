"""The hooks of .pre-commit-hooks.yaml, run by the real `pre-commit` in throwaway git repositories.

pre-commit builds the hook environment itself (a virtualenv, `pip install` of this repository:
libcst and rich come from PyPI), exactly as for a user. `try-repo` always builds into a
temporary store; the other tests share one store (PRE_COMMIT_HOME) installed once per module.
"""

from __future__ import annotations

import subprocess

import pytest

from torchready.lint.api import lint_text
from torchready.lint.config import Settings
from torchready.lint.fixes import fix_source
from precommit_repos import (
    ROOT, consumer_repo, hook_python, hook_source, pre_commit, pre_commit_env,
    write_config,
)

pytest.importorskip("pre_commit", reason="the pre-commit tests need pre-commit (dev extra)")

MODELS = ("attention.py", "convert_segmentation.py", "segmentation.py")


def model_files() -> dict[str, str]:
    return {name: (ROOT / "fixtures" / name).read_text(encoding="utf-8") for name in MODELS}


def findings(text: str, name: str):
    """The engine's findings with default settings: the throwaway repositories have no
    pyproject.toml (this checkout's must not apply)."""
    return lint_text(text, name, settings=Settings())


def expected_lines(files: dict[str, str]) -> list[str]:
    """`path:line:col: CODE` of every finding, computed by the engine in this process."""
    return [f"{name}:{d.line}:{d.column}: {d.code}"
            for name, text in files.items() for d in findings(text, name)]


@pytest.fixture(scope="module")
def hooks(tmp_path_factory):
    """(hook repository, commit, PRE_COMMIT_HOME) with the hook environment installed."""
    scratch = tmp_path_factory.mktemp("pre-commit")
    repo, rev, _ = hook_source(scratch)
    home = scratch / "home"
    installer = consumer_repo(scratch / "installer", {"model.py": "import torch\n"})
    write_config(installer, repo, rev, "torchready", "torchready-fix")
    installed = pre_commit("install-hooks", cwd=installer, home=home)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return repo, rev, home


def test_try_repo_lint_hook_fails_on_findings(tmp_path, hooks):
    repo, _, _ = hooks
    files = model_files()
    consumer = consumer_repo(tmp_path / "consumer", files)
    result = pre_commit("try-repo", str(repo), "torchready", "--all-files", cwd=consumer,
                        home=tmp_path / "try-repo-home")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "torchready....." in output and "Failed" in output
    assert "- exit code: 1" in output
    lines = expected_lines(files)
    assert {"TR101", "TR102", "TR401"} <= {line.rsplit(" ", 1)[1] for line in lines}
    for line in lines:
        assert line in output


def test_hook_environment_has_no_torch_and_runs_the_cli(hooks):
    _, _, home = hooks
    python = hook_python(home)
    probe = subprocess.run(
        [str(python), "-c",
         "import importlib.util as u, sys; import torchready.cli, torchready.lint.api; "
         "print(' '.join(m for m in ('torch', 'coremltools', 'numpy', 'pygls') "
         "if u.find_spec(m)))"],
        capture_output=True, text=True, cwd=home)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.split() == []  # none of the heavy (or optional) packages is installed
    # Without the lsp extra, `torchready lsp` says what to install instead of a traceback.
    lsp = subprocess.run([str(python.parent / "torchready"), "lsp"], capture_output=True,
                         text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert lsp.returncode == 2
    assert 'pip install "torchready[lsp]"' in lsp.stderr and "Traceback" not in lsp.stderr


def test_fix_hook_rewrites_files_and_reports_them(tmp_path, hooks):
    repo, rev, home = hooks
    files = model_files()
    consumer = consumer_repo(tmp_path / "consumer", files)
    write_config(consumer, repo, rev, "torchready-fix")

    first = pre_commit("run", "torchready-fix", "--all-files", cwd=consumer, home=home)
    output = first.stdout + first.stderr
    assert first.returncode == 1, output
    assert "files were modified by this hook" in output
    for name, text in files.items():  # exactly the engine's --fix result, file by file
        fixed = fix_source(text, lambda source, name=name: findings(source, name))[0]
        assert (consumer / name).read_text(encoding="utf-8") == fixed
    changed = subprocess.run(["git", "diff", "--name-only"], cwd=consumer, capture_output=True,
                             text=True, check=True).stdout.split()
    assert sorted(changed) == sorted(name for name, text in files.items()
                                     if (consumer / name).read_text(encoding="utf-8") != text)
    assert {"attention.py", "convert_segmentation.py"} <= set(changed)

    # Nothing left to fix, but the dict output (TR101, no fix) still fails the hook.
    second = pre_commit("run", "torchready-fix", "--all-files", cwd=consumer, home=home)
    output = second.stdout + second.stderr
    assert second.returncode == 1, output
    assert "files were modified" not in output
    remaining = expected_lines({name: (consumer / name).read_text() for name in MODELS})
    assert any(line.startswith("segmentation.py:") and line.endswith(" TR101")
               for line in remaining)  # the dict output has no fix
    for line in remaining:
        assert line in output


def test_clean_files_pass_and_other_files_are_skipped(tmp_path, hooks):
    repo, rev, home = hooks
    attention = (ROOT / "fixtures" / "attention.py").read_text(encoding="utf-8")
    clean = fix_source(attention, lambda source: findings(source, "attention.py"))[0]
    consumer = consumer_repo(tmp_path / "consumer", {"attention.py": clean,
                                                      "notes.txt": "math.sqrt(x.size(-1))\n"})
    write_config(consumer, repo, rev, "torchready", "torchready-fix")
    passed = pre_commit("run", "--files", "attention.py", cwd=consumer, home=home)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert passed.stdout.count("Passed") == 2
    skipped = pre_commit("run", "torchready", "--files", "notes.txt", cwd=consumer, home=home)
    assert skipped.returncode == 0
    assert "(no files to check)Skipped" in skipped.stdout


def test_the_lint_hook_with_daemon_reports_the_same_findings(tmp_path, hooks):
    """`args: [--daemon]` (docs/integrations.md): the first commit starts the folder's daemon
    from the hook environment, the next is served by it, both print the one-shot findings."""
    repo, rev, home = hooks
    files = model_files()
    consumer = consumer_repo(tmp_path / "consumer", files)
    write_config(consumer, repo, rev, "torchready", args=("--daemon",))
    torchready = str(hook_python(home).parent / "torchready")
    environment = pre_commit_env(home)
    try:
        for _ in range(2):
            result = pre_commit("run", "torchready", "--all-files", cwd=consumer, home=home)
            output = result.stdout + result.stderr
            assert result.returncode == 1, output
            assert "daemon unavailable" not in output
            for line in expected_lines(files):
                assert line in output
        status = subprocess.run([torchready, "daemon", "status"], cwd=consumer, env=environment,
                                capture_output=True, text=True, timeout=60)
        assert status.returncode == 0, status.stdout + status.stderr
        assert int(status.stdout.split(",")[-1].split()[0]) >= 2  # runs served
    finally:
        subprocess.run([torchready, "daemon", "stop"], cwd=consumer, env=environment,
                       capture_output=True, timeout=60)
    stopped = subprocess.run([torchready, "daemon", "status"], cwd=consumer, env=environment,
                             capture_output=True, text=True, timeout=60)
    assert stopped.returncode == 1


def test_the_manifest_declares_both_hooks():
    from pre_commit.clientlib import load_manifest

    hooks = {hook["id"]: hook for hook in load_manifest(str(ROOT / ".pre-commit-hooks.yaml"))}
    assert set(hooks) == {"torchready", "torchready-fix"}
    for hook in hooks.values():
        assert hook["language"] == "python" and hook["types"] == ["python"]
    assert hooks["torchready-fix"]["entry"].split()[1:] == [
        "lint", "--fix", "--exit-non-zero-on-fix"]


def test_exit_non_zero_on_fix_reports_a_rewrite_even_when_nothing_remains(tmp_path):
    from helpers import run_cli

    attention = (ROOT / "fixtures" / "attention.py").read_text(encoding="utf-8")
    for flags, expected in (((), 0), (("--exit-non-zero-on-fix",), 1)):
        model = tmp_path / "attention.py"
        model.write_text(attention, encoding="utf-8")
        result = run_cli("lint", "--fix", *flags, str(model))
        assert result.returncode == expected, result.stdout + result.stderr
        assert model.read_text(encoding="utf-8") != attention  # fixed either way
    clean = run_cli("lint", "--fix", "--exit-non-zero-on-fix", str(model))
    assert clean.returncode == 0  # nothing rewritten, nothing found
