"""The talk's two demos, end to end, through the command line users run.

Segmentation: a DeepLab-like model returning a dict -> wrapper -> trace -> ImageNet ImageType,
segmentation metadata with the VOC labels -> saved package + source map.
Sentence completion: a real transformers GPT2LMHeadModel (tiny config, random weights) traced
inside a scripted generation loop, converted with a flexible sequence length; the program keeps
its while_loop and needs torchready's composite ops (aten::diff, aten::new_ones).
"""

import contextlib
import importlib.util
import io
import json
import sys

import pytest
import torch

from torchready.cli import main
from helpers import ROOT

FIXTURES = ROOT / "fixtures"
sys.path.insert(0, str(FIXTURES))

import gpt2_completion  # noqa: E402
from segmentation import VOC_LABELS  # noqa: E402


def run_cli(*argv):
    """`torchready ARGV` in process; (exit code, the JSON report it printed)."""
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = main(list(argv))
    return code, json.loads(stdout.getvalue()) if stdout.getvalue().strip() else None


def _spec(package):
    import coremltools as ct

    return ct.models.MLModel(str(package), skip_model_load=True).get_spec()


def _program(package):
    import coremltools as ct
    from coremltools.converters.mil.frontend.milproto.load import load as milproto_load

    mlmodel = ct.models.MLModel(str(package), skip_model_load=True)
    spec = mlmodel.get_spec()
    return milproto_load(spec, spec.specificationVersion, mlmodel.weights_dir)


def _op_types(block):
    for op in block.operations:
        yield op.op_type
        for inner in op.blocks:
            yield from _op_types(inner)


# --- segmentation -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def segmentation(tmp_path_factory):
    package = tmp_path_factory.mktemp("segmentation") / "SegmentationModel.mlpackage"
    code, report = run_cli("convert", f"{FIXTURES}/segmentation.py:build", "-o", str(package),
                           "--imagenet", "--labels", str(FIXTURES / "voc_labels.txt"),
                           "--quiet", "--format", "json")
    return code, package, report


def test_segmentation_demo_converts_to_an_image_model(segmentation):
    code, package, report = segmentation
    assert code == 0
    assert report["conversion"]["capture"]["mode"] == "trace"
    # The talk's pitfalls, found and handled: dict output (TR101), no model.eval() (TR401).
    codes = {d["code"] for d in report["diagnostics"]}
    assert {"TR101", "TR401"} <= codes
    spec = _spec(package)
    [image] = spec.description.input
    assert image.type.WhichOneof("Type") == "imageType"
    assert (image.type.imageType.width, image.type.imageType.height) == (64, 64)
    assert [output.name for output in spec.description.output] == ["out", "aux"]


def test_segmentation_demo_has_the_xcode_preview_keys_and_labels(segmentation):
    _, package, _ = segmentation
    user = dict(_spec(package).description.metadata.userDefined)
    assert user["com.apple.coreml.model.preview.type"] == "imageSegmenter"
    assert json.loads(user["com.apple.coreml.model.preview.params"])["labels"] == VOC_LABELS


def test_segmentation_demo_source_map_points_into_the_fixture(segmentation):
    _, package, _ = segmentation
    sidecar = package.with_name("SegmentationModel.torchready_sourcemap.json")
    sourcemap = json.loads(sidecar.read_text())
    assert [o["name"] for o in sourcemap["outputs"]] == ["out", "aux"]
    convs = [op for op in sourcemap["ops"].values() if op["type"] == "conv"]
    assert convs and all(op["torch"]["path"].endswith("segmentation.py") for op in convs)
    resize = [op for op in sourcemap["ops"].values() if op["type"].startswith("upsample")
              or op["type"].startswith("resize")]
    source = (FIXTURES / "segmentation.py").read_text().splitlines()
    assert any("F.interpolate" in source[op["torch"]["line"] - 1] for op in resize)


@pytest.mark.skipif(importlib.util.find_spec("torchvision") is None,
                    reason="torchvision is not installed (kept out of CI)")
def test_torchvision_deeplabv3_resnet101(tmp_path):
    from torchvision.models.segmentation import deeplabv3_resnet101

    from torchready.convert.api import to_coreml

    model = deeplabv3_resnet101(weights=None, weights_backbone=None)
    result = to_coreml(model, (torch.rand(1, 3, 256, 256),), mode="trace", imagenet=True,
                       labels=VOC_LABELS, output=tmp_path / "DeepLabV3.mlpackage")
    assert result.ok, result.diagnostics
    assert result.output_names == ["out", "aux"]
    assert result.metadata["com.apple.coreml.model.preview.type"] == "imageSegmenter"
    assert _spec(result.package_path).description.input[0].type.WhichOneof("Type") == "imageType"


# --- sentence completion ------------------------------------------------------------------------


def test_gpt2_loop_generates_the_same_tokens_scripted_and_eager():
    """The talk's recipe by hand: trace GPT-2, script the loop; TorchScript == eager."""
    frozen, tokens = gpt2_completion.build_by_hand()
    eager = gpt2_completion.SentenceCompletion(gpt2_completion.tiny_gpt2()).eval()
    with torch.no_grad():
        expected = eager(tokens)
        assert torch.equal(frozen(tokens), expected)
    assert expected.shape[1] > tokens.shape[1]
    assert gpt2_completion.decode(expected).startswith(gpt2_completion.PROMPT)


@pytest.fixture(scope="module")
def completion(tmp_path_factory):
    package = tmp_path_factory.mktemp("completion") / "SentenceCompletion.mlpackage"
    code, report = run_cli("convert", f"{FIXTURES}/gpt2_completion.py:build", "-o",
                           str(package), "--quiet", "--format", "json")
    return code, package, report


def test_gpt2_completion_demo_converts_with_a_flexible_length(completion):
    code, package, report = completion
    assert code == 0
    assert report["conversion"]["capture"]["mode"] == "hybrid"
    # The completion's length is only known once the loop has run.
    assert report["conversion"]["outputs"] == [{"name": "completion", "shape": [1, None],
                                                 "dtype": "int32"}]
    [tokens] = _spec(package).description.input
    array = tokens.type.multiArrayType
    assert tokens.name == "tokens" and array.dataType == array.INT32
    prompt = gpt2_completion.encode(gpt2_completion.PROMPT)
    assert list(array.shape) == [1, prompt.shape[1]]  # the prompt's bytes are the default
    ranges = [(r.lowerBound, r.upperBound) for r in array.shapeRange.sizeRanges]
    assert ranges == [(1, 1), (1, gpt2_completion.MAX_LENGTH)]
    assert [output.name for output in _spec(package).description.output] == ["completion"]


def test_gpt2_completion_program_keeps_its_while_loop(completion):
    _, package, _ = completion
    types = list(_op_types(_program(package).functions["main"]))
    assert "while_loop" in types
    assert "linear" in types or "matmul" in types  # GPT-2 itself, inside the loop body


def test_gpt2_completion_needed_the_composite_ops(completion):
    _, _, report = completion
    assert {"diff", "new_ones"} <= set(report["conversion"]["composite_ops"])


def test_gpt2_completion_program_completes_the_prompt_like_pytorch(completion):
    """Feed the bytes of the prompt to the converted program (torchready's MIL reference
    runtime: Core ML itself only runs on macOS) and compare with eager generation."""
    import numpy as np

    from torchready.convert.milrt.loader import load_program

    _, package, _ = completion
    program = load_program(package)
    if program.unsupported_ops():
        pytest.skip("the MIL reference runtime lacks kernels for: "
                    + ", ".join(sorted({op for op, _, _ in program.unsupported_ops()})))
    tokens = gpt2_completion.encode(gpt2_completion.PROMPT)
    completed = program.run({"tokens": tokens.numpy().astype(np.int32)}).outputs["completion"]
    eager = gpt2_completion.SentenceCompletion(gpt2_completion.tiny_gpt2()).eval()
    with torch.no_grad():
        expected = eager(tokens)
    assert completed.shape == tuple(expected.shape)
    assert np.array_equal(completed, expected.numpy())
    assert gpt2_completion.decode(torch.from_numpy(completed)).startswith(gpt2_completion.PROMPT)
