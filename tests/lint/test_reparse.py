"""Parsing again from kept statements (the lint daemon's) gives the tree a whole parse gives:
real files (the fixtures, the lint tests, transformers' models when installed) and generated
modules, first parse and after an edit; the statements an edit did not touch are reused."""

from __future__ import annotations

import ast

import libcst as cst
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import real_sources
from torchready.lint import reparse
from torchready.lint.reparse import StatementMemory


def _parse(memory: StatementMemory, source: str) -> cst.Module:
    return memory.parse(source, ast.parse(source), "model.py")


def assert_parses_as_whole(memory: StatementMemory, source: str) -> cst.Module:
    joined = _parse(memory, source)
    whole = cst.parse_module(source)
    # (Not `== source`: libcst itself drops a blank line before an indented comment that ends
    # a module.)
    assert joined.code == whole.code
    assert joined.deep_equals(whole)
    return joined


def _edited_in_a_body(source: str) -> str | None:
    at = source.find("\n        return ", len(source) // 2)
    return None if at < 0 else source[:at] + "\n        pass  # edited" + source[at:]


@pytest.mark.parametrize("path", real_sources(models=20), ids=lambda path: path.name)
def test_a_real_file_parses_as_whole_before_and_after_an_edit(path):
    source = path.read_text(encoding="utf-8")
    memory = StatementMemory()
    first = assert_parses_as_whole(memory, source)
    edited = _edited_in_a_body(source)
    if edited is None:
        return
    again = assert_parses_as_whole(memory, edited)
    # Only the edited statement was parsed again: every other keeps its parsed body.
    assert len(again.body) == len(first.body)
    new = [index for index, (before, after) in enumerate(zip(first.body, again.body))
           if before.body is not after.body]
    assert len(new) == 1 and not first.body[new[0]].deep_equals(again.body[new[0]])


STATEMENTS = [
    "import torch\n",
    "from torch import nn as neural\n",
    "a = 1; b = 2\n",
    "c = [1,\n     2]; d = 3\n",
    'e = """\n"""; f = 4\n',
    "x = (1,\n     2)\n",
    "y = 1 + \\\n    2\n",
    'TEXT = """\nnot code:\n    def f(): pass\n"""\n',
    "@decorator\n@other(1)\ndef f(x):\n    return x\n",
    "def g(x):\n    if x:\n        return 1\n    # inside, at the end\n",
    "def h(x):\n  return x  # two spaces\n",
    "def t(x):\n\treturn x\n",
    "class A(nn.Module):\n    '''doc'''\n\n    def forward(self, x):\n        return x\n"
    "        # trailing, indented\n",
    "async def c():\n    await d()\n",
    "if __name__ == '__main__':\n    main()\nelse:\n    pass\n",
    "try:\n    import numpy\nexcept ImportError:  # no numpy\n    numpy = None\n",
    "with open('f') as handle:\n    pass\n",
    "for i in range(3):\n    print(i)\n",
    "while False:\n    pass\n",
    "def sized(x):\n    if x.size(0) > 1:\n        x = x + 1\n\n\n    return x\n",
]
BETWEEN = ["", "\n", "\n\n", "# a comment\n", "\n# a comment\n\n", "    # indented comment\n",
           "\n    # indented\n# not\n"]
HEADERS = ["", "#!/usr/bin/env python\n", "# header\n\n", '"""Module doc."""\n\n',
           "\n\n# header after blank lines\n"]


@st.composite
def modules(draw) -> str:
    statements = draw(st.lists(st.sampled_from(STATEMENTS), min_size=1, max_size=8))
    parts = [draw(st.sampled_from(HEADERS))]
    for statement in statements:
        parts += [statement, draw(st.sampled_from(BETWEEN))]
    source = "".join(parts)
    if draw(st.booleans()):
        source = source.rstrip("\n")  # no newline at the end of the file
    return source


@settings(max_examples=300, deadline=None)
@given(modules(), st.data())
def test_generated_modules_parse_as_whole_before_and_after_an_edit(source, data):
    memory = StatementMemory()
    assert_parses_as_whole(memory, source)
    # Replace, add or remove one statement and parse again from what was kept.
    lines = source.split("\n")
    tree = ast.parse(source)
    starts = [min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", ()))]) - 1
              for node in tree.body if node.col_offset == 0]
    at = data.draw(st.sampled_from(starts or [0]))
    inserted = data.draw(st.sampled_from(STATEMENTS))
    edited = "\n".join(lines[:at]) + ("\n" if at else "") + inserted + "\n".join(lines[at:])
    assert_parses_as_whole(memory, edited)
    assert_parses_as_whole(memory, source)


def test_files_it_does_not_cut_are_parsed_whole():
    memory = StatementMemory()
    for source in ["x = 1\r\ny = 2\r\n", "x = 1\n", "", "# only a comment\n"]:
        assert_parses_as_whole(memory, source)


def test_parses_are_kept_for_the_most_recent_files_up_to_a_number_of_lines(monkeypatch):
    monkeypatch.setattr(reparse, "MAX_LINES", 10)
    memory = StatementMemory()
    source = "import torch\n\n\ndef f(x):\n    return x\n"  # 5 lines
    first = {name: _parse_as(memory, source, name) for name in ("a.py", "b.py", "c.py")}
    # c.py and b.py fit in 10 lines; a.py, parsed first, was dropped.
    for name, reused in (("c.py", True), ("b.py", True), ("a.py", False)):
        again = _parse_as(memory, source, name)
        assert (again.body[1].body is first[name].body[1].body) is reused, name


def _parse_as(memory: StatementMemory, source: str, path: str) -> cst.Module:
    return memory.parse(source, ast.parse(source), path)
