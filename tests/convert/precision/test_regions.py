"""Which ops a divergence asks to keep in fp32, on dataflow graphs written out by hand."""

import pytest

from torchready.convert.precision.regions import (INPUTS, OVERFLOW, PRECISION, UNDERFLOW,
                                                  out_of_fp16_range, region_for)
from torchready.convert.precision.selectable import SelectableGraph, SelectableOp


def graph(*ops):
    built = SelectableGraph()
    for name, op_type, reads, writes in ops:
        built.add(SelectableOp(name, op_type, tuple(reads), tuple(writes), None))
    return built


# x -> mul -> exp -> (reduce_sum, real_div) -> linear: a softmax written out, then a head.
SOFTMAX = graph(("scale", "mul", ["x"], ["scaled"]),
                ("exp", "exp", ["scaled"], ["e"]),
                ("sum", "reduce_sum", ["e"], ["total"]),
                ("div", "real_div", ["e", "total"], ["p"]),
                ("head", "linear", ["p"], ["y"]))
IN_RANGE = {"x": 3.0, "scaled": 12.0, "e": 0.9, "total": 4.0, "p": 0.5, "y": 2.0}
OVERFLOWING = {**IN_RANGE, "e": 1.6e5, "total": 9e5}


def test_an_overflow_keeps_the_whole_region_fp16_cannot_hold_and_nothing_around_it():
    region = region_for("e", SOFTMAX, set(), OVERFLOWING)
    assert region.ops == ("exp", "sum", "div") and region.reason == OVERFLOW
    assert set(region.values) == {"e", "total"}


def test_the_same_divergence_without_out_of_range_values_keeps_just_its_op():
    region = region_for("e", SOFTMAX, set(), IN_RANGE)
    assert region.ops == ("exp",) and region.reason == PRECISION


def test_an_fp32_value_its_fp16_copy_cannot_hold_moves_its_readers():
    region = region_for("e", SOFTMAX, {"exp"}, OVERFLOWING)
    assert region.ops == ("sum", "div") and region.reason == OVERFLOW


def test_an_fp32_op_that_still_diverges_in_range_asks_for_its_inputs():
    region = region_for("p", SOFTMAX, {"div"}, IN_RANGE)
    assert region.ops == ("exp", "sum") and region.reason == INPUTS
    # through the fp32 ops between, to the nearest fp16 ones
    deeper = region_for("p", SOFTMAX, {"div", "sum"}, IN_RANGE)
    assert deeper.ops == ("exp",) and deeper.reason == INPUTS


def test_values_below_fp16s_normal_range_tie_a_region_too():
    tiny = {**IN_RANGE, "scaled": 3e-6}
    region = region_for("scaled", SOFTMAX, set(), tiny)
    assert region.ops == ("scale", "exp") and region.reason == UNDERFLOW


def test_an_input_beyond_fp16_sends_every_reader_and_what_they_overflow_to_fp32():
    pressures = {**IN_RANGE, "x": 1.0e5, "scaled": 3.0e5}
    region = region_for("x", SOFTMAX, set(), pressures)
    assert region.ops == ("scale", "exp") and region.reason == OVERFLOW


def test_the_same_line_overflowing_elsewhere_joins_the_region():
    layers = graph(("pow1", "pow", ["a"], ["sq1"]), ("mean1", "reduce_mean", ["sq1"], ["v1"]),
                   ("mid", "linear", ["v1"], ["b"]),
                   ("pow2", "pow", ["b"], ["sq2"]), ("mean2", "reduce_mean", ["sq2"], ["v2"]),
                   ("pow3", "pow", ["v2"], ["sq3"]))
    magnitudes = {"a": 900.0, "sq1": 8e5, "v1": 3e4, "b": 700.0, "sq2": 5e5, "v2": 2e4,
                  "sq3": 4e8}
    lines = {"pow1": ("m.py", 8), "pow2": ("m.py", 8), "pow3": ("other.py", 3),
             "mean1": ("m.py", 8), "mean2": ("m.py", 8)}
    region = region_for("sq1", layers, set(), magnitudes, lines=lines)
    assert region.ops == ("pow1", "mean1", "pow2", "mean2")  # not pow3: another line
    alone = region_for("sq1", layers, set(), magnitudes)
    assert alone.ops == ("pow1", "mean1")


def test_nothing_left_to_keep_is_none():
    assert region_for("p", SOFTMAX, {"scale", "exp", "sum", "div"}, IN_RANGE) is None
    assert region_for(None, SOFTMAX, set(), IN_RANGE) is None


@pytest.mark.parametrize("magnitude, expected", [
    (0.0, None), (1.0, None), (65504.0, None), (65519.0, None), (65520.0, OVERFLOW),
    (1e9, OVERFLOW), (2.0 ** -14, None), (2.0 ** -15, UNDERFLOW), (1e-30, UNDERFLOW)])
def test_fp16s_range_has_the_edges_rounding_gives_it(magnitude, expected):
    assert out_of_fp16_range(magnitude) == expected
