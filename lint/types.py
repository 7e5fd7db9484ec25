"""The data every part of torchready speaks: diagnostics, fixes and their text edits.

Fixes are text edits (range + new text) computed once in the engine, so the command line, the
language server, SARIF and the conversion reports all reuse the same data. Lines and columns are
1-based; `end_column` is exclusive, like ruff's JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Applicability(str, Enum):
    SAFE = "safe"  # keeps the program's meaning; applied by --fix
    UNSAFE = "unsafe"  # may change behaviour; applied only with --unsafe-fixes
    DISPLAY = "display"  # a suggestion shown to the user, never applied


class Severity(str, Enum):
    ERROR = "error"  # breaks capture/conversion or silently changes results
    WARNING = "warning"  # likely a problem, depends on how the model is used
    INFO = "info"  # recorded correctly; explained so the user can stop worrying


@dataclass(frozen=True, order=True)
class Edit:
    line: int
    column: int
    end_line: int
    end_column: int
    content: str

    def to_json(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "column": self.column,
            "end_line": self.end_line,
            "end_column": self.end_column,
            "content": self.content,
        }


@dataclass(frozen=True)
class Fix:
    applicability: Applicability
    edits: tuple[Edit, ...]
    title: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "applicability": self.applicability.value,
            "edits": [edit.to_json() for edit in self.edits],
        }


@dataclass(frozen=True)
class Diagnostic:
    path: str
    line: int
    column: int
    end_line: int
    end_column: int
    code: str
    name: str
    severity: Severity
    message: str
    fix: Fix | None = None
    # Where the finding came from: "lint" for the static rules; the conversion pipeline uses
    # "trace", "script", "export", "coverage", "convert", "probe", "parity".
    origin: str = "lint"
    # The capture targets the finding concerns (trace, script, export), among those the run
    # checks for; empty for findings that concern no capture in particular.
    targets: tuple[str, ...] = ()
    # Free-form facts a dynamic check attaches (e.g. {"classification": "benign"}).
    details: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def sort_key(self) -> tuple[str, int, int, str, int, int, str]:
        # Past the position and code, the span's end and the message break ties: two findings of
        # one rule at one place always come out in the same order (a set's order does not).
        return (self.path, self.line, self.column, self.code, self.end_line, self.end_column,
                self.message)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "end_line": self.end_line,
            "end_column": self.end_column,
            "code": self.code,
            "name": self.name,
            "severity": self.severity.value,
            "message": self.message,
            "fix": self.fix.to_json() if self.fix else None,
        }
        if self.targets:
            data["targets"] = list(self.targets)
        if self.origin != "lint":
            data["origin"] = self.origin
        if self.details:
            data["details"] = self.details
        return data


def diagnostic_from_json(data: dict[str, Any]) -> Diagnostic:
    """The inverse of `Diagnostic.to_json` (the result cache stores diagnostics as JSON)."""
    fix = data.get("fix")
    return Diagnostic(
        path=data["path"], line=data["line"], column=data["column"],
        end_line=data["end_line"], end_column=data["end_column"], code=data["code"],
        name=data["name"], severity=Severity(data["severity"]), message=data["message"],
        fix=None if fix is None else Fix(
            Applicability(fix["applicability"]),
            tuple(Edit(**edit) for edit in fix["edits"]), fix.get("title", "")),
        origin=data.get("origin", "lint"), targets=tuple(data.get("targets", ())),
        details=data.get("details", {}),
    )


class UsageError(Exception):
    """A user mistake (missing path, bad config, unknown code): one sentence on stderr, exit 2."""
