"""The result of capture: a TorchScript module or an ExportedProgram (or why there is none)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torchready.lint.types import Diagnostic


@dataclass(frozen=True)
class Check:
    """One comparison of the captured module with the eager model."""

    name: str  # "example", "values probe", "shape probe"
    ok: bool
    detail: str = ""


@dataclass
class Captured:
    module: Any  # torch.jit.ScriptModule (export: the program's `.module()`), None on failure
    mode: str  # the mode actually used: "trace" | "script" | "hybrid" | "export"
    reason: str  # why (auto's choice, or "requested")
    diagnostics: list[Diagnostic] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    frozen: bool = False  # torch.jit.freeze was applied (script and hybrid modes)
    traced_submodules: list[str] = field(default_factory=list)  # hybrid: paths under the model
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None  # one sentence when capture failed
    error_location: tuple[str, int] | None = None
    exported_program: Any = None  # export mode: the decomposed torch.export.ExportedProgram
    # Captures auto mode made on the way to this one, by mode ("trace"), for its fallbacks.
    alternatives: dict[str, Captured] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.module is not None and self.error is None
