"""Positions from statement-level code generation equal libcst's whole-module positions."""

from __future__ import annotations

import ast
from pathlib import Path

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, PositionProvider

from helpers import ROOT
from torchready.lint.context import FileContext

TRICKY = '''\ufeff# header comment
"""Docstring."""

import torch ; import math  # two statements, one line


# comments before a decorated class
@torch.jit.script
@decorator(
    1)
class Net(torch.nn.Module):
\tdef forward(self, x):  # tab-indented
\t\treturn x / math.sqrt(x.size(-1))

if True:
    def late(x):
        return [x, (
            x)]
x = 1; y = 2
'''


def sources():
    yield "tricky.py", TRICKY
    yield "tricky_crlf.py", TRICKY.replace("\n", "\r\n")
    for path in sorted((ROOT / "fixtures").glob("*.py")):
        yield path.name, path.read_text()
    try:
        import transformers
    except ImportError:
        return
    models = Path(transformers.__file__).parent / "models"
    for name in ("bert/modeling_bert.py", "gpt2/modeling_gpt2.py", "t5/modeling_t5.py"):
        if (models / name).exists():
            yield name, (models / name).read_text()


@pytest.mark.parametrize("name, source", list(sources()), ids=[n for n, _ in sources()])
def test_statement_positions_match_module_positions(name, source):
    module = cst.parse_module(source)
    context = FileContext(name, source, module, ast.parse(source.lstrip("\ufeff")))
    expected = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    checked = 0
    for top in module.body:
        for node in [top, *_descendants(top)]:
            assert context.range_of(node, top) == expected[node], (name, type(node).__name__)
            checked += 1
    assert checked > 10


def _descendants(node):
    found = []

    class Collect(cst.CSTVisitor):
        def on_visit(self, child):
            found.append(child)
            return True

    node.visit(Collect())
    return found[1::7]  # a sample: every node is slow on 3,000-line files


