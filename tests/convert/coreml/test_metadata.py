"""Metadata and Xcode preview keys, written into a real converted model and read back saved."""

import json

import pytest
import torch
from torch import nn

from torchready.convert.coreml.conversion import convert_script_module
from torchready.convert.metadata import (PREVIEW_PARAMS_KEY, PREVIEW_TYPE_KEY, apply_metadata,
                              default_descriptions, infer_preview_type, metadata_from_spec)
from torchready.lint.types import UsageError

LABELS = ["background", "road", "car"]


@pytest.fixture(scope="module")
def conversion():
    model = nn.Sequential(nn.Conv2d(3, len(LABELS), 1)).eval()
    image = torch.rand(1, 3, 8, 8)
    converted = convert_script_module(torch.jit.trace(model, image), input_names=["image"],
                                      example_inputs=[image], output_names=["scores"],
                                      image_inputs=["image"])
    assert converted.ok, converted.diagnostics
    return converted


def test_segmentation_is_recognised_from_labels_image_input_and_output_shape():
    metadata = metadata_from_spec({}, labels=LABELS)
    assert infer_preview_type(metadata, has_image_input=True,
                              first_output_shape=(1, 3, 8, 8)) == "imageSegmenter"
    assert infer_preview_type(metadata, has_image_input=True, first_output_shape=(1, 3)) is None
    assert infer_preview_type(metadata, has_image_input=False,
                              first_output_shape=(1, 3, 8, 8)) is None
    told = metadata_from_spec({"preview_type": "imageClassifier"}, labels=LABELS)
    assert infer_preview_type(told, has_image_input=True,
                              first_output_shape=(1, 3, 8, 8)) == "imageClassifier"


def test_metadata_and_preview_keys_survive_saving(conversion, tmp_path):
    import coremltools as ct

    metadata = metadata_from_spec(
        {"author": "torchready tests", "license": "BSD-3-Clause", "version": "1.2",
         "description": "a 1x1 conv segmenter", "inputs": {"image": "a photo"},
         "dataset": "none"},
        labels=LABELS, preview_type="imageSegmenter")
    inputs_text, outputs_text = default_descriptions(
        conversion.inputs, conversion.output_names, conversion.torch_output_names, LABELS,
        "imageSegmenter")
    metadata.input_descriptions = {**inputs_text, **metadata.input_descriptions}
    metadata.output_descriptions = {**outputs_text, **metadata.output_descriptions}
    written = apply_metadata(conversion.mlmodel, metadata, extra={"torchready.capture": "trace"})
    path = tmp_path / "Seg.mlpackage"
    conversion.mlmodel.save(str(path))

    spec = ct.models.MLModel(str(path), skip_model_load=True).get_spec()
    assert spec.description.metadata.author == "torchready tests"
    assert spec.description.metadata.license == "BSD-3-Clause"
    assert spec.description.metadata.versionString == "1.2"
    assert spec.description.metadata.shortDescription == "a 1x1 conv segmenter"
    user = dict(spec.description.metadata.userDefined)
    assert user[PREVIEW_TYPE_KEY] == "imageSegmenter"
    assert json.loads(user[PREVIEW_PARAMS_KEY]) == {"labels": LABELS}
    assert user["dataset"] == "none" and user["torchready.capture"] == "trace"
    assert user["com.github.apple.coremltools.source_dialect"] == "TorchScript"
    assert {key: user[key] for key in written} == written
    descriptions = {feature.name: feature.shortDescription for feature in spec.description.input}
    assert descriptions == {"image": "a photo"}
    output = {f.name: f.shortDescription for f in spec.description.output}["scores"]
    assert "3 classes" in output


def test_mistakes_in_metadata_are_usage_errors(conversion):
    with pytest.raises(UsageError, match="describes input 'pixels'"):
        apply_metadata(conversion.mlmodel, metadata_from_spec({"inputs": {"pixels": "x"}}))
    with pytest.raises(UsageError, match="preview type"):
        apply_metadata(conversion.mlmodel, metadata_from_spec({}, preview_type="segmenter"))
