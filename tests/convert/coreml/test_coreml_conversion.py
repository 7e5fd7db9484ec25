"""The conversion stage on real coremltools: input declarations, output names, precision,
deployment target, and silence."""

import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from torchready.convert.coreml.conversion import CoreMLOptions, convert_script_module, coreml_output_names
from torchready.convert.coreml.inputs import IMAGE_SCALE, plan_inputs
from torchready.lint.types import UsageError


class TinySegmenter(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.head = nn.Conv2d(4, 5, 1)

    def forward(self, image):
        features = torch.relu(self.conv(image))
        return F.interpolate(self.head(features), size=image.shape[-2:], mode="bilinear",
                             align_corners=False)


class TokenScorer(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(50, 8)
        self.score = nn.Linear(8, 1)

    def forward(self, tokens):
        return self.score(self.embed(tokens)).squeeze(-1)


def _ops(block):
    for op in block.operations:
        yield op
        for inner in op.blocks:
            yield from _ops(inner)


@pytest.fixture(scope="module")
def image_conversion():
    torch.manual_seed(0)
    model = TinySegmenter().eval()
    image = torch.rand(1, 3, 16, 16)
    traced = torch.jit.trace(model, image)
    return convert_script_module(traced, input_names=["image"], example_inputs=[image],
                                 output_names=["out"], image_inputs=["image"])


@pytest.fixture(scope="module")
def token_conversion():
    torch.manual_seed(0)
    tokens = torch.randint(0, 50, (1, 7))
    traced = torch.jit.trace(TokenScorer().eval(), tokens)
    return convert_script_module(
        traced, input_names=["tokens"], example_inputs=[tokens], output_names=["scores"],
        flexible={"tokens": {1: (1, 32)}},
        options=CoreMLOptions(compute_precision="fp32", minimum_deployment_target="iOS16"),
    )


def test_image_input_is_an_image_type_scaled_by_1_over_255_without_bias(image_conversion):
    assert image_conversion.ok, image_conversion.diagnostics
    spec = image_conversion.mlmodel.get_spec()
    declared = spec.description.input[0]
    assert declared.name == "image"
    assert declared.type.WhichOneof("Type") == "imageType"
    assert declared.type.imageType.colorSpace == declared.type.imageType.RGB
    assert (declared.type.imageType.width, declared.type.imageType.height) == (16, 16)
    program = image_conversion.mlmodel._mil_program.functions["main"]
    scale_ops = [op for op in _ops(program) if op.op_type == "mul" and op.name == "image__scaled__"]
    assert len(scale_ops) == 1
    assert float(np.asarray(scale_ops[0].y.val)) == pytest.approx(IMAGE_SCALE, rel=1e-3)
    # No per-channel bias: the exact ImageNet normalisation belongs to the wrapper module.
    assert not [op for op in _ops(program) if "biased" in op.name]


def test_outputs_carry_the_names_given(image_conversion):
    spec = image_conversion.mlmodel.get_spec()
    assert [output.name for output in spec.description.output] == ["out"]
    assert image_conversion.output_names == ["out"]


def test_fp16_is_the_default_compute_precision(image_conversion):
    program = image_conversion.mlmodel._mil_program.functions["main"]
    assert any(op.name.endswith("_cast_fp16") for op in _ops(program))


def test_int64_input_is_declared_int32_with_its_flexible_range(token_conversion):
    assert token_conversion.ok, token_conversion.diagnostics
    declared = token_conversion.mlmodel.get_spec().description.input[0]
    array = declared.type.multiArrayType
    assert array.dataType == array.INT32
    assert [(r.lowerBound, r.upperBound) for r in array.shapeRange.sizeRanges] == [(1, 1), (1, 32)]
    assert list(array.shape) == [1, 7]
    assert any("int64" in note and "int32" in note for note in token_conversion.notes)


def test_fp32_precision_and_deployment_target_are_applied(token_conversion):
    spec = token_conversion.mlmodel.get_spec()
    assert spec.specificationVersion == 7  # iOS16
    program = token_conversion.mlmodel._mil_program.functions["main"]
    assert not any("fp16" in op.name for op in _ops(program))


def test_enumerated_shapes_include_the_example_shape():
    tokens = torch.randint(0, 50, (1, 4))
    traced = torch.jit.trace(TokenScorer().eval(), tokens)
    conversion = convert_script_module(traced, input_names=["tokens"], example_inputs=[tokens],
                                       output_names=["scores"],
                                       enumerated_shapes={"tokens": [(1, 8), (1, 16)]})
    assert conversion.ok, conversion.diagnostics
    array = conversion.mlmodel.get_spec().description.input[0].type.multiArrayType
    shapes = [tuple(shape.shape) for shape in array.enumeratedShapes.shapes]
    assert set(shapes) == {(1, 4), (1, 8), (1, 16)}


def test_an_output_named_like_an_input_is_renamed_not_a_conversion_error():
    class AddOne(nn.Module):
        def forward(self, x):
            return x + 1

    x = torch.rand(2, 3)
    scripted = torch.jit.script(AddOne().eval())
    conversion = convert_script_module(scripted, input_names=["x"], example_inputs=[x],
                                       output_names=["x"])
    assert conversion.ok, conversion.diagnostics
    names = [output.name for output in conversion.mlmodel.get_spec().description.output]
    assert names == ["x_out"]
    assert coreml_output_names(["x", "x_out", "1st"], ["x"]) == ["x_out", "x_out_out", "output_1st"]


def test_declarations_that_cannot_work_are_usage_errors():
    tokens = torch.zeros(1, 7, dtype=torch.int64)
    with pytest.raises(UsageError, match="not an input"):
        plan_inputs(["tokens"], [tokens], flexible={"ids": {1: (1, 8)}})
    with pytest.raises(UsageError, match="outside its flexible range"):
        plan_inputs(["tokens"], [tokens], flexible={"tokens": {1: (1, 4)}})
    with pytest.raises(UsageError, match="image input"):
        plan_inputs(["tokens"], [tokens], imagenet=True)
    with pytest.raises(UsageError, match="deployment target"):
        convert_script_module(torch.jit.trace(TokenScorer().eval(), tokens),
                              input_names=["tokens"], example_inputs=[tokens],
                              output_names=["s"],
                              options=CoreMLOptions(minimum_deployment_target="iOS99"))


def test_a_conversion_prints_nothing(capfd):
    x = torch.rand(1, 4)
    traced = torch.jit.trace(nn.Sequential(nn.Linear(4, 2), nn.ReLU()).eval(), x)
    conversion = convert_script_module(traced, input_names=["x"], example_inputs=[x],
                                       output_names=["y"])
    assert conversion.ok
    captured = capfd.readouterr()
    assert captured.out == ""
    assert captured.err == ""  # no tqdm bars, no coremltools warnings


def test_importing_coremltools_through_torchready_prints_nothing():
    """The import-time 'Torch version ... has not been tested' warning is recorded, not printed."""
    code = ("from torchready.convert.coreml.quiet import import_coremltools, import_time_messages\n"
            "import_coremltools()\n"
            "print(any('has not been tested' in m.text for m in import_time_messages()))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"
    assert done.stderr == ""
