"""`torchready.to_coreml`, the notebook flow: one call, a result with the model, findings, timings."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from torchready import to_coreml
from torchready.convert.spec import ModelSpec
from torchready.lint.types import UsageError



class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, image):
        features = F.relu(self.conv(image))
        return {"mask": features.sigmoid(), "depth": features.mean(dim=1, keepdim=True)}


class Scorer(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(20, 4)

    def forward(self, tokens):
        return self.embed(tokens).sum(dim=-1)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("api") / "TwoHeads.mlpackage"
    result = to_coreml(TwoHeads(), (torch.rand(1, 3, 12, 12),), imagenet=True,
                       metadata={"author": "api test", "outputs": {"mask": "foreground"}},
                       output=path, compute_precision="fp32", minimum_deployment_target="iOS16")
    return result, path


def test_result_holds_the_model_the_findings_and_the_timings(saved):
    result, path = saved
    assert result.ok and result.failed_stage is None
    assert result.output_names == ["mask", "depth"]
    assert [d.code for d in result.diagnostics if d.code == "TR101"] == ["TR101"]
    assert {"lint", "prepare", "capture", "coverage", "convert", "metadata", "save"} <= set(
        result.timings)
    assert all(seconds >= 0 for seconds in result.timings.values())
    assert result.capture_mode == "trace"
    assert result.package_path == path and result.sourcemap_path.is_file()
    assert result.sourcemap["outputs"][0]["name"] == "mask"


def test_metadata_and_options_reach_the_package(saved):
    import coremltools as ct

    _, path = saved
    spec = ct.models.MLModel(str(path), skip_model_load=True).get_spec()
    assert spec.description.metadata.author == "api test"
    assert spec.specificationVersion == 7
    outputs = {f.name: f.shortDescription for f in spec.description.output}
    assert outputs["mask"] == "foreground"
    assert spec.description.input[0].type.WhichOneof("Type") == "imageType"


def test_inputs_declared_as_text_name_and_flex_the_model():
    result = to_coreml(Scorer(), inputs=["tokens:1x(1..16=5):int64"], lint=False)
    assert result.ok, result.diagnostics
    [plan] = result.inputs
    assert plan.name == "tokens" and plan.coreml_dtype == "int32"
    assert plan.flexible == ((1, 1, 16),)
    assert result.package_path is None  # nothing saved without output=


def test_core_ml_input_types_are_passed_through():
    import coremltools as ct
    import numpy as np

    tokens = torch.randint(0, 20, (1, 6))
    declared = ct.TensorType(name="ids", shape=(1, ct.RangeDim(2, 8, 6)), dtype=np.int32)
    result = to_coreml(Scorer(), (tokens,), inputs=[declared], lint=False)
    assert result.ok, result.diagnostics
    array = result.mlmodel.get_spec().description.input[0].type.multiArrayType
    assert [(r.lowerBound, r.upperBound) for r in array.shapeRange.sizeRanges] == [(1, 1), (2, 8)]


def test_a_model_spec_is_accepted_and_left_untouched():
    spec = ModelSpec(module=Scorer(), example_inputs=(torch.randint(0, 20, (1, 4)),),
                     input_names=["tokens"])
    result = to_coreml(spec, labels=["a", "b"], lint=False)
    assert result.ok
    assert spec.class_labels is None and result.spec.class_labels == ["a", "b"]


def test_failures_are_returned_and_mistakes_raised():
    class Hypot(nn.Module):
        def forward(self, a, b):
            return torch.hypot(a, b)

    result = to_coreml(Hypot(), (torch.rand(2), torch.rand(2)), lint=False)
    assert not result.ok and result.failed_stage == "convert"
    assert result.mlmodel is None
    assert "aten::hypot" in result.error
    assert any(d.code == "TR301" for d in result.diagnostics)
    with pytest.raises(UsageError):
        to_coreml(Scorer())  # no example inputs
    with pytest.raises(UsageError):
        to_coreml("not a model", (torch.rand(1),))
