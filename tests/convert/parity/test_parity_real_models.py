"""Parity passes on real models: the talk's two demos and tiny-config transformers models (random
weights, never from_pretrained), an LSTM and a U-Net, each converted at fp16 and at fp32 through
torchready's pipeline and checked on the example and three random inputs.

Each (model, precision) is converted once per module and shared by the tests below."""

import functools

import pytest
from parity_helpers import convert

import gpt2_completion
import parity_zoo
import segmentation
from torchready.convert.milrt import load_program
from torchready.convert.parity.localise import localise
from torchready.convert.parity.report import REFERENCE, TORCHSCRIPT
from torchready.convert.parity.stage import run_parity
from torchready.convert.parity.thresholds import FAIL, PASS, Thresholds
from torchready.convert.parity.torch_values import GraphValues
from torchready.convert.spec import ModelSpec


def _segmentation_demo():
    module, inputs = segmentation.build()
    return ModelSpec(module, inputs, imagenet=True, class_labels=segmentation.VOC_LABELS)


MODELS = {"segmentation-demo": _segmentation_demo, "gpt2-loop-demo": gpt2_completion.build,
          **parity_zoo.MODELS}


@functools.cache
def checked(name: str, precision: str):
    built = MODELS[name]()
    spec = built if isinstance(built, ModelSpec) else ModelSpec(built[0], tuple(built[1]))
    result = convert(spec, precision=precision)
    return result, run_parity(result)


@pytest.mark.parametrize("precision", ["fp16", "fp32"])
@pytest.mark.parametrize("name", list(MODELS))
def test_parity_passes(name, precision):
    _, report = checked(name, precision)
    assert report.status != FAIL, report.failures()
    assert report.errors == [] and len(report.cases) >= 4
    for row in report.rows:
        assert row.status == PASS, (row.target, row.output, row.problems)
        if row.target == REFERENCE and row.exact is None and precision == "fp16":
            assert row.psnr_db >= 40


@pytest.mark.parametrize("name", [n for n in MODELS if n != "gpt2-loop-demo"])
def test_no_intermediate_of_a_passing_fp16_model_counts_as_diverged(name):
    """Localisation runs only on failures, so a false "first divergence" would send the user to
    the wrong line: on models that pass, none of the aligned values may count as diverged."""
    result, report = checked(name, "fp16")
    program = load_program(result.mlmodel)
    from torchready.convert.parity.feeds import build_cases, describe_inputs

    case = build_cases(result.prepared, describe_inputs(
        result.prepared, {n: s.mil_dtype for n, s in program.input_specs.items()}), 0).cases[0]
    found = localise(program, result.sourcemap, GraphValues(result.conversion.graph_index.graph),
                     result.captured.module, case, Thresholds.for_precision("fp16"), "fp16")
    assert found.divergence is None, found.divergence.headline()
    assert len(found.comparisons) >= 2


def test_segmentation_demo_label_maps_agree():
    _, report = checked("segmentation-demo", "fp16")
    rows = {(row.target, row.output): row for row in report.rows}
    assert set(rows) == {(t, o) for t in (TORCHSCRIPT, REFERENCE) for o in ("out", "aux")}
    for output in ("out", "aux"):
        assert rows[(REFERENCE, output)].argmax >= 0.99  # classes from the 21 VOC labels


def test_gpt2_loop_demo_generates_the_same_tokens_as_eager():
    result, report = checked("gpt2-loop-demo", "fp16")
    assert result.capture_mode == "hybrid"
    coreml = [c for c in report.comparisons if c.target == REFERENCE]
    assert coreml and all(c.metrics.kind == "int" and c.metrics.exact_fraction == 1.0
                          for c in coreml)
    # Prompts of other lengths run too: the sequence length is flexible (RangeDim).
    assert any("tokens 1x" in label for label, _ in report.cases)
    program = load_program(result.mlmodel)
    assert any(op.op_type == "while_loop"
               for op in program.program.functions["main"].operations)
