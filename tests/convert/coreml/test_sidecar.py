"""The source map sidecar: every op of the saved program, mapped back to TorchScript and source."""

import inspect
import json

import pytest
import torch
from torch import nn

from torchready.convert.coreml.conversion import convert_script_module
from torchready.convert.sidecar import (SUFFIX, build_sourcemap, read_sourcemap, sourcemap_path,
                             torch_origin, write_sourcemap)


def line_of(function, text):
    lines, start = inspect.getsourcelines(function)
    return start + next(i for i, line in enumerate(lines) if text in line)


class Body(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        y = torch.relu(self.lin(x))
        return y * 2


class Loop(nn.Module):
    def __init__(self, body):
        super().__init__()
        self.body = body
        self.limit = 5

    def forward(self, x):
        steps = 0
        while steps < self.limit and bool(x.sum() < 100.0):
            x = self.body(x) + 1.0
            steps += 1
        return x


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    torch.manual_seed(0)
    x = torch.rand(1, 4)
    body = torch.jit.trace(Body().eval(), x)
    loop = torch.jit.freeze(torch.jit.script(Loop(body).eval()))
    conversion = convert_script_module(loop, input_names=["x"], example_inputs=[x],
                                       output_names=["y"], root=loop)
    assert conversion.ok, conversion.diagnostics
    sourcemap = build_sourcemap(conversion.mlmodel, conversion.graph_index, input_names=["x"],
                                output_names=conversion.output_names, torch_output_names=["x"])
    package = tmp_path_factory.mktemp("sidecar") / "Loop.mlpackage"
    conversion.mlmodel.save(str(package))
    written = write_sourcemap(sourcemap, package)
    return package, written, sourcemap


def _saved_ops(package):
    """(name, type, output names) of every op in the saved program, nested blocks included, read
    from the package's protobuf (what ships; the milproto loader adds consts of its own)."""
    import coremltools as ct

    spec = ct.models.MLModel(str(package), skip_model_load=True).get_spec()
    function = spec.mlProgram.functions["main"]
    block = function.block_specializations[function.opset]

    def walk(block):
        for op in block.operations:
            name = op.attributes["name"].immediateValue.tensor.strings.values[0]
            yield name, op.type, [output.name for output in op.outputs]
            for inner in op.blocks:
                yield from walk(inner)

    return list(walk(block))


def test_sidecar_is_written_beside_the_package(saved):
    package, written, _ = saved
    assert written == sourcemap_path(package)
    assert written.parent == package.parent
    assert written.name == "Loop" + SUFFIX
    data = json.loads(written.read_text())
    assert data["schema"] == "torchready-sourcemap" and data["version"] == 1
    assert read_sourcemap(package) == data


def test_every_op_of_the_saved_program_is_mapped_by_name(saved):
    package, _, sourcemap = saved
    saved_ops = _saved_ops(package)
    assert saved_ops, "the saved program has ops"
    for name, op_type, outputs in saved_ops:
        assert name in sourcemap["ops"], name
        assert sourcemap["ops"][name]["type"] == op_type
        for output in outputs:
            assert sourcemap["vars"][output] == name


def test_ops_inside_the_loop_point_at_the_lines_that_made_them(saved):
    _, _, sourcemap = saved
    ops = sourcemap["ops"].values()
    [loop] = [op for op in ops if op["type"] == "while_loop"]
    assert loop["torch"]["kind"] == "prim::Loop"
    assert loop["torch"]["line"] == line_of(Loop.forward, "while steps")
    [linear] = [op for op in ops if op["type"] == "linear"]
    assert linear["block"].endswith("[1]")  # the while_loop's body block
    assert linear["torch"]["kind"] == "aten::linear"
    assert linear["torch"]["path"].endswith("test_sidecar.py")
    assert linear["torch"]["line"] == line_of(Body.forward, "self.lin(x)")
    assert linear["torch"]["origin"]["path"].endswith("torch/nn/modules/linear.py")
    [relu] = [op for op in ops if op["type"] == "relu"]
    assert relu["torch"]["line"] == line_of(Body.forward, "torch.relu")


def test_outputs_and_lookup_helpers(saved):
    _, _, sourcemap = saved
    assert sourcemap["outputs"] == [{"name": "y", "torch_index": 0, "torch_name": "x"}]
    assert sourcemap["inputs"] == [{"name": "x", "torch_index": 0}]
    relu_var = next(op["outputs"][0] for op in sourcemap["ops"].values() if op["type"] == "relu")
    assert torch_origin(sourcemap, relu_var)["kind"] == "aten::relu"
    assert torch_origin(sourcemap, "no_such_var") is None
