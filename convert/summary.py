"""How `torchready convert` and `torchready audit` report a `ConversionResult`.

Text: the diagnostics in lint's format (`path:line:col: CODE message` + the source line), then a
rich summary of what was built: capture mode and why, Core ML inputs and outputs, composite ops
used, Xcode preview, files written, seconds per stage, and coremltools' own remarks.
JSON (`--format json`): the lint document's shape (version, diagnostics, summary) plus a
"conversion" object with the same facts.
"""

from __future__ import annotations

import json
from typing import Any, TextIO

from torchready.convert.pipeline import STAGES, ConversionResult

JSON_VERSION = 1


def outputs_of(result: ConversionResult) -> list[dict[str, Any]]:
    """Name, shape and dtype of each Core ML output, read from the converted program."""
    if result.mlmodel is None:
        return [{"name": name} for name in result.output_names]
    from coremltools.converters.mil.mil import types

    described = []
    for var in result.mlmodel._mil_program.functions["main"].outputs:
        described.append({
            "name": var.name,
            # A flexible dimension is a symbol ("is89"): unknown until the model runs.
            "shape": [int(dim) if _is_static(dim) else None for dim in var.shape],
            "dtype": types.builtin_to_string(var.dtype),
        })
    return described


def _is_static(dim: Any) -> bool:
    try:
        int(dim)
    except (TypeError, ValueError):
        return False
    return True


def result_to_json(result: ConversionResult, *, command: str) -> dict[str, Any]:
    diagnostics = result.diagnostics
    conversion = {
        "command": command,
        "ok": result.ok,
        "failed_stage": result.failed_stage,
        "error": result.error,
        "capture": {"mode": result.capture_mode, "reason": result.capture_reason,
                    "attempts": [{k: a[k] for k in ("mode", "failed_stage", "outcome")}
                                 for a in result.capture_attempts]},
        "inputs": [plan.to_json() for plan in result.inputs],
        "outputs": outputs_of(result),
        "composite_ops": result.composite_ops_applied,
        "metadata": result.metadata,
        "package": str(result.package_path) if result.package_path else None,
        "sourcemap": str(result.sourcemap_path) if result.sourcemap_path else None,
        "timings": {stage: round(seconds, 4) for stage, seconds in result.timings.items()},
        "notes": result.notes,
        "lint_fixes": result.lint_fixes,
        "shape_probes": result.shape_probes.to_json() if result.shape_probes else None,
        "parity": result.parity.to_json() if result.parity else None,
    }
    if result.precision is not None:  # optional in version 1: present when it applies
        conversion["precision"] = result.precision.to_json()
    return {
        "version": JSON_VERSION,
        "diagnostics": [diagnostic.to_json() for diagnostic in diagnostics],
        "summary": {
            "diagnostics": len(diagnostics),
            "fixable": sum(1 for d in diagnostics if d.fix is not None and d.fix.edits),
        },
        "conversion": conversion,
    }


def render_json(result: ConversionResult, stream: TextIO, *, command: str) -> None:
    json.dump(result_to_json(result, command=command), stream, indent=2, ensure_ascii=False)
    stream.write("\n")


class _DiagnosticsRun:
    """The two attributes lint's text formatter reads from a lint run."""

    def __init__(self, diagnostics: list[Any]) -> None:
        self.diagnostics = diagnostics
        self.fixes_applied = 0


def render_text(result: ConversionResult, stream: TextIO, *, command: str, model: str) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from torchready.lint.formats import text_format

    if result.diagnostics:
        text_format.render(_DiagnosticsRun(result.diagnostics), stream)
    # Pipes and logs get a fixed, wide layout; a terminal keeps its own width.
    console = Console(file=stream, highlight=False, soft_wrap=True)
    if not console.is_terminal:
        console = Console(file=stream, highlight=False, soft_wrap=True, width=120)

    if result.ok:
        verb = "Converted" if command == "convert" else "Converts"
        target = f" -> {result.package_path}" if result.package_path else " (nothing written)"
        console.print(f"[bold green]{verb}[/] {escape(model)}{escape(target)}")
    else:
        console.print(f"[bold red]Failed at {result.failed_stage}[/] {escape(model)}: "
                      f"{escape(result.error or 'see the diagnostics above')}")

    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    if result.capture_mode:
        reason = f" ({result.capture_reason})" if result.capture_reason else ""
        table.add_row("capture", escape(f"{result.capture_mode}{reason}"))
    for plan in result.inputs:
        kind = "image (RGB, pixels / 255)" if plan.image else plan.coreml_dtype
        table.add_row("input", escape(f"{plan.name}  {plan.describe_shape()}  {kind}"))
    # A model that failed parity exists but is not written: its outputs are still worth seeing.
    for output in outputs_of(result) if result.mlmodel is not None else []:
        shape = "x".join("?" if dim is None else str(dim) for dim in output["shape"])
        table.add_row("output", escape(f"{output['name']}  {shape}  {output['dtype']}"))
    if result.composite_ops_applied:
        from torchready.convert.composite_ops import by_kind

        for position, kind in enumerate(result.composite_ops_applied):
            table.add_row("composite ops" if position == 0 else "",
                          escape(f"{kind}: {by_kind(kind).summary}"))
    preview = result.metadata.get("com.apple.coreml.model.preview.type")
    if preview:
        labels = json.loads(result.metadata.get("com.apple.coreml.model.preview.params", "{}"))
        count = len(labels.get("labels", []))
        table.add_row("Xcode preview", escape(f"{preview}" + (f" ({count} labels)" if count else "")))
    probes = result.shape_probes
    if probes is not None and probes.dimensions:
        specialized = [f"{d.target.input_name} dim {d.target.dim}" for d in probes.specialized]
        followed = sum(1 for d in probes.dimensions if d.status == "follows")
        text = f"{followed} of {len(probes.dimensions)} input dimension(s) follow their size"
        if specialized:
            text += f"; specialized by the trace: {', '.join(specialized)}"
        table.add_row("shape probes", escape(text))
    if result.package_path:
        table.add_row("wrote", escape(str(result.package_path)))
    if result.sourcemap_path:
        table.add_row("", escape(str(result.sourcemap_path)))
    timings = [f"{stage} {result.timings[stage]:.2f}s" for stage in STAGES if stage in result.timings]
    if timings:
        total = sum(result.timings.values())
        table.add_row("time", escape(" · ".join(timings) + f"  (total {total:.2f}s)"))
    console.print(table)
    if result.parity is not None:
        from torchready.convert.parity.report import render_text as render_parity

        render_parity(result.parity, stream, width=None if console.is_terminal else 120)
    if result.precision is not None:
        result.precision.render_text(console)
    for path, diff in result.lint_fixes.items():
        console.print(f"[bold]lint --fix changed {escape(path)}:[/]")
        console.print(escape(diff.rstrip("\n")), style="dim")
    if result.notes:
        console.print("[bold]notes[/]")
        for note in result.notes:
            console.print(f"  - {escape(note)}")
