"""The fast walker sees the same nodes, in the same order, as libcst's own visitor."""

from __future__ import annotations

from pathlib import Path

import libcst as cst
import pytest

from helpers import ROOT
from torchready.lint.analysis.walk import walk

MEANINGFUL = (cst.BaseExpression, cst.BaseStatement, cst.BaseSmallStatement, cst.Param, cst.Arg,
              cst.Decorator, cst.IndentedBlock)


def sources():
    paths = sorted((ROOT / "fixtures").glob("*.py")) + sorted((ROOT / "lint").rglob("*.py"))
    try:
        import transformers
    except ImportError:
        return paths
    models = Path(transformers.__file__).parent / "models"
    return paths + sorted(models.glob("*/modeling_*.py"))[::40]


@pytest.mark.parametrize("path", sources(), ids=lambda p: p.name)
def test_walk_order_matches_libcst_visitor(path):
    module = cst.parse_module(path.read_text())
    seen = []

    class Record(cst.CSTVisitor):
        def on_visit(self, node):
            if isinstance(node, MEANINGFUL):
                seen.append(node)
            return True

    module.visit(Record())
    walked = [node for node in walk(module) if isinstance(node, MEANINGFUL)]
    assert [id(n) for n in walked] == [id(n) for n in seen]
