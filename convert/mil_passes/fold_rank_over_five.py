"""Fold the leading dimensions of rank > 5 values into one, so Core ML accepts the program.

Root cause: Core ML runs tensors of rank <= 5 only; coremltools builds whatever rank torch has and
rejects the program at the end ("Core ML only supports tensors with rank <= 5. Layer ..., outputs
a rank 6 tensor"). Optical-flow models build their all-pairs correlation volume exactly so:
`corr.view(batch, h, w, 1, h, w)`, scaled, then reshaped to `(batch * h * w, 1, h, w)` for
pooling; attention and mixture models do the same with their own leading axes.

Most such values are only ever touched along their trailing axes. Merging the leading `f = rank - 4`
dimensions into one is then a contiguous reshape (memory order is unchanged), and every op in
between computes the same numbers on the merged value:

* entries: the `reshape` / `expand_dims` that creates the value reshapes to
  `[-1, *trailing]` instead;
* elementwise ops (unary, binary, `select`, casts, activations): on the merged values, as long as
  no operand broadcasts along the leading dimensions (a lower-rank operand that only spans the
  trailing ones is fine);
* `softmax`, reductions, `reduce_argmax/argmin`, `transpose`, `concat`, `matmul`: when the axes
  they act on are all trailing ones (a transpose keeps the leading axes in place; matmul acts on
  the last two);
* exits: a `reshape` of the value reshapes the merged value (same memory order); a reduction or
  `squeeze` whose result has rank <= 5 is computed on the merged value and then split back.

When every op that touches a rank > 5 value fits, the chain is rewritten (all of it, or nothing);
otherwise the program is left alone and the op that stops it is recorded, so the conversion can
report it (TR304) at the line that creates the value. Pooling takes at most rank-5 inputs in torch
already, so it only ever meets the value after an exit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from coremltools.converters.mil.mil.passes.graph_pass import AbstractGraphPass

NAME = "fold_rank_over_five"
SUMMARY = ("values of rank > 5 (a correlation volume's view(b, h, w, 1, h, w)): the leading "
           "dimensions merged into one while the following ops act on the trailing ones")
MAX_RANK = 5

_UNARY = frozenset({
    "abs", "acos", "asin", "atan", "atanh", "ceil", "clip", "cos", "cosh", "erf", "exp", "exp2",
    "floor", "inverse", "log", "logical_not", "round", "rsqrt", "sign", "sin", "sinh", "sqrt",
    "square", "tan", "tanh", "threshold", "cast", "identity", "clamped_relu", "elu", "gelu",
    "leaky_relu", "linear_activation", "relu", "relu6", "scaled_tanh", "sigmoid", "sigmoid_hard",
    "silu", "softplus", "softsign", "thresholded_relu"})
_BINARY = frozenset({
    "add", "sub", "mul", "real_div", "floor_div", "mod", "pow", "maximum", "minimum", "equal",
    "not_equal", "less", "less_equal", "greater", "greater_equal", "logical_and", "logical_or",
    "logical_xor"})
_REDUCE = frozenset({
    "reduce_l1_norm", "reduce_l2_norm", "reduce_log_sum", "reduce_log_sum_exp", "reduce_max",
    "reduce_mean", "reduce_min", "reduce_prod", "reduce_sum", "reduce_sum_square",
    "reduce_argmax", "reduce_argmin"})


class Refused(Exception):
    """An op that keeps a rank > 5 value from being folded; the message says why."""

    def __init__(self, op: Any, why: str) -> None:
        super().__init__(why)
        self.op = op


@dataclass(frozen=True)
class Folding:
    """A rank > 5 value and how it is held: its first `count` dimensions merged."""

    count: int
    leading: tuple[Any, ...]  # the merged dimensions (ints or coremltools symbols)


class Pass(AbstractGraphPass):
    def apply(self, prog: Any) -> None:
        for function in prog.functions.values():
            _fold_block(function)

    def __str__(self) -> str:
        return NAME


def _fold_block(block: Any) -> None:
    for op in list(block.operations):
        for inner in op.blocks:
            _fold_block(inner)
    if not any(_is_high(var) for op in block.operations for var in op.outputs):
        return
    try:
        plan = _analyse(block)
    except Refused as refused:
        _note_refusal(refused)
        return
    try:
        _rewrite(block, plan)
    except Exception as error:  # a torchready bug must not hide coremltools' own verdict
        _note_refusal(Refused(plan[0][0], f"torchready could not rewrite it (a torchready "
                                          f"bug: {type(error).__name__}: {error})"))


# --- analysis -----------------------------------------------------------------------------------


def _is_high(var: Any) -> bool:
    from coremltools.converters.mil.mil.var import ListVar

    return not isinstance(var, ListVar) and var.rank > MAX_RANK


def _inputs(op: Any) -> list[Any]:
    values = []
    for value in op.inputs.values():
        values.extend(value if isinstance(value, (list, tuple)) else [value])
    return values


def _analyse(block: Any) -> list[tuple[Any, str]]:
    """[(op, role)] for every op that touches a rank > 5 value, in block order; role is
    "entry", "inside" or "exit". Raises Refused for the first op that cannot be folded."""
    foldings: dict[Any, Folding] = {}
    plan = []
    for op in block.operations:
        high_in = [var for var in _inputs(op) if var in foldings]
        high_out = [var for var in op.outputs if _is_high(var)]
        if op.blocks and _uses_any(op, foldings):
            raise Refused(op, f"the {op.op_type} block reads it")
        if not high_in and not high_out:
            continue
        if not high_in:
            _check_entry(op, high_out)
            out = high_out[0]
            foldings[out] = Folding(out.rank - 4, tuple(out.shape[:out.rank - 4]))
            plan.append((op, "entry"))
            continue
        folding = _check_inside(op, [foldings[var] for var in high_in], foldings)
        if high_out:
            foldings[high_out[0]] = folding
            plan.append((op, "inside"))
        else:
            plan.append((op, "exit"))
    for var in block.outputs:
        if var in foldings:
            outer = getattr(block, "outer_op", None)
            raise Refused(var.op, "it is an output of the model (Core ML outputs have rank <= 5)"
                          if outer is None else f"it is a result of the {outer.op_type} block")
    return plan


def _uses_any(op: Any, foldings: dict[Any, Folding]) -> bool:
    for inner in op.blocks:
        for inner_op in inner.operations:
            if any(var in foldings for var in _inputs(inner_op)) or _uses_any(inner_op, foldings):
                return True
        if any(var in foldings for var in inner.outputs):
            return True
    return False


def _check_entry(op: Any, high_out: list[Any]) -> None:
    if op.op_type not in ("reshape", "expand_dims") or len(op.outputs) != 1:
        raise Refused(op, f"it is made by {op.op_type}, which torchready cannot build folded")
    if op.op_type == "reshape":
        _check_shape_input(op)


def _check_shape_input(op: Any) -> None:
    """A reshape to a partly runtime size is rebuilt from slices of its size vector: an inferred
    (-1) or copied (0) entry in that vector would then mean something else."""
    from coremltools.converters.mil.mil.types.symbolic import any_symbolic

    if not any_symbolic(op.outputs[0].shape):
        return  # rebuilt from the output's static shape
    concat = op.shape.val is None and op.shape.op is not None and op.shape.op.op_type == "concat"
    parts = op.shape.op.values if concat else [op.shape]
    for part in parts:
        if part.val is not None and any(int(v) in (-1, 0) for v in list(part.val.flatten())):
            raise Refused(op, "its flexible size has an inferred (-1) dimension")


def _axes(values: Any, rank: int) -> list[int]:
    import numpy as np

    return [int(a) + rank if int(a) < 0 else int(a) for a in np.atleast_1d(values)]


def _same_leading(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    return len(a) == len(b) and all(x is y or x == y for x, y in zip(a, b))


def _check_operand(op: Any, var: Any, folding: Folding, out: Any,
                   foldings: dict[Any, Folding]) -> None:
    """An elementwise operand must not broadcast along the merged dimensions."""
    if var in foldings:
        if not _same_leading(foldings[var].leading, folding.leading):
            raise Refused(op, f"{op.op_type} broadcasts along the leading dimensions")
        return
    rank = getattr(var, "rank", 0)
    padded = (1,) * (out.rank - rank) + tuple(var.shape or ())
    if all(dim == 1 for dim in padded[:folding.count]):
        return
    if not _same_leading(tuple(padded[:folding.count]), folding.leading):
        raise Refused(op, f"{op.op_type} broadcasts along the leading dimensions")


def _check_inside(op: Any, folds: list[Folding], foldings: dict[Any, Folding]) -> Folding:
    folding = folds[0]
    kind = op.op_type
    count = folding.count
    out = op.outputs[0]
    if any(f.count != count for f in folds):
        raise Refused(op, f"{kind} mixes values of different ranks above five")
    if kind in _UNARY:
        return folding
    if kind in _BINARY or kind == "select":
        for var in _inputs(op):
            if getattr(var, "rank", 0) > 0:
                _check_operand(op, var, folding, out, foldings)
        return folding
    if kind == "softmax":
        if _axes(op.axis.val, op.x.rank)[0] < count:
            raise Refused(op, "softmax runs along a leading dimension")
        return folding
    if kind in _REDUCE:
        axes = op.inputs.get("axes", op.inputs.get("axis"))
        if axes is None or axes.val is None:
            raise Refused(op, f"{kind} reduces every dimension")
        if min(_axes(axes.val, op.x.rank)) < count:
            raise Refused(op, f"{kind} reduces along a leading dimension")
        return folding
    if kind == "squeeze":
        if op.axes is None or min(_axes(op.axes.val, op.x.rank)) < count:
            raise Refused(op, "squeeze removes a leading dimension")
        return folding
    if kind == "transpose":
        perm = _axes(op.perm.val, op.x.rank)
        if perm[:count] != list(range(count)):
            raise Refused(op, "transpose moves a leading dimension")
        return folding
    if kind == "matmul":
        for var in (op.x, op.y):
            if var not in foldings and var.rank > out.rank - count:
                raise Refused(op, "matmul broadcasts along the leading dimensions")
            if var in foldings and not _same_leading(foldings[var].leading, folding.leading):
                raise Refused(op, "matmul broadcasts along the leading dimensions")
        return folding
    if kind == "concat":
        if any(var not in foldings for var in op.values):
            raise Refused(op, "concat joins it with a lower-rank value")
        if _axes(op.axis.val, out.rank)[0] < count or any(
                not _same_leading(foldings[var].leading, folding.leading) for var in op.values):
            raise Refused(op, "concat joins along a leading dimension")
        return folding
    if kind == "reshape":
        if op.shape.val is not None and 0 in list(op.shape.val):
            raise Refused(op, "reshape copies a dimension from its input (a 0 in its shape)")
        if out.rank > MAX_RANK and (out.rank - count + 1 > MAX_RANK or not _same_leading(
                tuple(out.shape[:count]), folding.leading)):
            raise Refused(op, "reshape changes the leading dimensions and keeps rank > 5")
        if out.rank > MAX_RANK:
            _check_shape_input(op)
        return folding
    raise Refused(op, f"{kind} is not an op torchready can run on the merged value")


# --- rewrite ------------------------------------------------------------------------------------


@dataclass
class _Held:
    """A rank > 5 value as the rewritten program holds it."""

    value: Any  # the merged value: [prod(leading), *trailing]
    count: int  # how many leading dimensions were merged
    leading: Any  # those dimensions, an int32 vector (a numpy array when static)


def _rewrite(block: Any, plan: list[tuple[Any, str]]) -> None:
    from coremltools.converters.mil.mil import Block
    from coremltools.converters.mil.mil.passes.helper import block_context_manager

    @block_context_manager
    def build(block: Any) -> list[tuple[Any, Any, Any]]:
        held: dict[Any, _Held] = {}
        swaps = []
        for op, role in plan:
            out = op.outputs[0]
            new = _entry(op) if role == "entry" else _rebuild(op, held)
            if role == "exit":
                swaps.append((op, out, new.value))
                continue
            # What coremltools' own passes get from replace_uses_of_var_after_op: the new ops
            # keep the scopes (TorchScript node, fx debug handle) of the op they stand for.
            Block._copy_scope_info(out, new.value)
            held[out] = new
        return swaps

    swaps = build(block)
    for op, old, new in swaps:
        block.replace_uses_of_var_after_op(anchor_op=op, old_var=old, new_var=new)
    block.remove_ops([op for op, _ in plan])
    for op, role in plan:
        if role == "entry":
            _note_folded(op, op.outputs[0])


def _shape_of(op: Any, var: Any) -> Any:
    """The int32 shape vector of `var`: a numpy array when static."""
    import numpy as np
    from coremltools.converters.mil import Builder as mb
    from coremltools.converters.mil.mil.types.symbolic import any_symbolic

    if not any_symbolic(var.shape):
        return np.array(var.shape, dtype=np.int32)
    return mb.shape(x=var, before_op=op)


def _slice(op: Any, vector: Any, begin: int, end: int | None = None) -> Any:
    from coremltools.converters.mil import Builder as mb

    if not hasattr(vector, "op"):  # static
        return vector[begin:end]
    length = vector.shape[0]
    return mb.slice_by_index(x=vector, begin=[begin], end=[length if end is None else end],
                             before_op=op)


def _join(op: Any, *parts: Any) -> Any:
    import numpy as np
    from coremltools.converters.mil import Builder as mb

    if not any(hasattr(part, "op") for part in parts):
        return np.concatenate([np.asarray(part, dtype=np.int32) for part in parts])
    values = [part if hasattr(part, "op") else np.asarray(part, dtype=np.int32)
              for part in parts]
    return mb.concat(values=values, axis=0, before_op=op)


def _target_shape(op: Any) -> Any:
    """The size vector a rank > 5 value is made with (its reshape's, or expand_dims' input size
    with the new axes set to one)."""
    import numpy as np
    from coremltools.converters.mil.mil.types.symbolic import any_symbolic

    out = op.outputs[0]
    if not any_symbolic(out.shape):
        return np.array(out.shape, dtype=np.int32)
    if op.op_type == "reshape":
        return op.shape
    axes = set(_axes(op.axes.val, out.rank))
    source = _shape_of(op, op.x)
    parts, position = [], 0
    for axis in range(out.rank):
        if axis in axes:
            parts.append(np.array([1], dtype=np.int32))
        else:
            parts.append(_slice(op, source, position, position + 1))
            position += 1
    return _join(op, *parts)


def _reshape(op: Any, x: Any, shape: Any, name: str) -> Any:
    from coremltools.converters.mil import Builder as mb

    return mb.reshape(x=x, shape=shape, before_op=op, name=name)


def _merged(op: Any, x: Any, shape: Any, count: int, name: str) -> _Held:
    """`x` reshaped to `shape`, with the first `count` dimensions merged into one."""
    import numpy as np

    merged_shape = _join(op, np.array([-1], dtype=np.int32), _slice(op, shape, count))
    return _Held(_reshape(op, x, merged_shape, name), count, _slice(op, shape, 0, count))


def _entry(op: Any) -> _Held:
    out = op.outputs[0]
    return _merged(op, op.x, _target_shape(op), out.rank - 4, f"{op.name}_rank5")


def _rebuild(op: Any, held: dict[Any, _Held]) -> _Held:
    """The op on the merged values; an exit is given its own output shape back."""
    from coremltools.converters.mil import Builder as mb

    kind = op.op_type
    out = op.outputs[0]
    source = next(held[var] for var in _inputs(op) if var in held)
    count = source.count
    if kind == "reshape" and out.rank <= MAX_RANK:
        return _Held(_reshape(op, held[op.x].value, op.shape, f"{op.name}_from_rank5"), 0, None)
    if kind == "reshape":
        return _merged(op, held[op.x].value, _target_shape(op), count, f"{op.name}_rank5")
    arguments = {}
    for key, value in op.inputs.items():
        if isinstance(value, (list, tuple)):
            arguments[key] = [held[v].value if v in held else v for v in value]
        elif value in held:
            arguments[key] = held[value].value
        elif kind in _BINARY or kind == "select":
            arguments[key] = _operand(op, value, out.rank, count)
        else:
            arguments[key] = value
    shift = count - 1
    if kind in ("softmax", "concat"):
        arguments["axis"] = _axes(op.axis.val, out.rank)[0] - shift
    elif kind in _REDUCE and "axes" in op.inputs:
        arguments["axes"] = [a - shift for a in _axes(op.axes.val, op.x.rank)]
    elif kind in _REDUCE:
        arguments["axis"] = _axes(op.axis.val, op.x.rank)[0] - shift
    elif kind == "squeeze":
        arguments["axes"] = [a - shift for a in _axes(op.axes.val, op.x.rank)]
    elif kind == "transpose":
        arguments["perm"] = [0] + [p - shift for p in _axes(op.perm.val, op.x.rank)[count:]]
    new = getattr(mb, kind)(**arguments, before_op=op, name=f"{op.name}_rank5")
    if out.rank > MAX_RANK:
        return _Held(new, count, source.leading)
    # An exit: the merged dimensions are split back (the ops above only touched trailing ones).
    shape = _join(op, source.leading, _slice(op, _shape_of(op, new), 1))
    return _Held(_reshape(op, new, shape, f"{op.name}_from_rank5"), 0, None)


def _operand(op: Any, var: Any, rank: int, count: int) -> Any:
    """A lower-rank operand of an elementwise op, as it broadcasts against the merged value: as
    it is when it spans the trailing dimensions only, else with its leading ones merged too
    (they are all 1, or the value's own)."""
    import numpy as np

    var_rank = getattr(var, "rank", 0)
    if var_rank <= rank - count:
        return var
    padding = np.ones(rank - var_rank, dtype=np.int32)
    if var.val is not None:
        padded = np.reshape(var.val, (1,) * (rank - var_rank) + np.shape(var.val))
        return np.reshape(padded, (-1, *padded.shape[count:]))
    shape = _join(op, padding, _shape_of(op, var))
    return _merged(op, var, shape, count, f"{op.name}_{var.name}_rank5").value


# --- records --------------------------------------------------------------------------------------


def _scopes(op: Any) -> dict[str, list[Any]]:
    return {source.name: list(values) for source, values in op.scopes.items()}


def _note_refusal(refused: Refused) -> None:
    from torchready.convert.mil_passes import Record, note

    creator = _creator(refused.op)
    note(Record(NAME, "refused", str(refused), creator.op_type, _scopes(creator),
                {"blocking_op": refused.op.op_type, "blocking_scopes": _scopes(refused.op),
                 "shape": _shape_text(next((v for v in creator.outputs if _is_high(v)),
                                           creator.outputs[0]))}))


def _note_folded(op: Any, out: Any) -> None:
    from torchready.convert.mil_passes import Record, note

    note(Record(NAME, "folded", f"the rank-{out.rank} value {_shape_text(out)} is held with "
                                f"its first {out.rank - 4} dimensions merged (rank 5)",
                op.op_type, _scopes(op), {"shape": _shape_text(out)}))


def _creator(op: Any) -> Any:
    """The op that first made a rank > 5 value on the way to `op` (the entry of its chain)."""
    current = op
    seen = set()
    while id(current) not in seen:
        seen.add(id(current))
        high = [var for var in _inputs(current) if _is_high(var) and var.op is not None]
        if not high:
            return current
        current = high[0].op
    return current


def _shape_text(var: Any) -> str:
    return "(" + ", ".join(str(d) for d in var.shape) + ")"
