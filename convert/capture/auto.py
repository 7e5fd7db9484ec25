"""Auto mode: which capture path to try first, which next, and what each one leaves behind.

First choice:

* the hybrid pattern (`loop_pattern`): a `while` in the model's forward that loops on a value
  computed from a submodule's output, with that submodule traceable on its own -> hybrid (trace
  the submodule, script the loop), without tracing the whole model first: its trace would only
  freeze the iteration count of the example;
* otherwise trace, coremltools' best-supported path, unless the trace is shown to freeze
  data-dependent behaviour: a harmful TracerWarning whose value depends on the input's contents (a
  branch on `x.sum() > 0`, `.item()` of an activation, randomness), or a traced module that
  disagrees with the eager model on the example, on inputs with other values, or on other sizes
  along the dimensions declared flexible -> hybrid. Code that depends only on the input's shape
  (shape arithmetic TR102, unrolled loops TR105, branches on sizes) is frozen correctly for the
  example's shape, which is all a fixed-shape Core ML model ever sees, so it forces hybrid only
  when flexible dimensions are declared.

When the first choice does not convert with parity, the pipeline tries the others
(`fallback_modes`), and a plain trace is always among them: for a fixed-shape Core ML model the
trace is often exactly right, and parity decides. The trace auto already made is reused
(`Captured.alternatives`), and when a trace is kept its reason says which branches it froze.
A failure that no capture path can change stops the search (`stops_the_search`): parity that
fails only at fp16 (the fp32 re-conversion passes) is the model's numerics, not its capture.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from torchready.convert.capture.hybrid import hybrid_capture
from torchready.convert.capture.loop_pattern import find_loop_pattern
from torchready.convert.capture.result import Captured
from torchready.convert.capture.trace import analyse_trace
from torchready.convert.python_source import display_path
from torchready.lint.types import Diagnostic, Severity

# What to try after the first choice, in order. Export proves what it captures (it refuses
# data-dependent control flow); a plain trace comes last, judged by parity alone.
_FALLBACKS = {"trace": ("export", "hybrid"), "hybrid": ("export", "trace"),
              "script": ("export", "trace"), "export": ("trace",)}
_FROZEN_CODES = ("TR102", "TR103", "TR104", "TR105", "TR106", "TR107")


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
    if not traced_submodules:
        pattern = find_loop_pattern(prepared)
        if pattern is not None:
            return hybrid_capture(prepared, reason=pattern.reason, candidates=pattern.candidates)
    analysis = analyse_trace(prepared)
    reasons = _why_not_trace(analysis, prepared)
    captured = analysis.captured
    if not reasons:
        passed = ", ".join(check.name for check in captured.checks if check.ok)
        captured.reason = ("auto chose trace: no data-dependent control flow found (no harmful "
                           "TracerWarning about tensor values; the trace matches eager on "
                           f"{passed or 'the example'})")
        frozen = frozen_branches(captured.diagnostics)
        if frozen:
            captured.reason += (f"; the trace froze {frozen} for the example's shape, which is "
                                "what a fixed-shape Core ML model needs (declare flexible "
                                "dimensions to have it scripted)")
        return captured
    why = "; ".join(reasons[:4]) + ("; ..." if len(reasons) > 4 else "")
    hybrid = hybrid_capture(prepared, traced_submodules, reason=f"auto chose hybrid: {why}",
                            extra=captured.diagnostics)
    hybrid.timings = {**{f"auto_{k}": v for k, v in captured.timings.items()}, **hybrid.timings}
    hybrid.notes = captured.notes + hybrid.notes
    hybrid.alternatives["trace"] = captured
    return hybrid


def fallback_modes(first: Captured) -> tuple[str, ...]:
    """The capture paths to try, in order, after auto's first choice failed."""
    return tuple(mode for mode in _FALLBACKS.get(first.mode, ("trace",)) if mode != first.mode)


def trace_fallback(first: Captured) -> Captured | None:
    """The trace auto made before choosing something else, kept for the trace fallback, with
    its reason: what it froze, and that parity decides."""
    trace = first.alternatives.get("trace")
    if trace is None:
        return None
    frozen = frozen_branches(trace.diagnostics)
    trace.reason = ("auto fell back to a plain trace" + (
        f"; it froze {frozen}" if frozen else "") + "; kept only if it converts with parity")
    return trace


def stops_the_search(attempt: Any) -> str | None:
    """Why no other capture path is worth trying after this attempt, or None."""
    parity = getattr(attempt, "parity", None)
    if attempt.failed_stage == "parity" and parity is not None and parity.cause == "fp16":
        return (f"parity failed only for fp16 precision with {attempt.capture_mode} (converted "
                "again at fp32 it passes): the capture is right and another capture path would "
                "convert the same numerics; convert with --precision fp32 or keep the "
                "overflowing ops in fp32")
    return None


def frozen_branches(diagnostics: list[Diagnostic], probes: Any = None) -> str:
    """`the branch at model.py:12 (TR104, on data), ...`: what a trace baked in, from its
    TracerWarnings and from shape probing."""
    kinds = {"TR102": "size arithmetic", "TR103": "Python value", "TR104": "branch",
             "TR105": "loop", "TR106": "side effect", "TR107": "flag"}
    parts = []
    for d in diagnostics:
        if d.code not in _FROZEN_CODES or d.origin not in ("trace", "probe"):
            continue
        if d.origin == "trace" and d.details.get("classification") != "harmful":
            continue
        on = d.details.get("depends_on")
        parts.append(f"the {kinds[d.code]} at {display_path(d.path)}:{d.line} ({d.code}"
                     + (f", on {on}" if on else "") + ")")
    for dimension in getattr(probes, "specialized", None) or []:
        target = dimension.target
        parts.append(f"input '{target.input_name}' dimension {target.dim} at size "
                     f"{target.example_size}")
    parts = list(dict.fromkeys(parts))
    return ", ".join(parts[:6]) + (f" and {len(parts) - 6} more" if len(parts) > 6 else "")


def carried_findings(failed: list[Diagnostic], chosen: list[Diagnostic], mode: str
                     ) -> list[Diagnostic]:
    """The findings that stopped the trace (TR107: a flag computed from a traced size), from
    attempts that failed, for the result of the path that worked: as warnings, since that path
    captured the line correctly."""
    kept = {(d.code, d.path, d.line) for d in chosen}
    carried = []
    for d in failed:
        if "argument" not in d.details or (d.code, d.path, d.line) in kept:
            continue
        kept.add((d.code, d.path, d.line))
        carried.append(replace(d, severity=Severity.WARNING,
                               details={**d.details, "resolved_by": mode}))
    return carried
