"""`--format sarif`: one SARIF 2.1.0 log (OASIS), as GitHub code scanning and other SARIF
viewers ingest it.

The driver lists the whole rule catalog with its documentation (the summary; "What it does /
Why is this bad" as the full description; the whole documentation as help text and the
`torchready explain` page as help markdown), so a viewer can explain a result without
torchready installed. Each result carries its region and, when the
engine computed one, its fix as SARIF replacements: the same text edits `--fix` applies.

Positions: SARIF lines and columns are 1-based and `endColumn` is "the column number of the
character following the end of the region", which is exactly our exclusive `end_column`. Our
columns count Unicode code points, so the run declares `columnKind: unicodeCodePoints`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path, PurePath
from typing import Any
from urllib.parse import quote

from torchready.about import REPOSITORY_URL, __version__
from torchready.lint.engine import SYNTAX_ERROR_CODE, SYNTAX_ERROR_NAME
from torchready.lint.formats import with_targets
from torchready.lint.types import Diagnostic, Edit, Fix, Severity

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = ("https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/"
                "sarif-schema-2.1.0.json")
SOURCE_ROOT = "%SRCROOT%"  # the uriBaseId GitHub code scanning documents for repo-relative URIs

LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def render(run, stream, **_options) -> None:
    json.dump(document(run), stream, indent=2, ensure_ascii=False)
    stream.write("\n")


def document(run, base: Path | None = None) -> dict[str, Any]:
    """The SARIF log of a `LintRun`; relative URIs are relative to `base` (default: cwd)."""
    base = (base or Path.cwd()).resolve()
    rules = rule_descriptors()
    index = {rule["id"]: position for position, rule in enumerate(rules)}
    results = []
    for diagnostic in run.diagnostics:
        if diagnostic.code not in index:  # a code outside the catalog (e.g. a dynamic check)
            index[diagnostic.code] = len(rules)
            rules.append(_ad_hoc_descriptor(diagnostic))
        results.append(_result(diagnostic, index[diagnostic.code], base))
    driver: dict[str, Any] = {
        "name": "torchready",
        "version": __version__,
        "semanticVersion": __version__,
        "rules": rules,
    }
    driver["informationUri"] = REPOSITORY_URL  # a marked placeholder until torchready is published
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [{
            "tool": {"driver": driver},
            "invocations": [_invocation(run, base)],
            "originalUriBaseIds": {SOURCE_ROOT: {"uri": base.as_uri() + "/"}},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    }


def rule_descriptors() -> list[dict[str, Any]]:
    from torchready.lint.explain import explain
    from torchready.lint.rules import all_rules

    descriptors = [{
        "id": SYNTAX_ERROR_CODE,
        "name": SYNTAX_ERROR_NAME,
        "shortDescription": {"text": "the file does not parse, so no other rule can check it"},
        "fullDescription": {"text": "The file is not valid Python for the parser torchready "
                                    "uses (libcst), so it was not analysed."},
        "defaultConfiguration": {"level": "error"},
    }]
    for rule in all_rules():
        documentation = rule.documentation() or rule.SUMMARY
        descriptors.append({
            "id": rule.CODE,
            "name": rule.NAME,
            "shortDescription": {"text": rule.SUMMARY},
            "fullDescription": {"text": _explanation(documentation)},
            "help": {"text": documentation, "markdown": explain(rule)},
            "defaultConfiguration": {"level": LEVELS[rule.SEVERITY]},
            "properties": {"fix": rule.FIX.value if rule.FIX else "none"},
        })
    return descriptors


def _explanation(documentation: str) -> str:
    """What the rule finds and why it matters: the documentation up to its examples."""
    kept = []
    for line in documentation.splitlines():
        if line.startswith("## ") and line[3:].strip() not in ("What it does", "Why is this bad?"):
            break
        kept.append(line)
    return "\n".join(kept).strip() or documentation


def _ad_hoc_descriptor(diagnostic: Diagnostic) -> dict[str, Any]:
    return {"id": diagnostic.code, "name": diagnostic.name,
            "shortDescription": {"text": diagnostic.name},
            "defaultConfiguration": {"level": LEVELS[diagnostic.severity]}}


def _result(diagnostic: Diagnostic, rule_index: int, base: Path) -> dict[str, Any]:
    location = _artifact_location(diagnostic.path, base)
    result: dict[str, Any] = {
        "ruleId": diagnostic.code,
        "ruleIndex": rule_index,
        "level": LEVELS[diagnostic.severity],
        "message": {"text": with_targets(diagnostic)},
        "locations": [{"physicalLocation": {
            "artifactLocation": location,
            "region": _region(diagnostic.line, diagnostic.column, diagnostic.end_line,
                              diagnostic.end_column),
        }}],
    }
    if diagnostic.targets:
        # SARIF's property bag: viewers filter results by it (`targets`: the captures it
        # concerns).
        result["properties"] = {"targets": list(diagnostic.targets)}
    if diagnostic.fix is not None and diagnostic.fix.edits:
        result["fixes"] = [_fix(diagnostic.fix, location)]
    return result


def _fix(fix: Fix, location: dict[str, Any]) -> dict[str, Any]:
    title = fix.title or "apply the suggested edit"
    return {
        "description": {"text": f"{title} ({fix.applicability.value} fix)"},
        "artifactChanges": [{
            "artifactLocation": location,
            "replacements": [_replacement(edit) for edit in fix.edits],
        }],
        "properties": {"applicability": fix.applicability.value},
    }


def _replacement(edit: Edit) -> dict[str, Any]:
    # A region whose end equals its start is an insertion point (SARIF §3.30.2).
    replacement: dict[str, Any] = {
        "deletedRegion": _region(edit.line, edit.column, edit.end_line, edit.end_column)}
    if edit.content:
        replacement["insertedContent"] = {"text": edit.content}
    return replacement


def _region(line: int, column: int, end_line: int, end_column: int) -> dict[str, int]:
    return {"startLine": line, "startColumn": column, "endLine": end_line,
            "endColumn": end_column}


def _artifact_location(path: str, base: Path) -> dict[str, Any]:
    """A URI relative to the base directory where possible (what code scanning expects)."""
    candidate = Path(path)
    absolute = candidate if candidate.is_absolute() else base / candidate
    try:
        relative = PurePath(os.path.normpath(absolute)).relative_to(base)
    except ValueError:
        return {"uri": Path(os.path.normpath(absolute)).as_uri()}
    return {"uri": quote(relative.as_posix()), "uriBaseId": SOURCE_ROOT}


def _invocation(run, base: Path) -> dict[str, Any]:
    notifications = [{
        "level": "error",
        "message": {"text": file.error},
        "locations": [{"physicalLocation": {
            "artifactLocation": _artifact_location(str(file.path), base)}}],
    } for file in run.files if file.error]
    invocation: dict[str, Any] = {"executionSuccessful": not notifications}
    if notifications:
        invocation["toolExecutionNotifications"] = notifications
    return invocation
