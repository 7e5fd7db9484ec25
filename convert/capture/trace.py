"""Trace mode: `torch.jit.trace` with every TracerWarning turned into a pinned diagnostic.

The module is traced once. When the trace warned, the model is traced again on probe inputs
(other values, other sizes) and the graphs are compared line by line: that is what classifies each
warning as harmful or benign (see `tracer_warnings`). The traced module is then run next to the
eager model on the example and on the probes: the `checks` auto mode decides with. When the eager
model does not even reproduce itself on the same input, torch's own `check_trace` is run too:
its "Graphs differed across invocations!" and nondeterministic-node reports say where (TR106).
(`check_trace` costs a second trace plus graph diffs, ~5x a plain trace, so it only runs when it
can explain something.)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from torchready.convert.capture.graph_lines import LineFacts, changed_lines, index_graph_lines
from torchready.convert.capture.probes import Probe, outputs_match, run, shape_probe, value_probe
from torchready.convert.capture.recording import RecordedWarning, recording_warnings
from torchready.convert.capture.result import Captured, Check
from torchready.convert.capture.traced_flags import traced_flag_diagnostics
from torchready.convert.capture.tracer_warnings import ProbeTrace, warning_diagnostics
from torchready.convert.findings import finding
from torchready.convert.python_source import display_path
from torchready.convert.source_lines import (first_user_frame, frames_of_range, iter_nodes,
                                  user_frame_of_exception, user_line_of_node)
from torchready.lint.types import Diagnostic

# Trace failures whose cause is the output structure (prepare's wrapper normally prevents them).
_OUTPUT_ERRORS = ("at the output of the tracer", "Only tensors", "Tracer cannot infer type")


@dataclass
class TraceRun:
    module: Any = None
    records: list[RecordedWarning] = field(default_factory=list)
    error: BaseException | None = None
    check_error: str | None = None  # torch's TracingCheckError text (identical inputs)
    nondeterministic: bool = False  # the eager model gave two answers for one input


def trace_once(module: Any, inputs: tuple, check: bool = True) -> TraceRun:
    import torch

    result = TraceRun()
    with recording_warnings() as records:
        try:
            result.module = torch.jit.trace(module, inputs, check_trace=check, strict=True)
        except torch.jit._trace.TracingCheckError as error:
            result.check_error = str(error)
            try:
                result.module = torch.jit.trace(module, inputs, check_trace=False, strict=True)
            except Exception as retry_error:
                result.error = retry_error
        except Exception as error:
            result.error = error
    result.records = list(records)
    return result


@dataclass
class TraceAnalysis:
    """Everything trace mode learned; auto mode decides from it."""

    captured: Captured
    records: list[RecordedWarning] = field(default_factory=list)
    lines: dict[tuple[str, int], LineFacts] = field(default_factory=dict)
    probes: list[Probe] = field(default_factory=list)


def trace_failure(error: BaseException, started: float, mode: str = "trace") -> Captured:
    from torchready.convert.coreml.errors import first_line

    where = user_frame_of_exception(error)
    first = first_line(error)
    diagnostics: list[Diagnostic] = []
    if where is not None and any(marker in str(error) for marker in _OUTPUT_ERRORS):
        diagnostics.append(finding(
            "TR101", where[0], where[1],
            f"torch.jit.trace cannot record this output: {first}. Return tensors or tuples of "
            "tensors from traced code.", origin="trace"))
    diagnostics += traced_flag_diagnostics(error, where)
    at = f" at {display_path(where[0])}:{where[1]}" if where else ""
    return Captured(module=None, mode=mode, reason="torch.jit.trace failed",
                    diagnostics=diagnostics,
                    timings={"trace": time.perf_counter() - started},
                    error=f"torch.jit.trace failed{at}: {type(error).__name__}: {first}",
                    error_location=where)


def _check_error_diagnostics(text: str) -> list[Diagnostic]:
    """TR106 for torch's "Graphs differed across invocations!" on identical inputs."""
    section = text.split("Trace source location:", 1)[-1] if "Trace source location:" in text \
        else text
    where = first_user_frame(frames_of_range(section))
    if where is None:
        return []
    message = ("Tracing the model twice on the same input gives different graphs (torch's "
               "check_trace: \"Graphs differed across invocations!\"): forward depends on "
               "randomness or Python state that changes between calls; the trace freezes one "
               "run of it.")
    return [finding("TR106", where[0], where[1], message, origin="trace",
                    details={"classification": "harmful", "check_trace": True})]


def _as_tuple(value: Any) -> tuple:
    return value if isinstance(value, tuple) else (value,)


def _nondeterminism_diagnostics(prepared: Any, lines: list[tuple[str, int]]) -> list[Diagnostic]:
    """TR106 when the eager model answers the same input twice differently."""
    from torchready.convert.python_source import definition_line
    from torchready.convert.source_lines import is_user_file

    places = lines
    if not places:
        site = definition_line(type(prepared.original).forward)
        places = [site] if site and is_user_file(site[0]) else []
    message = ("The model returns different outputs for the same input twice in a row: forward "
               "uses randomness (torch.rand, dropout in training mode) or Python state that "
               "changes between calls. A trace freezes one run of it; the Core ML model cannot "
               "match the PyTorch model.")
    return [finding("TR106", path, line, message, origin="trace",
                    details={"classification": "harmful"}) for path, line in places]


def _library_shape_findings_as_warnings(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """Shape-dependent code inside a library (transformers' `q_length > 1`) is frozen right for
    a fixed-shape model and is not the user's to edit: a warning, not an error."""
    from dataclasses import replace

    from torchready.lint.types import Severity

    return [replace(d, severity=Severity.WARNING)
            if d.details.get("library") and d.details.get("depends_on") == "shape"
            and d.severity == Severity.ERROR else d for d in diagnostics]


def _probe_trace(module: Any, probe: Probe, base: dict, root: Any) -> ProbeTrace:
    run_result = trace_once(module, probe.inputs, check=False)
    if run_result.error is not None:
        first = (str(run_result.error).strip().splitlines() or [""])[0]
        return ProbeTrace(probe, error=f"{type(run_result.error).__name__}: {first}")
    lines = index_graph_lines(run_result.module.inlined_graph, root)
    return ProbeTrace(probe, lines, changed_lines(base, lines))


def compare_on(captured_module: Any, eager_module: Any, probe: Probe) -> Check:
    expected = probe.expected
    error = None
    if expected is None:
        expected, error = run(eager_module, probe.inputs)
    if error is not None:
        return Check(f"{probe.kind} probe", True, f"eager model rejects it: {error}")
    actual, error = run(captured_module, probe.inputs)
    if error is not None:
        return Check(f"{probe.kind} probe", False,
                     f"captured module fails on {probe.description}: {error}")
    if outputs_match(expected, actual):
        return Check(f"{probe.kind} probe", True, f"matches eager on {probe.description}")
    return Check(f"{probe.kind} probe", False, f"differs from eager on {probe.description}")


def example_check(captured_module: Any, prepared: Any) -> Check:
    actual, error = run(captured_module, prepared.example_inputs)
    if error is not None:
        return Check("example", False, f"captured module fails on the example: {error}")
    expected = prepared.reference_outputs
    expected = expected[0] if len(expected) == 1 else expected
    if outputs_match(expected, actual):
        return Check("example", True, "matches eager on the example inputs")
    return Check("example", False, "differs from eager on the example inputs")


def make_probes(prepared: Any) -> list[Probe]:
    probes = [value_probe(prepared.example_inputs, prepared.input_names)]
    shaped = shape_probe(prepared.module, prepared.example_inputs, prepared.input_names,
                         prepared.flexible or None)
    if shaped is not None:
        probes.append(shaped)
    return probes


def analyse_trace(prepared: Any) -> TraceAnalysis:
    started = time.perf_counter()
    wrapper = prepared.module
    first = trace_once(wrapper, prepared.example_inputs, check=False)
    timings = {"trace": time.perf_counter() - started}
    if first.error is not None:
        return TraceAnalysis(trace_failure(first.error, started), first.records)

    checked = time.perf_counter()
    again, _ = run(wrapper, prepared.example_inputs)
    if again is not None and not outputs_match(_as_tuple(prepared.reference_outputs),
                                               _as_tuple(again)):
        # The Python model is not reproducible: let torch's check_trace say where.
        checked_run = trace_once(wrapper, prepared.example_inputs, check=True)
        first.records += checked_run.records
        first.check_error = checked_run.check_error
        first.nondeterministic = True
    lines = index_graph_lines(first.module.inlined_graph, wrapper)
    probes = make_probes(prepared)
    warned = any(record.category == "TracerWarning" for record in first.records)
    probe_traces = [_probe_trace(wrapper, probe, lines, wrapper) for probe in probes] \
        if warned else []
    nondeterministic = [where for where in (user_line_of_node(node, wrapper)
                                            for node in iter_nodes(first.module.inlined_graph)
                                            if node.isNondeterministic()) if where]
    diagnostics, notes = warning_diagnostics(first.records, lines, probe_traces,
                                             list(dict.fromkeys(nondeterministic)))
    if first.check_error:
        diagnostics += _check_error_diagnostics(first.check_error)
    if first.nondeterministic and not any(d.code == "TR106" for d in diagnostics):
        diagnostics += _nondeterminism_diagnostics(prepared, nondeterministic)
    if not prepared.flexible:
        diagnostics = _library_shape_findings_as_warnings(diagnostics)
    checks = [example_check(first.module, prepared)]
    checks += [compare_on(first.module, wrapper, probe) for probe in probes]
    timings["trace_checks"] = time.perf_counter() - checked
    captured = Captured(module=first.module, mode="trace", reason="requested",
                        diagnostics=diagnostics, timings=timings, checks=checks, notes=notes)
    return TraceAnalysis(captured, first.records, lines, probes)


def trace_capture(prepared: Any) -> Captured:
    return analyse_trace(prepared).captured
