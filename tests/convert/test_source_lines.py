"""From TorchScript nodes (traced call stacks, scripted excerpts, module hierarchies) to the
line of the user's code."""

from pathlib import Path

import torch

import capture_models as cm
from capture_models import marked_line
from torchready.convert.loading import load_model
from torchready.convert.prepare import prepare
from torchready.convert.source_lines import (frames_of_range, is_user_file, iter_nodes, node_source,
                                  user_line_of_node)
from torchready.convert.spec import ModelSpec

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
MODELS = str(Path(cm.__file__).resolve())


def line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_user_files():
    assert is_user_file(str(FIXTURES / "segmentation.py"))
    assert not is_user_file(torch.nn.modules.conv.__file__)
    import torchready.convert.prepare

    assert not is_user_file(torchready.convert.prepare.__file__)  # torchready's own wrapper code
    assert not is_user_file("<torchready-wrapper-1>")


def test_traced_library_node_resolves_to_the_users_call():
    prepared = prepare(load_model(f"{FIXTURES / 'segmentation.py'}:build"))
    traced = torch.jit.trace(prepared.module, prepared.example_inputs)
    convolutions = [node for node in iter_nodes(traced.inlined_graph)
                    if node.kind() == "aten::_convolution"]
    first = node_source(convolutions[0], prepared.module)
    path = FIXTURES / "segmentation.py"
    # The stem convolution: emitted in torch's conv.py, called from Backbone.forward.
    assert (first.path, first.line, first.user) == (str(path), line_of(path, "x = self.stem(x)"),
                                                    True)
    assert first.origin_path.endswith("torch/nn/modules/conv.py")
    # The stack of a traced node, innermost first, stops at the tracer's entry point.
    frames = frames_of_range(convolutions[0].sourceRange())
    assert frames[0][0].endswith("conv.py") and (str(path), first.line) in frames
    assert not any(frame[0].endswith("torch/jit/_trace.py") for frame in frames)


def test_scripted_library_node_resolves_through_the_module_hierarchy():
    prepared = prepare(ModelSpec(cm.LoopWithLen().eval(), (torch.rand(2, 4),)))
    scripted = torch.jit.script(prepared.module)
    graph = scripted.forward.graph.copy()
    torch._C._jit_pass_inline(graph)
    (linear,) = [node for node in iter_nodes(graph) if node.kind() == "aten::linear"]
    # Compiled from torch/nn/modules/linear.py; the user wrote `x = self.step(x)`.
    assert "torch/nn/modules/linear.py" in linear.sourceRange()
    step_line = line_of(Path(MODELS), "x = self.step(x)")
    assert user_line_of_node(linear, prepared.module) == (MODELS, step_line)
    assert user_line_of_node(linear) is None  # without the module tree there is no user frame
    (length,) = [node for node in graph.nodes() if node.kind() == "aten::len"]
    assert user_line_of_node(length) == (MODELS, marked_line("len"))
