"""Capture: turn the prepared wrapper into a TorchScript module, explaining every hazard.

    capture(prepared, mode="auto", traced_submodules=None) -> Captured

Modes (one module each): `trace` (torch.jit.trace; TracerWarnings become TR102-TR106 pinned to
the user's lines and classified harmful/benign), `script` (torch.jit.script; compiler errors
become TR201-TR204 at the user's line), `hybrid` (the talk's GPT-2 recipe: trace the submodules
that are free of data-dependent control flow, script the module around them), `export`
(torch.export.export + run_decompositions, for coremltools' export frontend) and `auto` (hybrid
for a `while` that loops on a submodule's output; else trace unless the trace is shown to depend
on its example, hybrid otherwise, saying why; the pipeline falls back to the other modes, a plain
trace always among them, when that choice does not convert with parity).
"""

from __future__ import annotations

from typing import Any

from torchready.convert.capture.result import Captured, Check

MODES = ("auto", "trace", "script", "hybrid", "export")

__all__ = ["MODES", "Captured", "Check", "capture"]


def capture(prepared: Any, mode: str = "auto", traced_submodules: list[str] | None = None
            ) -> Captured:
    from torchready.convert.library_logging import library_logging_quiet

    with library_logging_quiet():
        return _capture(prepared, mode, traced_submodules)


def _capture(prepared: Any, mode: str, traced_submodules: list[str] | None) -> Captured:
    from torchready.lint.types import UsageError

    mode = mode or "auto"
    if mode not in MODES:
        raise UsageError(f"unknown capture mode '{mode}'; use one of {', '.join(MODES)}.")
    if mode == "trace":
        from torchready.convert.capture.trace import trace_capture

        return trace_capture(prepared)
    if mode == "script":
        from torchready.convert.capture.script import script_capture

        return script_capture(prepared)
    if mode == "export":
        from torchready.convert.capture.export import export_capture

        return export_capture(prepared)
    if mode == "hybrid":
        from torchready.convert.capture.hybrid import hybrid_capture

        return hybrid_capture(prepared, traced_submodules)
    from torchready.convert.capture.auto import auto_capture

    return auto_capture(prepared, traced_submodules)
