"""Building the `Diagnostic`s that dynamic checks report (prepare, capture, coverage).

Dynamic findings share the static rules' codes and names (design.md §4), so a user sees the same
TR102 whether `torchready lint` read the source or `torchready audit` watched the tracer. The
names are kept here rather than read from `torchready.lint.rules` so the conversion pipeline does not load
every rule module (and keeps working while the rule catalog grows).
"""

from __future__ import annotations

from typing import Any

from torchready.convert.python_source import Span, line_span
from torchready.lint.types import Diagnostic, Severity

CODE_NAMES = {
    "TR101": "non-tensor-output",
    "TR102": "math-on-shape",
    "TR103": "tensor-to-python",
    "TR104": "data-dependent-control-flow",
    "TR105": "shape-dependent-loop",
    "TR106": "python-side-effect",
    "TR107": "shape-dependent-branch",
    "TR201": "untyped-empty-container",
    "TR202": "unannotated-non-tensor-arg",
    "TR203": "unsupported-script-construct",
    "TR204": "optional-attribute-refinement",
    "TR301": "coreml-unsupported-op",
    "TR302": "float64",
    "TR304": "rank-over-five",
    "TR401": "missing-eval",
}


def finding(
    code: str,
    path: str,
    line: int,
    message: str,
    *,
    origin: str,
    severity: Severity = Severity.ERROR,
    span: Span | None = None,
    details: dict[str, Any] | None = None,
) -> Diagnostic:
    """A Diagnostic at `path:line`; without an explicit span, the line's text is underlined."""
    span = span if span is not None and span.line == line else line_span(path, line)
    return Diagnostic(
        path=path,
        line=line,
        column=span.column,
        end_line=span.end_line,
        end_column=span.end_column,
        code=code,
        name=CODE_NAMES[code],
        severity=severity,
        message=message,
        origin=origin,
        details=dict(details or {}),
    )
