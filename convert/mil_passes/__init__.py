"""MIL graph passes: rewrite the program coremltools built into an equivalent one Core ML accepts.

A composite op (`convert/composite_ops/`) fixes how one torch op is lowered; a TorchScript graph
pass (`convert/graph_passes/`) fixes a pattern in the captured graph. A MIL pass is for what only
shows once the whole program is built, on either frontend: a value of rank six flows through
several ops before it is reshaped back, and only the chain as a whole can be rewritten.

Every module defines:
  NAME     the pass's name (registered as "torchready::NAME")
  SUMMARY  one line for the docs
  Pass     an `AbstractGraphPass` subclass

`installed()` yields the pass pipeline to hand one `ct.convert` call (coremltools' default
pipeline with torchready's passes inserted where they run) while the passes are in coremltools'
pass registry: registered when the first torchready call enters, in any thread, and the registry
restored when the last one leaves, also when the conversion raises (`process_state.SharedPatch`,
as for the composite ops). While `recording()` is active, the passes append what they did or
refused to do in this thread (`Record`), so the conversion can report it at the user's line.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from torchready.convert.process_state import SharedPatch, ThreadRecords

NAMESPACE = "torchready"
_MODULES = ("fold_rank_over_five",)
# coremltools' first constant folding: shape arithmetic on static sizes is constant from here on.
_AFTER = "common::const_elimination"

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


_records: ThreadRecords[Record] = ThreadRecords()
note = _records.note


def recording() -> contextlib.AbstractContextManager[list[Record]]:
    """Collect what the passes do in this thread inside this block."""
    return _records.recording()


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


def _pass_name(module: Any) -> str:
    return f"{NAMESPACE}::{module.NAME}"


def _register() -> dict[str, tuple[Any, Any]]:
    """Every pass in coremltools' registry; returns name -> (what it held before, ours)."""
    from coremltools.converters.mil.mil.passes.pass_registry import PASS_REGISTRY

    saved = {}
    for module in pass_modules():
        name = _pass_name(module)
        saved[name] = (PASS_REGISTRY.passes.get(name), module.Pass)
        PASS_REGISTRY.passes[name] = module.Pass
    return saved


def _unregister(saved: dict[str, tuple[Any, Any]]) -> None:
    from coremltools.converters.mil.mil.passes.pass_registry import PASS_REGISTRY

    for name, (previous, ours) in saved.items():
        if PASS_REGISTRY.passes.get(name) is not ours:
            continue  # registered by somebody else meanwhile: theirs now
        if previous is None:
            del PASS_REGISTRY.passes[name]
        else:
            PASS_REGISTRY.passes[name] = previous


_registered = SharedPatch(_register, _unregister)


@contextlib.contextmanager
def installed() -> Iterator[Any]:
    """coremltools' default pass pipeline with torchready's passes, registered for the block
    (re-entrant, any thread)."""
    from coremltools.converters.mil.mil.passes.pass_pipeline import PassPipeline

    with _registered.active():
        pipeline = PassPipeline.DEFAULT  # a new copy of the default list at every access
        position = pipeline.passes.index(_AFTER) + 1
        names = [_pass_name(module) for module in pass_modules() if module.NAME not in _disabled]
        for offset, name in enumerate(names):
            pipeline.insert_pass(position + offset, name)
        yield pipeline
