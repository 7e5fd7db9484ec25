"""The conversion stage for export mode: an ExportedProgram -> an ML program (`ct.MLModel`).

The same declarations as the TorchScript path (`conversion.convert_script_module`): inputs from
`inputs.plan_inputs` (int64 -> int32, flexible dimensions as `ct.RangeDim`, image inputs), explicit
output names, deployment target and precision, coremltools' chatter recorded. What differs:

* coremltools' export frontend reads input shapes from the program and checks the declared ones
  against it: a static size must match, a dimension exported as `torch.export.Dim` may be a range;
* torchready's TorchScript graph passes do not apply (they rewrite TorchScript graphs); the
  converters the export frontend alone lacks are added (`export_ops`);
* the converted graph is the program's fx graph: its index (`fx_graph.FxGraphIndex`) locates
  a failure at the fx node's `stack_trace`, and serves the source map and localisation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from torchready.convert.coreml.conversion import Conversion, CoreMLOptions, first_line, plan_conversion
from torchready.convert.coreml.fx_graph import FxGraphIndex, kind_of, locate_fx
from torchready.convert.coreml.quiet import ProgressCallback, recording
from torchready.convert.coreml.errors import CONVERSION_FAILED, CONVERTING, GRAPH_PASS, NOT_IMPLEMENTED
from torchready.convert.findings import finding
from torchready.convert.python_source import line_span
from torchready.lint.types import Diagnostic, Severity

_UNSUPPORTED_NODE = re.compile(r"Unsupported fx node (?P<name>\S+), kind (?P<kind>\S+)")
_NOISE = (
    re.compile(r"^Implicitly cleaning up <TemporaryDirectory"),
    re.compile(r"^ERROR - converting '"),
    re.compile(r"^Failed to load _ML"),
    # coremltools' own export frontend calls its deprecated `kind in _TORCH_OPS_REGISTRY`
    re.compile(r"_TORCH_OPS_REGISTRY.__contains__ is deprecated"),
)


def convert_exported_program(
    program: Any,
    *,
    input_names: Sequence[str],
    example_inputs: Sequence[Any],
    output_names: Sequence[str],
    options: CoreMLOptions | None = None,
    flexible: Mapping[str, Mapping[int, tuple[int, int | None]]] | None = None,
    enumerated_shapes: Mapping[str, Sequence[Sequence[int]]] | None = None,
    image_inputs: Sequence[str] = (),
    imagenet: bool = False,
    input_types: Sequence[Any] | None = None,
    fallback_location: tuple[str, int] = ("<model>", 1),
    progress: ProgressCallback | None = None,
) -> Conversion:
    """Convert a decomposed ExportedProgram; failures are returned as diagnostics."""
    from torchready.convert import mil_passes
    from torchready.convert.composite_ops import installed, recording_applied
    from torchready.convert.coreml import export_ops
    from torchready.convert.coreml.conversion import record_mil_passes
    from torchready.convert.coreml.mil_records import rank_diagnostic, refusal

    ct, conversion, arguments = plan_conversion(
        input_names=input_names, example_inputs=example_inputs, output_names=output_names,
        options=options, flexible=flexible, enumerated_shapes=enumerated_shapes,
        image_inputs=image_inputs, imagenet=imagenet, input_types=input_types)
    conversion.graph_index = FxGraphIndex.of(program)  # type: ignore[assignment]
    failure = None
    with installed(), export_ops.installed(), recording(progress) as log, \
            recording_applied() as applied, export_ops.recording() as export_applied, \
            mil_passes.recording() as mil_records, mil_passes.installed() as pipeline:
        try:
            conversion.mlmodel = ct.convert(program, pass_pipeline=pipeline, **arguments)
        except Exception as error:  # coremltools raises anything from any layer
            conversion.error = first_line(error)
            failure = error
    conversion.log = log
    conversion.composite_ops_applied = list(applied) + list(export_applied)
    record_mil_passes(conversion, mil_records)
    refused = refusal(mil_records, failure)
    if refused is not None:
        conversion.diagnostics.append(
            rank_diagnostic(refused, conversion.graph_index, fallback_location))
    elif failure is not None:
        conversion.diagnostics.append(export_conversion_diagnostic(
            failure, list(log.errors()), conversion.graph_index, fallback_location))
    conversion.notes.extend(
        message.text for message in log.unique()
        if message.level != "error" and not any(p.search(message.text) for p in _NOISE))
    return conversion


def export_conversion_diagnostic(error: BaseException, log_errors: Sequence[str],
                                 index: FxGraphIndex, fallback: tuple[str, int]) -> Diagnostic:
    """TR301 (no converter for an fx node) or TR303 (anything else) at the node's user line."""
    text = str(error)
    node = None
    unsupported = _UNSUPPORTED_NODE.search(text)
    if unsupported:
        node = index.node(unsupported["name"])
    else:
        for message in log_errors:
            match = CONVERTING.search(message)
            if match:
                node = index.node(match["location"].rsplit("/", 1)[-1])
                break
    location = locate_fx(node) if node is not None else None
    path, line = (location["path"], location["line"]) if location else fallback
    details: dict[str, Any] = {"exception": type(error).__name__, "coremltools": first_line(error),
                               "frontend": "torch.export"}
    if node is not None:
        details["node"] = {"name": node.name, "kind": kind_of(node), "location": location}
    missing = unsupported or NOT_IMPLEMENTED.search(text)
    if missing:
        kind = kind_of(node) if node is not None else missing["kind"]
        details["op"] = kind
        message = (f"coremltools has no converter for {kind} (torch.export frontend): "
                   f"\"{first_line(error)}\". Rewrite it with supported ops, register a "
                   "composite op, or try --mode trace.")
        return finding("TR301", path, line, message, origin="convert", details=details)
    graph_pass = next((m["name"] for m in map(GRAPH_PASS.search, log_errors) if m), None)
    where = f" in its graph pass '{graph_pass}'" if graph_pass else ""
    if graph_pass:
        details["graph_pass"] = graph_pass
    message = (f"ct.convert failed on the exported program{where}: {type(error).__name__}: "
               f"{first_line(error)}")
    code, name = CONVERSION_FAILED
    span = line_span(path, line)
    return Diagnostic(path=path, line=line, column=span.column, end_line=span.end_line,
                      end_column=span.end_column, code=code, name=name,
                      severity=Severity.ERROR, message=message, origin="convert",
                      details=details)
