"""The rule catalog: one module per rule, each defining one `Rule` subclass.

Codes are stable. TR1xx: trace hazards; TR2xx: script hazards; TR3xx: Core ML hazards;
TR4xx: the conversion workflow.

A rule's module is named after its code and name (`tr101_non_tensor_output` holds TR101
non-tensor-output; a test holds every module to it), so selecting rules reads the catalog from
the file names: a run whose files are all cached never imports a rule, nor libcst.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from torchready.lint.rule import Rule


class RuleId(NamedTuple):
    code: str
    name: str
    module: str


@cache
def catalog() -> tuple[RuleId, ...]:
    """Every rule's code and name, sorted by code, without importing the rules."""
    found = []
    for module_info in pkgutil.iter_modules(__path__):
        code, separator, name = module_info.name.partition("_")
        if module_info.name.startswith("_") or not separator:
            continue
        found.append(RuleId(code.upper(), name.replace("_", "-"), module_info.name))
    return tuple(sorted(found))


@cache
def all_rules() -> tuple[type[Rule], ...]:
    return tuple(rule_class(rule) for rule in catalog())


def rule_by_code(code: str) -> type[Rule] | None:
    """The rule with this code (or name), importing only its module."""
    wanted = code.upper()
    found = next((rule for rule in catalog() if rule.code == wanted or rule.name == code), None)
    return rule_class(found) if found else None


@cache
def rule_class(rule: RuleId) -> type[Rule]:
    from torchready.lint.rule import Rule

    module = importlib.import_module(f"{__name__}.{rule.module}")
    return next(value for value in vars(module).values()
                if isinstance(value, type) and issubclass(value, Rule) and value is not Rule
                and value.__module__ == module.__name__)
