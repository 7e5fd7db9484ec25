"""What the values inside one function are: sizes, tensors, or plain Python data.

A *size* comes from `t.size(...)`, `t.shape` (and its indexing or unpacking), `t.dim()`,
`t.numel()`, `len(t)` of a tensor, or is computed from sizes by assignments in the same function
(`d = x.size(-1); h = d // 4` makes `h` a size). Under `torch.jit.trace` sizes are 0-dim tensors
whose arithmetic with Python operators is recorded; converting one to a Python number bakes the
example's value into the trace. Sizes of the model's own parameters and buffers are fixed, and
the rank (`x.dim()`) is a plain int under trace (`is_shape_size` leaves it out).

A *tensor* is the result of a `torch.*` call, of calling a submodule (`self.proj(x)`), of a tensor
method, of arithmetic, comparison and indexing on tensors, or what a same-file helper returns
(`torchready.lint.analysis.calls`). A parameter is a tensor when its annotation says so, when script
compiles it (unannotated means Tensor there), when it is a required input of a top-level
`forward`, when callers in the file pass it tensors, or when the body uses it as one
(`torchready.lint.analysis.evidence`); otherwise a required input of a submodule's `forward` is only
*assumed* to be a tensor (`is_confirmed_tensor` ignores the assumption).

The analysis is flow-insensitive - a name is a size (tensor) if any assignment in the function
makes it one, the right bias for not missing the talk's `d = x.size(-1); math.sqrt(d)` - except
that assignments in branches the capture never takes are left out, and `is_tensor_at` reads a
name at a given statement (its last assignment before it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import libcst as cst

from torchready.lint.analysis.annotations import TENSOR, read_annotation
from torchready.lint.analysis.evidence import used_as_tensor
from torchready.lint.analysis.guards import live_statements
from torchready.lint.analysis.imports import ImportTable, iter_statements
from torchready.lint.analysis.returns import Returns
from torchready.lint.analysis.tables import tensor_methods
from torchready.lint.analysis.torch_api import (CONTAINER_METHODS, DICT_METHODS, NON_TENSOR_TORCH_FUNCTIONS,
                                     NON_TENSOR_TORCH_NAMESPACES, RANK_ATTRIBUTES, RANK_METHODS,
                                     SEQUENCE_FUNCTIONS, SEQUENCE_METHODS, SIZE_ATTRIBUTES,
                                     SIZE_METHODS, SIZE_PRESERVING_BUILTINS,
                                     TENSOR_TO_PYTHON_METHODS, VIEW_METHODS)
from torchready.lint.analysis.walk import walk

# Nodes whose insides are other statements (or another scope): a statement's own expressions
# stop there.
_OTHER_STATEMENTS = (cst.BaseSuite, cst.FunctionDef, cst.ClassDef, cst.Lambda)


@dataclass(frozen=True)
class Binding:
    """One value assigned to a name; `element` when the name is one target of an unpacking
    (`index`: its position, when the unpacked value is not a literal tuple)."""

    value: cst.BaseExpression
    element: bool = False
    index: int | None = None
    order: int = -1  # position of the binding statement in the function, in source order


class ValueFacts:
    def __init__(self, function: cst.FunctionDef, imports: ImportTable, model_code: bool,
                 mode: str | None = None,
                 tensor_arguments: Callable[[], set[str]] | None = None,
                 root: bool = False,
                 call_returns: Callable[[cst.Call], Returns | None] | None = None,
                 weight_arguments: Callable[[], set[str]] | None = None,
                 size_arguments: Callable[[], set[str]] | None = None,
                 sequence_arguments: Callable[[], set[str]] | None = None) -> None:
        """`mode` ("trace" or "script"): leave out assignments in branches that capture in that
        mode never runs (`if self.training: p = torch.rand([])` does not make `p` a tensor in
        a traced model). `tensor_arguments()`: the parameters that callers in the same file
        pass tensors to. `call_returns(call)`: what a called function of the same file
        returns (None: not one of those). `root`: the function is the forward of a model that is captured
        itself (not a submodule of another class in the file), so its inputs are tensors.
        `size_arguments()`: the parameters that callers pass traced sizes to (`h` in
        `helper(x, x.size(2))`): sizes too. `sequence_arguments()`: the parameters that
        callers pass tuples or lists to (`cos, sin` as `position_embeddings`): sequences, even
        when annotated `torch.Tensor`."""
        self.function = function
        self.imports = imports
        self.mode = mode
        self._tensor_arguments = tensor_arguments
        self._arguments_cache: set[str] | None = None
        self._arguments_known = False
        self._root = root
        self._sequence_arguments = sequence_arguments
        self._call_returns = call_returns
        self._weight_arguments = weight_arguments
        self._weights: set[str] | None = None
        self.bindings: dict[str, list[Binding]] = {}
        self.parameters: dict[str, cst.Param] = {}
        self.statement_order: dict[int, int] = {}
        self._statements: list[tuple[cst.CSTNode, int]] = []
        self._call_orders: dict[int, int] | None = None
        self._evidence: set[str] | None = None  # parameters the body uses as tensors
        self._order = -1
        self._collect_parameters(model_code)
        self._collect_bindings()
        # Tensors first: `len(t)` is a size only when `t` is a tensor.
        self.tensors = self._fixpoint(self._binding_is_tensor, seed=self._tensor_parameters)
        self._size_parameters = (size_arguments() if size_arguments else set()) & \
            set(self.parameters)
        self.sizes = self._fixpoint(self._binding_is_size, seed=self._size_parameters)
        self._shape_sizes: set[str] | None = None  # computed on first use (TR104/TR105 only)
        self._confirmed: set[str] | None = None  # likewise

    # -- collection -------------------------------------------------------------------------
    def _collect_parameters(self, model_code: bool) -> None:
        params = self.function.params
        for param in (*params.posonly_params, *params.params, *params.kwonly_params):
            self.parameters[param.name.value] = param
        self._tensor_parameters: set[str] = set()
        # Tensor parameters that nothing in the body confirms (see below).
        self.assumed_parameters: set[str] = set()
        # Tuples and lists: annotated so, or what callers pass (annotations of tuples as
        # `torch.Tensor` are common: `position_embeddings: torch.Tensor` holding `cos, sin`).
        passed = (self._sequence_arguments() if self._sequence_arguments else set()) & \
            set(self.parameters)
        self.sequence_parameters: set[str] = passed | {
            name for name, param in self.parameters.items() if param.annotation is not None
            and _is_sequence_annotation(param.annotation.annotation, self.imports)}
        if not model_code:
            return
        unknown: set[str] = set()
        for index, (name, param) in enumerate(self.parameters.items()):
            if index == 0 and name in ("self", "cls"):
                continue
            if param.default is not None and not _is_none(param.default):
                # `scale=1.0`, `flag=True`: Python values, not inputs - even when annotated as
                # a tensor (`output_attentions: torch.Tensor | None = False` exists).
                continue
            if param.annotation is not None:
                # `torch.Tensor`, `Optional[torch.Tensor]`: a tensor; `Optional[bool]`,
                # `Optional[Cache]`, `int`, `tuple[torch.Tensor]`: not one.
                if read_annotation(param.annotation.annotation, self.imports).kind == TENSOR \
                        and name not in passed:
                    self._tensor_parameters.add(name)
                continue
            if self.mode == "script" or (param.default is None and self._root):
                self._tensor_parameters.add(name)
            elif param.default is None and self.function.name.value == "forward" and \
                    self._arguments() is None:
                # Script types an unannotated parameter as Tensor, and a required input of a
                # captured forward is a tensor (trace takes tensors only). A submodule's forward
                # may take flags from its parent (`forward(self, x, output_attentions)`): its
                # callers decide, and without callers in the file the parameter is only
                # *assumed* to be a tensor.
                self._tensor_parameters.add(name)
                self.assumed_parameters.add(name)
            else:
                # `mask=None` may be a tensor or a flag (`output_attentions=None`), and a
                # helper's `seq_len` may be an int: a tensor only when the body uses it as one.
                unknown.add(name)
        if unknown or self.assumed_parameters:
            evidence = used_as_tensor(self.function, self.imports)
            self.assumed_parameters -= evidence
            if unknown - evidence:
                evidence |= self._arguments() or set()
            self._tensor_parameters |= unknown & evidence

    def _arguments(self) -> set[str] | None:
        """Parameters that callers in the file pass tensors to; None without such callers."""
        if not self._arguments_known:
            self._arguments_known = True
            if self._tensor_arguments is not None:
                self._arguments_cache = self._tensor_arguments()
        return self._arguments_cache

    def _collect_bindings(self) -> None:
        body = _suite(self.function.body)
        statements = live_statements(body, self.mode, self.imports) if self.mode else \
            iter_statements(body, enter_definitions=False)
        for order, statement in enumerate(statements):
            self.statement_order[id(statement)] = self._order = order
            self._statements.append((statement, order))
            if isinstance(statement, cst.Assign):
                for target in statement.targets:
                    self._bind(target.target, statement.value)
            elif isinstance(statement, cst.AnnAssign) and statement.value is not None:
                self._bind(statement.target, statement.value)
            elif isinstance(statement, cst.AugAssign):
                self._bind(statement.target, cst.BinaryOperation(
                    left=statement.target, operator=cst.Add(), right=statement.value))
            elif isinstance(statement, (cst.For,)):
                self._bind(statement.target, statement.iter, element=True)

    def _bind(self, target: cst.BaseExpression, value: cst.BaseExpression,
              element: bool = False) -> None:
        if isinstance(target, cst.Name):
            self.bindings.setdefault(target.value, []).append(
                Binding(value, element, order=self._order))
        elif isinstance(target, (cst.Tuple, cst.List)):
            values = value.elements if isinstance(value, (cst.Tuple, cst.List)) else None
            for index, item in enumerate(target.elements):
                inner = item.value
                if isinstance(inner, cst.StarredElement):
                    inner = inner.value
                if values is not None and index < len(values):
                    self._bind(inner, values[index].value, element)
                elif isinstance(inner, cst.Name):
                    self.bindings.setdefault(inner.value, []).append(
                        Binding(value, True, None if element else index, self._order))
                else:
                    self._bind(inner, value, element=True)

    def _fixpoint(self, rule, seed: set[str] | None = None) -> set[str]:
        found = set(seed or ())
        changed = True
        while changed:
            changed = False
            for name, bindings in self.bindings.items():
                if name not in found and any(rule(binding, found) for binding in bindings):
                    found.add(name)
                    changed = True
        return found

    # -- sizes ------------------------------------------------------------------------------
    def _binding_is_size(self, binding: Binding, sizes: set[str], rank: bool = True) -> bool:
        returns = self._returns_of(binding)
        if returns is not None and returns.element_sizes is not None:
            return binding.index < len(returns.element_sizes) and \
                returns.element_sizes[binding.index]
        return self._is_size(binding.value, sizes, rank)

    def _returns_of(self, binding: Binding) -> Returns | None:
        """The callee's returns, for `a, b = helper(...)` bindings."""
        if binding.index is None or not isinstance(binding.value, cst.Call) or \
                self._call_returns is None:
            return None
        return self._call_returns(binding.value)

    def is_size(self, node: cst.BaseExpression) -> bool:
        return self._is_size(node, self.sizes)

    def _is_size(self, node: cst.BaseExpression, sizes: set[str], rank: bool = True) -> bool:
        """`rank=False` leaves out `x.dim()` / `x.ndim`, which are constants under trace."""
        # `type(node) is`, not isinstance: see walk.py's `_Subclasses` (every size question).
        if type(node) is cst.Name:
            return node.value in sizes
        if type(node) is cst.Attribute:
            attribute = node.attr.value
            if not rank and attribute in RANK_ATTRIBUTES:
                return False
            return attribute in SIZE_ATTRIBUTES and not self._is_weight(node.value)
        if type(node) is cst.Subscript:
            return self._is_size(node.value, sizes, rank)
        if type(node) is cst.Call:
            func = node.func
            if type(func) is cst.Attribute and func.attr.value in SIZE_METHODS:
                if not rank and func.attr.value in RANK_METHODS:
                    return False
                return not self._is_weight(func.value)
            name = self.imports.resolve_or_name(func)
            if name == "len" and node.args:
                argument = node.args[0].value
                if not rank and _is_whole_shape(argument):
                    return False  # `len(x.shape)` is the rank
                # `len(outputs)` of what a submodule returned counts items of a tuple (or a
                # ModelOutput): only a value that is surely one tensor has a length that is a
                # size.
                return self._is_one_tensor(argument) or self._is_size(argument, sizes, rank)
            if name in SIZE_PRESERVING_BUILTINS:
                return any(self._is_size(arg.value, sizes, rank) for arg in node.args)
            if name == "torch.numel":
                return True
            returns = self._call_returns(node) if self._call_returns else None
            return returns is not None and returns.size and not returns.tensor
        if type(node) is cst.BinaryOperation:
            return self._is_size(node.left, sizes, rank) or self._is_size(node.right, sizes, rank)
        if type(node) is cst.UnaryOperation:
            return self._is_size(node.expression, sizes, rank)
        if type(node) is cst.IfExp:
            return self._is_size(node.body, sizes, rank) or self._is_size(node.orelse, sizes, rank)
        if type(node) is cst.NamedExpr:
            return self._is_size(node.value, sizes, rank)  # `(n := x.size(1) - k) > 0`
        if type(node) in (cst.Tuple, cst.List):
            # A shape written out: `(h, w)`, `(0, 0, 0, pad_w, 0, pad_h)` (sizes and integers).
            elements = [element.value for element in node.elements
                        if type(element) is not cst.StarredElement]
            return len(elements) == len(node.elements) and any(
                self._is_size(element, sizes, rank) for element in elements) and all(
                type(element) is cst.Integer or self._is_size(element, sizes, rank)
                for element in elements)
        return False

    def _is_one_tensor(self, node: cst.BaseExpression) -> bool:
        """A tensor, and not possibly a tuple: no binding of the name is what a submodule or
        an unknown function returned (`outputs = self.encoder(x)` may be a tuple)."""
        if not self.is_tensor(node) or self.is_sequence(node, ()):
            return False
        if isinstance(node, cst.Name):
            return not any(isinstance(binding.value, cst.Call) and
                           self._call_returns_unknown(binding.value)
                           for binding in self.bindings.get(node.value, ()))
        return not (isinstance(node, cst.Call) and self._call_returns_unknown(node))

    def is_one_tensor_at(self, node: cst.BaseExpression, ancestors) -> bool:
        """`is_tensor_at`, and certainly not a tuple or list: not what a submodule or an
        unknown function returned (`a, b = self.block(x)`, `features[-1]`), nor a parameter
        only its annotation calls a tensor (`position_embeddings: torch.Tensor` holding
        `cos, sin`). What rules that report iterating a tensor ask."""
        if not self.is_tensor_at(node, ancestors) or self.is_sequence(node, ancestors):
            return False
        root = node
        while isinstance(root, cst.Subscript):
            root = root.value
        if isinstance(root, cst.Call):
            return not self._call_returns_unknown(root)
        if not isinstance(root, cst.Name):
            return True
        order = self._order_at(ancestors)
        before = [binding for binding in self.bindings.get(root.value, ())
                  if order is None or binding.order < order]
        if before:
            latest = max(before, key=lambda binding: binding.order)
            return not (isinstance(latest.value, cst.Call)
                        and self._call_returns_unknown(latest.value))
        param = self.parameters.get(root.value)
        if param is None or param.annotation is None:
            return True
        if self._evidence is None:
            self._evidence = used_as_tensor(self.function, self.imports)
        return root.value in self._evidence

    def _call_returns_unknown(self, call: cst.Call) -> bool:
        """A call of a submodule or of a function that is not torch's: it may return anything."""
        name = self.imports.resolve(call.func) or ""
        if name.startswith("torch."):
            return False
        func = call.func
        if isinstance(func, cst.Attribute) and func.attr.value in tensor_methods() and \
                not (isinstance(func.value, cst.Name) and func.value.value == "self"):
            return False  # `x.view(...)`: a tensor method
        returns = self._call_returns(call) if self._call_returns else None
        return returns is None or returns.sequence or not returns.tensor

    def _is_weight(self, node: cst.BaseExpression) -> bool:
        """A parameter or buffer of the model (`self.weight`, `self.pos_embed[0, 1:]`, a name
        bound only to one, or a helper parameter every caller passes one to): its sizes are
        fixed by the model, not by the input."""
        node = _strip_views(node)
        if _is_self(node):
            return True
        if not isinstance(node, cst.Name):
            return False
        if self._weights is None:
            weights = self._weight_parameters() if self._weight_arguments else set()
            changed = True
            while changed:  # `table = self.pos; rows = table[0, 1:].transpose(0, 1)`
                changed = False
                for name, bindings in self.bindings.items():
                    if name in weights or name in self.parameters or not bindings:
                        continue
                    if all(not binding.element and _is_weight_value(binding.value, weights)
                           for binding in bindings):
                        weights.add(name)
                        changed = True
            self._weights = weights
        return node.value in self._weights

    def _weight_parameters(self) -> set[str]:
        return self._weight_arguments() or set()

    def is_shape_size(self, node: cst.BaseExpression) -> bool:
        """A size that changes with the input's shape (a size that is not just the rank)."""
        if self._shape_sizes is None:
            self._shape_sizes = self._fixpoint(
                lambda binding, found: self._binding_is_size(binding, found, rank=False),
                seed=self._size_parameters)
        return self._is_size(node, self._shape_sizes, rank=False)

    def mentions_size(self, node: cst.BaseExpression) -> bool:
        """True when the expression or any part of it is a size."""
        return any(self.is_size(part) for part in _expressions(node))

    # -- tensors ----------------------------------------------------------------------------
    def _binding_is_tensor(self, binding: Binding, tensors: set[str]) -> bool:
        returns = self._returns_of(binding)
        if returns is not None and returns.elements is not None:
            return binding.index < len(returns.elements) and returns.elements[binding.index]
        return self._is_tensor(binding.value, tensors)

    def is_tensor(self, node: cst.BaseExpression) -> bool:
        return self._is_tensor(node, self.tensors)

    def is_tensor_at(self, node: cst.BaseExpression, ancestors) -> bool:
        """`is_confirmed_tensor`, reading each name at the statement holding the node being
        visited: the last assignment before it decides (a parameter's own type when none
        precedes it). Catches `masks = [...]; if not masks: ...; masks = torch.cat(masks)`
        and `p = p.item(); if p == 0:`. Loops make "before" approximate, in the direction of
        fewer findings."""
        return self.is_tensor_before(node, self._order_at(ancestors))

    def _order_at(self, ancestors) -> int | None:
        return next((self.statement_order[id(item)] for item in reversed(ancestors)
                     if id(item) in self.statement_order), None)

    def order_of_call(self, call: cst.Call) -> int | None:
        """The position of the statement that holds `call` (what `is_tensor_before` reads
        names at): an argument is what its name holds there, not after the call rebinds it
        (`outputs, extra = self.select(step, outputs)`)."""
        if self._call_orders is None:
            self._call_orders = {}
            # Inner statements come later in the order: the innermost statement wins.
            for statement, order in self._statements:
                for node in walk(statement, prune=_OTHER_STATEMENTS):
                    if isinstance(node, cst.Call):
                        self._call_orders[id(node)] = order
        return self._call_orders.get(id(call))

    def is_tensor_before(self, node: cst.BaseExpression, order: int | None) -> bool:
        """`is_tensor_at` for a statement position (None: anywhere)."""
        self.is_confirmed_tensor(node)  # computes the confirmed set
        tensors = self._confirmed if self._confirmed is not None else self.tensors
        if order is None:
            return self._is_tensor(node, tensors)
        here = set()
        for name in tensors:
            before = [binding for binding in self.bindings.get(name, ()) if binding.order < order]
            if before:
                if self._binding_is_tensor(max(before, key=lambda b: b.order), tensors):
                    here.add(name)
            elif name in self.parameters:
                if name in self._tensor_parameters and name not in self.assumed_parameters:
                    here.add(name)  # the parameter's own value
            elif any(binding.order >= order for binding in self.bindings[name]):
                here.add(name)  # assigned later in a loop body: the previous iteration's value
        return self._is_tensor(node, here)

    def is_sequence(self, node: cst.BaseExpression, ancestors,
                    seen: frozenset[str] = frozenset(), order: int | None = None,
                    certain: bool = False) -> bool:
        """A tuple or list (of tensors, typically), not a tensor: `x.split(...)`,
        `x.unbind()`, a helper returning `cos, sin`, a name bound to `[...]`. Iterating one
        does not iterate a tensor dimension. `ancestors` (may be empty) or `order` positions
        the read. `certain`: only what is known to be one, not what a submodule or a function
        of unknown return may return."""
        if isinstance(node, (cst.Tuple, cst.List, cst.ListComp, cst.GeneratorExp)):
            return True
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Add):
            return self.is_sequence(node.left, ancestors, seen, order, certain) or \
                self.is_sequence(node.right, ancestors, seen, order, certain)
        if isinstance(node, cst.IfExp):  # `self.mask(x) if self.is_mae else (None, None)`
            return self.is_sequence(node.body, ancestors, seen, order, certain) or \
                self.is_sequence(node.orelse, ancestors, seen, order, certain)
        if isinstance(node, cst.Subscript):
            # `parts[1:]` of a tuple is a tuple; `parts[0]` is an element.
            return any(isinstance(element.slice, cst.Slice) for element in node.slice) and \
                len(node.slice) == 1 and \
                self.is_sequence(node.value, ancestors, seen, order, certain)
        if isinstance(node, cst.Call):
            func = node.func
            name = self.imports.resolve(func) or ""
            method = func.attr.value if isinstance(func, cst.Attribute) else ""
            if name.rsplit(".", 1)[-1] in SEQUENCE_FUNCTIONS and name.startswith("torch."):
                return True
            if name == "torch.where" and len(node.args) == 1 or name == "torch.nonzero" and any(
                    arg.keyword and arg.keyword.value == "as_tuple" for arg in node.args):
                return True  # the indices of the true elements, one tensor per dimension
            if method in SEQUENCE_METHODS or (method in ("max", "min") and node.args):
                return True
            if (method == "unique" or name == "torch.unique") and any(
                    arg.keyword and arg.keyword.value in ("return_inverse", "return_counts")
                    for arg in node.args):
                return True  # (values, inverse[, counts])
            if name in ("tuple", "list", "zip", "enumerate", "range", "sorted", "reversed"):
                return True
            if self._call_returns is not None:
                returns = self._call_returns(node)
                if returns is not None:
                    if certain:  # every return a tuple, or only sequences returned
                        return returns.elements is not None or \
                            (returns.sequence and not returns.tensor)
                    return returns.sequence
            # An imported function or a submodule of another file may return a tuple.
            return not certain and name == "" and isinstance(func, cst.Attribute) and \
                _is_self(func.value) and method not in tensor_methods()
        if isinstance(node, cst.Name):
            if node.value in seen:
                return False  # `parts = parts + (x,)`: decided by its other bindings
            seen = seen | {node.value}
            bindings = self.bindings.get(node.value, ())
            if order is None:
                order = self._order_at(ancestors)
            if order is not None:
                before = [binding for binding in bindings if binding.order < order]
                if not before and node.value in self.sequence_parameters:
                    return True  # the parameter's own value
                bindings = [max(before, key=lambda b: b.order)] if before else bindings
            elif not bindings and node.value in self.sequence_parameters:
                return True
            return any(self._binding_is_sequence(binding, seen, certain) for binding in bindings)
        return False

    def _binding_is_sequence(self, binding: Binding, seen: frozenset[str],
                             certain: bool = False) -> bool:
        if binding.index is not None:  # `features, pos = self.backbone(x)`
            returns = self._returns_of(binding)
            return returns is not None and returns.element_sequences is not None and \
                binding.index < len(returns.element_sequences) and \
                returns.element_sequences[binding.index]
        return not binding.element and self.is_sequence(binding.value, (), seen,
                                                        certain=certain)

    def is_confirmed_tensor(self, node: cst.BaseExpression) -> bool:
        """A tensor without relying on assumed parameters: rules that report *values* (not
        sizes) use this, so `if output_attentions:` in `forward(self, x, output_attentions)`
        is not mistaken for a test of tensor data."""
        if not self.assumed_parameters:
            return self.is_tensor(node)
        if self._confirmed is None:
            self._confirmed = self._fixpoint(
                self._binding_is_tensor, seed=self._tensor_parameters - self.assumed_parameters)
        return self._is_tensor(node, self._confirmed)

    def _is_tensor(self, node: cst.BaseExpression, tensors: set[str]) -> bool:
        if isinstance(node, cst.Name):
            return node.value in tensors
        if isinstance(node, cst.Subscript):
            # `outputs["logits"]`: a dict (or ModelOutput) looked up by key, not tensor indexing.
            if any(isinstance(element.slice, cst.Index) and
                   isinstance(element.slice.value, (cst.SimpleString, cst.ConcatenatedString))
                   for element in node.slice):
                return False
            return self._is_tensor(node.value, tensors)
        if isinstance(node, cst.Call):
            return self._call_is_tensor(node, tensors)
        if isinstance(node, cst.BinaryOperation):
            return self._is_tensor(node.left, tensors) or self._is_tensor(node.right, tensors)
        if isinstance(node, cst.UnaryOperation):
            return self._is_tensor(node.expression, tensors)
        if isinstance(node, cst.IfExp):
            return self._is_tensor(node.body, tensors) or self._is_tensor(node.orelse, tensors)
        if isinstance(node, cst.Comparison):
            # `x > 0`, `mask == 1`: elementwise, a tensor; `x is None`, `k in d`: Python bools.
            if any(isinstance(target.operator, (cst.Is, cst.IsNot, cst.In, cst.NotIn))
                   for target in node.comparisons):
                return False
            return self._is_tensor(node.left, tensors) or any(
                self._is_tensor(target.comparator, tensors) for target in node.comparisons)
        if isinstance(node, cst.Attribute):
            # `x.T`, `x.mT`, `x.real`: tensor views; `self.weight` is a parameter.
            if node.attr.value in ("T", "mT", "H", "real", "imag", "data"):
                return self._is_tensor(node.value, tensors)
            return _is_self(node.value) and node.attr.value in ("weight", "bias")
        return False

    def _call_is_tensor(self, node: cst.Call, tensors: set[str]) -> bool:
        func = node.func
        name = self.imports.resolve(func)
        if name is not None:
            if name in NON_TENSOR_TORCH_FUNCTIONS or name.startswith(NON_TENSOR_TORCH_NAMESPACES):
                return False
            return name.startswith("torch.") and name.rsplit(".", 1)[-1][:1].islower()
        returns = self._call_returns(node) if self._call_returns else None
        if returns is not None:
            return returns.tensor  # a helper or submodule of this file: what it returns
        if isinstance(func, cst.Attribute):
            method = func.attr.value
            if method in TENSOR_TO_PYTHON_METHODS or method in DICT_METHODS:
                return False
            if isinstance(func.value, cst.Name) and func.value.value == "self":
                return True  # calling a submodule or a helper of the model
            if _is_self(func.value):
                # `self.weight.t()`: a method of a parameter; `self.cache.has(key)`,
                # `self.experts.values()`: of some other object.
                return method in tensor_methods() and method not in CONTAINER_METHODS
            # `x.masked_fill(...)` is a tensor; `cache.get_seq_length()` is not, even when
            # `cache` was (wrongly) annotated as a tensor.
            return method in tensor_methods() and self._is_tensor(func.value, tensors)
        return False


_SEQUENCE_TYPES = {"tuple", "list", "Tuple", "List", "typing.Tuple", "typing.List"}


def _is_sequence_annotation(node: cst.BaseExpression, imports: ImportTable) -> bool:
    """`tuple[torch.Tensor, torch.Tensor]`, `list[int] | None`, `Tuple[...]`."""
    members = read_annotation(node, imports).members
    return bool(members) and all(member in _SEQUENCE_TYPES for member in members)


def is_model_attribute(node: cst.BaseExpression) -> bool:
    return _is_self_value(node)


def _is_self_value(node: cst.BaseExpression) -> bool:
    """`self.pos_embed`, `self.embed.weight[1:]`, `self.pos_embed[0, 1:].transpose(0, 1)`:
    an attribute of the model (or a view of one), not a computation on inputs."""
    node = _strip_views(node)
    return isinstance(node, cst.Attribute) and _is_self(node)




def _is_weight_value(node: cst.BaseExpression, weights: set[str]) -> bool:
    node = _strip_views(node)
    return (isinstance(node, cst.Attribute) and _is_self(node)) or (
        isinstance(node, cst.Name) and node.value in weights)


def _strip_views(node: cst.BaseExpression) -> cst.BaseExpression:
    while True:
        if isinstance(node, cst.Subscript):
            node = node.value
        elif isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and \
                node.func.attr.value in VIEW_METHODS:
            node = node.func.value
        else:
            return node


def _is_whole_shape(node: cst.BaseExpression) -> bool:
    """`x.shape` or `x.size()` (not one of its elements)."""
    if isinstance(node, cst.Attribute):
        return node.attr.value == "shape"
    return isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and \
        node.func.attr.value == "size" and not node.args


def _is_none(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Name) and node.value == "None"


def _is_self(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Name) and node.value == "self" or (
        isinstance(node, cst.Attribute) and _is_self(node.value))


def _suite(body: cst.BaseSuite):
    return body.body if isinstance(body, cst.IndentedBlock) else [cst.SimpleStatementLine(body.body)]


def _expressions(node: cst.CSTNode) -> Iterator[cst.BaseExpression]:
    # A nested function or lambda has its own values: not entered.
    return (child for child in walk(node, prune=(cst.Lambda, cst.FunctionDef))
            if isinstance(child, cst.BaseExpression))



