"""Converters coremltools 9.0's torch.export frontend lacks or gets wrong, where its TorchScript
frontend converts the same model.

Found on the zoo (`benchmarks/zoo.py`, export column): 9 transformers models that trace mode
converts failed `--mode export` on one of these fx ops:

* `aten::alias` (gpt2, opt, llama: `x[..., :]` after decomposition): the identity for values;
  coremltools has no converter.
* `aten::where.ScalarOther` (mpnet, gpt-neo, bloom, t5: `torch.where(mask, x, float("-inf"))`):
  no converter; a `select` with the scalar as a constant of the tensor's dtype (a rank-0 tensor
  branch is broadcast to the mask's shape first: MIL's type inference gets it wrong otherwise).
* `aten::__and__.Tensor` (mistral, modernbert: masking_utils' mask logic): the export frontend
  checks `sanitize_op_kind(kind) in registry` ("__and__") while its lookup sanitizes a second time
  ("and"), so the name is registered; and the "and" converter is wrapped because coremltools holds
  some of torch's bool masks as int32, which its bool-only `bitwise_and` refuses: the fx node's
  own dtype decides (bool: the `and` of the bools; int & bool: `mod(a, 2) * b`, exact).
  `__or__`/`__xor__` are registered under their dunder names too.
* `aten::select_scatter` (beit's relative position bias): the source is held as int32 while the
  target is fp32 and coremltools' converter does not promote (its `slice_scatter` does): the
  source is cast to the target's dtype, as torch has it.

`registered()` installs them for the duration of an export conversion (or an export coverage
check) and restores coremltools' registry afterwards, so TorchScript conversions and anything
else in the process see coremltools exactly as it ships. It adds names coremltools does not
have, and the two wrapped converters ("and", "select_scatter") hand every case coremltools
already converted to coremltools' own converter. While `recording()` is active, the lowerings
that did something are noted so the conversion reports them like torchready's composite ops.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

_APPLIED: list[str] | None = None
_DUNDER_ALIASES = {"__or__": "or", "__xor__": "xor"}


def _note(name: str) -> None:
    if _APPLIED is not None and name not in _APPLIED:
        _APPLIED.append(name)


@contextlib.contextmanager
def recording() -> Iterator[list[str]]:
    global _APPLIED
    previous, _APPLIED = _APPLIED, []
    try:
        yield _APPLIED
    finally:
        _APPLIED = previous


def alias(context: Any, node: Any) -> None:
    from coremltools.converters.mil import Builder as mb
    from coremltools.converters.mil.frontend.torch.ops import _get_inputs

    x = _get_inputs(context, node, min_expected=1)[0]
    context.add(mb.identity(x=x, name=node.name), node.name)
    _note("alias")


def _bitwise_and(upstream: Any) -> Any:
    """`a & b`: coremltools' own converter (bool & bool), and for an integer tensor and a bool one
    (transformers' masking_utils ands an int64 mask with a bool one)
    `a & b == floor_mod(a, 2) * int(b)`, exact for every integer since b is 0 or 1."""

    def bitwise_and(context: Any, node: Any) -> None:
        from coremltools.converters.mil import Builder as mb
        from coremltools.converters.mil.frontend.torch.ops import _get_inputs
        from coremltools.converters.mil.mil import types

        a, b = _get_inputs(context, node, expected=2)
        value = (getattr(node, "meta", None) or {}).get("val")
        if str(getattr(value, "dtype", "")) == "torch.bool" and not (
                types.is_bool(a.dtype) and types.is_bool(b.dtype)):
            # torch computes on bools that coremltools holds as int32 (a mask made by int ops):
            # the result is the bools' `and`.
            a, b = (x if types.is_bool(x.dtype) else mb.cast(x=x, dtype="bool") for x in (a, b))
            context.add(mb.logical_and(x=a, y=b, name=node.name), node.name)
            _note("__and__")
            return
        if types.is_bool(a.dtype) == types.is_bool(b.dtype):
            upstream(context, node)
            return
        number, flag = (b, a) if types.is_bool(a.dtype) else (a, b)
        if not types.is_int(number.dtype):
            upstream(context, node)  # upstream's own error for what nobody converts
            return
        dtype = types.builtin_to_string(number.dtype)
        low_bit = mb.mod(x=number, y=2)  # MIL mod is floor mod (sign of the divisor)
        context.add(mb.mul(x=low_bit, y=mb.cast(x=flag, dtype=dtype), name=node.name),
                    node.name)
        _note("__and__")

    bitwise_and.torchready_wraps = upstream  # type: ignore[attr-defined]
    return bitwise_and


def _select_scatter(upstream: Any) -> Any:
    """`select_scatter(x, src, dim, index)`: torch requires src to have x's dtype, but
    coremltools may hold src as int32 (values made by integer ops, beit's relative position
    index) while x is fp32, and its converter does not promote (its `slice_scatter` does).
    src is cast to x's dtype in the context, as torch has it, then coremltools converts."""

    def select_scatter(context: Any, node: Any) -> None:
        from coremltools.converters.mil import Builder as mb
        from coremltools.converters.mil.mil import types

        x_name, src_name = node.inputs[0], node.inputs[1]
        if isinstance(x_name, str) and isinstance(src_name, str):
            x, src = context[x_name], context[src_name]
            if src.dtype != x.dtype:
                cast = mb.cast(x=src, dtype=types.builtin_to_string(x.dtype),
                               name=f"{src_name}_as_{types.builtin_to_string(x.dtype)}")
                context.add(cast, src_name, override=True)
                _note("select_scatter")
        upstream(context, node)

    select_scatter.torchready_wraps = upstream  # type: ignore[attr-defined]
    return select_scatter


def where_scalar_other(context: Any, node: Any) -> None:
    """torch.where(cond, tensor, scalar): the scalar becomes a constant of the tensor's dtype
    (a Python float against an fp16/fp32 tensor, an int against int32)."""
    import numpy as np
    from coremltools.converters.mil import Builder as mb
    from coremltools.converters.mil.mil import types

    # The scalar is read from the node itself: `_get_inputs` would materialise it as a const
    # named after the node, and the select that holds the node's value must carry that name.
    cond, a = context[node.inputs[0]], context[node.inputs[1]]
    raw = node.inputs[2]
    value = context[raw].val if isinstance(raw, str) else raw
    if not types.is_bool(cond.dtype):
        cond = mb.cast(x=cond, dtype="bool")
    if a.rank == 0 and cond.rank > 0:
        # `torch.where(mask, zeros(()), -inf)` (gpt-neo, bloom): with two rank-0 branches MIL's
        # select first infers a rank-0 result and a later pass re-infers the mask's shape
        # ("New var %where ... doesn't have compatible subtype"). Broadcast `a` to the mask's
        # shape first: a + 0 * mask, exact for finite `a`.
        dtype = types.builtin_to_string(a.dtype)
        zero = np.array(0, dtype=types.nptype_from_builtin(a.dtype))
        zeros = mb.mul(x=mb.cast(x=cond, dtype=dtype), y=zero)
        a = mb.add(x=zeros, y=a)
    other = mb.const(val=np.array(value, dtype=types.nptype_from_builtin(a.dtype)),
                     name=f"{node.name}_other")
    context.add(mb.select(cond=cond, a=a, b=other, name=node.name), node.name)
    _note("where.ScalarOther")


_TOUCHED = ("__or__", "__xor__", "alias", "where.scalarother", "and", "__and__",
            "select_scatter")
_MISSING = object()


@contextlib.contextmanager
def registered() -> Iterator[None]:
    """The export-frontend converters, registered while the block runs (nesting is fine)."""
    from coremltools.converters.mil.frontend.torch.torch_op_registry import _TORCH_OPS_REGISTRY

    mapping = _TORCH_OPS_REGISTRY.name_to_func_mapping
    saved = {name: mapping.get(name, _MISSING) for name in _TOUCHED}
    register_export_ops()
    try:
        yield
    finally:
        for name, converter in saved.items():
            if converter is _MISSING:
                mapping.pop(name, None)
            else:
                mapping[name] = converter


def register_export_ops() -> None:
    from coremltools.converters.mil.frontend.torch.torch_op_registry import _TORCH_OPS_REGISTRY

    mapping = _TORCH_OPS_REGISTRY.name_to_func_mapping
    for dunder, name in _DUNDER_ALIASES.items():
        if dunder not in mapping and name in mapping:
            _TORCH_OPS_REGISTRY.set_func_by_name(mapping[name], dunder)
    for name, lowering in (("alias", alias), ("where.scalarother", where_scalar_other)):
        if name not in mapping:
            _TORCH_OPS_REGISTRY.set_func_by_name(lowering, name)
    # "__and__" passes the frontend's exact-key check; the lookup then sanitizes it to "and",
    # whose converter is wrapped (a superset: bool & bool still goes to coremltools' own).
    upstream = mapping.get("and")
    if upstream is not None and not hasattr(upstream, "torchready_wraps"):
        wrapped = _bitwise_and(upstream)
        _TORCH_OPS_REGISTRY.set_func_by_name(wrapped, "and")
        _TORCH_OPS_REGISTRY.set_func_by_name(wrapped, "__and__")
    upstream = mapping.get("select_scatter")
    if upstream is not None and not hasattr(upstream, "torchready_wraps"):
        _TORCH_OPS_REGISTRY.set_func_by_name(_select_scatter(upstream), "select_scatter")
