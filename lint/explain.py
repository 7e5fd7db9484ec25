"""Render a rule's documentation (`torchready explain`) from its docstring and examples."""

from __future__ import annotations

import textwrap

from torchready.lint.rule import Rule
from torchready.lint.targets import canonical, describe


def explain(rule: type[Rule]) -> str:
    fix = rule.FIX.value if rule.FIX else "none"
    parts = [
        f"# {rule.NAME} ({rule.CODE})",
        "",
        f"{rule.SUMMARY}.",
        "",
        f"Severity: {rule.SEVERITY.value}. Fix: {fix}. "
        f"Capture targets: {describe(canonical(rule.TARGETS))}.",
        "",
        rule.documentation(),
    ]
    if rule.INVALID:
        parts += ["", "## Examples the rule reports", ""]
        for example in rule.INVALID[:2]:
            parts += ["```python", textwrap.dedent(example.code).strip(), "```", ""]
            if example.expected_fix:
                parts += ["Fixed:", "", "```python", textwrap.dedent(example.expected_fix).strip(),
                          "```", ""]
    return "\n".join(parts).rstrip() + "\n"
