"""Nothing breaks torchready lint: generated and mutated sources (hypothesis), and a matrix of
bad inputs through the real command line."""

from __future__ import annotations

import ast
import os
import textwrap

import libcst as cst
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from examples import example_source
from helpers import ROOT, run_cli
from torchready.lint.engine import lint_source
from torchready.lint.fixes import fix_source
from torchready.lint.rules import all_rules

RULES = all_rules()
SEEDS = [(ROOT / "fixtures" / name).read_text()
         for name in sorted(os.listdir(ROOT / "fixtures")) if name.endswith(".py")]
SEEDS += [example_source(example.code) for rule in RULES
          for example in (*rule.VALID, *rule.INVALID)]


def lint(text: str):
    return lint_source(text, "fuzz.py", RULES)


def libcst_parses(text: str) -> bool:
    try:
        # Parse-level acceptance, as the engine checks it: `return` outside a function parses
        # (Python rejects it later, when compiling to bytecode).
        compile(text, "fuzz.py", "exec", flags=ast.PyCF_ONLY_AST, dont_inherit=True)
        cst.parse_module(text)
        return True
    except (SyntaxError, ValueError, MemoryError, RecursionError, cst.ParserSyntaxError):
        return False


def check(text: str) -> None:
    diagnostics = lint(text)
    if not libcst_parses(text):
        assert [d.code for d in diagnostics] == ["TR000"]
        return
    assert all(d.code != "TR000" for d in diagnostics)
    fixed, _ = fix_source(text, lint, unsafe=True)
    cst.parse_module(fixed)  # the fixed code always re-parses
    again, applied = fix_source(fixed, lint, unsafe=True)
    assert again == fixed and applied == 0  # a second --fix changes nothing


def _lines(seed: str) -> list[str]:
    return seed.splitlines(keepends=True)


@st.composite
def mutated_sources(draw) -> str:
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 3))):
        mutation = draw(st.sampled_from(MUTATIONS))
        text = mutation(draw, text)
    return text


def delete_lines(draw, text):
    lines = _lines(text)
    start = draw(st.integers(0, max(0, len(lines) - 1)))
    end = draw(st.integers(start, min(len(lines), start + 5)))
    return "".join(lines[:start] + lines[end:])


def duplicate_lines(draw, text):
    lines = _lines(text)
    start = draw(st.integers(0, max(0, len(lines) - 1)))
    end = draw(st.integers(start, min(len(lines), start + 8)))
    return "".join(lines[:end] + lines[start:end] + lines[end:])


def truncate(draw, text):  # incomplete code, as typed in an editor
    return text[: draw(st.integers(0, len(text)))]


def unicode_identifiers(draw, text):
    name = draw(st.sampled_from(["größe", "ширина", "模型", "λ_scale", "x\u0301"]))
    return text.replace("x", name, draw(st.integers(1, 5)))


def deep_nesting(draw, text):
    depth = draw(st.sampled_from([10, 90, 150, 250, 1300]))
    return text + f"\ny = {'(' * depth}1{')' * depth}\n"


def long_chains(draw, text):
    terms = draw(st.sampled_from([50, 400, 1500, 7000]))
    operator = draw(st.sampled_from([" + 1", " * x", " and y"]))
    return text + "\nz = 1" + operator * terms + "\n"


def huge_literal(draw, text):
    size = draw(st.sampled_from([10_000, 200_000]))
    return text + f"\nblob = {'9' * size}\ns = '{'a' * size}'\n"


def whitespace_styles(draw, text):
    style = draw(st.sampled_from(["tabs", "crlf", "bom", "cr", "formfeed"]))
    if style == "tabs":
        return text.replace("    ", "\t")
    if style == "crlf":
        return text.replace("\n", "\r\n")
    if style == "cr":
        return text.replace("\n", "\r")
    if style == "formfeed":
        return text.replace("\n\n", "\n\x0c\n", 1)
    return "\ufeff" + text


def python2(draw, text):
    line = draw(st.sampled_from(['print "hello"\n', "exec code in ns\n", "x = 0777\n",
                                 "raise E, 'msg'\n", "def f((a, b)):\n    pass\n"]))
    lines = _lines(text)
    index = draw(st.integers(0, len(lines)))
    return "".join(lines[:index] + [line] + lines[index:])


def random_text(draw, text):
    lines = _lines(text)
    index = draw(st.integers(0, len(lines)))
    noise = draw(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
    return "".join(lines[:index] + [noise + "\n"] + lines[index:])


MUTATIONS = [delete_lines, duplicate_lines, truncate, unicode_identifiers, deep_nesting,
             long_chains, huge_literal, whitespace_styles, python2, random_text]


@settings(max_examples=int(os.environ.get("TORCHREADY_FUZZ_EXAMPLES", "2000")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated_sources())
def test_fuzzed_sources_never_break_the_linter(text):
    check(text)


@pytest.mark.parametrize("seed", range(len(SEEDS[:6])))
def test_seed_sources_are_clean_cases(seed):
    check(SEEDS[seed])


# -- the bad-input matrix, through the real command line -------------------------------------

def test_missing_path(tmp_path):
    result = run_cli("lint", str(tmp_path / "nope.py"))
    assert result.returncode == 2
    assert result.stderr.strip() == f"torchready: error: {tmp_path / 'nope.py'}: no such file or directory"


def test_directory_without_python_files(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    result = run_cli("lint", str(tmp_path))
    assert result.returncode == 0
    assert "All checks passed." in result.stdout


def test_empty_file(tmp_path):
    (tmp_path / "empty.py").write_text("")
    assert run_cli("lint", str(tmp_path / "empty.py")).returncode == 0


def test_binary_and_non_utf8_files_named_py(tmp_path):
    (tmp_path / "blob.py").write_bytes(os.urandom(64) + b"\x00")
    (tmp_path / "cp1252.py").write_bytes(b"# \x93quoted\x94\nimport torch\n")
    result = run_cli("lint", str(tmp_path))
    assert result.returncode == 2
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 2
    assert any("blob.py: binary file" in e for e in errors)
    assert any("cp1252.py: not UTF-8 (byte 0x93 at offset 2)" in e for e in errors)
    # The summary must not claim the unreadable files passed.
    assert "All checks passed." not in result.stdout
    assert "2 could not be linted" in result.stdout


def test_five_megabyte_generated_file(tmp_path):
    # Generated model files embed weights or vocabularies as literals; the model code around
    # them is still analysed. (5 MB of dense model code is measured in benchmarks/, not here:
    # it takes minutes, like every libcst-based linter.)
    model = textwrap.dedent("""
        import math
        import torch
        from torch import nn

        class Generated(nn.Module):
            def forward(self, x):
                return x / math.sqrt(x.size(-1))
    """)
    vocabulary = "VOCABULARY = {\n" + "".join(
        f"    'token_{n:07d}': {n},\n" for n in range(20_000)) + "}\n"
    body = model + vocabulary + "WEIGHTS = '" + "QUJD" * 1_200_000 + "'\n"
    assert len(body) > 5_000_000
    (tmp_path / "big.py").write_text(body)
    result = run_cli("lint", "--format", "json", "--no-cache", str(tmp_path / "big.py"))
    assert result.returncode == 1, result.stderr
    assert '"code": "TR102"' in result.stdout


def test_symlink_loop_does_not_hang(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "loop").symlink_to(tmp_path / "pkg")
    (tmp_path / "pkg" / "m.py").write_text("import torch\n")
    result = run_cli("lint", str(tmp_path))
    assert result.returncode == 0


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_unreadable_file(tmp_path):
    target = tmp_path / "secret.py"
    target.write_text("import torch\n")
    target.chmod(0)
    result = run_cli("lint", str(tmp_path))
    assert result.returncode == 2
    assert "secret.py: permission denied" in result.stderr


def test_file_deleted_between_discovery_and_read(tmp_path):
    # A dangling symlink is discovered (the name exists) and then cannot be read, which is
    # what a file deleted in between looks like to the reader.
    (tmp_path / "gone.py").symlink_to(tmp_path / "deleted.py")
    result = run_cli("lint", str(tmp_path))
    assert result.returncode == 2
    assert "gone.py: the file disappeared before it could be read" in result.stderr
