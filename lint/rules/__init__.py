"""The rule catalog: one module per rule, each defining one `Rule` subclass.

Codes are stable. TR1xx: trace hazards; TR2xx: script hazards; TR3xx: Core ML hazards;
TR4xx: the conversion workflow.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from torchready.lint.rule import Rule


@cache
def all_rules() -> tuple[type[Rule], ...]:
    rules = []
    for module_info in pkgutil.iter_modules(__path__):
        if module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        rules.extend(
            value for value in vars(module).values()
            if isinstance(value, type) and issubclass(value, Rule) and value is not Rule
            and value.__module__ == module.__name__
        )
    return tuple(sorted(rules, key=lambda rule: rule.CODE))


def rule_by_code(code: str) -> type[Rule] | None:
    wanted = code.upper()
    return next((rule for rule in all_rules() if rule.CODE == wanted or rule.NAME == code), None)
