"""Pieces of divergence localisation: PyTorch's intermediates, and which MIL value is which."""

import numpy as np
import pytest
import torch
from parity_helpers import convert
from torch import nn

from torchready.convert.milrt import load_program
from torchready.convert.parity.alignment import align, layouts, mil_base_name, torch_as_mil_name
from torchready.convert.parity.feeds import build_cases, describe_inputs
from torchready.convert.parity.localise import localise
from torchready.convert.parity.thresholds import Thresholds
from torchready.convert.parity.torch_values import GraphValues


class ConvReluInPlace(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.head = nn.Conv2d(4, 2, 1)

    def forward(self, x):
        y = self.conv(x)
        z = torch.relu_(y)  # overwrites y's storage
        return self.head(z) * 2


@pytest.fixture(scope="module")
def converted():
    torch.manual_seed(0)
    return convert(ConvReluInPlace(), (torch.randn(1, 3, 8, 8),), "fp16")


def test_graph_values_keep_each_value_as_it_was_when_its_node_ran(converted):
    graph = converted.conversion.graph_index.graph
    x = converted.prepared.example_inputs[0]
    values = GraphValues(graph).run(converted.captured.module, (x,))
    model = converted.prepared.original
    with torch.no_grad():
        conv = model.conv(x)
    conv_names = [name for name, value in values.items()
                  if value.shape == conv.shape and torch.allclose(value, conv, atol=1e-6)]
    relu_names = [name for name, value in values.items()
                  if value.shape == conv.shape and torch.equal(value, conv.clamp(min=0))]
    assert conv_names and relu_names and not set(conv_names) & set(relu_names)
    output_name = next(iter(graph.outputs())).debugName()
    with torch.no_grad():
        assert torch.allclose(values[output_name], model(x), atol=1e-6)


def test_every_value_of_a_passing_model_is_aligned_and_none_diverges(converted):
    program = load_program(converted.mlmodel)
    case = build_cases(converted.prepared, describe_inputs(converted.prepared), 0).cases[0]
    found = localise(program, converted.sourcemap,
                     GraphValues(converted.conversion.graph_index.graph),
                     converted.captured.module, case, Thresholds.for_precision("fp16"), "fp16")
    assert found.divergence is None
    aligned = {c.op_type for c in found.comparisons}
    assert {"conv", "relu", "cast"} <= aligned  # `* 2` is fused into the head conv
    assert all(c.metrics.psnr_db > 50 for c in found.comparisons)


def test_alignment_prefers_names_and_falls_back_to_the_source_map(converted):
    program = load_program(converted.mlmodel)
    case = build_cases(converted.prepared, describe_inputs(converted.prepared), 0).cases[0]
    run = program.run(case.coreml_feeds, keep="all")
    values = GraphValues(converted.conversion.graph_index.graph).run(
        converted.captured.module, case.torch_inputs)
    ops = list(program.program.functions["main"].operations)
    with_map = align(ops, converted.sourcemap, run.intermediates, values)
    without_map = align(ops, None, run.intermediates, values)
    assert {a.how for a in with_map} <= {"name", "sourcemap"}
    assert {a.how for a in without_map} == {"name"}
    assert len(with_map) >= len(without_map) > 0
    for pair in with_map:  # an aligned MIL value belongs to the node the source map names
        entry = converted.sourcemap["ops"][pair.op_name]["torch"]
        if pair.how == "sourcemap":
            assert entry["node"] == pair.torch_name


def test_names_line_up_the_way_coremltools_writes_them():
    assert torch_as_mil_name("input.3") == "input_3"
    assert torch_as_mil_name("176") == "var_176"
    assert mil_base_name("input_3_cast_fp16") == "input_3"
    assert mil_base_name("input_1_to_fp16") == "input_1"
    assert mil_base_name("var_6_cast_fp16") == "var_6"


def test_layouts_offer_the_reshaped_and_transposed_views():
    value = np.arange(24).reshape(2, 3, 4)
    views = layouts(value, (1, 2, 3, 4))
    assert np.array_equal(views[0], value.reshape(1, 2, 3, 4))
    nhwc = layouts(value, (4, 2, 3))
    assert any(np.array_equal(view, np.transpose(value, (2, 0, 1))) for view in nhwc)


class ChunkedProjection(nn.Module):
    """One projection chunked into three equally shaped values: the split op's outputs all have
    the node's shape, only the first holds the node's own value."""

    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(8, 24)

    def forward(self, x):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        return q * k + v


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_a_multi_output_op_is_aligned_with_its_node_through_its_first_output(precision):
    torch.manual_seed(0)
    result = convert(ChunkedProjection(), (torch.randn(1, 5, 8),), precision)
    program = load_program(result.mlmodel)
    case = build_cases(result.prepared, describe_inputs(result.prepared), 0).cases[0]
    found = localise(program, result.sourcemap,
                     GraphValues(result.conversion.graph_index.graph),
                     result.captured.module, case, Thresholds.for_precision(precision), precision)
    split = [c for c in found.comparisons if c.op_type == "split"]
    assert split and all(c.mil_var.endswith("_0") for c in split)
    assert found.divergence is None
    assert all(c.metrics.psnr_db > 50 for c in found.comparisons)
