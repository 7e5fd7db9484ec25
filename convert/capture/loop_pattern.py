"""The hybrid pattern, found without hints: a `while` that loops on a submodule's output.

The talk's sentence completion is a loop around a next-token predictor:

    while tokens.size(1) < self.max_length and bool(next_token[0, 0] != self.end_token):
        logits = self.next_token_predictor(tokens)[0]
        next_token = logits[:, -1, :].argmax(dim=-1, keepdim=True)
        tokens = torch.cat([tokens, next_token], dim=1)

A trace of it freezes the number of iterations the example happened to take: the condition reads
a value computed from the predictor's output, i.e. from data. Scripting all of it means scripting
the predictor too, which real predictors (transformers' GPT-2) do not survive. The pattern is
exactly what hybrid capture is for: trace the predictor, script the loop.

Found statically first (cheap): in the model's own forward, a `while` whose condition reads a
name that, through the assignments in the loop body, depends on the result of a call to
`self.<child>(...)`. Then dynamically: the child is traced on the inputs it received while the
model ran on the example (through a flattening wrapper when it returns a ModelOutput or dict,
as prepare does for the whole model), and kept when its trace reproduces the first and the last
of those calls. Findings about its trace that depend only on sizes are tolerated when those
calls had different sizes (the trace was seen to follow them); findings about data are not.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

from torchready.convert.python_source import display_path, function_node, own_statements
from torchready.convert.source_lines import is_user_file


@dataclass(frozen=True)
class LoopSite:
    """A `while` in the model's forward and the children whose outputs its condition reads."""

    path: str
    line: int
    children: tuple[str, ...]


@dataclass
class LoopPattern:
    site: LoopSite
    candidates: list[Any] = field(default_factory=list)  # hybrid.Candidate, traced
    rejected: dict[str, str] = field(default_factory=dict)  # child -> why it was not traced

    @property
    def reason(self) -> str:
        where = f"{display_path(self.site.path)}:{self.site.line}"
        traced = ", ".join(candidate.path for candidate in self.candidates)
        return (f"auto chose hybrid: the `while` at {where} loops on a value computed from "
                f"{traced}'s output (data: a trace would freeze the number of iterations of "
                "the example), and that submodule traces on its own: trace it, script the loop")


def loop_sites(cls: type) -> list[LoopSite]:
    """Every `while` in `cls.forward` whose condition depends on a child module's output."""
    located = function_node(cls.forward) if hasattr(cls, "forward") else None
    if located is None or not is_user_file(located[0]):
        return []
    path, func = located
    sites = []
    for loop in sorted((n for n in own_statements(func) if isinstance(n, ast.While)),
                       key=lambda n: n.lineno):
        sources = _child_sources(loop)
        children = set(_child_calls(loop.test))
        for name in _names(loop.test):
            children |= sources.get(name, set())
        if children:
            sites.append(LoopSite(path, loop.lineno, tuple(sorted(children))))
    return sites


def _names(node: ast.AST) -> set[str]:
    return {sub.id for sub in ast.walk(node) if isinstance(sub, ast.Name)}


def _child_calls(node: ast.AST) -> list[str]:
    """`child` for every `self.child(...)` in `node`."""
    return [sub.func.attr for sub in ast.walk(node)
            if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute)
            and isinstance(sub.func.value, ast.Name) and sub.func.value.id == "self"]


def _child_sources(loop: ast.While) -> dict[str, set[str]]:
    """name -> the children whose output flows into it, through the loop body's assignments
    (to a fixed point: the value of one iteration feeds the next)."""
    assignments = []
    for node in ast.walk(loop):
        if isinstance(node, ast.Assign):
            assignments.append((node.targets, node.value))
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and node.value is not None:
            assignments.append(([node.target], node.value))
    sources: dict[str, set[str]] = {}
    changed = True
    while changed:
        changed = False
        for targets, value in assignments:
            flowing = set(_child_calls(value))
            for name in _names(value):
                flowing |= sources.get(name, set())
            if not flowing:
                continue
            for target in targets:
                for name in _names(target):
                    if not flowing <= sources.setdefault(name, set()):
                        sources[name] |= flowing
                        changed = True
    return sources


def find_loop_pattern(prepared: Any) -> LoopPattern | None:
    """The pattern with its traced children, or None (no such loop, or no child traces)."""
    import torch

    from torchready.convert.capture.hybrid import record_calls, try_trace

    model = prepared.original
    sites = [site for site in loop_sites(type(model))
             if all(isinstance(getattr(model, child, None), torch.nn.Module)
                    for child in site.children)]
    if not sites:
        return None
    site = sites[0]
    calls = record_calls(model, prepared.module, prepared.example_inputs)
    pattern = LoopPattern(site)
    for child in site.children:
        candidate = try_trace(child, getattr(model, child), calls.get(child), forced=False,
                              flatten_outputs=True, shapes_seen=_sizes_differ(calls.get(child)))
        if candidate.traced is None:
            pattern.rejected[child] = candidate.rejected or ""
        else:
            pattern.candidates.append(candidate)
    return pattern if pattern.candidates and not pattern.rejected else None


def _sizes_differ(call: Any) -> bool:
    """Whether the first and the last call of a child had inputs of different sizes."""
    if call is None or call.count < 2:
        return False
    return [tuple(a.shape) for a in call.args] != [tuple(a.shape) for a in call.last_args]
