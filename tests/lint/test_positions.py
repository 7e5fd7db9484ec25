"""Positions from statement-level code generation equal libcst's whole-module positions."""

from __future__ import annotations

import ast
from pathlib import Path

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, PositionProvider

from helpers import ROOT
from torchready.lint.context import FileContext
from torchready.lint.statement_positions import StatementPositions

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

class Odd:
  def two_spaces(self, x):  # an indent unlike the module's
      if x: return x  # a one-line suite
      elif x is None:
          pass
      else:
          for é in "ü": y = \\
              é
      try:
          z = [
  1]
      finally:
          del z
  async def later(self):
      async with self.lock as held:
          match held:
              case [first, *_]:
                  return first
              case _:
                  while True:
                      break
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




@pytest.mark.parametrize("name, source", list(sources()), ids=[n for n, _ in sources()])
def test_positions_from_the_innermost_statement_match_module_positions(name, source):
    """What reports do: anchor at the innermost statement being visited, or at a statement
    around it (a rule that reports on leaving a function), or nowhere."""
    module = cst.parse_module(source)
    positions = StatementPositions(module, ast.parse(source.lstrip("\ufeff")))
    expected = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    checked = 0
    for node, ancestors in _sample_with_ancestors(module):
        innermost = positions.innermost(ancestors)
        outermost = positions.innermost(ancestors[:2])
        for anchor in (innermost, outermost, None):
            assert positions.range_of(node, anchor) == expected[node], \
                (name, type(node).__name__, type(anchor).__name__)
        checked += 1
    assert checked > 10


def test_a_nested_report_generates_only_its_statement():
    source = "class A:\n    def f(self):\n" + "        a = 1\n" * 50 + \
             "        return x.size(0)\n"
    module = cst.parse_module(source)
    positions = StatementPositions(module, ast.parse(source))
    function = module.body[0].body.body[0]
    statement = function.body.body[-1]
    call = statement.body[0].value
    assert positions.range_of(call, function).start == cst.metadata.CodePosition(53, 15)
    assert positions._generated.keys() == {id(statement)}  # not the 50 others, nor the class


def _sample_with_ancestors(module):
    found = []

    class Collect(cst.CSTVisitor):
        def __init__(self):
            self.stack = []

        def on_visit(self, node):
            self.stack.append(node)
            found.append((node, list(self.stack)))
            return True

        def on_leave(self, node):
            self.stack.pop()

    module.visit(Collect())
    return found[::max(3, len(found) // 500)]  # a sample of every kind: the large files are slow
