"""The engine on real libcst parses: syntax errors, suppression, positions, scope."""

from __future__ import annotations

from examples import PREAMBLE, example_source
from torchready.lint.engine import lint_source
from torchready.lint.rules import all_rules

RULES = all_rules()
PREAMBLE_LINES = PREAMBLE.count("\n")


def lint(code: str):
    return lint_source(example_source(code), "model.py", RULES)


def test_syntax_error_is_one_diagnostic_at_the_parser_position():
    diagnostics = lint_source("import torch\n\ndef forward(self x):\n    return x\n", "bad.py", RULES)
    assert len(diagnostics) == 1
    (error,) = diagnostics
    assert (error.code, error.name, error.line) == ("TR000", "syntax-error", 3)
    assert error.column == 18  # the parser stops at `x`


def test_positions_are_one_based_with_exclusive_end():
    (finding,) = lint("""
        class A(nn.Module):
            def forward(self, q):
                return q / math.sqrt(q.size(-1))
    """)
    line = PREAMBLE_LINES + 3
    assert (finding.line, finding.column, finding.end_column) == (line, 20, 41)


def test_bare_noqa_and_noqa_with_codes():
    findings = lint("""
        class A(nn.Module):
            def forward(self, q):
                a = q / math.sqrt(q.size(-1))  # noqa
                b = q / math.sqrt(q.size(-2))  # noqa: TR102
                c = q / math.sqrt(q.size(-3))  # noqa: TR101, TR201
                d = q / math.sqrt(q.size(-4))  # NOQA:tr102
                return a, b, c, d
    """)
    assert [f.message.split("`")[1] for f in findings] == ["math.sqrt(q.size(-3))"]


def test_aliases_resolve_through_imports():
    findings = lint("""
        import math as m
        from math import sqrt as s
        from numpy import floor

        class A(nn.Module):
            def forward(self, x):
                return x / m.sqrt(x.shape[-1]) / s(x.size(0)) * floor(x.dim() / 2)
    """)
    assert len(findings) == 3


def test_size_dataflow_through_assignments():
    (finding,) = lint("""
        class A(nn.Module):
            def forward(self, x):
                d = x.size(-1)
                h = d // 4
                heads = h
                return x / math.sqrt(heads)
    """)
    assert finding.code == "TR102"


def test_traced_scope_follows_calls_and_inheritance_in_the_file():
    findings = lint("""
        class Base(nn.Module):
            def scale(self, x):
                return x / math.sqrt(x.size(-1))

        class Child(Base):
            def forward(self, x):
                return helper(self.scale(x))

        def helper(x):
            return x * math.sqrt(len(x))

        def unrelated(x):
            return x * math.sqrt(len(x))
    """)
    assert sorted(f.line for f in findings) == [
        PREAMBLE_LINES + 3, PREAMBLE_LINES + 10]


def test_file_without_torch_is_skipped_before_parsing():
    assert lint_source("def f(x):\n    return x.size(0)\n", "plain.py", RULES) == []
