"""Which captures a file performs itself: `torch.jit.script(model)`, `torch.jit.trace(...)`,
`torch.export.export(...)`, and torchready's API or specs with a `mode=`.

Read from Python's own tree (the engine parses it first anyway, at a fraction of libcst's cost),
so the capture targets of a whole project are known before any file is analysed. Decorators
(`@torch.jit.script` on a helper) are not captures of the model and do not count.
"""

from __future__ import annotations

import ast

from torchready.lint.targets import CAPTURE_CALLS, MODE_CALLS, MODES

# Text every capture call contains (a cheap filter before parsing): `torch.jit.script(`,
# `from torch.jit import trace`, `import torch.jit as jit`, `export(`, `to_coreml(`, `audit(`,
# `ModelSpec(`.
CAPTURE_WORDS = ("jit.", "jit import", "jit as", "export(", "export import", "to_coreml",
                 "audit(", "ModelSpec")


def captures_in_source(source: str) -> set[str]:
    """The capture targets a source text's calls name (empty when it names none or does not
    parse)."""
    if not names_a_capture(source):
        return set()
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set()
    return captures_in(tree)


def names_a_capture(source: str) -> bool:
    """False when no capture call can be in the text: then `captures_in` finds nothing, and
    walking the tree to see it costs a tenth of a lint."""
    return any(word in source for word in CAPTURE_WORDS)


def captures_in(tree: ast.Module) -> set[str]:
    # One walk finds the imports and the calls (the calls are resolved after it: an import may
    # follow a call that uses it, inside a function).
    imports: list[ast.Import | ast.ImportFrom] = []
    calls: list[ast.Call] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            calls.append(node)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            imports.append(node)
    bindings = _import_bindings(imports)
    found: set[str] = set()
    for node in calls:
        name = _resolve(node.func, bindings)
        if name is None:
            continue
        if name in CAPTURE_CALLS:
            found.add(CAPTURE_CALLS[name])
        elif name.startswith("torchready.") and name.rsplit(".", 1)[-1] in MODE_CALLS:
            for keyword in node.keywords:
                if keyword.arg == "mode" and isinstance(keyword.value, ast.Constant) and \
                        keyword.value.value in MODES:
                    found.update(MODES[keyword.value.value])
    return found


def _import_bindings(imports: list[ast.Import | ast.ImportFrom]) -> dict[str, str]:
    bindings: dict[str, str] = {}
    for node in imports:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    bindings[alias.asname] = alias.name
                else:
                    head = alias.name.split(".")[0]
                    bindings.setdefault(head, head)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                bindings[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return bindings


def _resolve(node: ast.expr, bindings: dict[str, str]) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or node.id not in bindings:
        return None
    return ".".join([bindings[node.id], *reversed(parts)])
