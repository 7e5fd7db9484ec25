"""Codes torchready reports that no static rule owns, documented for `rules` and `explain`.

TR000 comes from the parser (a file that does not parse); TR303 only from `convert`/`audit`
(coremltools raised while converting). They have no visitor, examples or fix, but a user who
meets one in the output must be able to look it up like any rule.
"""

from __future__ import annotations

from dataclasses import dataclass

from torchready.lint.types import Severity


@dataclass(frozen=True)
class OtherCode:
    code: str
    name: str
    summary: str
    reported_by: str
    stage: str  # short form of reported_by for the `rules` table
    documentation: str
    severity: Severity = Severity.ERROR


OTHER_CODES = (
    OtherCode(
        code="TR000",
        name="syntax-error",
        summary="The file does not parse as Python 3",
        reported_by="`torchready lint` (and the language server), for every file",
        stage="parser",
        documentation="""\
## What it does
Reports a file that Python's own parser rejects, at the line and column Python gives, with
Python's message. The file gets this one finding and no other; the rest of the run goes on.

## Why is this bad?
No rule can look at code that does not parse, and neither can `torch.jit.script`, which reads the
source of every scripted function.

## Fix safety
No fix. `--select`/`--ignore` and `# noqa` do not hide it: a file that does not parse is never
silently skipped.""",
    ),
    OtherCode(
        code="TR303",
        name="coreml-conversion-failed",
        summary="coremltools raised while converting, for a reason other than a missing converter",
        reported_by="`torchready convert` and `torchready audit` (dynamic only)",
        stage="convert/audit only",
        documentation="""\
## What it does
Reports a `ct.convert` failure that is not a missing converter (that is TR301): a converter that
crashes on this graph, a coremltools graph pass that fails, an invalid program. The diagnostic
sits at the source line of the TorchScript node (or fx node, in export mode) coremltools was
converting, found from coremltools' own log line ("converting 'eq' op (located at: ...)"), and
carries coremltools' message.

## Why is this bad?
The model does not convert; coremltools' traceback names its own internals, not your code.

## Use instead
Rewrite the line with ops whose converters handle it, or register a composite op with
`coremltools.converters.mil.frontend.torch.register_torch_op` (torchready's own are in
`convert/composite_ops/`). If the converter is wrong for a valid graph, that is a coremltools
bug worth reporting with the minimal model.

## Fix safety
No fix.""",
    ),
)


def other_code(code: str) -> OtherCode | None:
    wanted = code.upper()
    return next((entry for entry in OTHER_CODES if entry.code == wanted or entry.name == code),
                None)


def explain_other(entry: OtherCode) -> str:
    return (f"# {entry.name} ({entry.code})\n\n{entry.summary}.\n\n"
            f"Severity: {entry.severity.value}. Fix: none. Reported by {entry.reported_by}.\n\n"
            f"{entry.documentation}\n")
