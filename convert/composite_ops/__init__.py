"""Composite ops: torch ops coremltools 9.0 cannot convert (or converts wrongly), lowered to MIL.

This is the talk's "composite operator" recipe, packaged: each module here handles one torch op
kind, builds it from existing MIL ops, and is put into coremltools' op registry for the duration
of a torchready call only (`installed()`, see `torchready.convert.coreml.registry`: the registry is
restored afterwards, and other threads keep seeing coremltools as it was). `override=False` for
ops coremltools lacks (we never shadow an existing converter: if coremltools, or the user, has
one for the op, theirs wins); `override=True` only for a converter that is wrong, with the root
cause written in its module. An override hands every case it does not fix to the converter that
was registered before it (`upstream_converter(node)`): coremltools' own, or the user's.

Every module defines:
  KIND       the op name as coremltools looks it up ("diff" for aten::diff)
  ALIASES    further names routed to the same lowering (may be empty)
  OVERRIDE   True when it replaces a broken coremltools converter
  SUMMARY    one line for `torchready audit` and the README
  lower(context, node)   the lowering, in coremltools' converter signature (an override may
             return False when its fix was not needed for this node, so audit does not list it)
  example()  a minimal torch model (module, example_inputs, convert kwargs) that fails
             `ct.convert` without the op and converts with it: the regression test and the
             parity case

While `recording_applied()` is active, every lowering that coremltools calls in this thread is
noted, so a conversion can report which composite ops it relied on.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from torchready.convert.coreml.registry import Converter, Lowering, Overlay, Previous
from torchready.convert.process_state import ThreadRecords

# One module per op, in the order `torchready audit` lists them.
_MODULES = ("diff", "new_ones", "scalar_cast", "sdpa_gqa", "tensor_assign", "upsample_bicubic",
            "upsample_bilinear", "upsample_bilinear_aa", "upsample_nearest", "float_unary")


@dataclass(frozen=True)
class CompositeOp:
    kind: str
    aliases: tuple[str, ...]
    override: bool
    summary: str
    module: ModuleType

    @property
    def names(self) -> tuple[str, ...]:
        return (self.kind, *self.aliases)

    @property
    def lower(self) -> Callable[[Any, Any], None]:
        return self.module.lower

    def example(self) -> Any:
        return self.module.example()


@dataclass(frozen=True)
class CompositeExample:
    """A minimal model that needs the composite op."""

    module: Any  # torch.nn.Module (eval mode)
    example_inputs: tuple[Any, ...]
    # Extra ct.convert arguments the case needs, built lazily (they need coremltools types).
    convert_kwargs: Callable[[], dict[str, Any]]


def composite_ops() -> list[CompositeOp]:
    ops = []
    for name in _MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        ops.append(
            CompositeOp(
                kind=module.KIND,
                aliases=tuple(module.ALIASES),
                override=bool(module.OVERRIDE),
                summary=module.SUMMARY,
                module=module,
            )
        )
    return ops


def by_kind(kind: str) -> CompositeOp:
    for op in composite_ops():
        if kind in op.names:
            return op
    raise KeyError(f"no composite op for {kind!r}")


# --- the registry, scoped to torchready's calls ---------------------------------------------


_applied: ThreadRecords[str] = ThreadRecords()


def _recording_lowering(op: CompositeOp) -> Lowering:
    def lowering(context: Any, node: Any) -> None:
        # A lowering may return False to say "nothing to fix here" (fixes that override a
        # coremltools converter only matter on some inputs); anything else counts as applied.
        if op.lower(context, node) is not False:
            _applied.note(op.kind)

    lowering.__doc__ = op.summary
    return lowering


def _converter(op: CompositeOp) -> Converter:
    def build(previous: Previous) -> dict[str, Lowering]:
        if not op.override and any(previous(name) for name in op.names):
            return {}  # coremltools (or the user) converts it already: theirs wins
        lowering = _recording_lowering(op)
        return {name: lowering for name in op.names}

    return Converter(names=op.names, build=build, owner=op.module.__name__)


_overlay = Overlay(lambda: [_converter(op) for op in composite_ops()])


def installed() -> contextlib.AbstractContextManager[None]:
    """torchready's composite ops in coremltools' registry while the block runs (re-entrant,
    any thread); coremltools' registry exactly as before afterwards."""
    return _overlay.active()


def upstream_converter(node: Any) -> Lowering:
    """The converter the registry held for `node`'s kind before torchready's (coremltools' own,
    or the user's): an override hands it the cases it does not fix."""
    from torchready.convert.coreml.registry import lookup_name, not_implemented

    converter = _overlay.previous(lookup_name(node.kind))
    if converter is None:
        raise not_implemented(node)
    return converter


def skipped_because_upstream() -> list[str]:
    """Composite ops not installed by the last `installed()` because coremltools (or the user)
    converts the op itself."""
    skipped = set(_overlay.skipped)
    return [op.kind for op in composite_ops() if op.kind in skipped]


def disabled(kind: str) -> contextlib.AbstractContextManager[None]:
    """coremltools' registry as it was for one composite op, even inside `installed()` (for the
    tests that prove the op is needed)."""
    return _overlay.disabled(by_kind(kind).names)


@contextlib.contextmanager
def recording_applied() -> Iterator[list[str]]:
    """Collect the kinds of the composite ops coremltools calls in this thread inside this block
    (unique, sorted once the block ends)."""
    with _applied.recording() as applied:
        try:
            yield applied
        finally:
            applied[:] = sorted(set(applied))
