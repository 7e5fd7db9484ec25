"""Where a function builds a tensor of rank > 5, and whether coremltools can still avoid it.

Core ML runs tensors of rank <= 5 only. The rank of a value is known statically when a
`view`/`reshape`/`expand` spells out its dimensions (`x.view(b, h, w, 1, h, w)`, a tuple literal,
`*shape` of a tuple literal) and is followed through `unsqueeze`, `None` indexing, `flatten`,
`permute`, arithmetic and plain assignments in the same function; anything else is unknown and
never reported.

Measured on coremltools 9.0 (static input shapes): a rank-6 `reshape` whose only uses reshape it
back to rank <= 5, directly or after `permute`/`transpose` (the window partition of Swin-style
models), converts, because the `expand_high_rank_reshape_and_transpose` and reshape-merging graph
passes remove it. Any other use keeps the rank-6 value in the program and `ct.convert` fails;
a rank-6 value made by `unsqueeze`/`expand`/`None` indexing (`expand_dims`) is never folded back.
An unused value is removed with everything that made it, so what counts is the uses: a value
returned to another function or passed to a submodule (which may reshape it), written into
another tensor in place (attention maps assembled with `scatter_`, dropped unless requested), or
made only inside a branch on a size (the capture keeps one branch) is not reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

import libcst as cst

from torchready.lint.analysis.guards import live_statements
from torchready.lint.analysis.imports import ImportTable, child_blocks, iter_statements
from torchready.lint.analysis.tables import tensor_methods
from torchready.lint.analysis.values import is_model_attribute
from torchready.lint.analysis.walk import walk

CORE_ML_MAX_RANK = 5
RESHAPE, EXPAND = "reshape", "expand"
RESHAPES = {"view", "reshape"}
# Ops after which a rank-6 reshape can still be folded back (when a reshape follows).
FOLDABLE = {"permute", "transpose", "contiguous", "swapaxes", "swapdims"}
# Reading these does not keep a tensor in the converted program's data path.
METADATA = {"size", "dim", "ndimension", "numel", "nelement", "shape", "ndim", "dtype",
            "device", "is_contiguous", "is_floating_point", "element_size", "stride"}
RANK_PRESERVING = {"contiguous", "clone", "detach", "float", "half", "double", "to", "type_as",
                   "softmax", "log_softmax", "sigmoid", "relu", "tanh", "exp", "log", "abs",
                   "neg", "sqrt", "rsqrt", "masked_fill", "clamp", "pow", "mul", "add", "sub",
                   "div", "gelu", "silu", "transpose", "swapaxes", "swapdims", "roll", "flip",
                   "cumsum", "permute"}
RANK_CHANGING_IN_PLACE = {"unsqueeze_", "squeeze_", "resize_", "resize_as_", "set_",
                          "as_strided_", "t_", "transpose_", "swapaxes_", "swapdims_"}
# Names that read a size, for telling branches on sizes apart.
SIZE_READS = {"shape", "ndim", "size", "dim", "ndimension", "numel"}
TORCH_FUNCTION_METHODS = {"torch.reshape": "reshape", "torch.unsqueeze": "unsqueeze",
                          "torch.flatten": "flatten", "torch.permute": "permute",
                          "torch.transpose": "transpose", "torch.swapaxes": "swapaxes"}


@dataclass(eq=False)
class HighRank:
    """A tensor of rank > 5 made at `node` (a call or an indexing)."""

    node: cst.BaseExpression
    rank: int
    kind: str  # RESHAPE: coremltools may fold it back; EXPAND: nothing removes it
    source_rank: int | None  # the rank of the value it was made from, when known
    kept_by: list[cst.BaseExpression] = field(default_factory=list)  # uses that keep it


@dataclass(frozen=True)
class Value:
    rank: int | None = None
    high: HighRank | None = None  # the rank > 5 tensor this value still is


UNKNOWN = Value()


class RankTracker:
    """Follows ranks through one function's statements, in source order, and collects the
    rank > 5 tensors that reach a use Core ML cannot fold away."""

    def __init__(self, function: cst.FunctionDef, imports: ImportTable, mode: str | None,
                 returns_to_caller: bool) -> None:
        """`returns_to_caller`: the function's return values go to other model code (a
        helper or submodule) that may reshape them, rather than being the model's output."""
        self.imports = imports
        self.returns_to_caller = returns_to_caller
        self.names: dict[str, Value] = {}
        self.tuple_lengths: dict[str, int] = {}  # `shape = (b, h, w)` -> 3
        self.made: list[HighRank] = []
        self._writing = 0  # > 0 while evaluating the target and arguments of an in-place op
        body = list(function.body.body) if isinstance(function.body, cst.IndentedBlock) else []
        # A tensor made only inside `if x.shape[-1] == 2:` exists only for some inputs: the
        # capture takes one branch, and the file does not say which.
        self._size_branch = _statements_under_size_tests(body)
        self._statement_id = 0
        for statement in live_statements(body, mode, imports):
            self._statement_id = id(statement)
            self._statement(statement)

    def failures(self) -> Iterator[HighRank]:
        """The rank > 5 tensors that stay in the converted program."""
        return (made for made in self.made if made.kept_by)

    # -- statements -------------------------------------------------------------------------
    def _statement(self, statement: cst.CSTNode) -> None:
        if isinstance(statement, cst.Assign):
            value = self._eval(statement.value)
            for target in statement.targets:
                self._bind(target.target, statement.value, value)
        elif isinstance(statement, cst.AnnAssign) and statement.value is not None:
            self._bind(statement.target, statement.value, self._eval(statement.value))
        elif isinstance(statement, cst.AugAssign):
            self._keep(self._eval(statement.target), statement)
            self._keep(self._eval(statement.value), statement)
            self._bind(statement.target, statement.value, UNKNOWN)
        elif isinstance(statement, cst.Expr):
            self._eval(statement.value)
        elif isinstance(statement, cst.Return) and statement.value is not None:
            returned = statement.value
            parts = [element.value for element in returned.elements] \
                if isinstance(returned, (cst.Tuple, cst.List)) else [returned]
            for part in parts:
                value = self._eval(part)
                if not self.returns_to_caller:
                    self._keep(value, statement)
        elif isinstance(statement, (cst.If, cst.While)):
            self._keep(self._eval(statement.test), statement.test)
        elif isinstance(statement, cst.For):
            self._keep(self._eval(statement.iter), statement.iter)
            self._bind(statement.target, statement.iter, UNKNOWN)
        elif isinstance(statement, cst.With):
            for item in statement.items:
                self._eval(item.item)

    def _bind(self, target: cst.BaseExpression, source: cst.BaseExpression,
              value: Value) -> None:
        if isinstance(target, cst.Name):
            self.names[target.value] = value
            length = _literal_length(source, self.tuple_lengths)
            if length is None:
                self.tuple_lengths.pop(target.value, None)
            else:
                self.tuple_lengths[target.value] = length
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                inner = element.value
                self._bind(inner.value if isinstance(inner, cst.StarredElement) else inner,
                           inner, UNKNOWN)

    # -- expressions ------------------------------------------------------------------------
    def _eval(self, node: cst.BaseExpression) -> Value:
        if isinstance(node, cst.Name):
            return self.names.get(node.value, UNKNOWN)
        if isinstance(node, cst.Call):
            return self._call(node)
        if isinstance(node, cst.Subscript):
            return self._subscript(node)
        if isinstance(node, cst.Attribute):
            value = self._eval(node.value)
            if node.attr.value in METADATA:
                return UNKNOWN
            if node.attr.value == "data":
                return value
            self._keep(value, node)  # `.T`, `.real`: an op on the tensor
            return Value(value.rank) if node.attr.value in ("T", "mT", "H", "mH") else UNKNOWN
        if isinstance(node, cst.BinaryOperation):
            return self._broadcast(node, [node.left, node.right])
        if isinstance(node, cst.UnaryOperation):
            value = self._eval(node.expression)
            self._keep(value, node)
            return Value(value.rank)
        if isinstance(node, cst.Comparison):
            return self._broadcast(node, [node.left, *(t.comparator for t in node.comparisons)])
        if isinstance(node, (cst.Tuple, cst.List)):
            for element in node.elements:
                self._eval(element.value)  # a rank-6 value in a returned tuple is checked there
            return UNKNOWN
        if isinstance(node, cst.IfExp):
            self._keep(self._eval(node.test), node)
            return _same(self._eval(node.body), self._eval(node.orelse))
        for child in _child_expressions(node):
            self._keep(self._eval(child), node)
        return UNKNOWN

    def _broadcast(self, node: cst.BaseExpression, operands) -> Value:
        values = [self._eval(operand) for operand in operands]
        for value in values:
            self._keep(value, node)
        ranks = [value.rank for value, operand in zip(values, operands)
                 if not isinstance(operand, (cst.Integer, cst.Float))]
        if ranks and None not in ranks:
            return Value(max(ranks))
        return UNKNOWN

    def _subscript(self, node: cst.Subscript) -> Value:
        value = self._eval(node.value)
        for element in node.slice:
            if isinstance(element.slice, cst.Index):
                self._keep(self._eval(element.slice.value), node)
        self._keep(value, node)
        rank = _indexed_rank(node, value.rank)
        if rank is not None and rank > CORE_ML_MAX_RANK and value.high is None and \
                not is_model_attribute(node.value):
            return self._made(node, rank, EXPAND, value.rank)
        return Value(rank)

    def _call(self, node: cst.Call) -> Value:
        func = node.func
        resolved = self.imports.resolve(func)
        if resolved in TORCH_FUNCTION_METHODS and node.args:
            receiver, args = node.args[0].value, list(node.args[1:])
            method = TORCH_FUNCTION_METHODS[resolved]
        elif resolved is None and isinstance(func, cst.Attribute) and \
                func.attr.value in tensor_methods() and not _is_self(func.value):
            receiver, args, method = func.value, list(node.args), func.attr.value
        else:
            return self._other_call(node, resolved)
        if method.endswith("_") and not method.startswith("_"):
            return self._in_place(node, receiver, args, method)
        value = self._eval(receiver)
        if method in METADATA:
            return UNKNOWN
        for arg in args:
            self._keep(self._eval(arg.value), node)
        rank = self._method_rank(method, args, value.rank)
        if value.high is not None:
            return self._use(node, method, rank, value)
        if rank is not None and rank > CORE_ML_MAX_RANK and \
                (value.rank is None or value.rank <= CORE_ML_MAX_RANK) and \
                not is_model_attribute(receiver):
            return self._made(node, rank, RESHAPE if method in RESHAPES else EXPAND, value.rank)
        return Value(rank)

    def _use(self, node: cst.Call, method: str, rank: int | None, value: Value) -> Value:
        """A method called on a rank > 5 tensor: folded back, passed along, or kept."""
        high = value.high
        if high.kind == RESHAPE and method in RESHAPES | {"flatten"} and rank is not None:
            if rank <= CORE_ML_MAX_RANK:
                return Value(rank)  # reshaped back down: coremltools folds the pair
            return Value(rank, high)  # reshape after reshape: merged into one
        if method in FOLDABLE:
            # Still the same tensor, permuted: what happens to it next decides (an unused
            # value is removed with everything that made it).
            return Value(value.rank, high)
        self._keep(value, node)
        return Value(rank)

    def _in_place(self, node: cst.Call, receiver: cst.BaseExpression, args: list[cst.Arg],
                  method: str) -> Value:
        """`t[..., 1].scatter_(dim, index, values)`: a write into another tensor. Whether it
        stays in the program depends on that tensor being used later (an optional output such
        as attention maps is dropped), which is not followed: the write keeps nothing."""
        self._writing += 1
        try:
            self._eval(receiver)
            for arg in args:
                self._eval(arg.value)
        finally:
            self._writing -= 1
        if isinstance(receiver, cst.Name) and method in RANK_CHANGING_IN_PLACE:
            self.names[receiver.value] = UNKNOWN
        return UNKNOWN

    def _other_call(self, node: cst.Call, resolved: str | None) -> Value:
        """A function or a non-tensor method: torch ops keep their tensor arguments; calls into
        other model code (submodules, helpers) may reshape them and are not followed."""
        torch_op = (resolved or "").startswith("torch.")
        if isinstance(node.func, cst.Attribute):
            self._eval(node.func.value)
        for arg in node.args:
            value = self._eval(arg.value)
            if torch_op:
                self._keep(value, node)
        return UNKNOWN

    def _method_rank(self, method: str, args: list[cst.Arg], rank: int | None) -> int | None:
        if method in RESHAPES or method == "expand":
            count = _shape_length(args, self.tuple_lengths)
            if method == "expand" and count is not None and rank is not None:
                return max(count, rank)
            return count
        if method == "unsqueeze":
            return rank + 1 if rank is not None else None
        if method == "flatten":
            return _flattened_rank(args, rank)
        if method in RANK_PRESERVING:
            return rank
        return None

    def _made(self, node: cst.BaseExpression, rank: int, kind: str,
              source_rank: int | None) -> Value:
        high = HighRank(node, rank, kind, source_rank)
        if self._statement_id not in self._size_branch:
            self.made.append(high)
        return Value(rank, high)

    def _keep(self, value: Value, user: cst.CSTNode) -> None:
        if value.high is not None and not self._writing:
            value.high.kept_by.append(user)


def _statements_under_size_tests(body: list) -> set[int]:
    """ids of the statements inside `if`/`elif`/`else` branches whose test reads a size."""
    inside: set[int] = set()
    for statement in iter_statements(body, enter_definitions=False):
        if isinstance(statement, cst.If) and _reads_size(statement.test):
            for block in child_blocks(statement):
                inside.update(id(nested) for nested in iter_statements(
                    block, enter_definitions=False))
    return inside


def _reads_size(test: cst.BaseExpression) -> bool:
    for node in walk(test):
        if isinstance(node, cst.Attribute) and node.attr.value in SIZE_READS:
            return True
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and \
                node.func.value == "len":
            return True
    return False


def _is_self(node: cst.BaseExpression) -> bool:
    """`self.norm(x)` calls a submodule, even when its name is also a tensor method."""
    return isinstance(node, cst.Name) and node.value == "self"


def _same(first: Value, second: Value) -> Value:
    return Value(first.rank) if first.rank == second.rank else UNKNOWN


def _literal_length(node: cst.BaseExpression, lengths: dict[str, int]) -> int | None:
    """The number of elements of a tuple/list literal (with `*` of known literals)."""
    if isinstance(node, cst.Name):
        return lengths.get(node.value)
    if not isinstance(node, (cst.Tuple, cst.List)):
        return None
    total = 0
    for element in node.elements:
        if isinstance(element, cst.StarredElement):
            inner = _literal_length(element.value, lengths)
            if inner is None:
                return None
            total += inner
        else:
            total += 1
    return total


def _shape_length(args: list[cst.Arg], lengths: dict[str, int]) -> int | None:
    """How many dimensions `view(...)`/`reshape(...)`/`expand(...)` arguments spell out."""
    if any(arg.keyword is not None and arg.keyword.value not in ("size", "shape")
           for arg in args):
        return None
    if len(args) == 1 and not args[0].star:
        value = args[0].value
        if isinstance(value, cst.Integer) or (isinstance(value, cst.UnaryOperation)
                                               and isinstance(value.expression, cst.Integer)):
            return 1
        return _literal_length(value, lengths)  # a tuple, or a name bound to one
    total = 0
    for arg in args:
        if arg.star == "*":
            inner = _literal_length(arg.value, lengths)
            if inner is None:
                return None
            total += inner
        elif arg.star:
            return None
        else:
            total += 1
    return total or None


def _flattened_rank(args: list[cst.Arg], rank: int | None) -> int | None:
    if not args:
        return 1
    if rank is None:
        return None
    bounds = []
    for arg in args[:2]:
        value = arg.value
        sign = 1
        if isinstance(value, cst.UnaryOperation) and isinstance(value.operator, cst.Minus):
            sign, value = -1, value.expression
        if not isinstance(value, cst.Integer):
            return None
        bounds.append(sign * int(value.value))
    start = bounds[0] % rank
    end = (bounds[1] if len(bounds) > 1 else -1) % rank
    return rank - (end - start) if end >= start else None


def _indexed_rank(node: cst.Subscript, rank: int | None) -> int | None:
    """`x[:, None]`, `x[..., 0]`: the rank after basic indexing, when it can be counted."""
    if rank is None:
        return None
    for element in node.slice:
        item = element.slice
        if isinstance(item, cst.Slice):
            continue
        value = item.value
        if isinstance(value, cst.Name) and value.value == "None":
            rank += 1
        elif isinstance(value, cst.Integer) or (isinstance(value, cst.UnaryOperation)
                                                 and isinstance(value.expression, cst.Integer)):
            rank -= 1
        elif not isinstance(value, cst.Ellipsis):
            return None  # a tensor or variable index: advanced indexing, rank unknown
    return rank


def _child_expressions(node: cst.CSTNode) -> Iterator[cst.BaseExpression]:
    """The expressions directly inside `node` (a lambda has its own scope: not entered)."""
    if isinstance(node, cst.Lambda):
        return
    for child in node.children:
        if isinstance(child, cst.BaseExpression):
            yield child
        else:
            yield from (grandchild for grandchild in child.children
                        if isinstance(grandchild, cst.BaseExpression))
