"""Composite ops: torch ops coremltools 9.0 cannot convert (or converts wrongly), lowered to MIL.

This is the talk's "composite operator" recipe, packaged: each module here handles one torch op
kind, builds it from existing MIL ops, and is registered with coremltools' public
`register_torch_op` when a conversion starts. `override=False` for ops coremltools lacks (we never
shadow an upstream converter: if a later coremltools adds the op, theirs wins); `override=True`
only for a converter that is wrong, with the root cause written in its module.

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

`register_composite_ops()` is idempotent. While `recording_applied()` is active, every lowering
that coremltools calls is noted, so a conversion can report which composite ops it relied on.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

# One module per op, in the order `torchready audit` lists them.
_MODULES = ("diff", "new_ones", "scalar_cast", "sdpa_gqa", "tensor_assign", "upsample_bicubic",
            "upsample_bilinear_aa", "upsample_bilinear_runtime_size",
            "upsample_nearest_runtime_size")


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


# --- registration -----------------------------------------------------------------------------

_registered: dict[str, Callable[..., Any]] = {}  # name -> our wrapper, as registered
_replaced: dict[str, Callable[..., Any] | None] = {}  # name -> coremltools' converter before us
_skipped_upstream: set[str] = set()  # ops coremltools gained itself: we leave them alone
_applied_stack: list[list[str]] = []


def _registry() -> Any:
    from torchready.convert.coreml.quiet import import_coremltools

    import_coremltools()
    from coremltools.converters.mil.frontend.torch.torch_op_registry import _TORCH_OPS_REGISTRY

    return _TORCH_OPS_REGISTRY


def _recording_wrapper(op: CompositeOp) -> Callable[[Any, Any], None]:
    def lowering(context: Any, node: Any) -> None:
        # A lowering may return False to say "nothing to fix here" (fixes that override a
        # coremltools converter only matter on some inputs); anything else counts as applied.
        needed = op.lower(context, node)
        if _applied_stack and needed is not False:
            _applied_stack[-1].append(op.kind)

    # coremltools registers a converter under its function name; the kind is that name.
    lowering.__name__ = op.kind
    lowering.__qualname__ = op.kind
    lowering.__doc__ = op.summary
    return lowering


def register_composite_ops() -> list[CompositeOp]:
    """Register every composite op with coremltools (once per process); return those active."""
    registry = _registry()  # imports coremltools quietly first
    from coremltools.converters.mil.frontend.torch import register_torch_op

    active = []
    for op in composite_ops():
        if op.kind in _registered:
            active.append(op)
            continue
        if not op.override and any(registry.get_func(name) for name in op.names):
            _skipped_upstream.add(op.kind)
            continue
        for name in op.names:
            _replaced[name] = registry.name_to_func_mapping.get(name)
        wrapper = _recording_wrapper(op)
        register_torch_op(wrapper, torch_alias=list(op.aliases) or None, override=op.override)
        for name in op.names:
            _registered[name] = wrapper
        active.append(op)
    return active


def skipped_because_upstream() -> list[str]:
    """Composite ops not registered because coremltools now converts the op itself."""
    return sorted(_skipped_upstream)


@contextlib.contextmanager
def recording_applied() -> Iterator[list[str]]:
    """Collect the kinds of the composite ops coremltools calls inside this block (unique, sorted
    once the block ends)."""
    applied: list[str] = []
    _applied_stack.append(applied)
    try:
        yield applied
    finally:
        _applied_stack.remove(applied)
        unique = sorted(set(applied))
        applied[:] = unique


@contextlib.contextmanager
def disabled(kind: str) -> Iterator[None]:
    """Temporarily put coremltools back the way it ships for one composite op (for the tests that
    prove the op is needed)."""
    register_composite_ops()  # so that `_replaced` knows what coremltools had before us
    registry = _registry()
    op = by_kind(kind)
    saved = {name: registry.name_to_func_mapping.get(name) for name in op.names}
    for name in op.names:
        original = _replaced.get(name)
        if original is None:
            registry.name_to_func_mapping.pop(name, None)
        else:
            registry.name_to_func_mapping[name] = original
    try:
        yield
    finally:
        for name, func in saved.items():
            if func is None:
                registry.name_to_func_mapping.pop(name, None)
            else:
                registry.name_to_func_mapping[name] = func
