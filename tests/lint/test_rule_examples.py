"""Every rule's VALID and INVALID examples, run through the real engine (Fixit's pattern)."""

from __future__ import annotations

import pytest

from examples import example_source
from torchready.lint.engine import lint_source
from torchready.lint.fixes import fix_source
from torchready.lint.rules import all_rules

CASES = [
    pytest.param(rule, kind, index, example, id=f"{rule.CODE}-{kind}-{index}")
    for rule in all_rules()
    for kind, examples in (("valid", rule.VALID), ("invalid", rule.INVALID))
    for index, example in enumerate(examples)
]


def test_every_rule_has_enough_examples():
    for rule in all_rules():
        assert len(rule.VALID) >= 5, rule.CODE
        assert len(rule.INVALID) >= 5, rule.CODE


@pytest.mark.parametrize("rule, kind, index, example", CASES)
def test_example(rule, kind, index, example):
    source = example_source(example.code)
    findings = [d for d in lint_source(source, "example.py", [rule]) if d.code == rule.CODE]
    if kind == "valid":
        assert findings == [], [f.message for f in findings]
        return
    assert len(findings) == example.count, [f"{f.line}: {f.message}" for f in findings]
    fixed, applied = fix_source(source, lambda text: lint_source(text, "example.py", [rule]),
                                unsafe=True)
    if example.expected_fix is None:
        assert all(f.fix is None for f in findings)
        assert applied == 0
    else:
        assert fixed == example_source(example.expected_fix)
        # Idempotent: fixing the fixed code changes nothing.
        again, _ = fix_source(fixed, lambda text: lint_source(text, "example.py", [rule]),
                              unsafe=True)
        assert again == fixed
