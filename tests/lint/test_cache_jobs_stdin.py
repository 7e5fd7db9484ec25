"""The result cache, the process pool and standard input, on real files and processes."""

from __future__ import annotations

import shutil

from helpers import ROOT, run_cli
from torchready.lint.api import lint_paths
from torchready.lint.cache import CACHE_DIRECTORY

TALK = ["segmentation.py", "convert_segmentation.py", "sentence_completion.py", "attention.py"]


def copy_fixtures(folder, copies=1):
    for index in range(copies):
        for name in TALK:
            shutil.copy(ROOT / "fixtures" / name, folder / f"{index}_{name}")
    return folder


def test_warm_run_comes_from_the_cache_with_identical_findings(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    copy_fixtures(tmp_path)
    cold = lint_paths(["."], jobs=1)
    warm = lint_paths(["."], jobs=1)
    assert not any(f.cached for f in cold.files)
    assert all(f.cached for f in warm.files)
    assert warm.diagnostics == cold.diagnostics
    assert (tmp_path / CACHE_DIRECTORY / ".gitignore").exists()


def test_cache_entry_is_invalidated_by_content_and_by_selection(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    copy_fixtures(tmp_path)
    lint_paths(["."], jobs=1)
    target = tmp_path / "0_attention.py"
    target.write_text(target.read_text().replace("math.sqrt(head_dim)", "head_dim ** 0.5"))
    run = lint_paths(["."], jobs=1)
    by_name = {f.path.name: f for f in run.files}
    assert not by_name["0_attention.py"].cached and by_name["0_attention.py"].diagnostics == []
    assert by_name["0_segmentation.py"].cached
    selected = lint_paths(["."], jobs=1, select=["TR101"])
    assert not any(f.cached for f in selected.files)
    assert {d.code for d in selected.diagnostics} == {"TR101"}


def test_no_cache_neither_reads_nor_writes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    copy_fixtures(tmp_path)
    lint_paths(["."], cache=False)
    assert not (tmp_path / CACHE_DIRECTORY).exists()


def test_two_jobs_give_the_same_findings_as_one(tmp_path):
    copy_fixtures(tmp_path, copies=6)
    one = lint_paths([str(tmp_path)], jobs=1, cache=False)
    two = lint_paths([str(tmp_path)], jobs=2, cache=False)
    assert len(one.files) == 24
    assert two.diagnostics == one.diagnostics
    assert [f.path for f in two.files] == [f.path for f in one.files]


def test_stdin_is_linted_as_the_named_file_and_fixed_to_stdout(tmp_path):
    source = (ROOT / "fixtures" / "attention.py").read_text()
    (tmp_path / "pyproject.toml").write_text('[tool.torchready]\nselect = ["TR102"]\n')
    linted = run_cli("lint", "-", "--stdin-filename", str(tmp_path / "att.py"), stdin=source)
    assert linted.returncode == 1
    assert f"{tmp_path / 'att.py'}:17:63: TR102" in linted.stdout
    fixed = run_cli("lint", "-", "--fix", "--stdin-filename", "att.py", stdin=source)
    assert fixed.returncode == 0
    assert fixed.stdout == source.replace("math.sqrt(head_dim)", "head_dim ** 0.5")


def test_clean_removes_the_cache(tmp_path):
    copy_fixtures(tmp_path)
    assert run_cli("lint", ".", cwd=tmp_path).returncode == 1
    assert (tmp_path / CACHE_DIRECTORY).is_dir()
    cleaned = run_cli("clean", cwd=tmp_path)
    assert cleaned.returncode == 0 and "removed" in cleaned.stdout
    assert not (tmp_path / CACHE_DIRECTORY).exists()
