"""MIL graph passes: rewrite the program coremltools built into an equivalent one Core ML accepts.

A composite op (`convert/composite_ops/`) fixes how one torch op is lowered; a TorchScript graph
pass (`convert/graph_passes/`) fixes a pattern in the captured graph. A MIL pass is for what only
shows once the whole program is built, on either frontend: a value of rank six flows through
several ops before it is reshaped back, and only the chain as a whole can be rewritten.

Every module defines:
  NAME     the pass's name (registered as "torchready::NAME")
  SUMMARY  one line for the docs
  Pass     an `AbstractGraphPass` subclass

`installed()` registers the passes in coremltools' pass registry for one `ct.convert` call and
yields the pass pipeline to hand it (coremltools' default pipeline with torchready's passes
inserted where they run); the registry is restored afterwards, also when the conversion raises.
While `recording()` is active, the passes append what they did or refused to do (`Record`), so
the conversion can report it at the user's line.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

NAMESPACE = "torchready"
_MODULES = ("fold_rank_over_five",)
# coremltools' first constant folding: shape arithmetic on static sizes is constant from here on.
_AFTER = "common::const_elimination"

_records: list[list[Record]] = []
_disabled: set[str] = set()  # see `disabled`


@dataclass(frozen=True)
class Record:
    """What a pass did (`folded`) or could not do (`refused`) to one value."""

    pass_name: str
    outcome: str  # "folded" | "refused"
    message: str  # one sentence
    op_type: str  # the MIL op that creates the value
    scopes: dict[str, list[Any]] = field(default_factory=dict)  # its scopes: where it came from
    details: dict[str, Any] = field(default_factory=dict)


def note(record: Record) -> None:
    if _records:
        _records[-1].append(record)


@contextlib.contextmanager
def recording() -> Iterator[list[Record]]:
    records: list[Record] = []
    _records.append(records)
    try:
        yield records
    finally:
        _records.remove(records)


def pass_modules() -> list[Any]:
    return [importlib.import_module(f"{__name__}.{name}") for name in _MODULES]


@contextlib.contextmanager
def disabled(name: str) -> Iterator[None]:
    """Leave one pass out of every conversion inside the block (for the tests that prove the
    pass is needed)."""
    if name not in _MODULES:
        raise KeyError(f"no MIL pass named {name!r}")  # a typo must not silently disable nothing
    _disabled.add(name)
    try:
        yield
    finally:
        _disabled.discard(name)


@contextlib.contextmanager
def installed() -> Iterator[Any]:
    """coremltools' default pass pipeline with torchready's passes, registered for the block."""
    from coremltools.converters.mil.mil.passes.pass_pipeline import PassPipeline
    from coremltools.converters.mil.mil.passes.pass_registry import PASS_REGISTRY

    modules = [module for module in pass_modules() if module.NAME not in _disabled]
    names = [f"{NAMESPACE}::{module.NAME}" for module in modules]
    saved = {name: PASS_REGISTRY.passes.get(name) for name in names}
    try:
        for name, module in zip(names, modules):
            PASS_REGISTRY.passes[name] = module.Pass
        pipeline = PassPipeline.DEFAULT
        position = pipeline.passes.index(_AFTER) + 1
        for offset, name in enumerate(names):
            pipeline.insert_pass(position + offset, name)
        yield pipeline
    finally:
        for name, previous in saved.items():
            if previous is None:
                PASS_REGISTRY.passes.pop(name, None)
            else:
                PASS_REGISTRY.passes[name] = previous
