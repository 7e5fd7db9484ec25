"""The two pipeline steps parity adds, on a `ConversionResult`:

* `run_shape_probing(result)` after capture: probe the captured module's input dimensions
  (`shape_probing`) and fold its diagnostics into the result's;
* `run_parity(result)` after conversion: eager vs TorchScript vs the converted model (`engine`),
  with a fp32 re-conversion when an fp16 model fails (`reconvert`).

They only read what earlier stages left on the result (the prepared wrapper, the captured module,
the MLModel, the source map, the graph coremltools converted), so the pipeline stays a readable
sequence of calls. Called after `to_coreml` returned (which gave the user's model back in its
own mode), they run it in eval mode for their duration (`model_state.evaluating`).
"""

from __future__ import annotations

from typing import Any

from torchready.convert.parity.engine import ParityOptions, check_parity
from torchready.convert.parity.report import ParityReport
from torchready.convert.parity.shape_probing import ShapeProbeReport, merge_findings, probe_shapes


def run_shape_probing(result: Any, include_defaults: bool = True) -> ShapeProbeReport:
    """Probe `result.captured.module`; the result's diagnostics gain (or are replaced by) the
    probe findings, which say which input dimension was specialized."""
    from torchready.convert.model_state import evaluating

    captured = result.captured
    with evaluating(result.prepared.original):
        report = probe_shapes(result.prepared, captured.module, mode=captured.mode,
                              traced_submodules=captured.traced_submodules,
                              include_defaults=include_defaults, existing=result.diagnostics)
    kept, _ = merge_findings(result.diagnostics, report.diagnostics)
    result.diagnostics[:] = kept + report.diagnostics
    return report


def parity_options_for(result: Any, options: ParityOptions | None = None) -> ParityOptions:
    """`options` (default ParityOptions()) completed from the spec: its value ranges and the
    preprocessing of its own image input types."""
    import dataclasses

    from torchready.convert.parity.feeds import image_preprocessing

    spec = result.spec
    options = options or ParityOptions()
    ranges = dict(getattr(spec, "value_ranges", None) or {})
    if ranges and not options.value_ranges:
        options = dataclasses.replace(options, value_ranges=ranges)
    images = image_preprocessing(spec.input_types if spec is not None else None)
    if images and not options.images:
        options = dataclasses.replace(options, images=images)
    return options


def run_parity(result: Any, options: ParityOptions | None = None) -> ParityReport:
    """Parity of a converted `result` (needs `result.ok`)."""
    from torchready.convert.model_state import evaluating

    spec = result.spec
    options = parity_options_for(result, options)
    conversion = result.conversion
    with evaluating(result.prepared.original):
        report = check_parity(
            result.prepared, result.captured.module, result.mlmodel,
            coreml_output_names=result.output_names,
            precision=conversion.options.compute_precision,
            labels=spec.class_labels if spec is not None else None,
            sourcemap=result.sourcemap,
            graph=conversion.graph_index.graph,
            reconvert=lambda precision: reconvert(result, precision),
            options=options,
        )
    if getattr(result.captured, "exported_program", None) is not None:
        report.capture = "export"
    return report


def reconvert(result: Any, precision: str) -> tuple[Any, Any, Any]:
    """The same captured module converted again at `precision`, with the same declarations:
    (MLModel, source map, the graph coremltools converted)."""
    conversion, sourcemap = convert_again(result, precision)
    return conversion.mlmodel, sourcemap, conversion.graph_index.graph


def convert_again(result: Any, precision: str, op_selector: Any = None) -> tuple[Any, Any]:
    """The captured module of `result` converted again with the same declarations and target,
    at `precision` (with `op_selector`: only the ops it selects in fp16): (Conversion, source
    map). Raises RuntimeError when coremltools fails."""
    from torchready.convert.coreml.captured import convert_captured
    from torchready.convert.coreml.conversion import CoreMLOptions
    from torchready.convert.sidecar import build_sourcemap

    prepared, spec = result.prepared, result.spec
    options = CoreMLOptions(compute_precision=precision,
                            minimum_deployment_target=result.conversion.options
                            .minimum_deployment_target, op_selector=op_selector)
    conversion = convert_captured(result.captured, prepared, options,
                                  input_types=spec.input_types if spec is not None else None)
    if not conversion.ok:
        raise RuntimeError(f"ct.convert failed at {precision}: {conversion.error}")
    sourcemap = build_sourcemap(
        conversion.mlmodel, conversion.graph_index,
        input_names=[plan.name for plan in conversion.inputs],
        output_names=conversion.output_names,
        torch_output_names=conversion.torch_output_names,
        root=prepared.module,
    )
    return conversion, sourcemap
