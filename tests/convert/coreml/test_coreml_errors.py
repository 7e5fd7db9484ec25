"""A failed ct.convert becomes one diagnostic at the line of the user's code that made the node."""

import inspect

import pytest
import torch
from torch import nn

from torchready.convert import composite_ops
from torchready.convert.coreml.conversion import convert_script_module

THIS_FILE = __file__


def line_of(function, text):
    """The absolute line number of the first line of `function` containing `text`."""
    lines, start = inspect.getsourcelines(function)
    for offset, line in enumerate(lines):
        if text in line:
            return start + offset
    raise AssertionError(f"{text!r} not in {function.__name__}")


class Hypotenuse(nn.Module):
    def forward(self, a, b):
        scaled = a * 2.0
        return torch.hypot(scaled, b) + 1.0  # coremltools 9.0 has no converter for aten::hypot


class HypotenuseInALoop(nn.Module):
    def forward(self, a, b):
        steps = 0
        while steps < 3:
            a = torch.hypot(a, b)
            steps += 1
        return a


def convert(module, *inputs, names=("a", "b")):
    return convert_script_module(module, input_names=list(names), example_inputs=list(inputs),
                                 output_names=["out"], fallback_location=("model.py", 1))


@pytest.fixture(scope="module")
def traced_failure():
    a, b = torch.rand(2, 3), torch.rand(2, 3)
    return convert(torch.jit.trace(Hypotenuse().eval(), (a, b)), a, b)


def test_unsupported_op_is_tr301_at_the_line_that_calls_it(traced_failure):
    assert not traced_failure.ok
    assert traced_failure.mlmodel is None
    [diagnostic] = traced_failure.diagnostics
    assert diagnostic.code == "TR301"
    assert diagnostic.name == "coreml-unsupported-op"
    assert diagnostic.origin == "convert"
    assert diagnostic.path.endswith("test_coreml_errors.py")
    assert diagnostic.line == line_of(Hypotenuse.forward, "torch.hypot")
    # The span underlines the code on that line, like a lint finding.
    assert diagnostic.column == 9 and diagnostic.end_column > diagnostic.column
    assert diagnostic.details["op"] == "aten::hypot"
    assert "not implemented" in diagnostic.details["coremltools"]
    assert "aten::hypot" in diagnostic.message
    assert traced_failure.failed_node.kind == "hypot"
    assert traced_failure.error == "PyTorch convert function for op 'hypot' not implemented."


def test_failure_inside_a_scripted_loop_points_at_the_inner_node():
    a, b = torch.rand(2, 3), torch.rand(2, 3)
    scripted = torch.jit.freeze(torch.jit.script(HypotenuseInALoop().eval()))
    conversion = convert(scripted, a, b)
    [diagnostic] = conversion.diagnostics
    assert diagnostic.code == "TR301"
    # coremltools logs the loop too on the way out; the first record is the inner node.
    assert diagnostic.line == line_of(HypotenuseInALoop.forward, "torch.hypot")
    assert conversion.failed_node.torch_kind == "aten::hypot"


def test_a_converter_that_crashes_is_tr303_with_coremltools_message():
    example = composite_ops.by_kind("int").example()
    traced = torch.jit.trace(example.module, example.example_inputs)
    with composite_ops.disabled("int"):  # coremltools 9.0's own `int` converter, on NumPy 2.4
        conversion = convert(traced, *example.example_inputs, names=("x",))
    [diagnostic] = conversion.diagnostics
    assert diagnostic.code == "TR303"
    assert diagnostic.name == "coreml-conversion-failed"
    assert "only 0-dimensional arrays" in diagnostic.message
    assert diagnostic.details["exception"] == "TypeError"
    source_file = inspect.getsourcefile(type(example.module))
    assert diagnostic.path.endswith("scalar_cast.py") and source_file.endswith("scalar_cast.py")
    assert diagnostic.line == line_of(type(example.module).forward, "seq_length + past")


def test_conversion_messages_are_kept_not_printed(traced_failure, capfd):
    assert any("converting 'hypot' op" in text for text in traced_failure.log.errors())
    assert capfd.readouterr().err == ""


class PooledUpsample(nn.Module):
    def forward(self, x):
        pooled = torch.nn.functional.adaptive_avg_pool2d(x, 1)
        return torch.nn.functional.interpolate(pooled, size=x.shape[-2:], mode="bilinear",
                                               align_corners=False)


def test_a_failing_graph_pass_points_at_the_ops_it_could_be_about():
    """coremltools' torch_upsample_to_core_upsample pass cannot map a bilinear resize to a
    flexible size (torchready's composite op converts it; taken out here); the pass names the
    MIL op type only, so every matching node is a suspect."""
    x = torch.rand(1, 3, 8, 8)
    with composite_ops.disabled("upsample_bilinear2d"):
        conversion = convert_script_module(
            torch.jit.trace(PooledUpsample().eval(), x), input_names=["x"], example_inputs=[x],
            output_names=["y"], flexible={"x": {2: (4, 32), 3: (4, 32)}},
            fallback_location=("model.py", 1))
    [diagnostic] = conversion.diagnostics
    assert diagnostic.code == "TR303"
    assert diagnostic.details["graph_pass"] == "torch::torch_upsample_to_core_upsample"
    assert diagnostic.details["op"] == "aten::upsample_bilinear2d"
    assert diagnostic.line == line_of(PooledUpsample.forward, "interpolate(")
