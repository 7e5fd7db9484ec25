"""`precision="auto"` through the Python API and the pipeline: fp16 where parity holds, the ops
parity proves need fp32 kept there, the search's bounds, and the fp32 fallback."""

import dataclasses
import json
import warnings

import pytest
import precision_models
from precision_models import line_of, offset_norm, small_mlp, two_softmax_sites

import parity_zoo
from torchready import ModelSpec, to_coreml
from torchready.convert.parity.engine import ParityOptions
from torchready.convert.pipeline import PipelineOptions, run
from torchready.convert.precision.search import PrecisionOptions
from torchready.lint.types import UsageError

ZOO = parity_zoo.__file__


def _convert(built, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return to_coreml(*built, lint=False, **options)


def _dtypes(result):
    """MIL op type -> the dtypes its outputs have in the kept program (compute ops only)."""
    found = {}
    for op in result.mlmodel._mil_program.functions["main"].operations:
        if op.op_type not in ("const", "cast"):
            found.setdefault(op.op_type, set()).add(op.outputs[0].dtype.__name__)
    return found


@pytest.fixture(scope="module")
def large_scale_auto():
    return _convert(parity_zoo.large_scale(), precision="auto")


def test_auto_keeps_only_the_layer_norm_reading_the_overflowing_values(large_scale_auto):
    result = large_scale_auto
    report = result.precision
    assert result.ok and report.outcome == "mixed" and report.float_ops == 4
    [kept] = report.fp32_ops
    assert (kept.op_type, kept.torch_kind, kept.reason) == ("layer_norm", "aten::layer_norm",
                                                            "overflow")
    assert kept.line == line_of(ZOO, "return self.head(self.norm(energy))")
    assert report.before.status == "fail" and result.parity.passed
    assert report.after.status == "pass" and report.after.precision == "fp16"
    assert _dtypes(result) == {"linear": {"fp16"}, "relu": {"fp16"}, "mul": {"fp32"},
                               "layer_norm": {"fp32"}}  # mul: coremltools' own (1e5 > fp16)
    assert result.metadata["torchready.precision"] == "auto -> mixed: 1 of 4 ops fp32"
    assert json.loads(result.metadata["torchready.fp32_ops"]) == [
        {"op": kept.saved_name, "type": "layer_norm", "source": f"{kept.path}:{kept.line}"}]


def test_at_fp16_the_same_model_fails_and_the_failure_names_what_auto_would_keep(
        large_scale_auto):
    result = _convert(parity_zoo.large_scale(), mode="trace")
    assert result.failed_stage == "parity" and result.parity.cause == "fp16"
    hint = result.precision
    assert hint.outcome == "suggested" and hint.requested == "fp16"
    assert [op.name for op in hint.fp32_ops] == [op.name for op in
                                                 large_scale_auto.precision.fp32_ops]
    assert "--precision auto would keep 1 of 4 ops in fp32" in hint.headline()
    assert "torchready.precision" not in result.metadata
    # Without a divergence to start from (one inside a loop body, one the localiser could not
    # align), the first value the program overflows fp16 with seeds the same region.
    from torchready.convert.precision.search import _next_region, _plan

    plan = _plan(result, None)
    blind = dataclasses.replace(result.parity, divergence=None)
    region, asked_by = _next_region(blind, result.mlmodel, plan, set())
    assert list(region.ops) == [op.name for op in hint.fp32_ops]
    assert asked_by.startswith("first fp16 overflow at value")
    assert _next_region(blind, result.mlmodel, plan, set(region.ops))[0] is None


def test_a_model_that_passes_at_fp16_stays_pure_fp16():
    result = _convert(small_mlp(), precision="auto")
    assert result.ok and result.precision.outcome == "fp16" and not result.precision.fp32_ops
    assert set().union(*_dtypes(result).values()) == {"fp16"}
    assert result.metadata["torchready.precision"] == "auto -> fp16"
    assert json.loads(result.metadata["torchready.fp32_ops"]) == []


def test_two_overflow_sites_take_two_rounds_and_both_stay_fp32():
    result = _convert(two_softmax_sites(), precision="auto")
    report = result.precision
    assert result.ok and report.outcome == "mixed" and len(report.rounds) == 2
    assert report.rounds[0].parity.status == "fail" and report.rounds[1].parity.status == "pass"
    models = precision_models.__file__
    lines = {op.line for op in report.fp32_ops if op.op_type == "exp"}
    assert lines == {line_of(models, "first = torch.exp"), line_of(models, "second = torch.exp")}
    # one recording conversion, one per round, one trying the model without the first region
    assert report.conversions == 4 and not report.pruned
    assert len(report.fp32_ops) < report.float_ops / 2


def _pipeline(built, **options):
    module, inputs = built
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run(ModelSpec(module, inputs), PipelineOptions(
            lint=False, compute_precision="auto", **options))


def test_lost_precision_walks_upstream_round_by_round_and_every_round_is_tried_without():
    # 12 float ops: every op of the norm ends up fp32, so the fraction bound is lifted here.
    result = _pipeline(offset_norm(), precision_options=PrecisionOptions(max_fp32_fraction=1.0),
                       parity_options=ParityOptions(random_inputs=1))
    report = result.precision
    assert result.ok and report.outcome == "mixed" and result.parity.passed
    assert {r.reason for r in report.rounds} == {"precision", "inputs"}
    assert not set(report.pruned) & {op.name for op in report.fp32_ops}
    variance = line_of(ZOO, "variance = (x * x).mean(-1, keepdim=True) - mean * mean")
    assert any(op.op_type == "sub" and op.line == variance for op in report.fp32_ops)
    models = precision_models.__file__
    assert any(op.op_type == "add" and op.path and op.path.endswith("precision_models.py")
               and op.line == line_of(models, "self.embed(x) + 100.0") for op in report.fp32_ops)
    # the recording conversion, one per round, one per earlier round tried without it
    assert len(report.rounds) > 2 and report.conversions == 2 * len(report.rounds)


def test_the_round_bound_falls_back_to_fp32_and_says_so():
    result = _pipeline(two_softmax_sites(), precision_options=PrecisionOptions(max_rounds=1))
    report = result.precision
    assert result.ok and report.outcome == "fp32" and len(report.rounds) == 1
    assert report.reason == "parity still fails after 1 round(s) of keeping ops in fp32"
    assert "no mixed-precision program passed" in report.headline()
    assert set().union(*_dtypes(result).values()) == {"fp32"}
    assert result.parity.precision == "fp32" and result.parity.passed
    assert result.metadata["torchready.precision"] == "auto -> fp32 (auto fell back)"


def test_a_model_fp16_cannot_hold_anywhere_falls_back_to_fp32():
    result = _convert(parity_zoo.pressure_regression(), precision="auto")
    report = result.precision
    assert result.ok and report.outcome == "fp32" and not report.rounds
    assert report.reason == "3 of 3 float ops would need fp32, more than 50%"
    assert report.before.status == "fail" and report.after.status == "pass"


def test_auto_cannot_fix_a_model_that_fails_at_fp32_too():
    # MIL `inverse` adds an epsilon: wrong at both precisions once PSNR must reach 100 dB.
    strict = ParityOptions(thresholds={"psnr_pass_db": 100.0, "psnr_fail_db": 100.0})
    result = _convert(parity_zoo.reciprocal(), precision="auto", parity_options=strict,
                      mode="trace")
    assert result.failed_stage == "parity" and result.precision.outcome == "failed"
    assert "fails parity at fp32 too" in result.precision.reason
    assert result.precision.conversions == 0


def test_precision_names_must_agree_and_auto_needs_parity():
    with pytest.raises(UsageError, match="disagree"):
        to_coreml(*small_mlp(), precision="auto", compute_precision="fp32")
    with pytest.raises(UsageError, match="cannot run with --no-parity"):
        to_coreml(*small_mlp(), precision="auto", parity=False, lint=False)
