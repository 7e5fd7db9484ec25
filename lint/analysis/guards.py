"""Code that never runs under capture: branches that `torch.jit.trace` / `torch.jit.script` skip.

Model code guards capture-unfriendly paths itself: `if not torch.jit.is_tracing(): ...`,
`if torch.jit.is_scripting(): ...`, `if self.training: ...` (a captured model is in eval mode;
TR401 makes sure of that), `if is_torchdynamo_compiling(): ...`, `if labels is not None: ...`
and `if return_loss: ...` (the loss, computed only when training asks for it). A hazard inside a
branch the capture never takes is not a hazard, so rules ask `runs_under_capture` before
reporting.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import libcst as cst

from torchready.lint.analysis import traversal
from torchready.lint.analysis.imports import ImportTable, child_blocks
# The capture modes: trace (torch.export runs the same Python) and script.
from torchready.lint.targets import EXPORT, SCRIPT, TRACE

# Predicates with a known value while capturing, by capture mode. Under script only
# `torch.jit.is_scripting()` is a compile-time constant (script skips the other branch when it
# checks types, measured); everything else is compiled as a runtime call, and `self.training`
# is a runtime attribute. A traced or exported model runs in eval mode (TR401 sees to that).
# torch.export (strict or not) sets torch.compiler's compiling and exporting flags and is not
# torch.jit tracing, so it takes the branches trace skips and skips those trace takes.
_KNOWN_CALLS = {
    "torch.jit.is_tracing": {TRACE: True, SCRIPT: None, EXPORT: False},
    "torch._C._get_tracing_state": {TRACE: True, SCRIPT: None, EXPORT: False},
    "torch.jit.is_scripting": {TRACE: False, SCRIPT: True, EXPORT: False},
    "torch.compiler.is_compiling": {TRACE: False, SCRIPT: None, EXPORT: True},
    "torch.compiler.is_exporting": {TRACE: False, SCRIPT: None, EXPORT: True},
    "torch.compiler.is_dynamo_compiling": {TRACE: False, SCRIPT: None, EXPORT: True},
    "torch._dynamo.is_compiling": {TRACE: False, SCRIPT: None, EXPORT: True},
    "torch.onnx.is_in_onnx_export": {TRACE: False, SCRIPT: None, EXPORT: False},
    "torch.fx._symbolic_trace.is_fx_tracing": {TRACE: False, SCRIPT: None, EXPORT: False},
}
# Library helpers with the same meaning, matched by their last name (model libraries import
# them relatively: transformers' `is_torchdynamo_compiling`).
_KNOWN_HELPERS = {
    "is_torchdynamo_compiling": {TRACE: False, SCRIPT: None, EXPORT: True},
    "is_torchdynamo_exporting": {TRACE: False, SCRIPT: None, EXPORT: True},
    "is_torch_fx_proxy": {TRACE: False, SCRIPT: None, EXPORT: False},
    "is_tracing": {TRACE: True, SCRIPT: None, EXPORT: True},
    # Every capture runs with torch installed.
    "is_torch_available": {TRACE: True, SCRIPT: True, EXPORT: True},
}
# Module-level flags with a known value while capturing (transformers' `_is_torch_available`).
_KNOWN_FLAGS = {"_is_torch_available": True, "is_torch_available": True}
# Captures that run the model's Python in eval mode, on the inference path.
_PYTHON_MODES = (TRACE, EXPORT)

# Hot checks compare `type(node) is cst.<Concrete>`: see walk.py's `_Subclasses` for why.


def static_truth(test: cst.BaseExpression, mode: str, imports: ImportTable) -> bool | None:
    """The value of a condition during capture in `mode`, when it is known statically."""
    if type(test) is cst.UnaryOperation and type(test.operator) is cst.Not:
        inner = static_truth(test.expression, mode, imports)
        return None if inner is None else not inner
    if type(test) is cst.BooleanOperation:
        left = static_truth(test.left, mode, imports)
        right = static_truth(test.right, mode, imports)
        if type(test.operator) is cst.And:
            if left is False or right is False:
                return False
            return True if left is True and right is True else None
        if left is True or right is True:
            return True
        return False if left is False and right is False else None
    if type(test) is cst.Attribute and test.attr.value in ("training", "is_training") \
            and type(test.value) is cst.Name and test.value.value == "self":
        return False if mode in _PYTHON_MODES else None
    if type(test) is cst.Name and test.value in _KNOWN_FLAGS:
        return _KNOWN_FLAGS[test.value]
    if mode in _PYTHON_MODES and type(test) is cst.Name and test.value in LOSS_FLAGS:
        return False  # `if return_loss:` (CLIP's contrastive loss): off for inference
    if mode in _PYTHON_MODES and type(test) is cst.Comparison and \
            len(test.comparisons) == 1 and \
            type(test.left) is cst.Name and _is_loss_input(test.left.value) and \
            type(test.comparisons[0].comparator) is cst.Name and \
            test.comparisons[0].comparator.value == "None":
        # `if labels is not None:` is the loss path; a model is captured for inference.
        operator = test.comparisons[0].operator
        if type(operator) is cst.IsNot:
            return False
        if type(operator) is cst.Is:
            return True
    if mode in _PYTHON_MODES and type(test) is cst.Comparison and \
            len(test.comparisons) == 1:
        # Models are traced in float32 for Core ML (coremltools lowers precision itself), so
        # `x.dtype == torch.float16` guards (the fp16 overflow clamps) are not taken.
        target = test.comparisons[0]
        if _is_dtype_attribute(test.left) and \
                imports.resolve_or_name(target.comparator) in HALF_DTYPES:
            if type(target.operator) is cst.Equal:
                return False
            if type(target.operator) is cst.NotEqual:
                return True
    if type(test) is cst.Call:
        name = imports.resolve_or_name(test.func) or ""
        known = _KNOWN_CALLS.get(name) or _KNOWN_HELPERS.get(name.rsplit(".", 1)[-1])
        if known is not None:
            return known[mode]
    return None


HALF_DTYPES = {"torch.float16", "torch.half", "torch.bfloat16"}
LOSS_INPUTS = {"labels", "label", "targets", "target", "start_positions", "end_positions"}
LOSS_FLAGS = {"return_loss", "compute_loss"}


def _is_loss_input(name: str) -> bool:
    """`labels`, `mask_labels`, `class_labels`, `targets`, `start_positions` (extractive QA):
    training targets."""
    return name in LOSS_INPUTS or name.endswith(("_labels", "_label", "_targets"))


def _is_dtype_attribute(node: cst.BaseExpression) -> bool:
    return type(node) is cst.Attribute and node.attr.value == "dtype"


def runs_under_capture(ancestors: Sequence[cst.CSTNode], mode: str,
                       imports: ImportTable) -> bool:
    """False when one of the enclosing if/else branches (or conditional expressions) is never
    taken while capturing in `mode`. `ancestors` runs from the module down to the node."""
    for parent, child in zip(ancestors, ancestors[1:]):
        if isinstance(parent, (cst.If, cst.IfExp)):
            if child is parent.test:
                continue
            taken = child is parent.body
            truth = static_truth(parent.test, mode, imports)
            if truth is not None and truth != taken:
                return False
        elif isinstance(parent, cst.BooleanOperation) and child is parent.right:
            # `x.dtype == torch.float16 and torch.isinf(x).any()`: never evaluated.
            left = static_truth(parent.left, mode, imports)
            short_circuit = False if isinstance(parent.operator, cst.And) else True
            if left is short_circuit:
                return False
        elif isinstance(parent, (cst.IndentedBlock, cst.Module)):
            # `if not self.training: return x` ends the function for a captured model.
            for statement in parent.body:
                if statement is child:
                    break
                if exits_early(statement, mode, imports):
                    return False
    return True


def exits_early(statement: cst.CSTNode, mode: str, imports: ImportTable) -> bool:
    """A statement after which nothing runs during capture: `return`/`raise`, or an `if`
    that capture always takes and that returns or raises."""
    if type(statement) is cst.SimpleStatementLine:
        return any(type(small) in (cst.Return, cst.Raise) for small in statement.body)
    if type(statement) is cst.If and static_truth(statement.test, mode, imports) is True:
        body = _block(statement.body)
        return bool(body) and exits_early(body[-1], mode, imports)
    return False


def truth_tested(test: cst.BaseExpression, imports,
                 mode: str = TRACE) -> Iterator[cst.BaseExpression]:
    """The sub-expressions whose truth value Python takes when it tests `test` during capture
    in `mode`; under trace, `not torch.jit.is_tracing() and x.any()` never evaluates `x.any()`
    (short-circuit)."""
    if isinstance(test, cst.BooleanOperation):
        left = static_truth(test.left, mode, imports)
        yield from truth_tested(test.left, imports, mode)
        short_circuits = left is False if isinstance(test.operator, cst.And) else left is True
        if not short_circuits:
            yield from truth_tested(test.right, imports, mode)
    elif isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        yield from truth_tested(test.expression, imports, mode)
    elif static_truth(test, mode, imports) is None:
        yield test


def is_reporting_call(call: cst.Call) -> bool:
    """`warnings.warn(...)`, `logger.warning_once(...)`, `print(...)`: telling a human."""
    func = call.func
    name = func.attr.value if isinstance(func, cst.Attribute) else \
        func.value if isinstance(func, cst.Name) else ""
    return name in {"warn", "warning", "warning_once", "warn_once", "info", "debug", "error",
                    "print", "log", "warning_advice"}


def in_message(ancestors: Sequence[cst.CSTNode]) -> bool:
    """Inside a `raise` statement, an assertion message, a lambda that builds a message, or a
    warning/logging/print call: text built for a human, evaluated only when something goes
    wrong (or printed once)."""
    for parent, child in zip(ancestors, ancestors[1:]):
        if type(parent) is cst.Raise:
            return True
        if type(parent) is cst.Assert and child is parent.msg:
            return True
        if type(parent) is cst.Lambda and type(parent.body) in (
                cst.FormattedString, cst.SimpleString, cst.ConcatenatedString):
            return True  # `check(cond, lambda: f"...{int(n)}")`: built only when the check fails
        if type(parent) is cst.Call and child is not parent.func and is_reporting_call(parent):
            return True
    return False


def capture_function(context, mode: str):
    """The enclosing function's info when it is captured in `mode` ("trace", "export" or
    "script") and the node being visited runs during that capture; else None."""
    function = context.function
    if function is None or not (function.scripted if mode == SCRIPT else function.traced):
        return None
    if not runs_under_capture(context.ancestors, mode, context.imports):
        return None
    return function


def live_statements(body, mode: str | None, imports: ImportTable):
    """Like `iter_statements(body, enter_definitions=False)`, but without the statements of
    if/else branches that capture in `mode` never takes (all of them when `mode` is None)."""
    for statement in body:
        if isinstance(statement, cst.SimpleStatementLine):
            yield from statement.body
            if mode is not None and exits_early(statement, mode, imports):
                return
            continue
        yield statement
        if isinstance(statement, (cst.FunctionDef, cst.ClassDef)):
            continue
        if isinstance(statement, cst.If) and mode is not None:
            truth = static_truth(statement.test, mode, imports)
            if truth is not False:
                yield from live_statements(_block(statement.body), mode, imports)
            if truth is not True and statement.orelse is not None:
                orelse = statement.orelse
                branch = [orelse] if isinstance(orelse, cst.If) else _block(orelse.body)
                yield from live_statements(branch, mode, imports)
            if exits_early(statement, mode, imports):
                return
            continue
        for block in child_blocks(statement):
            yield from live_statements(block, mode, imports)


def _block(suite: cst.BaseSuite) -> list:
    if isinstance(suite, cst.IndentedBlock):
        return list(suite.body)
    return [cst.SimpleStatementLine(body=suite.body)]


def python_capture_modes(targets) -> tuple[str, ...]:
    """The modes in which traced code runs, for these capture targets (trace when none)."""
    return tuple(mode for mode in _PYTHON_MODES if mode in targets) or (TRACE,)


def dead_call_ids_in_all(function: cst.FunctionDef, modes, imports: ImportTable) -> set[int]:
    """ids of the calls that no capture in `modes` ever runs."""
    found = [dead_call_ids(function, mode, imports) for mode in modes]
    return set.intersection(*found) if found else set()


def dead_call_ids(function: cst.FunctionDef, mode: str, imports: ImportTable) -> set[int]:
    """ids of the calls inside branches of `function` that capture in `mode` never takes
    (`if labels is not None: loss = self.loss_function(...)`)."""
    dead: set[int] = set()
    collector = _CallIds(dead)
    for statement in _all_ifs(_block(function.body)):
        truth = static_truth(statement.test, mode, imports)
        if truth is None:
            continue
        if truth is False:
            traversal.visit(statement.body, collector)
        elif statement.orelse is not None:
            traversal.visit(statement.orelse, collector)
    _after_early_exits(_block(function.body), mode, imports, collector)
    return dead


def _after_early_exits(body, mode: str, imports: ImportTable, collector) -> None:
    """Visit the statements that follow `if not self.training: return x` in each block."""
    exited = False
    for statement in body:
        if exited:
            traversal.visit(statement, collector)
            continue
        if exits_early(statement, mode, imports):
            exited = True
        elif not isinstance(statement, (cst.SimpleStatementLine, cst.FunctionDef, cst.ClassDef)):
            for block in child_blocks(statement):
                _after_early_exits(block, mode, imports, collector)


def _all_ifs(body):
    for statement in body:
        if isinstance(statement, cst.If):
            yield statement
            if statement.orelse is not None:
                orelse = statement.orelse
                yield from _all_ifs([orelse] if isinstance(orelse, cst.If) else
                                    _block(orelse.body))
            yield from _all_ifs(_block(statement.body))
        elif not isinstance(statement, (cst.SimpleStatementLine, cst.FunctionDef, cst.ClassDef)):
            for block in child_blocks(statement):
                yield from _all_ifs(block)


class _CallIds(cst.CSTVisitor):
    def __init__(self, found: set[int]) -> None:
        self.found = found

    def visit_Call(self, node: cst.Call) -> None:
        self.found.add(id(node))


def uses_all_dead(function: cst.FunctionDef, name: str, mode: str, imports: ImportTable) -> bool:
    """Every read of `name` in the function sits where capture never evaluates it
    (`p = random.random(); if self.training and p < self.layerdrop: ...`)."""
    finder = _UseFinder(name)
    traversal.visit(function.body, finder)
    return bool(finder.uses) and not any(
        runs_under_capture(chain, mode, imports) for chain in finder.uses)


class _UseFinder(cst.CSTVisitor):
    def __init__(self, name: str) -> None:
        self.name = name
        self.stack: list[cst.CSTNode] = []
        self.uses: list[list[cst.CSTNode]] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        self.stack.append(node)
        parent = self.stack[-2] if len(self.stack) > 1 else None
        if isinstance(node, cst.Name) and node.value == self.name and \
                not isinstance(parent, cst.AssignTarget) and \
                not (isinstance(parent, cst.Attribute) and parent.attr is node):
            self.uses.append(list(self.stack))
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        self.stack.pop()
