"""Shape probing: does the captured TorchScript module follow the input's size, dimension by dimension?

A trace records one run. Code that turns a size into a Python number (`math.sqrt(x.size(1))`),
reads a tensor into Python or loops over a dimension freezes the example's size into the graph,
and nothing fails: the module silently computes the wrong thing at any other size. So for each
input dimension worth probing, the eager model and the captured module run on inputs where only
that dimension changed (plus the dimensions that must change with it, `key` with `query`):

* which dimensions: every dimension the user declared flexible (or enumerated), and by default
  the batch dimension and the spatial / sequence dimensions (dims 2.. of float images, 1.. of
  float sequences, every dimension of integer/bool inputs); a dimension the eager model rejects
  at another size (a Linear's feature size) is simply not probe-able;
* a mismatch (or a module that fails where eager runs) is pinned to the graph constant that
  baked the size in: the wrapper is traced at both sizes and the graphs are compared line by
  line (`capture.graph_lines`); a line whose recorded constants or ops change is where the size
  was frozen. Its code is the one the TracerWarning at that line implies (TR102 a size made a
  Python number, TR103 tensor data read into Python, TR105 a loop over a dimension), else TR105
  when the recorded ops change (an unrolled loop) and TR102 when only constants change.

Severity: an error when the dimension is flexible in the Core ML model (the converted model is
wrong at other sizes); a warning otherwise (the fixed-shape Core ML model is right for the
example's size, but declaring the dimension flexible later would make it wrong).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from torchready.lint.types import Diagnostic, Severity

_FIX_HINTS = {
    "TR102": "Keep the arithmetic on the size itself (`size ** 0.5` instead of "
             "`math.sqrt(size)`, `a // b` instead of `math.floor(a / b)`) so the tracer records it.",
    "TR103": "Keep the computation in tensor ops, or script this part (--mode hybrid).",
    "TR104": "Script this control flow (--mode hybrid) or express it with `torch.where`.",
    "TR105": "Use tensor ops over the whole dimension, or script the loop (--mode hybrid).",
}


@dataclass(frozen=True)
class ProbeTarget:
    input_index: int
    input_name: str
    dim: int
    role: str  # "batch" | "sequence" | "spatial" | "declared flexible"
    example_size: int
    probe_size: int
    declared: bool  # flexible (or enumerated) in the Core ML model


@dataclass
class ProbedDimension:
    target: ProbeTarget
    status: str  # "follows" | "specialized" | "rejected" (eager refuses the size)
    detail: str = ""
    moved: list[str] = field(default_factory=list)  # other dims that had to move with it
    lines: list[tuple[str, int, str]] = field(default_factory=list)  # (path, line, code)

    def to_json(self) -> dict[str, Any]:
        t = self.target
        return {"input": t.input_name, "dim": t.dim, "role": t.role,
                "example_size": t.example_size, "probe_size": t.probe_size,
                "declared": t.declared, "status": self.status, "detail": self.detail,
                "moved_with": self.moved,
                "lines": [{"path": p, "line": n, "code": c} for p, n, c in self.lines]}


@dataclass
class ShapeProbeReport:
    dimensions: list[ProbedDimension] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def specialized(self) -> list[ProbedDimension]:
        return [d for d in self.dimensions if d.status == "specialized"]

    def to_json(self) -> dict[str, Any]:
        return {"dimensions": [d.to_json() for d in self.dimensions], "notes": self.notes,
                "seconds": round(self.seconds, 3)}


def default_dimensions(tensor: Any, is_image: bool = False) -> list[tuple[int, str]]:
    """(dim, role) of the dimensions probed without a declaration."""
    rank = tensor.dim()
    if rank == 0:
        return []
    dims = [(0, "batch")] if rank >= 2 else [(0, "sequence")]
    if not tensor.is_floating_point():
        return dims + [(d, "sequence") for d in range(1, rank)]
    if is_image or rank >= 4:
        return dims + [(d, "spatial") for d in range(2, rank)]
    return dims + [(d, "sequence") for d in range(1, rank)]


def probe_targets(prepared: Any, include_defaults: bool = True) -> list[ProbeTarget]:
    from torchready.convert.capture.probes import grown_size

    targets: dict[tuple[int, int], ProbeTarget] = {}
    for index, (name, tensor) in enumerate(zip(prepared.input_names, prepared.example_inputs)):
        shape = [int(s) for s in tensor.shape]
        for dim, (lower, upper) in prepared.flexible.get(name, {}).items():
            dim = int(dim) % len(shape)
            size = grown_size(shape[dim])
            if upper is not None and upper != -1 and size > upper:
                size = lower if lower != shape[dim] else upper
            if size != shape[dim]:
                targets[(index, dim)] = ProbeTarget(index, name, dim, "declared flexible",
                                                    shape[dim], size, True)
        for other in prepared.enumerated_shapes.get(name, []):
            for dim, size in enumerate(other):
                if int(size) != shape[dim] and (index, dim) not in targets:
                    targets[(index, dim)] = ProbeTarget(index, name, dim, "declared flexible",
                                                        shape[dim], int(size), True)
        if not include_defaults:
            continue
        for dim, role in default_dimensions(tensor, name in prepared.image_inputs):
            if (index, dim) not in targets:
                targets[(index, dim)] = ProbeTarget(index, name, dim, role, shape[dim],
                                                    grown_size(shape[dim]), False)
    return [targets[key] for key in sorted(targets)]


def probe_shapes(prepared: Any, captured_module: Any, *, mode: str = "trace",
                 traced_submodules: Sequence[str] = (), include_defaults: bool = True,
                 existing: Sequence[Diagnostic] = ()) -> ShapeProbeReport:
    """Probe every target dimension; diagnostics for each one the captured module specialized.

    mode / traced_submodules: how the module was captured (what to re-trace to find the line).
    `existing` are diagnostics already found (capture's TracerWarning analysis): a probe finding
    at the same line and code replaces it and keeps the higher severity.
    """
    from torchready.convert.capture.probes import dimension_probe, outputs_match, run_raw

    started = time.perf_counter()
    report = ShapeProbeReport()
    localiser = _Localiser(prepared, mode, traced_submodules)
    findings: dict[tuple[str, str, int], Diagnostic] = {}
    covered: set[tuple[int, int, int]] = set()  # (input, dim, size) already moved by a probe
    for target in probe_targets(prepared, include_defaults):
        if (target.input_index, target.dim, target.probe_size) in covered:
            continue  # moved together with an earlier target: the same probe again
        probe, error = dimension_probe(prepared.module, tuple(prepared.example_inputs),
                                       prepared.input_names, target.input_index, target.dim,
                                       target.probe_size, seed=target.input_index * 31 + target.dim)
        if probe is None:
            report.dimensions.append(ProbedDimension(target, "rejected", error or ""))
            if target.declared:
                report.notes.append(
                    f"input '{target.input_name}' dimension {target.dim} is declared flexible, "
                    f"but the eager model rejects size {target.probe_size}: {error}")
            continue
        covered.update((i, d, target.probe_size) for i, d in probe.moved)
        moved = [f"{prepared.input_names[i]} dim {d}" for i, d in probe.moved
                 if (i, d) != (target.input_index, target.dim)]
        actual, raised = run_raw(captured_module, probe.inputs)
        failure = _last_line(raised) if raised is not None else None
        if failure is None and outputs_match(probe.expected, actual):
            report.dimensions.append(ProbedDimension(target, "follows",
                                                     "matches eager", moved))
            continue
        how = f"fails ({failure})" if failure is not None else \
            f"differs from eager ({_difference(probe.expected, actual)})"
        probed = ProbedDimension(target, "specialized", how, moved)
        for line in localiser.changed_lines(probe):
            probed.lines.append((line.path, line.line, line.code))
            diagnostic = _diagnostic(target, probe, how, moved, line)
            key = (line.code, line.path, line.line)
            kept = findings.get(key)
            if kept is None or (kept.severity != Severity.ERROR
                                and diagnostic.severity == Severity.ERROR):
                findings[key] = diagnostic
        if not probed.lines:
            report.notes.append(
                f"input '{target.input_name}' dimension {target.dim}: at size "
                f"{target.probe_size} the TorchScript module {how}, but no traced line records "
                "a different graph at that size")
        report.dimensions.append(probed)
    report.diagnostics = merge_findings(existing, list(findings.values()))[1]
    report.seconds = time.perf_counter() - started
    return report


def merge_findings(existing: Sequence[Diagnostic], found: Iterable[Diagnostic]
                   ) -> tuple[list[Diagnostic], list[Diagnostic]]:
    """(existing without the ones a probe finding replaces, the probe findings). A replaced
    finding's higher severity and its evidence carry over."""
    import dataclasses

    found = list(found)
    keys = {(d.code, _norm(d.path), d.line): d for d in found}
    kept: list[Diagnostic] = []
    merged: list[Diagnostic] = []
    replaced: dict[tuple[str, str, int], Diagnostic] = {}
    for diagnostic in existing:
        key = (diagnostic.code, _norm(diagnostic.path), diagnostic.line)
        if key in keys and diagnostic.origin != "lint":
            replaced[key] = diagnostic
        else:
            kept.append(diagnostic)
    for key, diagnostic in keys.items():
        old = replaced.get(key)
        if old is not None:
            severity = _higher(old.severity, diagnostic.severity)
            details = {**old.details, **diagnostic.details,
                       "trace_evidence": old.details.get("evidence")}
            diagnostic = dataclasses.replace(diagnostic, severity=severity, details=details)
        merged.append(diagnostic)
    return kept, merged


@dataclass(frozen=True)
class ChangedLine:
    path: str
    line: int
    code: str
    before: tuple[str, ...]  # tensor constants the example's trace holds at this line
    after: tuple[str, ...]  # ... and the probe's trace
    warning: str = ""
    library: bool = False


class _Localiser:
    """Lists the lines whose recorded graph differs between a trace at the example's size and a
    trace at the probe's size. What is traced is what the capture traced: the whole wrapper in
    trace mode, the traced submodules (on the arguments they receive) in hybrid mode; scripted
    code records no constants from sizes, so script mode has nothing to compare."""

    def __init__(self, prepared: Any, mode: str, traced_submodules: Sequence[str]) -> None:
        self.prepared = prepared
        self.mode = mode
        self.traced_submodules = list(traced_submodules)
        self._base: list[tuple[Any, list]] | None = None

    def _subjects(self, inputs: tuple) -> list[tuple[Any, tuple]]:
        """(module, arguments) of everything the capture traced, for these wrapper inputs."""
        if self.mode == "trace":
            return [(self.prepared.module, inputs)]
        if not self.traced_submodules:
            return []
        from torchready.convert.capture.hybrid import record_calls

        calls = record_calls(self.prepared.original, self.prepared.module, inputs)
        modules = dict(self.prepared.original.named_modules())
        return [(modules[path], calls[path].args) for path in self.traced_submodules
                if path in calls and path in modules]

    def _traces(self, inputs: tuple) -> list[tuple[Any, list]]:
        return [_trace_lines(module, args) for module, args in self._subjects(inputs)]

    def changed_lines(self, probe: Any) -> list[ChangedLine]:
        from torchready.convert.capture.graph_lines import LineFacts, changed_lines
        from torchready.convert.source_lines import is_user_file

        if self._base is None:
            self._base = self._traces(tuple(self.prepared.example_inputs))
        found: list[ChangedLine] = []
        for (base, base_records), (other, records) in zip(self._base,
                                                          self._traces(probe.inputs)):
            if base is None or other is None:
                continue
            warnings = _warning_codes(base_records + records)
            changed = sorted(changed_lines(base, other))
            user = [key for key in changed if is_user_file(key[0])]
            # A user line stands for the library lines it calls; library lines only when the
            # user's code shows no change at all (transformers' mask code under a wrapper).
            for path, line in user or changed:
                before = base.get((path, line)) or LineFacts()
                after = other.get((path, line)) or LineFacts()
                code, warning = warnings.get((path, line), (None, ""))
                if code is None:
                    code = "TR105" if sorted(before.kinds) != sorted(after.kinds) else "TR102"
                found.append(ChangedLine(path, line, code, tuple(before.tensor_constants),
                                         tuple(after.tensor_constants), warning,
                                         library=not is_user_file(path)))
        # Lines a TracerWarning explains are the cause; the others are usually consequences
        # (a shape computed from the baked value). Report the causes when there are any.
        explained = [line for line in found if line.warning]
        return explained or found


def _trace_lines(module: Any, args: tuple) -> tuple[Any, list]:
    """(line facts of a trace of `module` on `args`, its warnings); (None, ...) if it fails.
    strict=False: a traced submodule may return a dict (hybrid traces it through a wrapper)."""
    import torch

    from torchready.convert.capture.graph_lines import index_graph_lines
    from torchready.convert.capture.recording import recording_warnings

    with recording_warnings() as records:
        try:
            traced = torch.jit.trace(module, args, check_trace=False, strict=False)
        except Exception:
            return None, list(records)
    return index_graph_lines(traced.inlined_graph, module), list(records)


def _warning_codes(records: list) -> dict[tuple[str, int], tuple[str, str]]:
    from torchready.convert.capture.tracer_warnings import code_for, warning_location

    codes: dict[tuple[str, int], tuple[str, str]] = {}
    for record in records:
        if record.category != "TracerWarning":
            continue
        code = code_for(record)
        if code not in ("TR102", "TR103", "TR104", "TR105"):
            continue
        path, line, _ = warning_location(record)
        for key in ((path, line), (record.filename, record.lineno)):
            codes.setdefault(key, (code, record.first_line))
    return codes


def _diagnostic(target: ProbeTarget, probe: Any, how: str, moved: list[str],
                line: ChangedLine) -> Diagnostic:
    from torchready.convert.findings import finding

    dimension = (f"input '{target.input_name}' dimension {target.dim} ({target.role}, "
                 f"{target.example_size} in the example)")
    with_others = f" (with {', '.join(moved)})" if moved else ""
    if line.code == "TR105":
        evidence = ("At this line the trace records a different number of operations at size "
                    f"{target.probe_size}: the loop was unrolled for the example's size.")
    elif line.before and line.after and line.before != line.after:
        evidence = (f"At this line the trace holds {', '.join(line.before)}, computed from the "
                    f"example's size; traced at size {target.probe_size} it holds "
                    f"{', '.join(line.after)}.")
    else:
        evidence = ("The graph recorded at this line changes with the size: it holds a value "
                    "computed from the example's size.")
    consequence = (
        "This dimension is flexible in the Core ML model, so the converted model is wrong at "
        "every size but the example's."
        if target.declared else
        "The Core ML input has a fixed size here, so the converted model is right for the "
        "example's shape, but it would be wrong if this dimension were made flexible.")
    message = (f"{dimension} is specialized by the trace: at size {target.probe_size}"
               f"{with_others} the TorchScript module {how}. {evidence} {consequence} "
               f"{_FIX_HINTS.get(line.code, '')}").strip()
    details = {
        "input": target.input_name, "dim": target.dim, "role": target.role,
        "example_size": target.example_size, "probe_size": target.probe_size,
        "declared_flexible": target.declared, "moved_with": moved,
        "classification": "harmful", "depends_on": "shape",
        "trace_holds": list(line.before), "probe_trace_holds": list(line.after),
    }
    if line.warning:
        details["warning"] = line.warning
    if line.library:
        details["library"] = True
    severity = Severity.ERROR if target.declared else Severity.WARNING
    return finding(line.code, line.path, line.line, message, origin="probe",
                   severity=severity, details=details)


def _difference(expected: Any, actual: Any) -> str:
    from torchready.convert.parity.metrics import compare_arrays

    expected = expected if isinstance(expected, tuple) else (expected,)
    actual = actual if isinstance(actual, tuple) else (actual,)
    if len(expected) != len(actual):
        return f"{len(actual)} outputs instead of {len(expected)}"
    for index, (want, got) in enumerate(zip(expected, actual)):
        metrics = compare_arrays(want, got)
        if not metrics.shape_matches:
            return (f"output {index} has shape {list(metrics.candidate_shape)} instead of "
                    f"{list(metrics.reference_shape)}")
        if metrics.max_abs > 0 or metrics.nonfinite_mismatch:
            return f"output {index}: max abs error {metrics.max_abs:.3g}"
    return "outputs differ"


def _last_line(error: BaseException) -> str:
    """TorchScript's interpreter puts the real error last, after the script stack."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    return last if last.startswith(f"{type(error).__name__}:") else \
        f"{type(error).__name__}: {last}"


def _norm(path: str) -> str:
    import os

    return os.path.normcase(os.path.abspath(path)) if not path.startswith("<") else path


def _higher(a: Severity, b: Severity) -> Severity:
    order = {Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2}
    return a if order[a] >= order[b] else b
