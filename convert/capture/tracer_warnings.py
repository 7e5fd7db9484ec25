"""TracerWarnings -> diagnostics with TR codes, user lines and a harmful/benign verdict.

torch warns whenever Python touches a traced value ("Converting a tensor to a Python float might
cause the trace to be incorrect"). Some of those are real bugs (the value is frozen into the
trace), some are noise (the talk's example: the size is still recorded). The verdict comes from
the graph, not from the wording:

* the line still computes the size in the graph (`aten::size` ... at that line): benign;
* the line's recorded constants change when the model is traced again on a probe input (other
  values or other sizes): harmful, with the two values as evidence;
* a boolean (TR104) or a loop length (TR105) taken from a tensor: harmful, the trace holds one
  branch or one iteration count;
* a conversion with no size computed in the graph: harmful, unless the probes show the value
  does not depend on the inputs at all (`self.scale.item()`): benign.

Codes (the static rules' codes): TR102 Python numbers made from sizes, TR103 tensor data read
into Python (`.item()`, `int(t)`, `.tolist()`, `.numpy()`), TR104 Python booleans of tensors,
TR105 iterating over / `len()` of a tensor, TR106 a trace that does not reproduce itself.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Any

from torchready.convert.capture.graph_lines import LineFacts
from torchready.convert.capture.probes import Probe
from torchready.convert.capture.recording import RecordedWarning
from torchready.convert.findings import finding
from torchready.convert.python_source import (Span, call_name, expressions_at, line_reads_shape, line_span,
                                   narrow_span, node_span, span_text)
from torchready.convert.source_lines import is_user_file, user_frame_of_stack
from torchready.lint.types import Diagnostic, Severity

_BOOLEAN = re.compile(r"Converting a tensor to a Python boolean")
_CONVERSION = re.compile(r"Converting a tensor to a (Python (float|integer|number|index|complex|"
                         r"list)|NumPy array)")
_CONSTANT_RESULT = re.compile(r"(torch\.\w+|results) .*registered as constants")
_ITERATION = re.compile(r"Iterating over a tensor|Using len to get tensor shape")
_MISMATCH = re.compile(r"Output nr \d+\. of the traced function does not match|"
                       r"Trace had nondeterministic nodes")

# Calls worth underlining on a warned line: the conversion itself.
_CONVERTING_CALLS = {"float", "int", "bool", "round", "item", "tolist", "numpy", "tensor",
                     "as_tensor", "from_numpy", "sqrt", "floor", "ceil", "log", "log2", "exp",
                     "pow", "len", "range"}


@dataclass
class ProbeTrace:
    """A re-trace of the model on a probe input, compared line by line with the first trace."""

    probe: Probe
    lines: dict[tuple[str, int], LineFacts] = field(default_factory=dict)
    changed: set[tuple[str, int]] = field(default_factory=set)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def code_for(record: RecordedWarning) -> str | None:
    message = record.message
    if _BOOLEAN.search(message):
        return "TR104"
    if _ITERATION.search(message):
        return "TR105"
    if _MISMATCH.search(message):
        return "TR106"
    if _CONVERSION.search(message) or _CONSTANT_RESULT.search(message):
        # The same warning covers `math.sqrt(x.size(-1))` and `logits.argmax().item()`: where
        # the value came from tells a size (TR102) from tensor data (TR103).
        origin = depends_on(record)
        if origin == "shape" or (origin == "unknown"
                                 and line_reads_shape(record.filename, record.lineno)):
            return "TR102"
        return "TR103"
    return None


def depends_on(record: RecordedWarning) -> str:
    """"data", "shape", "constant" (parameters and literals only) or "unknown"."""
    if "data" in record.origin:
        return "data"
    if "shape" in record.origin:
        return "shape"
    if record.origin:
        return "constant"
    return "unknown"


def warning_location(record: RecordedWarning) -> tuple[str, int, bool]:
    """(path, line, is_user) to report: the warning's own line when it is the user's code, else
    the innermost user frame that led to it, else the library line."""
    if is_user_file(record.filename):
        return record.filename, record.lineno, True
    # Only frames inside the traced call count: the code that called torch.jit.trace (a test, a
    # notebook cell calling torchready.to_coreml) is the user's too, but not where the model is.
    stack = list(record.stack)
    entries = [i for i, frame in enumerate(stack)
               if frame.filename.replace("\\", "/").endswith("torch/jit/_trace.py")]
    user = user_frame_of_stack(stack[entries[-1] + 1:] if entries else stack)
    if user is not None:
        return user[0], user[1], True
    return record.filename, record.lineno, False


def _is_conversion_call(node: Any) -> bool:
    name = call_name(node)
    return bool(name) and name.rsplit(".", 1)[-1] in _CONVERTING_CALLS


def _quoted(record: RecordedWarning) -> str:
    # The first sentence ("Output nr 1. of the traced function" has a dot after a number).
    sentence = re.split(r"(?<!\d)\. ", record.first_line)[0].rstrip(".:")
    return f'TracerWarning: "{sentence}"'


def _span_for(code: str, path: str, line: int) -> Span:
    """What to underline: the conversion call (TR102/TR103), the condition (TR104), the loop's
    iterable or len() call (TR105); else the line's code."""
    if code in ("TR102", "TR103"):
        return narrow_span(path, line, _is_conversion_call)
    for expression in expressions_at(path, line):
        for node in ast.walk(expression):
            if getattr(node, "lineno", None) != line and not isinstance(node, ast.comprehension):
                continue
            if code == "TR104" and isinstance(node, (ast.Compare, ast.BoolOp, ast.UnaryOp,
                                                     ast.Call, ast.Name)):
                return node_span(node)
            if code == "TR105" and isinstance(node, ast.comprehension) \
                    and node.iter.lineno == line:
                return node_span(node.iter)
            if code == "TR105" and call_name(node) == "len":
                return node_span(node)
    return line_span(path, line)


def _facts(lines: dict[tuple[str, int], LineFacts], *keys: tuple[str, int]) -> LineFacts:
    merged = LineFacts()
    for key in dict.fromkeys(keys):
        facts = lines.get(key)
        if facts is not None:
            merged.kinds += facts.kinds
            merged.constants += facts.constants
            merged.tensor_constants += facts.tensor_constants
    return merged


@dataclass
class Verdict:
    harmful: bool
    evidence: str
    confirmed_by: list[str] = field(default_factory=list)


def judge(code: str, record: RecordedWarning, keys: list[tuple[str, int]],
          base_lines: dict[tuple[str, int], LineFacts],
          probe_traces: list[ProbeTrace]) -> Verdict:
    facts = _facts(base_lines, *keys)
    changed_by = [trace for trace in probe_traces
                  if trace.ok and any(key in trace.changed for key in keys)]
    confirmations = []
    for trace in changed_by:
        after = _facts(trace.lines, *keys).tensor_constants
        before = facts.tensor_constants
        if before and after and before != after:
            confirmations.append(f"with {trace.probe.kind} probe ({trace.probe.description}) the "
                                 f"trace holds {', '.join(after)} instead of "
                                 f"{', '.join(before)}")
        else:
            confirmations.append(f"the graph recorded at this line changes with the "
                                 f"{trace.probe.kind} probe ({trace.probe.description})")
    origin = depends_on(record)
    if code == "TR104" and origin == "constant" and not confirmations:
        return Verdict(False, "the condition only reads the model's own parameters and "
                              "constants, so every input takes the same branch")
    if code in ("TR104", "TR105", "TR106"):
        evidence = {"TR104": "the trace holds only the branch the example took",
                    "TR105": "the trace holds the example's number of iterations",
                    "TR106": "the trace does not reproduce the Python function"}[code]
        if code == "TR104" and origin == "shape":
            evidence += " (the condition reads the input's shape)"
        elif code == "TR104" and origin == "data":
            evidence += " (the condition reads the input's values)"
        return Verdict(True, evidence, confirmations)
    if confirmations:
        return Verdict(True, "the value is baked into the trace", confirmations)
    if facts.computes_size:
        computed = sorted({kind for kind in facts.kinds if kind in
                           ("aten::size", "prim::NumToTensor", "aten::Int", "aten::numel")})
        return Verdict(False, f"the graph still computes it at this line ({', '.join(computed)})")
    if origin == "constant":
        return Verdict(False, "the value comes only from the model's parameters and constants, "
                              "the same for every input")
    if origin == "data":
        # Known to come from the input's values: a probe that left it unchanged proves nothing.
        constants = f" (the trace holds {', '.join(facts.tensor_constants)})" \
            if facts.tensor_constants else ""
        return Verdict(True, f"the value is computed from the input's values{constants}")
    exercised = [trace for trace in probe_traces if trace.ok and (
        trace.probe.kind == "values" if code == "TR103" else trace.probe.complete)]
    if exercised and facts.tensor_constants:
        return Verdict(False, "the recorded constant did not change when the inputs' "
                       + ("values" if code == "TR103" else "sizes") + " changed "
                       f"({exercised[0].probe.description}): it does not depend on the inputs")
    if _CONSTANT_RESULT.search(record.message) and code == "TR103":
        return Verdict(False, "a tensor built from Python values that do not come from the "
                              "inputs is a true constant")
    constants = f" (the trace holds {', '.join(facts.tensor_constants)})" \
        if facts.tensor_constants else ""
    return Verdict(True, f"nothing at this line computes the value in the graph{constants}")


def _message(code: str, expr: str, verdict: Verdict, record: RecordedWarning) -> str:
    quoted = _quoted(record)
    shown = f"`{expr}`" if expr else "this line"
    proof = (" Confirmed: " + "; ".join(verdict.confirmed_by) + ".") if verdict.confirmed_by \
        else ""
    if not verdict.harmful:
        return (f"Benign: {shown} triggers {quoted}, but {verdict.evidence}, so the trace "
                "follows the input. Nothing to fix.")
    if code == "TR102":
        return (f"{shown} turns a tensor size into a Python number while tracing ({quoted}): "
                f"{verdict.evidence}, so the converted model is only right for inputs shaped "
                "like the example. Keep the arithmetic on the size itself (`size ** 0.5` "
                "instead of `math.sqrt(size)`, `a // b` instead of `math.floor(a / b)`) so the "
                f"tracer records it.{proof}")
    if code == "TR103":
        return (f"{shown} reads a tensor's value into Python while tracing ({quoted}): "
                f"{verdict.evidence}, and every input gets the example's value. Keep the "
                "computation in tensor ops (`torch.where`, tensor indexing) or script this part "
                f"(--mode hybrid).{proof}")
    if code == "TR104":
        return (f"{shown} decides on a tensor value in Python while tracing ({quoted}): "
                f"{verdict.evidence}. Script this control flow (--mode hybrid traces the "
                f"submodules and scripts the rest) or express it with `torch.where`.{proof}")
    if code == "TR105":
        return (f"Looping over a tensor or taking its len() ({shown}) while tracing ({quoted}): "
                f"{verdict.evidence}, so other sizes run the wrong number of iterations. Use "
                f"tensor ops over the whole dimension, or script the loop.{proof}")
    return (f"The trace does not reproduce the model on the same input ({quoted}): forward uses "
            "randomness (dropout in training mode, torch.rand) or Python state that changes "
            f"between calls, which the trace freezes.{proof}")


def warning_diagnostics(records: list[RecordedWarning],
                        base_lines: dict[tuple[str, int], LineFacts],
                        probe_traces: list[ProbeTrace],
                        nondeterministic_lines: list[tuple[str, int]] | None = None,
                        ) -> tuple[list[Diagnostic], list[str]]:
    """Diagnostics for TracerWarnings, plus notes for the warnings no TR code describes."""
    diagnostics: list[Diagnostic] = []
    notes: list[str] = []
    seen: set[tuple[str, int, str, str]] = set()
    for record in records:
        if record.category != "TracerWarning":
            continue
        code = code_for(record)
        path, line, user = warning_location(record)
        key = (path, line, code or "", record.first_line)
        if key in seen:
            continue  # check_trace re-runs forward: every warning comes twice
        seen.add(key)
        if code is None:
            notes.append(f"{path}:{line}: {record.first_line}")
            continue
        if code == "TR106" and nondeterministic_lines:
            places = nondeterministic_lines
        elif code == "TR106" and not user:
            continue  # raised by torch's own check: the caller reports the diverging line
        else:
            places = [(path, line)]
        keys = list(dict.fromkeys([(path, line), (record.filename, record.lineno)]))
        verdict = judge(code, record, keys, base_lines, probe_traces)
        span = _span_for(code, path, line)
        expr = span_text(path, span) if span is not None else ""
        message = _message(code, expr, verdict, record)
        details: dict[str, Any] = {
            "classification": "harmful" if verdict.harmful else "benign",
            "evidence": verdict.evidence,
            "warning": record.first_line,
            # What the frozen value depends on: auto mode scripts data-dependent code; shape-
            # dependent code is right for a fixed-shape Core ML model.
            "depends_on": {"TR105": "shape", "TR106": "randomness"}.get(code,
                                                                      depends_on(record)),
        }
        if verdict.confirmed_by:
            details["confirmed_by"] = verdict.confirmed_by
        if (record.filename, record.lineno) != (path, line):
            details["emitted_at"] = f"{record.filename}:{record.lineno}"
        if not user:
            details["library"] = True
        severity = Severity.ERROR if verdict.harmful else Severity.INFO
        for place_path, place_line in places:
            diagnostics.append(finding(code, place_path, place_line, message, origin="trace",
                                       severity=severity,
                                       span=span if (place_path, place_line) == (path, line)
                                       else None, details=details))
    return diagnostics, notes
