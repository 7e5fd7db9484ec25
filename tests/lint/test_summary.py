"""File summaries: made from real parses of real model files, JSON round trips, and call lines
taken from Python's tree that agree with libcst's positions."""

from __future__ import annotations

import ast
import importlib.util
import json
from pathlib import Path

import libcst as cst
import pytest
from hypothesis import assume, given, settings, strategies as st
from libcst.metadata import MetadataWrapper, PositionProvider

from helpers import ROOT
from torchready.lint.context import FileContext
from torchready.lint.project.summary import FileSummary, _call_lines, summarize

FIXTURES = ROOT / "fixtures"

TRANSFORMERS = Path(importlib.util.find_spec("transformers").origin).parent
REAL_FILES = [TRANSFORMERS / "models" / name for name in (
    "bert/modeling_bert.py", "llama/modeling_llama.py", "gemma/modular_gemma.py",
    "vit/modeling_vit.py", "mobilenet_v1/modeling_mobilenet_v1.py", "t5/modeling_t5.py",
)] + [TRANSFORMERS / "masking_utils.py", *sorted(FIXTURES.glob("*.py"))]


def context_for(source: str, path: str = "file.py") -> FileContext:
    return FileContext(path, source, cst.parse_module(source), ast.parse(source))


@pytest.mark.parametrize("path", REAL_FILES, ids=lambda path: path.name)
def test_summary_of_real_files_round_trips_and_call_lines_match_libcst(path):
    source = path.read_text(encoding="utf-8")
    context = context_for(source, str(path))
    summary = summarize(context)
    data = summary.to_json()
    assert FileSummary.from_json(json.loads(json.dumps(data))).to_json() == data
    positions = MetadataWrapper(context.module, unsafe_skip_copy=True).resolve(PositionProvider)
    lines = [positions[call].start.line for call in context.calls.calls]
    for function in summary.functions.values():
        for site in function.calls:
            assert site.line == lines[site.index], (function.qualname, site.target)


def test_summary_records_what_calls_pass():
    source = (FIXTURES / "attention.py").read_text()
    summary = summarize(context_for(source))
    module_classes = [name for name, item in summary.classes.items() if item.module]
    assert module_classes
    assert all(summary.functions[f"{name}.forward"].traced for name in module_classes
               if f"{name}.forward" in summary.functions)


CALL = st.sampled_from(["f({})", "g({})({})", "obj.m({}).n({})", "h(*{}, k={})"])
ATOM = st.sampled_from(["x", "1", "y[0]", "(a, b)"])


@st.composite
def expressions(draw, depth=0):
    if depth > 3 or draw(st.booleans()):
        return draw(ATOM)
    template = draw(CALL)
    parts = [draw(expressions(depth=depth + 1)) for _ in range(template.count("{}"))]
    text = template.format(*parts)
    wrapper = draw(st.sampled_from(["{}", "[{}]", "{} if c else d", "f'{{{}}}'", "({}\n)"]))
    return wrapper.format(text)


@settings(max_examples=60, deadline=None)
@given(st.lists(expressions(), min_size=1, max_size=4))
def test_call_lines_agree_with_libcst_on_generated_code(statements):
    source = "def fn():\n" + "".join(f"    v{i} = {text}\n" for i, text in enumerate(statements))
    try:
        ast.parse(source)
    except SyntaxError:
        assume(False)  # nested f-strings with the same quote need Python 3.12
    context = context_for(source)
    summary_lines = _call_lines(context)
    positions = MetadataWrapper(context.module, unsafe_skip_copy=True).resolve(PositionProvider)
    assert summary_lines == [positions[call].start.line for call in context.calls.calls]
