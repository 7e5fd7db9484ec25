"""The Python API, the notebook flow of the talk in one call:

    from torchready import to_coreml
    result = to_coreml(DeepLabLike(), (torch.rand(1, 3, 64, 64),), imagenet=True,
                       labels=VOC_LABELS, output="Segmentation.mlpackage")
    result.mlmodel            # the coremltools MLModel
    result.diagnostics        # every finding, pinned to a source line
    result.timings            # seconds per stage

It runs the same stages as `torchready convert` (lint, prepare, capture, shape probing,
coverage, convert, metadata, parity, save) and returns a `ConversionResult`; a failed capture,
conversion or parity check is reported in the result (`result.ok`, `result.failed_stage`,
`result.diagnostics`, `result.parity`), not raised. Mistakes in the arguments raise
`torchready.lint.types.UsageError`. The model comes back as it went in: conversion needs it in
eval mode with parameters that do not require grad, and each submodule's training flag and each
parameter's `requires_grad` are restored when the call returns or raises.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from torchready.convert.pipeline import ConversionResult, PipelineOptions, run
from torchready.convert.progress import StageProgress
from torchready.convert.spec import ModelSpec
from torchready.lint.types import UsageError


def to_coreml(
    model: Any,
    example_inputs: Any = None,
    *,
    mode: str = "auto",
    inputs: Sequence[Any] | None = None,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    imagenet: bool | None = None,
    image_inputs: Sequence[str] | None = None,
    labels: Sequence[str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    flexible: Mapping[str, Mapping[int, tuple[int, int]]] | None = None,
    enumerated_shapes: Mapping[str, Sequence[Sequence[int]]] | None = None,
    traced_submodules: Sequence[str] | None = None,
    preview_type: str | None = None,
    compute_precision: str | None = None,
    precision: str | None = None,
    minimum_deployment_target: str | None = None,
    output: str | os.PathLike[str] | None = None,
    lint: bool = True,
    parity: bool = True,
    parity_options: Any = None,
    value_ranges: Mapping[str, tuple[float, float]] | None = None,
    progress: bool = False,
) -> ConversionResult:
    """Convert `model` (an nn.Module, or a ModelSpec) to a Core ML ML program.

    mode: "trace", "script", "hybrid" (torch.jit), "export" (torch.export.export, then
        coremltools' export frontend), or "auto": hybrid for a `while` looping on a submodule's
        output, else trace unless the trace depends on its example (then hybrid), falling back to
        export, then hybrid or a plain trace, when that choice does not convert with parity (not
        when parity fails only at fp16); `result.capture_reason` / `result.capture_attempts` say
        what was tried, why, and what a kept trace froze.
    inputs: either Core ML input types (`ct.TensorType` / `ct.ImageType`, passed to ct.convert
        unchanged) or `--input` style declarations ("tokens:1x(1..64):int64", "image:1x3x224x224:image"),
        which also name the inputs, mark image inputs and flexible dimensions.
    flexible: {input name: {dimension: (lower, upper)}}; upper -1 means unbounded.
    compute_precision (or `precision`, the command line's name): "fp16" (default), "fp32", or
        "auto": convert at fp16 and, when parity fails there, keep in fp32 only the ops parity
        shows need it (falling back to fp32 for the whole model when no mixed program passes);
        `result.precision` says which ops, their source lines, and parity before and after.
    output: save the .mlpackage (and its source map sidecar) there; None keeps it in memory.
    parity: check numeric parity (eager vs TorchScript vs the converted model, on the example and
        random inputs) and probe input dimensions for sizes the trace froze; a failed parity
        is `result.failed_stage == "parity"` and nothing is saved. `result.parity` is the report.
    parity_options: a `torchready.convert.parity.engine.ParityOptions` (random inputs, thresholds, ...).
    value_ranges: {input name: (low, high)} for parity's random inputs (token ids: the
        vocabulary); default: from the model's embeddings, else from the example.
    progress: show rich progress on stderr (off by default in notebooks and scripts).
    Other arguments fill the ModelSpec fields of the same name (see torchready.convert.spec.ModelSpec).
    """
    if precision is not None and compute_precision not in (None, precision):
        raise UsageError(f"precision={precision!r} and compute_precision={compute_precision!r} "
                         "disagree: pass one of them.")
    compute_precision = compute_precision or precision
    spec = _spec(model, example_inputs)
    overrides: dict[str, Any] = {
        "input_names": list(input_names) if input_names is not None else None,
        "output_names": list(output_names) if output_names is not None else None,
        "imagenet": imagenet,
        "image_inputs": list(image_inputs) if image_inputs is not None else None,
        "class_labels": list(labels) if labels is not None else None,
        "flexible": {name: dict(dims) for name, dims in flexible.items()} if flexible else None,
        "enumerated_shapes": ({name: [tuple(s) for s in shapes]
                               for name, shapes in enumerated_shapes.items()}
                              if enumerated_shapes else None),
        "traced_submodules": list(traced_submodules) if traced_submodules is not None else None,
        "preview_type": preview_type,
        "compute_precision": compute_precision,
        "minimum_deployment_target": minimum_deployment_target,
        "value_ranges": {name: tuple(bounds) for name, bounds in value_ranges.items()}
        if value_ranges else None,
        "mode": mode if mode != "auto" or spec.mode is None else None,
    }
    for field_name, value in overrides.items():
        if value is not None:
            setattr(spec, field_name, value)
    if metadata:
        spec.metadata = {**spec.metadata, **dict(metadata)}
    if inputs:
        _apply_inputs(spec, list(inputs))
    if not spec.example_inputs:
        raise UsageError("to_coreml needs example inputs: pass example_inputs, or declare the "
                         "inputs as 'NAME:SHAPE[:TYPE]' strings in inputs=[...].")
    options = PipelineOptions(
        output=_output_path(output),
        lint=lint,
        parity=parity,
        shape_probing=parity,
        parity_options=parity_options,
        progress=StageProgress(enabled=progress),
    )
    return run(spec, options)


def audit(model: Any, example_inputs: Any = None, **options: Any) -> ConversionResult:
    """Check `model` end to end exactly as `to_coreml` does (lint, capture, shape probing, op
    coverage, conversion in memory, numeric parity) and save nothing: what `torchready audit`
    runs. Takes every keyword of `to_coreml` except `output`; returns the same ConversionResult
    (`result.ok`, `result.diagnostics`, `result.parity`, `result.mlmodel` in memory)."""
    if "output" in options:
        raise UsageError("audit writes no model: use to_coreml(..., output=PATH) to save one.")
    return to_coreml(model, example_inputs, **options)


def _spec(model: Any, example_inputs: Any) -> ModelSpec:
    import dataclasses

    import torch

    if isinstance(model, ModelSpec):
        spec = dataclasses.replace(model)  # never mutate the caller's spec
        if example_inputs is not None:
            spec.example_inputs = _as_tuple(example_inputs)
        return spec
    if not isinstance(model, torch.nn.Module):
        raise UsageError(f"to_coreml takes an nn.Module or a ModelSpec, not a "
                         f"{type(model).__name__}.")
    return ModelSpec(module=model,
                     example_inputs=_as_tuple(example_inputs) if example_inputs is not None else ())


def _as_tuple(example_inputs: Any) -> tuple:
    import torch

    if isinstance(example_inputs, torch.Tensor):
        return (example_inputs,)
    if isinstance(example_inputs, (tuple, list)) and all(
            isinstance(value, torch.Tensor) for value in example_inputs):
        return tuple(example_inputs)
    raise UsageError("example_inputs must be a tensor or a tuple of tensors.")


def _apply_inputs(spec: ModelSpec, inputs: list[Any]) -> None:
    """Declarations as text go through the command line's parser; anything else is taken to be
    Core ML input types and handed to ct.convert as they are."""
    if not all(isinstance(item, str) for item in inputs):
        spec.input_types = inputs
        if spec.input_names is None:
            spec.input_names = [getattr(item, "name", None) or f"input_{i}"
                                for i, item in enumerate(inputs)]
        return
    from torchready.convert.loading import make_example_inputs, parse_input_decl

    decls = [parse_input_decl(text) for text in inputs]
    if spec.example_inputs and len(spec.example_inputs) != len(decls):
        raise UsageError(f"{len(decls)} input declarations given for "
                         f"{len(spec.example_inputs)} example inputs.")
    if not spec.example_inputs:
        spec.example_inputs = make_example_inputs(decls)
    spec.input_names = [decl.name for decl in decls]
    spec.flexible = {**spec.flexible, **{d.name: dict(d.ranges) for d in decls if d.ranges}}
    spec.image_inputs = list(dict.fromkeys(
        list(spec.image_inputs) + [decl.name for decl in decls if decl.image]))


def _output_path(output: str | os.PathLike[str] | None) -> Any:
    if output is None:
        return None
    from pathlib import Path

    return Path(output)
