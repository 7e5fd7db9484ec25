"""TorchScript graph passes: rewrite a captured graph into an equivalent one coremltools converts.

A composite op (`convert/composite_ops/`) fixes one op coremltools cannot convert or converts
wrongly, inside coremltools' converter. A graph pass is for the other case: the op is fine, but the
*graph* holds a pattern coremltools' frontend cannot see through (an opaque call back into Python,
for example). Each module here does one rewrite, keeps the computation identical, and documents
the root cause it works around.

Every module defines:
  NAME       the pass's name, as reports list it
  SUMMARY    one line for `torchready audit` and the README
  apply(graph) -> list[str]
             rewrite the (inlined) graph in place; one line per rewrite saying what changed and
             where (file:line), empty when the pattern is absent
  example()  a minimal torch model (module, example_inputs) whose trace coremltools cannot
             convert without the pass: the regression test and the parity case

`run_graph_passes(script_module)` inlines the module's forward graph (what coremltools does first
in `_expand_and_optimize_ir`, so nothing changes for it) and applies every pass in order. It runs
in the conversion stage right before `ct.convert`. A pass that raises is reported as a note and
skipped: coremltools then reports the original problem, never a torchready crash.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

# One module per pass, in the order they run.
_MODULES = ("inline_autograd_functions",)
_disabled: set[str] = set()  # see `disabled`


@dataclass(frozen=True)
class GraphPass:
    name: str
    summary: str
    module: ModuleType

    def apply(self, graph: Any) -> list[str]:
        return list(self.module.apply(graph))

    def example(self) -> Any:
        return self.module.example()


@dataclass
class AppliedPass:
    """A pass that changed the graph, and how."""

    name: str
    rewrites: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """One line; identical rewrites (one per layer of a model) are counted, not repeated."""
        counts: dict[str, int] = {}
        for rewrite in self.rewrites:
            counts[rewrite] = counts.get(rewrite, 0) + 1
        parts = [text if count == 1 else f"{text} x{count}" for text, count in counts.items()]
        shown = "; ".join(parts[:3]) + ("; ..." if len(parts) > 3 else "")
        return f"graph pass {self.name}: {shown}"


@dataclass
class PassRun:
    applied: list[AppliedPass] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # "name: error", never raised

    @property
    def names(self) -> list[str]:
        return [applied.name for applied in self.applied]


def graph_passes() -> list[GraphPass]:
    passes = []
    for name in _MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        passes.append(GraphPass(name=module.NAME, summary=module.SUMMARY, module=module))
    return passes


def by_name(name: str) -> GraphPass:
    for graph_pass in graph_passes():
        if graph_pass.name == name:
            return graph_pass
    raise KeyError(f"no graph pass named {name!r}")


@contextlib.contextmanager
def disabled(name: str) -> Iterator[None]:
    """Leave one pass out of every conversion inside the block (for the tests that prove the
    pass is needed)."""
    by_name(name)  # a typo must not silently disable nothing
    _disabled.add(name)
    try:
        yield
    finally:
        _disabled.discard(name)


def run_graph_passes(script_module: Any, skip: tuple[str, ...] = ()) -> PassRun:
    """Apply every pass (except `skip`) to `script_module.forward.graph`, in place."""
    import torch

    graph = script_module.forward.graph
    torch._C._jit_pass_inline(graph)  # coremltools' first step too: one graph, no method calls
    return apply_graph_passes(graph, skip)


def apply_graph_passes(graph: Any, skip: tuple[str, ...] = ()) -> PassRun:
    """Apply every pass (except `skip`) to an inlined graph, in place (the coverage check runs
    them on its own copy, so it sees what ct.convert will see)."""
    import torch

    run = PassRun()
    for graph_pass in graph_passes():
        if graph_pass.name in skip or graph_pass.name in _disabled:
            continue
        try:
            rewrites = graph_pass.apply(graph)
            torch._C._jit_pass_lint(graph)
        except Exception as error:  # a torchready bug must not hide coremltools' own verdict
            from torchready.convert.coreml.errors import first_line

            run.failed.append(f"{graph_pass.name}: {type(error).__name__}: {first_line(error)}")
            continue
        if rewrites:
            run.applied.append(AppliedPass(graph_pass.name, rewrites))
    return run
