"""Op names as coremltools' op_selector sees them: stable between conversions of one capture,
and every op and cast of a mixed program maps back to them."""

import warnings

import pytest
from precision_models import two_softmax_sites

from torchready import to_coreml
from torchready.convert.parity.stage import convert_again
from torchready.convert.precision.selectable import record_selectable, selector_keeping


@pytest.fixture(scope="module")
def converted():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return to_coreml(*two_softmax_sites(), lint=False, parity=False)


def _record(result):
    graph, (conversion, _) = record_selectable(
        lambda selector: convert_again(result, "fp16", selector))
    return graph, conversion


def _compute_ops(mlmodel):
    return [op for op in mlmodel._mil_program.functions["main"].operations
            if op.op_type not in ("const", "cast")]


def test_two_recordings_of_one_capture_name_the_same_ops(converted):
    first, _ = _record(converted)
    second, _ = _record(converted)
    assert first.ops == second.ops and len(first.float_ops) >= 10
    assert {op.op_type for op in first.ops.values()} >= {"linear", "exp", "reduce_sum",
                                                         "real_div", "relu"}


def test_the_recording_conversion_is_all_fp32(converted):
    _, conversion = _record(converted)
    assert {op.outputs[0].dtype.__name__ for op in _compute_ops(conversion.mlmodel)} == {"fp32"}


def test_the_kept_ops_and_only_they_stay_fp32_and_every_saved_name_maps_back(converted):
    graph, _ = _record(converted)
    keep = {name for name, op in graph.ops.items() if op.op_type in ("exp", "reduce_sum")}
    seen: set[str] = set()
    conversion, _ = convert_again(converted, "fp16", selector_keeping(keep, seen))
    assert keep <= seen
    mapped = {}
    for op in _compute_ops(conversion.mlmodel):
        name = graph.op_of_saved(op.name)
        assert name is not None, op.name
        mapped[name] = op.outputs[0].dtype.__name__
    assert {name for name, dtype in mapped.items() if dtype == "fp32"} == keep
    casts = [op for op in conversion.mlmodel._mil_program.functions["main"].operations
             if op.op_type == "cast"]
    for cast in casts:  # a cast holds the value it reads
        source = cast.inputs["x"]
        held = graph.value_of_saved(cast.outputs[0].name)
        assert held is not None and held == (graph.value_of_saved(source.name) or source.name)
        assert held in graph.producer or held in graph.readers


def test_a_name_that_no_longer_exists_is_noticed(converted):
    seen: set[str] = set()
    convert_again(converted, "fp16", selector_keeping({"no_such_op"}, seen))
    assert "no_such_op" not in seen and seen
