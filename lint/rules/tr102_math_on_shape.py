from __future__ import annotations

import libcst as cst

from torchready.lint.analysis.guards import TRACE, capture_function, in_message
from torchready.lint.analysis.values import SIZE_METHODS
from torchready.lint.analysis.walk import walk
from torchready.lint.codegen import ATOM, MULTIPLICATIVE, POWER, UNARY, code, in_parent, operand, precedence
from torchready.lint.rule import FixSpec, Invalid, Replace, Rule, Valid
from torchready.lint.targets import EXPORT, PYTHON_RUNNING
from torchready.lint.types import Applicability

INT_OPERATORS = (cst.Add, cst.Subtract, cst.Multiply, cst.FloorDivide, cst.Modulo)


class MathOnShape(Rule):
    """
    ## What it does
    Finds `math.*` and numpy functions, and `float()`/`int()`, applied to tensor sizes
    (`x.size(i)`, `x.shape[i]`, `x.dim()`, `x.numel()`, `len(x)`) or to values computed from
    them, in code that runs under `torch.jit.trace`; and Python's `min()`/`max()` comparing a
    size with something else (`x[:min(x.size(0), 4)]`).

    ## Why is this bad?
    While tracing, a size is a 0-dim tensor, and Python's operators on it (`+`, `//`, `%`, `**`)
    are recorded in the graph. `math.sqrt`, `int()` and friends turn it into a Python number
    instead: the tracer warns "Converting a tensor to a Python float might cause the trace to be
    incorrect" and records the example's value as a constant. The traced (and converted) model
    then computes with the example's size for every input, which is silently wrong when the size
    changes: the attention scale of another sequence length, the reshape of another batch.
    `min(x.size(0), 4)` compares with a Python boolean ("Converting a tensor to a Python
    boolean"): the trace keeps whichever operand won for the example (measured: traced with 3
    rows, `x[:min(x.size(0), 4)]` returns all 8 rows of an 8-row input instead of 4).

    Under `torch.export` the same code specializes a dimension declared dynamic with
    `torch.export.Dim`: export stops with "Constraints violated (n)! ... your code specialized it
    to be a constant". The remedy is the same for both: `q.size(-1) ** 0.5` stays symbolic for
    trace and export (verified with a Dim on that dimension), `math.sqrt` does not.

    ## Example
    ```python
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
    ```

    ## Use instead
    ```python
    scores = q @ k.transpose(-2, -1) / q.size(-1) ** 0.5
    ```

    ## Fix safety
    Safe where the rewrite is exact: `math.sqrt(n)` -> `n ** 0.5`; `math.floor(a / b)` ->
    `a // b` and `math.ceil(a / b)` -> `-(-a // b)` when both operands are integers (sizes or
    integer literals); `int(n)` -> `n` when `n` is already an integer expression of sizes;
    `math.pow(a, b)` -> `a ** b` when either operand is a float literal. The same rewrites with
    operands that may be floats, and `math.pow` of two integers (`**` returns an int where
    `math.pow` returns a float), are offered as unsafe fixes. Other functions, and
    `min()`/`max()`, have no fix.

    ## Known false positives
    A size that never changes for a given model (the head dimension, a fixed image size) is
    baked in harmlessly. It is still reported: the tracer really records a constant there, the
    fix is free and exact, and a model whose size does change (the talk's attention block) is
    silently wrong; add `# noqa: TR102` where the size is fixed by design. Input checks
    (`if min(h, w) < patch: raise ...`) are reported too: the traced model no longer checks. Sizes of parameters and buffers (`self.weight.shape`,
    a helper's argument that every caller passes `self.pos_embed` to) are not reported.
    `torch.tensor(x.size(-1))` warns ("torch.tensor results are registered as constants") but
    torch 2.13 records its data flow (measured), so it is not reported. Math in `raise` and
    warning messages (`raise ValueError(f"{int(h)} patches")`) runs only when the check fails
    and is not reported. `int(x)` in the `else` of `isinstance(x, torch.Tensor)` (transformers'
    `torch_int`) is a torch.export finding only: while tracing, a size is a tensor and takes
    the other branch.
    """

    CODE = "TR102"
    NAME = "math-on-shape"
    SUMMARY = "math/numpy/float()/int() on a tensor size bakes the example's size into a trace"
    TARGETS = PYTHON_RUNNING
    FIX = Applicability.SAFE

    VALID = [
        Valid("""
            class Attention(nn.Module):
                def forward(self, q, k):
                    return q @ k.transpose(-2, -1) / q.size(-1) ** 0.5
        """),
        Valid("""
            class Net(nn.Module):
                def __init__(self, dim):
                    super().__init__()
                    self.scale = math.sqrt(dim)  # __init__ is not traced

                def forward(self, x):
                    return x / self.scale
        """),
        Valid("""
            class Net(nn.Module):
                def forward(self, x):
                    half = x.size(1) // 2
                    return x[:, :half]
        """),
        Valid("""
            def helper_not_called_from_forward(x):
                return math.sqrt(x.size(-1))
        """),
        Valid("""
            class Net(nn.Module):
                def forward(self, x):
                    return x * math.sqrt(2.0)  # a constant, not a size
        """),
        Valid("""
            class Net(nn.Module):
                def forward(self, x):
                    fan_in = self.weight.shape[1]  # parameter sizes are fixed
                    return x / math.sqrt(fan_in)
        """),
        Valid("""
            @torch.jit.script
            def scaled(x):
                return x / math.sqrt(x.size(-1))  # script records math.sqrt
        """),
        Valid("""
            class Net(nn.Module):
                def forward(self, x):
                    return x / math.sqrt(x.size(-1))  # noqa: TR102
        """),
        Valid("""
            class Net(nn.Module):
                def forward(self, x):
                    scale = torch.tensor(x.size(-1), dtype=torch.float)  # recorded by torch 2.13
                    return x / scale.sqrt() * max(x.dim(), 2)  # the rank is fixed under trace
        """),
        Valid("""
            class Net(nn.Module):
                def forward(self, x):
                    size = int(math.sqrt(self.get_pos(self.pos_embed)))
                    return x[:, :size]

                def get_pos(self, table):
                    return table.shape[1]  # every caller passes a parameter: a fixed size
        """),

        Valid("""
            class QA(nn.Module):
                def forward(self, x, start_positions=None):
                    logits = self.head(x)
                    if start_positions is not None:  # the loss: not part of a converted model
                        start_positions.clamp_(0, max(0, logits.size(1) - 1))
                    return logits
        """),
        Valid("""
            class Embeddings(nn.Module):
                def forward(self, x):
                    table = self.position_embeddings[0, 1:].unsqueeze(0).transpose(1, 2)
                    side = int(table.size(2) ** 0.5)  # a view of a parameter: a fixed size
                    return x.reshape(-1, side, side)
        """),
        Valid("""
            class Patches(nn.Module):
                # regression (mobilevit): the traced branch of `if torch.jit.is_tracing()` is used
                def forward(self, x):
                    height = x.shape[-2]
                    new_height = (torch.ceil(torch.tensor(height / 2)) * 2 if torch.jit.is_tracing()
                                  else int(math.ceil(height / 2) * 2))
                    return x, new_height
        """),
        Valid("""
            class PatchEmbeddings(nn.Module):
                # regression (idefics): the message is built only when the check fails
                def forward(self, x):
                    rows = x.shape[-2] / 16
                    if self.strict:
                        raise ValueError(f"{int(rows)} patches do not fit the table")
                    return x
        """),
    ]

    INVALID = [
        Invalid("""
            def torch_int(x):
                # a traced size is a tensor: only torch.export runs the int()
                return x.to(torch.int64) if isinstance(x, torch.Tensor) else int(x)

            class Embeddings(nn.Module):
                def forward(self, x):
                    side = torch_int(x.shape[-1])
                    return x.reshape(-1, side, 1)
        """),
        Invalid(
            """
            class Shuffle(nn.Module):
                def forward(self, x):
                    height = int(x.size(1) ** 0.5)  # the finding: the size becomes an int here
                    return x.reshape(-1, height, int(height / 2), 4)  # no second finding
            """,
        ),
        Invalid(
            """
            class Crop(nn.Module):
                def forward(self, x):
                    return x[: min(x.size(0), 4)]
            """,
        ),
        Invalid(
            """
            import math
            class Attention(nn.Module):
                def forward(self, q, k):
                    return q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
            """,
            expected_fix="""
            import math
            class Attention(nn.Module):
                def forward(self, q, k):
                    return q @ k.transpose(-2, -1) / q.size(-1) ** 0.5
            """,
        ),
        Invalid(
            """
            from math import sqrt as square_root
            class Attention(nn.Module):
                def forward(self, x):
                    d = x.size(-1)
                    heads = d // 4
                    return x / square_root(heads)
            """,
            expected_fix="""
            from math import sqrt as square_root
            class Attention(nn.Module):
                def forward(self, x):
                    d = x.size(-1)
                    heads = d // 4
                    return x / heads ** 0.5
            """,
        ),
        Invalid(
            """
            import math as m
            class Pool(nn.Module):
                def forward(self, x):
                    b, c, h, w = x.shape
                    out = m.floor(h / 2) * m.ceil(w / 2)
                    return x.reshape(b, c, out)
            """,
            expected_fix="""
            import math as m
            class Pool(nn.Module):
                def forward(self, x):
                    b, c, h, w = x.shape
                    out = h // 2 * -(-w // 2)
                    return x.reshape(b, c, out)
            """,
            count=2,
        ),
        Invalid(
            """
            class Flatten(nn.Module):
                def forward(self, x):
                    return x.reshape(int(x.size(0)), -1)
            """,
            expected_fix="""
            class Flatten(nn.Module):
                def forward(self, x):
                    return x.reshape(x.size(0), -1)
            """,
        ),
        Invalid(
            """
            import numpy as np
            class Norm(nn.Module):
                def forward(self, x):
                    return x / np.sqrt(x.shape[-1])
            """,
        ),
        Invalid(
            """
            class Scale(nn.Module):
                def forward(self, x):
                    return x * float(len(x))
            """,
        ),
        Invalid(
            """
            import math
            class Block(nn.Module):
                def forward(self, x):
                    return self.scale(x)

                def scale(self, x):
                    return x * math.pow(x.size(-1), -0.5)
            """,
            expected_fix="""
            import math
            class Block(nn.Module):
                def forward(self, x):
                    return self.scale(x)

                def scale(self, x):
                    return x * x.size(-1) ** -0.5
            """,
        ),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        if not node.args:
            return
        name = self.context.imports.resolve_or_name(node.func)
        if name is None:
            return
        module, _, attribute = name.rpartition(".")
        is_math = module == "math" or module == "numpy" or name.startswith("numpy.")
        if not (is_math or name in ("int", "float", "min", "max")):
            return
        function = capture_function(self.context, TRACE)
        if function is None or in_message(self.context.ancestors):
            return
        facts = self.context.facts(function)
        arguments = [arg.value for arg in node.args]
        if is_math:
            if not any(facts.mentions_size(argument) for argument in arguments):
                return
            fix = self._fix_math(attribute, arguments, node) if module == "math" else None
        elif name in ("int", "float") and len(arguments) == 1 and facts.is_size(arguments[0]):
            if self._tensor_guarded(arguments[0]):
                # `x.to(torch.int64) if isinstance(x, torch.Tensor) else int(x)`: a traced size
                # is a tensor, so only torch.export (symbolic ints) runs the int().
                if EXPORT in self.context.targets and \
                        capture_function(self.context, EXPORT) is not None:
                    self._report_conversion(node, None, (EXPORT,))
                return
            fix = self._fix_int(arguments[0], node) if name == "int" else None
        elif name in ("min", "max") and len(arguments) >= 2 and \
                not any(arg.star or arg.keyword for arg in node.args) and \
                any(facts.is_shape_size(argument) for argument in arguments):
            self._report_choice(node, name)
            return
        else:
            return
        self._report_conversion(node, fix)

    def _report_conversion(self, node: cst.Call, fix, targets=None) -> None:
        shown = code(self.context.module, node)
        if targets == (EXPORT,):
            message = (f"`{shown}` turns a size into a Python number on a path torch.export "
                       "takes: it specializes the dimension (one declared dynamic fails with "
                       "\"Constraints violated\"); keep the size symbolic")
        else:
            message = (f"`{shown}` turns a traced size into a Python number: torch.jit.trace "
                       "records the example's value as a constant, so other input sizes get "
                       "wrong results (torch.export instead refuses a dimension declared "
                       "dynamic: \"Constraints violated\")")
        self.report(node, message, fix, targets=targets)

    def _tensor_guarded(self, argument: cst.BaseExpression) -> bool:
        """The node is in the `else` of a test that `argument` is a tensor."""
        if not isinstance(argument, cst.Name):
            return False
        ancestors = self.context.ancestors
        for parent, child in zip(ancestors, ancestors[1:]):
            if isinstance(parent, (cst.If, cst.IfExp)) and child is parent.orelse and any(
                    isinstance(part, cst.Call) and part.args and
                    self.context.imports.resolve_or_name(part.func) == "isinstance" and
                    isinstance(part.args[0].value, cst.Name) and
                    part.args[0].value.value == argument.value and len(part.args) == 2 and
                    self.context.imports.resolve_or_name(part.args[1].value) == "torch.Tensor"
                    for part in walk(parent.test)):
                return True
        return False

    def _report_choice(self, node: cst.Call, name: str) -> None:
        shown = code(self.context.module, node)
        self.report(
            node,
            f"`{shown}` compares a traced size in Python: torch.jit.trace records which operand "
            f"won for the example (TracerWarning \"Converting a tensor to a Python boolean\"), "
            f"so other input sizes can get the wrong one; use tensor ops (`torch.clamp`, "
            f"`torch.{'minimum' if name == 'min' else 'maximum'}`) or script this code",
        )

    # -- fixes --------------------------------------------------------------------------------
    def _fix_math(self, function: str, arguments, node: cst.Call) -> FixSpec | None:
        module = self.context.module
        facts = self.context.facts(self.context.function)
        if function == "sqrt" and len(arguments) == 1:
            text = f"{operand(module, arguments[0], ATOM)} ** 0.5"
            return self._replace(node, text, POWER, "Use `** 0.5`, which the tracer records")
        if function == "pow" and len(arguments) == 2:
            base, exponent = arguments
            text = f"{operand(module, base, ATOM)} ** {operand(module, exponent, UNARY)}"
            exact = any(isinstance(value, cst.Float) or _negated_float(value)
                        for value in (base, exponent))
            return self._replace(node, text, POWER, "Use `**`, which the tracer records",
                                 Applicability.SAFE if exact else Applicability.UNSAFE)
        if function in ("floor", "ceil") and len(arguments) == 1:
            division = arguments[0]
            if not (isinstance(division, cst.BinaryOperation)
                    and isinstance(division.operator, cst.Divide) and not division.lpar):
                return None
            numerator = operand(module, division.left, MULTIPLICATIVE)
            denominator = operand(module, division.right, MULTIPLICATIVE + 1)
            exact = all(_is_int_expression(value, facts) for value in (division.left,
                                                                        division.right))
            applicability = Applicability.SAFE if exact else Applicability.UNSAFE
            if function == "floor":
                return self._replace(node, f"{numerator} // {denominator}", MULTIPLICATIVE,
                                     "Use `//`, which the tracer records", applicability)
            negated = f"-{operand(module, division.left, UNARY)}"
            return self._replace(node, f"-({negated} // {denominator})", UNARY,
                                 "Use `-(-a // b)`, which the tracer records", applicability)
        return None

    def _fix_int(self, argument: cst.BaseExpression, node: cst.Call) -> FixSpec | None:
        facts = self.context.facts(self.context.function)
        if not _is_int_expression(argument, facts):
            return None
        text = code(self.context.module, argument)
        return self._replace(node, text, precedence(argument),
                             "Drop `int()`: the size is already an integer")

    def _replace(self, node: cst.Call, text: str, replacement_precedence: int, title: str,
                 applicability: Applicability = Applicability.SAFE) -> FixSpec:
        text = in_parent(text, replacement_precedence, node, self.context.parent)
        return FixSpec(title, (Replace(node, text),), applicability)


def _negated_float(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.UnaryOperation) and isinstance(node.expression, cst.Float)


def _is_int_expression(node: cst.BaseExpression, facts, seen: frozenset[str] = frozenset()) -> bool:
    """Sizes and integer literals combined with integer-preserving operators."""
    if isinstance(node, cst.Integer):
        return True
    if isinstance(node, cst.BinaryOperation):
        return isinstance(node.operator, INT_OPERATORS) and _is_int_expression(
            node.left, facts, seen) and _is_int_expression(node.right, facts, seen)
    if isinstance(node, cst.UnaryOperation):
        return isinstance(node.operator, cst.Minus) and _is_int_expression(
            node.expression, facts, seen)
    if isinstance(node, cst.Name):
        bindings = facts.bindings.get(node.value)
        if not bindings or node.value in seen:
            return False
        inner = seen | {node.value}
        return all(_is_shape(binding.value) if binding.element
                   else _is_int_expression(binding.value, facts, inner)
                   for binding in bindings)
    if isinstance(node, cst.Subscript):
        return _is_shape(node.value) and not any(
            isinstance(element.slice, cst.Slice) for element in node.slice)
    if isinstance(node, cst.Call):
        func = node.func
        if isinstance(func, cst.Attribute):
            return func.attr.value in SIZE_METHODS and bool(node.args or func.attr.value != "size")
        return isinstance(func, cst.Name) and func.value == "len" and facts.is_size(node)
    return False


def _is_shape(node: cst.BaseExpression) -> bool:
    """`x.shape` or `x.size()`: a whole shape, whose elements are ints."""
    if isinstance(node, cst.Attribute):
        return node.attr.value == "shape"
    return (isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute)
            and node.func.attr.value == "size" and not node.args)
