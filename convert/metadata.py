"""Core ML metadata: what Xcode shows on the model page, and what makes its preview work.

* The standard fields (`author`, `license`, `version`, `short_description`) and per input / output
  descriptions come from `ModelSpec.metadata` ("description" is accepted for short_description;
  "inputs" / "outputs" map names to descriptions). Other string keys go to
  `user_defined_metadata` unchanged.
* Xcode's preview tab reads two user-defined keys (coremltools' "Xcode Model Preview Types" guide;
  Apple's segmentation sample reads the same keys back):
    com.apple.coreml.model.preview.type    "imageSegmenter", "imageClassifier", "bertQA", ...
    com.apple.coreml.model.preview.params  JSON, for imageSegmenter {"labels": [...]} in class order
  (the guide's prose says "model.preview.parameters"; the key is `...preview.params`).
* A segmentation model is recognised without being told: class labels given, an image input, and
  a first output shaped (N, len(labels), H, W).
* torchready adds `torchready.version` and `torchready.capture` (the capture mode) so a package
  says how it was made; coremltools adds its own `com.github.apple.coremltools.*` keys.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

PREVIEW_TYPE_KEY = "com.apple.coreml.model.preview.type"
PREVIEW_PARAMS_KEY = "com.apple.coreml.model.preview.params"
PREVIEW_TYPES = ("imageSegmenter", "imageClassifier", "bertQA", "poseEstimation",
                 "depthEstimation", "objectDetector")
_STANDARD = {"author": "author", "license": "license", "version": "version",
             "short_description": "short_description", "description": "short_description"}


@dataclass
class ModelMetadata:
    author: str | None = None
    license: str | None = None
    version: str | None = None
    short_description: str | None = None
    input_descriptions: dict[str, str] = field(default_factory=dict)
    output_descriptions: dict[str, str] = field(default_factory=dict)
    labels: list[str] | None = None
    preview_type: str | None = None
    preview_params: dict[str, Any] | None = None
    user_defined: dict[str, str] = field(default_factory=dict)


def metadata_from_spec(metadata: Mapping[str, Any] | None, *, labels: Sequence[str] | None = None,
                       preview_type: str | None = None) -> ModelMetadata:
    result = ModelMetadata(labels=list(labels) if labels else None, preview_type=preview_type)
    for key, value in (metadata or {}).items():
        if key in _STANDARD:
            setattr(result, _STANDARD[key], str(value))
        elif key == "inputs" and isinstance(value, Mapping):
            result.input_descriptions.update({str(k): str(v) for k, v in value.items()})
        elif key == "outputs" and isinstance(value, Mapping):
            result.output_descriptions.update({str(k): str(v) for k, v in value.items()})
        elif key == "preview_type":
            result.preview_type = str(value)
        elif key == "labels" and result.labels is None:
            result.labels = [str(label) for label in value]
        else:
            result.user_defined[str(key)] = value if isinstance(value, str) else json.dumps(value)
    return result


def infer_preview_type(metadata: ModelMetadata, *, has_image_input: bool,
                       first_output_shape: Sequence[int] | None) -> str | None:
    """imageSegmenter for (image in, N x classes x H x W out, labels given); else what was set."""
    if metadata.preview_type or not metadata.labels or not has_image_input:
        return metadata.preview_type
    if first_output_shape is not None and len(first_output_shape) == 4 \
            and first_output_shape[1] == len(metadata.labels):
        return "imageSegmenter"
    return None


def apply_metadata(mlmodel: Any, metadata: ModelMetadata, *, extra: Mapping[str, str] = ()
                   ) -> dict[str, str]:
    """Write `metadata` into the model's spec; return the user-defined keys that were set."""
    if metadata.preview_type is not None and metadata.preview_type not in PREVIEW_TYPES:
        from torchready.lint.types import UsageError

        raise UsageError(f"unknown Xcode preview type {metadata.preview_type!r} "
                         f"(known: {', '.join(PREVIEW_TYPES)})")
    for attribute in ("author", "license", "version", "short_description"):
        value = getattr(metadata, attribute)
        if value is not None:
            setattr(mlmodel, attribute, value)
    _describe_features(mlmodel.input_description, metadata.input_descriptions, "input")
    _describe_features(mlmodel.output_description, metadata.output_descriptions, "output")

    written: dict[str, str] = {}
    written.update({key: str(value) for key, value in dict(extra).items()})
    written.update(metadata.user_defined)
    if metadata.preview_type is not None:
        written[PREVIEW_TYPE_KEY] = metadata.preview_type
        params = dict(metadata.preview_params or {})
        if metadata.labels and metadata.preview_type in ("imageSegmenter",):
            params.setdefault("labels", list(metadata.labels))
        if params:
            written[PREVIEW_PARAMS_KEY] = json.dumps(params)
    elif metadata.labels:
        written["labels"] = json.dumps(list(metadata.labels))
    for key, value in written.items():
        mlmodel.user_defined_metadata[key] = value
    return written


def _describe_features(target: Any, descriptions: Mapping[str, str], what: str) -> None:
    known = set(target)  # coremltools' feature-description view iterates over names
    for name, text in descriptions.items():
        if name not in known:
            from torchready.lint.types import UsageError

            raise UsageError(f"metadata describes {what} {name!r}, but the Core ML model's "
                             f"{what}s are: {', '.join(sorted(known))}")
        target[name] = text


def default_descriptions(inputs: Sequence[Any], output_names: Sequence[str],
                         torch_output_names: Sequence[str], labels: Sequence[str] | None,
                         preview_type: str | None) -> tuple[dict[str, str], dict[str, str]]:
    """Descriptions Xcode shows when the user wrote none: what each feature holds."""
    inputs_text = {}
    for plan in inputs:
        if plan.image:
            inputs_text[plan.name] = ("RGB image; pixel values 0-255 are scaled by 1/255 "
                                      "(ImageNet normalisation, if any, happens in the model)")
        elif plan.note and "int64" in plan.note:
            inputs_text[plan.name] = "int32 tensor (int64 in the PyTorch model)"
    outputs_text = {}
    for name, torch_name in zip(output_names, torch_output_names):
        if preview_type == "imageSegmenter" and labels and name == output_names[0]:
            outputs_text[name] = (f"per-pixel scores for {len(labels)} classes "
                                  f"(N x {len(labels)} x H x W), in label order")
        elif str(torch_name) != name:
            outputs_text[name] = f"output {torch_name!r} of the PyTorch model"
    return inputs_text, outputs_text
