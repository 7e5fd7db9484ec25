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

`installed()` puts them in coremltools' registry for the duration of an export conversion (or
an export coverage check) and restores the registry afterwards
(`torchready.convert.coreml.registry`), so TorchScript conversions and anything else in the
process see coremltools as it was. It adds names the registry does not have, and the two wrapped
converters ("and", "select_scatter") hand every case coremltools already converted to the
converter registered before them. While `recording()` is active, the lowerings
that did something are noted so the conversion reports them like torchready's composite ops.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from torchready.convert.coreml.registry import Converter, Lowering, Overlay, Previous
from torchready.convert.process_state import ThreadRecords

_DUNDER_ALIASES = {"__or__": "or", "__xor__": "xor"}


def _promoted_dtype(node: Any, tensor_dtype: Any, scalar: Any) -> Any:
    """torch's result dtype for `where(cond, tensor, scalar)` as coremltools holds it (fp32 for
    a float result, int32 for an integer one, bool)."""
    from coremltools.converters.mil.mil import types

    value = (getattr(node, "meta", None) or {}).get("val")
    name = str(getattr(value, "dtype", "")).replace("torch.", "")
    if name:
        if name == "bool":
            return types.bool
        if name.startswith(("float", "bfloat", "half")):
            return tensor_dtype if types.is_float(tensor_dtype) else types.fp32
        return tensor_dtype if types.is_int(tensor_dtype) else types.int32
    # no fx value: torch's category rule (bool < int < float; a scalar never narrows a tensor)
    if isinstance(scalar, float) and not types.is_float(tensor_dtype):
        return types.fp32
    if isinstance(scalar, int) and not isinstance(scalar, bool) and types.is_bool(tensor_dtype):
        return types.int32
    return tensor_dtype


_applied: ThreadRecords[str] = ThreadRecords()
_note = _applied.note


@contextlib.contextmanager
def recording() -> Iterator[list[str]]:
    """The lowerings that did something in this thread while the block runs (each once, in the
    order they first ran)."""
    with _applied.recording() as names:
        try:
            yield names
        finally:
            names[:] = dict.fromkeys(names)


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

    return select_scatter


def where_scalar_other(context: Any, node: Any) -> None:
    """torch.where(cond, tensor, scalar) in torch's result dtype (type promotion: an int or bool
    tensor with a float scalar is float, a bool tensor with an int scalar is int; the fx node's
    value says which): the tensor is cast to it when it differs, the scalar is a constant of it."""
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
    promoted = _promoted_dtype(node, a.dtype, value)
    if promoted != a.dtype:
        a = mb.cast(x=a, dtype=types.builtin_to_string(promoted))
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


def _converters() -> list[Converter]:
    owner = __name__

    def dunder_aliases(previous: Previous) -> dict[str, Lowering]:
        return {dunder: previous(name) for dunder, name in _DUNDER_ALIASES.items()
                if previous(dunder) is None and previous(name) is not None}

    def missing(previous: Previous) -> dict[str, Lowering]:
        return {name: lowering for name, lowering in (("alias", alias),
                                                      ("where.scalarother", where_scalar_other))
                if previous(name) is None}

    def and_(previous: Previous) -> dict[str, Lowering]:
        # "__and__" passes the frontend's exact-key check; the lookup then sanitizes it to
        # "and", whose converter is wrapped (a superset: bool & bool still goes to coremltools').
        upstream = previous("and")
        if upstream is None:
            return {}
        wrapped = _bitwise_and(upstream)
        return {"and": wrapped, "__and__": wrapped}

    def select_scatter(previous: Previous) -> dict[str, Lowering]:
        upstream = previous("select_scatter")
        return {} if upstream is None else {"select_scatter": _select_scatter(upstream)}

    return [Converter(tuple(_DUNDER_ALIASES), dunder_aliases, owner),
            Converter(("alias", "where.scalarother"), missing, owner),
            Converter(("and", "__and__"), and_, owner),
            Converter(("select_scatter",), select_scatter, owner)]


_overlay = Overlay(_converters)


def installed() -> contextlib.AbstractContextManager[None]:
    """The export-frontend converters in coremltools' registry while the block runs (re-entrant,
    any thread; see `torchready.convert.coreml.registry` for what other threads see)."""
    return _overlay.active()
