"""Auto mode: trace when nothing shows the trace depends on its example, hybrid otherwise.

Tracing is coremltools' best-supported path, so it is the default. The trace is rejected when it
is shown to freeze data-dependent behaviour: a harmful TracerWarning whose value depends on the
input's contents (a branch on `x.sum() > 0`, `.item()` of an activation, randomness), or a traced
module that disagrees with the eager model on the example, on inputs with other values, or on
other sizes along the dimensions declared flexible. Code that depends only on the input's shape
(shape arithmetic TR102, unrolled loops TR105, branches on sizes) is frozen correctly for the
example's shape, which is all a fixed-shape Core ML model ever sees, so it forces hybrid only when
flexible dimensions are declared. The reason is always stated.
"""

from __future__ import annotations

from typing import Any

from torchready.convert.capture.hybrid import hybrid_capture
from torchready.convert.capture.result import Captured
from torchready.convert.capture.trace import analyse_trace
from torchready.convert.python_source import display_path

def _why_not_trace(analysis: Any, prepared: Any) -> list[str]:
    captured = analysis.captured
    reasons = []
    if not captured.ok:
        reasons.append(captured.error or "torch.jit.trace failed")
        return reasons
    for diagnostic in captured.diagnostics:
        if diagnostic.details.get("classification") != "harmful":
            continue
        shape_only = diagnostic.details.get("depends_on") == "shape"
        if not shape_only or prepared.flexible:
            reasons.append(f"{diagnostic.code} {diagnostic.name} at "
                           f"{display_path(diagnostic.path)}:{diagnostic.line}")
    for check in captured.checks:
        if check.ok:
            continue
        if check.name == "shape probe" and not prepared.flexible:
            continue  # a fixed-shape Core ML model never sees other sizes
        reasons.append(f"the trace {check.detail}")
    return list(dict.fromkeys(reasons))


def auto_capture(prepared: Any, traced_submodules: list[str] | None = None) -> Captured:
    analysis = analyse_trace(prepared)
    reasons = _why_not_trace(analysis, prepared)
    captured = analysis.captured
    if not reasons:
        passed = ", ".join(check.name for check in captured.checks if check.ok)
        captured.reason = ("auto chose trace: no data-dependent control flow found (no harmful "
                           "TracerWarning about tensor values; the trace matches eager on "
                           f"{passed or 'the example'})")
        frozen_shapes = sorted({d.code for d in captured.diagnostics
                                if d.details.get("classification") == "harmful"
                                and d.details.get("depends_on") == "shape"})
        if frozen_shapes:
            captured.reason += (f"; shape-dependent code ({', '.join(frozen_shapes)}) is frozen "
                                "for the example's shape, which is what a fixed-shape Core ML "
                                "model needs (declare flexible dimensions to have it scripted)")
        return captured
    why = "; ".join(reasons[:4]) + ("; ..." if len(reasons) > 4 else "")
    trace_findings = captured.diagnostics if captured.ok else captured.diagnostics
    hybrid = hybrid_capture(prepared, traced_submodules, reason=f"auto chose hybrid: {why}",
                            extra=trace_findings)
    hybrid.timings = {**{f"auto_{k}": v for k, v in captured.timings.items()}, **hybrid.timings}
    hybrid.notes = captured.notes + hybrid.notes
    return hybrid
