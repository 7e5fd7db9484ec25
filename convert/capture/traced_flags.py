"""A Python flag computed from a traced size, passed where an op needs a Python value.

While tracing, sizes are tensors (so the trace can record arithmetic on them): `n_ctx > 1` for
`b, n_ctx, _ = x.shape` is a 0-d Tensor, not a bool. An op argument that must be a Python value
then refuses it and the trace stops: `F.scaled_dot_product_attention(q, k, v, is_causal=mask is
None and n_ctx > 1)` raises "TypeError: scaled_dot_product_attention(): argument 'is_causal' must
be bool, not Tensor". In eager mode, and in a script, the same line is fine.

It is a branch on the input's shape that the op takes in Python (causal or not): TR107
shape-dependent-branch at the call, underlining the argument, with the fix. (Eager mode took the
same line, so the value was a Python scalar there: only a size turns into a Tensor when traced.)
"""

from __future__ import annotations

import ast
import re

from torchready.convert.findings import finding
from torchready.convert.python_source import Span, expressions_at, node_span, reads_shape
from torchready.lint.types import Diagnostic

_PYTHON_ARGUMENT = re.compile(
    r"(?P<op>\w+)\(\): argument '(?P<argument>\w+)'(?: \(position \d+\))? must be "
    r"(?P<wanted>bool|int|float|SymInt|SymBool|SymFloat)\b[^,]*, not Tensor")


def traced_flag_diagnostics(error: BaseException, where: tuple[str, int] | None
                            ) -> list[Diagnostic]:
    """TR107 for a trace that stopped on a traced value given as a Python argument."""
    match = _PYTHON_ARGUMENT.search(str(error))
    if match is None or where is None or not isinstance(error, TypeError):
        return []
    path, line = where
    argument, op, wanted = match["argument"], match["op"], match["wanted"]
    value = _argument_value(path, line, argument)
    span = node_span(value) if value is not None else None
    text = ast.unparse(value) if value is not None else argument
    flag = "bool" if wanted in ("bool", "SymBool") else "number"
    reads = "the input's shape" if value is not None and reads_shape(value, path, line) \
        else "a size (a Tensor while tracing)"
    message = (
        f"`{argument}={text}` computes a Python {flag} from {reads}; while tracing, sizes are "
        f"tensors, so {op}() receives a Tensor where it needs a {wanted} and the trace stops "
        f"(\"argument '{argument}' must be {wanted}, not Tensor\"). This is a branch on the "
        "shape that the op takes in Python. Compute the flag from Python ints outside the traced "
        "region (pass it in as a constructor argument or attribute), or drop the flag and pass "
        "what it selects explicitly (for is_causal: an attn_mask).")
    details = {"argument": argument, "op": op, "expected": wanted, "depends_on": "shape",
               "classification": "harmful"}
    return [finding("TR107", path, line, message, origin="trace",
                    span=span if isinstance(span, Span) else None, details=details)]


def _argument_value(path: str, line: int, argument: str) -> ast.expr | None:
    """The expression passed as `argument=` in the call on `line`."""
    for statement in expressions_at(path, line):
        for node in ast.walk(statement):
            if isinstance(node, ast.Call):
                for keyword in node.keywords:
                    if keyword.arg == argument:
                        return keyword.value
    return None
