"""The pure translations between torchready's data and LSP: positions, noqa edits, fix-all."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from lsprotocol import types

from torchready.lint.lsp.actions import minimal_edit, wants
from torchready.lint.lsp.diagnostics import noqa_edit, text_edit_from_data
from torchready.lint.lsp.positions import from_lsp_position, to_lsp_position
from torchready.lint.source_io import split_lines
from torchready.lint.suppression import is_suppressed
from lsp_session import apply_workspace_edit

URI = "file:///model.py"
# Characters whose UTF-16 length or line-breaking differs: BMP, astral, and the separators
# str.splitlines breaks at but Python and LSP do not.
PIECES = ["a", " ", "é", "😀", "\n", "\r", "\r\n", "\x0c", "\u2028", "#"]
TEXT = st.lists(st.sampled_from(PIECES), max_size=30).map("".join)


def apply(text: str, edit: types.TextEdit) -> str:
    return apply_workspace_edit(text, types.WorkspaceEdit(changes={URI: [edit]}), URI)


@given(TEXT, TEXT)
def test_fix_all_edit_turns_the_old_text_into_the_new(before: str, after: str):
    assert apply(before, minimal_edit(before, after)) == after


def test_fix_all_edit_spans_only_the_change():
    before = "import torch\nx = 1\ny = 2\n"
    edit = minimal_edit(before, before.replace("x = 1", "x = 10"))
    assert edit.range == types.Range(start=types.Position(line=1, character=5),
                                     end=types.Position(line=1, character=5))
    assert edit.new_text == "0"


@given(st.text(alphabet=st.sampled_from(["a", "é", "😀", "\x0c", "\u2028"]), max_size=12),
       st.data())
def test_positions_round_trip_through_utf16(line: str, data):
    column = data.draw(st.integers(min_value=1, max_value=len(line) + 1))
    position = to_lsp_position([line], 1, column)
    assert position.character == len(line[: column - 1].encode("utf-16-le")) // 2
    assert from_lsp_position([line], position) == (1, column)


def test_a_position_past_the_last_line_is_the_end_of_the_file():
    assert to_lsp_position(["a", "b"], 3, 1) == types.Position(line=2, character=0)


def noqa(line: str, code: str = "TR102") -> str | None:
    lines = split_lines(line)
    data = noqa_edit(lines, 1, code)
    return None if data is None else apply(line, text_edit_from_data(data))


def test_noqa_is_appended_after_the_code_and_silences_it():
    silenced = noqa("    y = math.sqrt(n)   ")
    assert silenced == "    y = math.sqrt(n)  # noqa: TR102"
    assert is_suppressed(silenced, "TR102")


def test_noqa_extends_an_existing_code_list():
    silenced = noqa("y = f(x)  # noqa: TR401  # why")
    assert silenced == "y = f(x)  # noqa: TR401, TR102  # why"
    assert is_suppressed(silenced, "TR102") and is_suppressed(silenced, "TR401")


def test_noqa_follows_an_ordinary_comment_and_non_ascii_text():
    silenced = noqa('s = "😀"; y = math.sqrt(n)  # scale')
    assert silenced == 's = "😀"; y = math.sqrt(n)  # scale  # noqa: TR102'
    assert is_suppressed(silenced, "TR102")


def test_no_noqa_where_a_comment_cannot_go():
    assert noqa("y = math.sqrt(n) + \\") is None


def test_requested_kinds_are_hierarchical():
    assert wants("source.fixAll.torchready", ["source.fixAll"])
    assert wants("source.fixAll.torchready", ["source"])
    assert wants("source.fixAll.torchready", None)
    assert not wants("source.fixAll.torchready", ["quickfix"])
    assert not wants("quickfix", ["source.fixAll"])


def test_lsp_diagnostic_names_the_capture_targets():
    from torchready.lint.api import lint_text
    from torchready.lint.lsp.diagnostics import to_lsp_diagnostic

    source = ("import torch\nfrom torch import nn\n\n\nclass Net(nn.Module):\n"
              "    def forward(self, x):\n        if x.size(1) > 4:\n            x = x * 2\n"
              "        return x\n")
    (finding,) = lint_text(source, "model.py", targets=["export"])
    converted = to_lsp_diagnostic(finding, split_lines(source), version=3)
    assert converted.message == f"{finding.message} [export]"
    assert converted.data["targets"] == ["export"]
    assert converted.severity == types.DiagnosticSeverity.Warning
