"""`ModelSpec`: everything torchready needs to know about a model before capturing it.

A factory named on the command line (`torchready convert file.py:build`) may return a bare
`nn.Module`, a `(module, example_inputs)` pair, or one of these. The spec is also what the Python
API builds from its keyword arguments, so the command line and the notebook flow share one shape.

Only the first two fields are required; everything else refines the Core ML model (input types,
names, labels, metadata, flexible shapes) or the capture (mode, traced submodules). The type hints
avoid importing torch or coremltools: this module is imported by the CLI parser.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ModelSpec:
    module: Any  # torch.nn.Module
    example_inputs: tuple = ()  # tuple of torch.Tensor, one per forward argument
    # Names of the Core ML inputs, in forward-argument order. None: the forward's parameter names.
    input_names: list[str] | None = None
    # ct.TensorType / ct.ImageType objects passed through to ct.convert unchanged (None: derived).
    input_types: list | None = None
    # Names of the flattened outputs. None: derived from dict keys / field names.
    output_names: list[str] | None = None
    class_labels: list[str] | None = None
    # author, license, version, description, plus free keys written to user_defined_metadata.
    metadata: dict[str, str] = field(default_factory=dict)
    # input name -> {dimension index: (lower bound, upper bound)}; upper -1 means unbounded.
    flexible: dict[str, dict[int, tuple[int, int]]] = field(default_factory=dict)
    # input name -> every shape the model must accept (ct.EnumeratedShapes).
    enumerated_shapes: dict[str, list[tuple[int, ...]]] = field(default_factory=dict)
    # input name -> (low, high) of the values parity's random inputs take (token ids: the
    # vocabulary, inclusive). None: from the model's embeddings, else from the example.
    value_ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    # ImageNet preset: image inputs are RGB in [0, 1] (Core ML scales 0..255 pixels by 1/255) and
    # the generated wrapper applies the exact per-channel mean/std before the model.
    imagenet: bool = False
    # Inputs that become ct.ImageType. With `imagenet` and no names here, the first input.
    image_inputs: list[str] = field(default_factory=list)
    mode: str | None = None  # "trace" | "script" | "hybrid" | "export" | "auto"; None: auto
    # Hybrid mode: attribute paths (relative to `module`, e.g. "predictor" or "encoder.layer")
    # of submodules to trace before scripting the rest. None: detected.
    traced_submodules: list[str] | None = None
    preview_type: str | None = None  # Xcode preview, e.g. "imageSegmenter"
    # "fp16" | "fp32" | "auto" (fp16, keeping in fp32 the ops parity shows need it)
    compute_precision: str | None = None
    minimum_deployment_target: str | None = None  # e.g. "iOS16"
    # Where the model came from (the factory's `def` line), for diagnostics that cannot point into
    # library code (TR401 on a transformers model, TR101 on a ModelOutput). Set by `load_model`.
    origin: tuple[str, int] | None = None
