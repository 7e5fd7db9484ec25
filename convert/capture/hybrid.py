"""Hybrid mode, the talk's GPT-2 recipe: trace the submodules, script the control flow around.

`torch.jit.script` compiles Python control flow but rejects much real model code; `torch.jit.trace`
takes any code but freezes its control flow. So: run the model once with forward hooks to record
each submodule's real inputs, trace the submodules that are safe to trace (named by the user, or
detected: called with tensors only, returning tensors, no shape- or data-dependent Python control
flow in their own forward, a trace without harmful TracerWarnings that reproduces the eager
output), put the traced modules in place of the originals, and script the whole wrapper. Script
skips code that is already TorchScript, so it only compiles what is left: the loop, the branch.
"""

from __future__ import annotations

import ast
import time
from dataclasses import dataclass, field
from typing import Any

from torchready.convert.capture.graph_lines import index_graph_lines
from torchready.convert.capture.probes import outputs_match, run
from torchready.convert.capture.result import Captured
from torchready.convert.capture.script import checked_against_eager, script_failure
from torchready.convert.capture.scripting import freeze, script
from torchready.convert.capture.trace import trace_once
from torchready.convert.capture.tracer_warnings import warning_diagnostics
from torchready.convert.python_source import function_node, line_reads_shape, own_statements
from torchready.convert.source_lines import is_user_file
from torchready.lint.types import Diagnostic, Severity, UsageError

# Warnings that make a submodule's trace unfaithful.
_DISQUALIFYING = {"TR103", "TR104", "TR105", "TR106"}


@dataclass
class CallRecord:
    args: tuple
    kwargs: dict
    output: Any
    count: int = 1
    last_args: tuple = ()
    last_output: Any = None


def record_calls(model: Any, wrapper: Any, inputs: tuple) -> dict[str, CallRecord]:
    """Run the wrapper once; keep the first and last call of every submodule of `model`."""
    import torch

    calls: dict[str, CallRecord] = {}
    handles = []

    def hook_for(path: str):
        def hook(module, args, kwargs, output):  # noqa: ARG001
            record = calls.get(path)
            if record is None:
                calls[path] = CallRecord(tuple(args), dict(kwargs), output, 1, tuple(args), output)
            else:
                record.count += 1
                record.last_args, record.last_output = tuple(args), output
        return hook

    for path, module in model.named_modules():
        if path:
            handles.append(module.register_forward_hook(hook_for(path), with_kwargs=True))
    try:
        with torch.no_grad():
            wrapper(*inputs)
    finally:
        for handle in handles:
            handle.remove()
    return calls


def _is_tensor_tuple(value: Any) -> bool:
    import torch

    if isinstance(value, torch.Tensor):
        return True
    return isinstance(value, tuple) and not hasattr(type(value), "_fields") and bool(value) \
        and all(isinstance(item, torch.Tensor) for item in value)


def python_control_flow(cls: type) -> tuple[int, str] | None:
    """(line, what) of the first Python control flow in `cls.forward` that a trace would freeze
    without warning: a `while`, or an `if`/loop that reads a tensor's shape. (Branches on tensor
    values warn while tracing, and those warnings are checked separately.)"""
    located = function_node(cls.forward) if hasattr(cls, "forward") else None
    if located is None:
        return None
    path, func = located
    if not is_user_file(path):
        return None
    for node in sorted(own_statements(func), key=lambda n: getattr(n, "lineno", 0)):
        if isinstance(node, ast.While):
            return node.lineno, "a while loop"
        if isinstance(node, (ast.If, ast.IfExp)) and line_reads_shape(path, node.test.lineno):
            return node.lineno, "an if on a tensor's shape"
        if isinstance(node, ast.For) and line_reads_shape(path, node.iter.lineno):
            return node.lineno, "a loop over a tensor's size"
    return None


@dataclass
class Candidate:
    path: str
    traced: Any = None
    rejected: str | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def try_trace(path: str, module: Any, call: CallRecord | None, forced: bool,
              flatten_outputs: bool = False, shapes_seen: bool = False) -> Candidate:
    """Trace one submodule on the inputs it received. `forced`: named by the user (kept even
    when its trace warns). `flatten_outputs`: a ModelOutput/dict result is traced through a
    flattening wrapper. `shapes_seen`: its first and last calls had different sizes, so findings
    that depend only on sizes are settled by reproducing both."""
    import torch

    if call is None:
        return Candidate(path, rejected="not called on the example input")
    if isinstance(module, torch.jit.ScriptModule):
        return Candidate(path, rejected="already TorchScript")
    if call.kwargs:
        return Candidate(path, rejected="called with keyword arguments")
    if not call.args or not all(isinstance(arg, torch.Tensor) for arg in call.args):
        return Candidate(path, rejected="called with non-tensor arguments")
    target = module
    if not _is_tensor_tuple(call.output):
        if not (forced or flatten_outputs):
            return Candidate(path, rejected=f"returns a {type(call.output).__name__}")
        # Named by the user, or found by auto mode's loop pattern: trace it through a flattening
        # wrapper, as prepare does for the whole model (the talk traces GPT-2 this way and
        # indexes its output in the loop).
        target = _flattening_wrapper(module, call)
        if target is None:
            return Candidate(path, rejected=f"returns a {type(call.output).__name__} with no "
                                            "tensors in it")
    if not forced:
        flow = python_control_flow(type(module))
        if flow is not None:
            return Candidate(path, rejected=f"its forward has {flow[1]} (line {flow[0]})")
    result = trace_once(target, call.args, check=False)
    if result.error is not None:
        first = (str(result.error).strip().splitlines() or [""])[0]
        return Candidate(path, rejected=f"torch.jit.trace fails: {first}")
    lines = index_graph_lines(result.module.inlined_graph, module)
    diagnostics, _ = warning_diagnostics(result.records, lines, [])
    harmful = [d for d in diagnostics if d.code in _DISQUALIFYING
               and d.details.get("classification") == "harmful"
               and not (shapes_seen and d.details.get("depends_on") == "shape")]
    if harmful and not forced:
        where = ", ".join(f"{d.code} at line {d.line}" for d in harmful)
        return Candidate(path, rejected=f"its trace depends on the example ({where})")
    notes = []
    for args, expected in ((call.args, call.output), (call.last_args, call.last_output)):
        if target is not module:
            expected = target.torchready_structure.flatten(expected)
        actual, error = run(result.module, args)
        if error is not None or not outputs_match(expected, actual):
            if not forced:
                return Candidate(path, rejected="its trace does not reproduce every call made "
                                                "on the example")
            notes = [f"the trace of '{path}' does not reproduce all of its {call.count} calls "
                     "on the example input; it is used as requested"]
            break
    return Candidate(path, traced=result.module, diagnostics=diagnostics, notes=notes)


def _flattening_wrapper(module: Any, call: CallRecord) -> Any:
    from torchready.convert.outputs import describe_structure
    from torchready.convert.prepare import forward_parameter_names
    from torchready.convert.wrapper import build_wrapper

    names = forward_parameter_names(module)[:len(call.args)]
    names += [f"input_{index}" for index in range(len(names), len(call.args))]
    structure = describe_structure(call.output, names)
    if not structure.leaves:
        return None
    wrapper = build_wrapper(module, names, structure, [], always_tuple=True)
    wrapper.torchready_structure = structure
    return wrapper


def detect(model: Any, calls: dict[str, CallRecord], prefix: str = "",
           rejected: dict[str, str] | None = None) -> list[Candidate]:
    """Top-down: the largest submodules that trace faithfully; descend into the others."""
    chosen = []
    rejected = rejected if rejected is not None else {}
    for name, child in model.named_children():
        path = prefix + name
        candidate = try_trace(path, child, calls.get(path), forced=False)
        if candidate.traced is not None:
            chosen.append(candidate)
            continue
        rejected[path] = candidate.rejected or ""
        if candidate.rejected not in ("already TorchScript", "not called on the example input"):
            chosen += detect(child, calls, path + ".", rejected)
    return chosen


def _resolve(model: Any, path: str) -> tuple[Any, str, Any]:
    parent = model
    parts = path.split(".")
    for part in parts[:-1]:
        parent = getattr(parent, part, None)
        if parent is None:
            break
    child = getattr(parent, parts[-1], None) if parent is not None else None
    if child is None:
        raise UsageError(f"traced submodule '{path}' is not a submodule of the model.")
    return parent, parts[-1], child


def _swap(model: Any, replacements: dict[str, Any]) -> dict[str, Any]:
    originals = {}
    for path, traced in replacements.items():
        parent, name, child = _resolve(model, path)
        originals[path] = child
        setattr(parent, name, traced)
    return originals


def hybrid_capture(prepared: Any, traced_submodules: list[str] | None = None,
                   reason: str = "requested", extra: list[Diagnostic] | None = None,
                   candidates: list[Candidate] | None = None) -> Captured:
    """`candidates`: submodules already traced (auto mode's loop pattern); else the ones named
    in `traced_submodules`, else detected."""
    started = time.perf_counter()
    model = prepared.original
    wrapper = prepared.module
    rejected: dict[str, str] = {}
    calls = record_calls(model, wrapper, prepared.example_inputs) if candidates is None else {}
    if candidates is not None:
        candidates = list(candidates)
    elif traced_submodules:
        candidates = []
        for path in traced_submodules:
            _, _, child = _resolve(model, path)
            candidate = try_trace(path, child, calls.get(path), forced=True)
            if candidate.traced is None:
                raise UsageError(f"submodule '{path}' cannot be traced: {candidate.rejected}.")
            candidates.append(candidate)
    else:
        candidates = detect(model, calls, rejected=rejected)
    traced = {candidate.path: candidate.traced for candidate in candidates}
    # Findings inside traced submodules: their harmful ones were excluded by detection (or the
    # user insisted), the rest are informative.
    diagnostics = list(extra or [])
    diagnostics += [d for candidate in candidates for d in candidate.diagnostics]
    timings = {"hybrid_trace": time.perf_counter() - started}
    scripted_at = time.perf_counter()
    originals = _swap(model, traced)
    try:
        scripted, error = script(wrapper)
    finally:
        _swap(model, originals)
    timings["script"] = time.perf_counter() - scripted_at
    summary = _summary(traced, rejected)
    if error is not None:
        failed = script_failure(error, started, mode="hybrid", reason=f"{reason}; {summary}",
                                root=wrapper)
        failed.diagnostics = diagnostics + failed.diagnostics
        failed.traced_submodules = list(traced)
        failed.timings.update(timings)
        return failed
    frozen_at = time.perf_counter()
    module, freeze_problem = freeze(scripted)
    timings["freeze"] = time.perf_counter() - frozen_at
    checks, run_diagnostics = checked_against_eager(module, prepared)
    notes = [note for candidate in candidates for note in candidate.notes]
    notes += [freeze_problem] if freeze_problem else []
    captured = Captured(module=module, mode="hybrid", reason=f"{reason}; {summary}",
                        diagnostics=diagnostics + run_diagnostics, timings=timings,
                        frozen=freeze_problem is None, traced_submodules=list(traced),
                        checks=checks, notes=notes)
    if run_diagnostics:
        captured.error = "the hybrid module fails on the example inputs"
    elif extra:
        # The trace's findings about code that is now scripted no longer break the model.
        captured.diagnostics = downgraded(extra) + captured.diagnostics[len(extra):]
    return captured


def _summary(traced: dict[str, Any], rejected: dict[str, str]) -> str:
    if traced:
        text = f"traced {', '.join(traced)}; scripted the rest"
    else:
        text = "no submodule could be traced on its own; scripted the whole model"
    shown = [f"{path} ({why})" for path, why in rejected.items()
             if why not in ("not called on the example input",)][:4]
    if shown:
        text += "; not traced: " + "; ".join(shown)
    return text


def downgraded(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """Trace findings about code that hybrid mode scripts instead: still shown, as warnings."""
    from dataclasses import replace

    return [replace(d, severity=Severity.WARNING,
                    details={**d.details, "resolved_by": "hybrid"})
            if d.origin == "trace" and d.severity == Severity.ERROR else d for d in diagnostics]
