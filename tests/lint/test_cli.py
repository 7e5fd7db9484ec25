"""`torchready lint` end to end, through the real console entry point in a subprocess."""

from __future__ import annotations

import json
import os
import shutil
import textwrap
from pathlib import Path

import pytest

from helpers import ROOT, run_cli

TALK_FIXTURES = ["segmentation.py", "convert_segmentation.py", "sentence_completion.py",
                 "attention.py"]
GOLDEN = Path(__file__).parent / "golden" / "talk_fixtures.json"


@pytest.fixture
def talk_copy(tmp_path):
    """The talk's fixtures in a scratch folder (fixes must never touch the originals)."""
    for name in TALK_FIXTURES:
        shutil.copy(ROOT / "fixtures" / name, tmp_path / name)
    return tmp_path


def test_json_output_on_the_talk_fixtures_matches_the_golden_file():
    result = run_cli("lint", "--format", "json", *[f"fixtures/{n}" for n in TALK_FIXTURES])
    assert result.returncode == 1, result.stderr
    document = json.loads(result.stdout)
    if os.environ.get("TORCHREADY_UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(document, indent=2) + "\n")
    assert document == json.loads(GOLDEN.read_text())
    codes = {(Path(d["path"]).name, d["code"]) for d in document["diagnostics"]}
    # The talk's four hazards, each where the talk puts it.
    assert {("segmentation.py", "TR101"), ("convert_segmentation.py", "TR401"),
            ("sentence_completion.py", "TR201"), ("attention.py", "TR102")} <= codes


def test_text_output_shows_location_code_source_line_and_caret(talk_copy):
    result = run_cli("lint", "attention.py", cwd=talk_copy)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("attention.py:17:63: TR102 [*] `math.sqrt(head_dim)`")
    assert "math.sqrt(head_dim)" in lines[1]
    caret = lines[2]
    assert caret.strip() == "^" * len("math.sqrt(head_dim)")
    assert lines[1].index("math.sqrt") == caret.index("^")
    assert "1 fixable with --fix" in result.stdout


def test_exit_codes_clean_findings_and_exit_zero(tmp_path):
    clean = tmp_path / "clean.py"
    clean.write_text("import torch\n\nx = torch.ones(2)\n")
    assert run_cli("lint", str(clean)).returncode == 0
    assert run_cli("lint", "fixtures/attention.py").returncode == 1
    assert run_cli("lint", "--exit-zero", "fixtures/attention.py").returncode == 0


@pytest.mark.parametrize("args, message", [
    (["lint", "missing_dir/"], "missing_dir/: no such file or directory"),
    (["lint", "--select", "TR999", "fixtures"], "unknown rule selector 'TR999'"),
    (["explain", "TR999"], "unknown rule 'TR999'"),
    (["lint", "--format", "xml", "fixtures"], "invalid choice: 'xml'"),
])
def test_usage_errors_exit_2_with_one_line(args, message):
    result = run_cli(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_unreadable_inputs_are_reported_and_the_run_goes_on(tmp_path):
    (tmp_path / "latin1.py").write_bytes("# caf\xe9\nimport torch\n".encode("latin-1"))
    (tmp_path / "binary.py").write_bytes(b"\x00\x01\x02torch")
    shutil.copy(ROOT / "fixtures" / "attention.py", tmp_path / "attention.py")
    result = run_cli("lint", str(tmp_path))
    assert result.returncode == 2
    assert "latin1.py: not UTF-8 (byte 0xe9 at offset 5)" in result.stderr
    assert "binary.py: binary file" in result.stderr
    assert "TR102" in result.stdout  # the readable file was still linted


def test_syntax_error_is_a_finding_and_other_files_are_linted(tmp_path):
    (tmp_path / "broken.py").write_text("import torch\ndef f(:\n")
    shutil.copy(ROOT / "fixtures" / "attention.py", tmp_path / "attention.py")
    result = run_cli("lint", "--format", "json", str(tmp_path))
    assert result.returncode == 1
    codes = sorted((Path(d["path"]).name, d["code"], d["line"])
                   for d in json.loads(result.stdout)["diagnostics"])
    assert codes == [("attention.py", "TR102", 17), ("broken.py", "TR000", 2)]


def test_fix_rewrites_only_the_fixed_spans_and_is_idempotent(talk_copy):
    before = {name: (talk_copy / name).read_text() for name in TALK_FIXTURES}
    result = run_cli("lint", "--fix", ".", cwd=talk_copy)
    # TR101 has no source fix, so a finding remains: exit 1.
    assert result.returncode == 1, result.stderr
    assert "Fixed 3 findings." in result.stdout
    after = {name: (talk_copy / name).read_text() for name in TALK_FIXTURES}
    assert after["segmentation.py"] == before["segmentation.py"]
    assert "        generated: List[int] = []\n" in after["sentence_completion.py"]
    assert "from typing import List\n" in after["sentence_completion.py"]
    assert "/ head_dim ** 0.5\n" in after["attention.py"]
    assert "    model.eval()\n    traced = torch.jit.trace(model, example)\n" in \
        after["convert_segmentation.py"]
    for name in TALK_FIXTURES:  # nothing else changed: every old line survives, in order
        old_lines = before[name].splitlines()
        new_lines = after[name].splitlines()
        assert len(new_lines) - len(old_lines) in (0, 1, 2)
        compile(after[name], name, "exec")
    again = run_cli("lint", "--fix", ".", cwd=talk_copy)
    assert "Fixed" not in again.stdout
    assert {name: (talk_copy / name).read_text() for name in TALK_FIXTURES} == after


def test_diff_prints_the_fix_and_writes_nothing(talk_copy):
    before = (talk_copy / "attention.py").read_text()
    result = run_cli("lint", "--diff", "attention.py", cwd=talk_copy)
    assert result.returncode == 1
    assert "-        scores = torch.matmul(query, key.transpose(-2, -1)) / math.sqrt(head_dim)" \
        in result.stdout
    assert "+        scores = torch.matmul(query, key.transpose(-2, -1)) / head_dim ** 0.5" \
        in result.stdout
    assert (talk_copy / "attention.py").read_text() == before


def test_fix_on_a_read_only_file_leaves_it_intact(talk_copy):
    target = talk_copy / "attention.py"
    before = target.read_text()
    target.chmod(0o444)
    result = run_cli("lint", "--fix", "attention.py", cwd=talk_copy)
    assert result.returncode == 2
    assert "read-only" in result.stderr
    assert target.read_text() == before


def test_unsafe_fixes_only_with_the_flag(tmp_path):
    model = tmp_path / "m.py"
    model.write_text(textwrap.dedent("""
        import math
        import torch
        from torch import nn

        class A(nn.Module):
            def forward(self, x):
                return x * math.pow(x.size(-1), 2)
    """))
    assert run_cli("lint", "--fix", str(model)).returncode == 1
    assert "math.pow" in model.read_text()
    assert run_cli("lint", "--fix", "--unsafe-fixes", str(model)).returncode == 0
    assert "x * x.size(-1) ** 2" in model.read_text()


def test_lint_never_imports_torch_numpy_or_coremltools():
    # Every target and installed imports followed: the project analysis reads, never imports.
    probe = ("import sys, runpy; sys.argv = ['torchready', 'lint', '--target', 'all', "
             "'--follow-imports', 'fixtures']\n"
             "try:\n    runpy.run_module('torchready.cli', run_name='__main__')\n"
             "except SystemExit:\n    pass\n"
             "print('LOADED', sorted(m for m in ('torch', 'numpy', 'coremltools') "
             "if m in sys.modules))")
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                            text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert "LOADED []" in result.stdout, result.stdout + result.stderr


def test_rules_and_explain():
    listing = run_cli("rules")
    assert listing.returncode == 0
    for code in ("TR101", "TR102", "TR201", "TR401"):
        assert code in listing.stdout
    explained = run_cli("explain", "math-on-shape")
    assert explained.returncode == 0
    for section in ("## What it does", "## Why is this bad?", "## Fix safety"):
        assert section in explained.stdout


def test_version():
    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.startswith("torchready ")
