"""The parity engine on real conversions: what passes, what fails, and where it started.

Negative controls: activations beyond fp16's range (fails at fp16, localised to the scaling line,
passes at fp32); `1 / x` (MIL `inverse` adds epsilon: fails at fp16 and fp32, localised to that
op); a
trace that froze a data-dependent branch (blamed on the capture, not the conversion); a trace
that froze a size along a dimension declared flexible (the converted model fails at the other
size)."""

import io
import json

import pytest
import torch
from parity_helpers import convert, line_of, same_file
from torch import nn

import parity_zoo
from torchready.convert.parity.engine import ParityOptions
from torchready.convert.parity.report import REFERENCE, TORCHSCRIPT, render_text
from torchready.convert.parity.stage import run_parity
from torchready.convert.parity.thresholds import FAIL, PASS


def _rendered(report) -> str:
    stream = io.StringIO()
    render_text(report, stream, width=200)
    return stream.getvalue()


@pytest.fixture(scope="module")
def overflow_fp16():
    module, inputs = parity_zoo.large_scale()
    result = convert(module, inputs, "fp16")
    return result, run_parity(result)


def test_fp16_overflow_fails_parity_and_says_which_output_failed_which_metric(overflow_fp16):
    _, report = overflow_fp16
    assert report.status == FAIL and not report.passed
    rows = {(row.target, row.output): row for row in report.rows}
    assert rows[(TORCHSCRIPT, "output")].status == PASS
    assert rows[(REFERENCE, "output")].status == FAIL
    assert any(problem.startswith("nonfinite failed on example")
               for problem in rows[(REFERENCE, "output")].problems)
    text = _rendered(report)
    assert "parity failure coreml output 'output': nonfinite failed" in text
    assert "coreml" in text and "torchscript" in text


def test_fp16_overflow_is_localised_to_the_line_that_scales(overflow_fp16):
    _, report = overflow_fp16
    divergence = report.divergence
    assert divergence is not None
    assert same_file(divergence.path, parity_zoo.__file__)
    assert divergence.line == line_of(parity_zoo.__file__, "energy = features * 1e5")
    assert divergence.torch_kind == "aten::mul"
    assert divergence.fp16_overflow > 0 and "65504" in divergence.reason
    assert divergence.value_range[1] == float("inf")
    assert "fp16" in divergence.hint
    text = _rendered(report)
    assert divergence.headline() in text
    assert f"parity_zoo.py:{divergence.line} (aten::mul)" in divergence.headline()


def test_fp16_overflow_is_an_fp16_effect_the_fp32_conversion_passes(overflow_fp16):
    _, report = overflow_fp16
    assert report.recheck is not None and report.recheck.status == PASS
    assert report.cause == "fp16"
    assert "fp16 precision effect" in _rendered(report)


def test_the_same_model_converted_at_fp32_passes():
    module, inputs = parity_zoo.large_scale()
    report = run_parity(convert(module, inputs, "fp32"))
    assert report.status == PASS and report.divergence is None
    assert report.thresholds.precision == "fp32"
    assert len(report.cases) == 4  # the example and three random inputs


@pytest.mark.parametrize("precision", ["fp16", "fp32"])
def test_mil_inverse_epsilon_fails_parity_at_both_precisions_pinned_to_the_division(precision):
    module, inputs = parity_zoo.reciprocal()
    report = run_parity(convert(module, inputs, precision))
    assert report.status == FAIL
    [row] = [row for row in report.rows if row.target == REFERENCE]
    failed = "elementwise" if precision == "fp16" else "allclose"
    assert any(problem.startswith(f"{failed} failed") for problem in row.problems), row.problems
    if precision == "fp16":
        assert row.psnr_db > 40  # PSNR alone passes it: the element-wise rule is what fails it
    divergence = report.divergence
    assert divergence.op_type == "inverse" and divergence.torch_kind == "aten::reciprocal"
    assert divergence.line == line_of(parity_zoo.__file__, "return 1.0 / (x.abs() + 1e-3)")
    assert "epsilon=1e-4" in divergence.hint
    assert report.cause == "conversion"
    if precision == "fp16":  # converted again at fp32, it still fails: not an fp16 effect
        assert report.recheck is not None and report.recheck.status == FAIL
    else:
        assert report.recheck is None


def _cases(result, random_inputs=6):
    from torchready.convert.parity.feeds import build_cases, describe_inputs

    return build_cases(result.prepared, describe_inputs(result.prepared), random_inputs).cases


class SignBranch(nn.Module):
    def forward(self, x):
        if x.sum() > 0:
            return x * 2
        return -x


def test_a_trace_that_froze_a_branch_is_blamed_on_the_capture():
    example = torch.randn(1, 64, generator=torch.Generator().manual_seed(0))
    example = example - example.mean() + 0.01  # sums to 0.64: the trace keeps `x * 2`
    result = convert(SignBranch(), (example,), "fp32", mode="trace")
    # Random inputs share the example's mean and spread, so their sums take either sign.
    report = run_parity(result, ParityOptions(random_inputs=6))
    assert any(float(c.torch_inputs[0].sum()) < 0 for c in _cases(result))
    ts_rows = [row for row in report.rows if row.target == TORCHSCRIPT]
    assert ts_rows[0].status == FAIL
    assert report.cause == "capture" and report.divergence is None
    assert "TorchScript module already differs" in report.localisation_note
    example_rows = [c for c in report.comparisons if c.case == "example"]
    assert all(c.status == PASS for c in example_rows)  # right where it was traced


def test_a_size_frozen_along_a_flexible_dimension_fails_in_the_converted_model():
    module, inputs = parity_zoo.sequence_mean()
    result = convert(module, inputs, "fp32", mode="trace", flexible={"x": {1: (4, 32)}})
    report = run_parity(result)
    failing = {(c.target, c.case) for c in report.comparisons if c.status == FAIL}
    assert failing == {(TORCHSCRIPT, "random 3 (x 1x10x16)"), (REFERENCE, "random 3 (x 1x10x16)")}


def test_a_passing_model_has_one_row_per_target_and_output_and_serializes():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 4, 1))
    result = convert(model, (torch.randn(1, 3, 16, 16),), "fp16",
                     labels=["a", "b", "c", "d"])
    report = run_parity(result, ParityOptions(random_inputs=2))
    assert report.status == PASS
    assert [(row.target, row.output) for row in report.rows] == [
        (TORCHSCRIPT, "output"), (REFERENCE, "output")]
    [coreml] = [row for row in report.rows if row.target == REFERENCE]
    assert coreml.cases == 3 and coreml.psnr_db >= 40 and coreml.argmax >= 0.99
    data = json.loads(json.dumps(report.to_json()))
    assert data["status"] == "pass" and data["precision"] == "fp16"
    assert {c["label"] for c in data["cases"]} == {"example", "random 1", "random 2"}
    assert data["comparisons"][0]["checks"]


def test_thresholds_from_options_change_the_verdict():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 8), nn.Tanh())
    result = convert(model, (torch.randn(2, 8),), "fp16")
    strict = run_parity(result, ParityOptions(random_inputs=1, recheck_fp32=False,
                                              thresholds={"psnr_pass_db": 150.0,
                                                          "psnr_fail_db": 140.0}))
    assert strict.status == FAIL
    assert "PSNR" in strict.failures()[0] and ">= 150 dB" in strict.failures()[0]
