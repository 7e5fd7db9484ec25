"""Script mode: torch.jit.script the whole prepared model, errors pinned as TR201-TR204."""

from __future__ import annotations

import time
from typing import Any

from torchready.convert.capture.probes import outputs_match, run_raw, value_probe
from torchready.convert.capture.result import Captured, Check
from torchready.convert.capture.script_errors import primary_location, script_error_diagnostics
from torchready.convert.capture.scripting import freeze, script
from torchready.convert.capture.trace import compare_on
from torchready.convert.coreml.errors import first_line
from torchready.convert.python_source import display_path


def script_failure(error: BaseException, started: float, mode: str = "script",
                   reason: str = "requested", root: Any = None) -> Captured:
    diagnostics = script_error_diagnostics(error, root=root)
    location = primary_location(str(error), root)
    if location is None and diagnostics:
        location = diagnostics[0]
    first = diagnostics[0].details.get("error") if diagnostics else first_line(error)
    at = f" at {display_path(location.path)}:{location.line}" if location else ""
    return Captured(module=None, mode=mode, reason=reason, diagnostics=diagnostics,
                    timings={"script": time.perf_counter() - started},
                    error=f"torch.jit.script failed{at}: {first}",
                    error_location=(location.path, location.line) if location else None)


def checked_against_eager(captured_module: Any, prepared: Any) -> tuple[list[Check], list]:
    """Run the compiled module on the example and a values probe next to the eager model.
    Returns the checks and, when the compiled module raised, diagnostics for that error."""
    checks = []
    diagnostics = []
    actual, error = run_raw(captured_module, prepared.example_inputs)
    if error is not None:
        diagnostics = script_error_diagnostics(error)
        first = (str(error).strip().splitlines() or [""])[0]
        checks.append(Check("example", False, f"compiled module fails on the example: {first}"))
        return checks, diagnostics
    expected = prepared.reference_outputs
    expected = expected[0] if len(expected) == 1 else expected
    checks.append(Check("example", outputs_match(expected, actual),
                        "matches eager on the example inputs" if outputs_match(expected, actual)
                        else "differs from eager on the example inputs"))
    probe = value_probe(prepared.example_inputs, prepared.input_names)
    checks.append(compare_on(captured_module, prepared.module, probe))
    return checks, diagnostics


def script_capture(prepared: Any, reason: str = "requested") -> Captured:
    started = time.perf_counter()
    scripted, error = script(prepared.module)
    if error is not None:
        return script_failure(error, started, reason=reason, root=prepared.module)
    timings = {"script": time.perf_counter() - started}
    frozen_at = time.perf_counter()
    module, freeze_problem = freeze(scripted)
    timings["freeze"] = time.perf_counter() - frozen_at
    checks, diagnostics = checked_against_eager(module, prepared)
    captured = Captured(module=module, mode="script", reason=reason, diagnostics=diagnostics,
                        timings=timings, frozen=freeze_problem is None, checks=checks,
                        notes=[freeze_problem] if freeze_problem else [])
    if diagnostics:
        captured.error = f"the scripted module fails on the example inputs: " \
                         f"{diagnostics[0].details.get('error', '')}"
    return captured
