"""`--format github`: GitHub Actions workflow commands, one annotation per finding.

    ::error file=models/seg.py,line=12,col=9,endLine=12,endColumn=31,title=torchready (TR102)::...

Findings of error severity become `::error`, warnings `::warning`, infos `::notice`. GitHub
parses these lines out of the job log, so every value is escaped as the Actions runner expects
(its `escapeData` / `escapeProperty`): `%`, CR and LF in the message; additionally `:` and `,`
in property values, which would otherwise end a property early.
"""

from __future__ import annotations

from torchready.lint.formats import with_targets
from torchready.lint.types import Severity

COMMANDS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(command: str, message: str, **properties: object) -> str:
    fields = ",".join(f"{key}={escape_property(str(value))}" for key, value in properties.items())
    return f"::{command} {fields}::{escape_data(message)}"


def render(run, stream, **_options) -> None:
    for diagnostic in run.diagnostics:
        stream.write(annotation(
            COMMANDS[diagnostic.severity], with_targets(diagnostic),
            file=diagnostic.path, line=diagnostic.line, col=diagnostic.column,
            endLine=diagnostic.end_line, endColumn=diagnostic.end_column,
            title=f"torchready ({diagnostic.code})",
        ) + "\n")
    for file in run.files:
        if file.error:  # an unreadable file fails the check too; say so where GitHub shows it
            stream.write(annotation("error", file.error, file=str(file.path),
                                    title="torchready") + "\n")
