"""The report model: one versioned dict built from a `ConversionResult`, rendered by every format.

    report = build_report(result, ReportOptions(command="audit", model="seg.py:build"))

The HTML, Markdown and JSON reports all render this dict and nothing else, so they cannot
disagree; the JSON report is this dict plus `result` (schema: `report.schema.json`, documented
in the README section on reports). Everything in it is plain JSON data (`plain`): infinite metrics are
the strings "inf" / "-inf".

Order of the keys is the order a reviewer reads: the verdict, what model and software, what the
source and the capture revealed, what Core ML got, whether it computes the same, and how long it
took.
"""

from __future__ import annotations

import datetime as _datetime
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from torchready.convert.reports import sections
from torchready.convert.reports.environment import environment
from torchready.convert.reports.excerpts import SourceExcerpts
from torchready.convert.reports.plain import plain

SCHEMA = "torchready-report"
VERSION = 1
PASS, WARN, FAIL = "pass", "warn", "fail"


@dataclass(frozen=True)
class ReportOptions:
    command: str = "api"  # "audit" | "convert" | "api" (the Python API)
    model: str | None = None  # MODEL as named on the command line
    # The options the run was started with (the command line's, as given), shown as-is.
    arguments: Mapping[str, Any] = field(default_factory=dict)
    strict: bool = False  # --strict: error-level findings fail the run
    context_lines: int = 2  # source lines shown above and below a finding
    generated_at: _datetime.datetime | None = None  # None: now


def build_report(result: Any, options: ReportOptions | None = None) -> dict[str, Any]:
    """The report of one `torchready.convert.pipeline.ConversionResult`."""
    options = options or ReportOptions()
    excerpts = SourceExcerpts(options.context_lines)
    findings = sections.findings(result, excerpts)
    parity = sections.parity(result, excerpts)
    report: dict[str, Any] = {
        "schema": SCHEMA,
        "version": VERSION,
        "generated_at": _timestamp(options.generated_at),
        "command": options.command,
        "verdict": verdict(result, findings, parity, options),
        "model": sections.model(result, options.model),
        "environment": environment(),
        "options": sections.options(result, options.arguments),
        "findings": findings,
        "capture": sections.capture(result),
        "shape_probes": sections.shape_probes(result),
        "coverage": sections.coverage(result),
        "conversion": sections.conversion(result),
        "parity": parity,
        "precision": sections.precision(result),
        "timings": sections.timings(result),
        "lint_fixes": dict(result.lint_fixes),
        "notes": list(result.notes),
    }
    return plain(report)


def verdict(result: Any, findings: list[dict[str, Any]], parity: dict[str, Any] | None,
            options: ReportOptions) -> dict[str, Any]:
    """Converted? Parity? Findings that need a look? And the exit code the CLI returns."""
    counts = {severity: sum(1 for f in findings if f["severity"] == severity)
              for severity in ("error", "warning", "info")}
    handled = sum(1 for f in findings if f["severity"] == "error" and f["handled"])
    parity_status = parity["status"] if parity is not None else (
        "skipped" if result.ok else "not reached")
    exit_code = 1 if not result.ok or (options.strict and counts["error"]) else 0
    if exit_code:
        status = FAIL
    elif parity_status == WARN or counts["error"] or counts["warning"]:
        status = WARN
    else:
        status = PASS

    reasons = []
    if not result.ok:
        error = result.error or "see the findings"
        # The stages' own errors often start with "<stage> failed:" already.
        reasons.append(error if error.startswith(f"{result.failed_stage} failed")
                       else f"{result.failed_stage} failed: {error}")
    elif options.strict and counts["error"]:
        reasons.append("--strict: error-level findings remain")
    if parity is not None and parity_status != PASS and result.failed_stage != "parity":
        reasons.extend(parity["failures"] or parity["warnings"])
    if counts["error"]:
        reasons.append(f"{_count(counts['error'], 'error-level finding')}"
                       + (f" ({handled} handled by torchready's generated code, your source "
                          "still has it)" if handled else ""))
    if counts["warning"]:
        reasons.append(_count(counts["warning"], "warning"))
    return {
        "status": status,
        "headline": _headline(result, options.command, parity_status, parity, counts),
        "converted": bool(result.ok),
        "failed_stage": result.failed_stage,
        "error": result.error,
        "parity": parity_status,
        "findings": counts,
        "strict": options.strict,
        "exit_code": exit_code,
        "reasons": reasons,
    }


def _headline(result: Any, command: str, parity_status: str, parity: dict[str, Any] | None,
              counts: dict[str, int]) -> str:
    if result.ok:
        verb = "Converted to Core ML" if command == "convert" else "Converts to Core ML"
        text = f"{verb}; parity {parity_status}"
        if parity is not None:
            text += f" ({parity['precision']}, {_count(len(parity['cases']), 'input')})"
    elif result.failed_stage == "parity":
        text = f"Converts to Core ML but parity fails ({parity['precision']})" if parity \
            else "Parity fails"
    else:
        text = f"Fails at {result.failed_stage}"
    found = ", ".join(_count(counts[s], s) for s in ("error", "warning", "info") if counts[s])
    return f"{text}; {found or 'no findings'}"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _timestamp(when: _datetime.datetime | None) -> str:
    when = when or _datetime.datetime.now(_datetime.timezone.utc)
    return when.isoformat(timespec="seconds")
