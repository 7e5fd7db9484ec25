"""Op coverage against coremltools' real torch op registry: every unsupported op at once with its
lines, nested blocks, composite ops, and agreement with what ct.convert really does."""

import logging
import re
from pathlib import Path

import pytest
import torch

import capture_models as cm
from capture_models import marked_line
from torchready.convert.capture import capture
from torchready.convert.coverage import COMPOSITE_GUIDE, check_op_coverage
from torchready.convert.prepare import prepare
from torchready.convert.source_lines import source_of_coreml_location
from torchready.convert.spec import ModelSpec

MODELS = str(Path(cm.__file__).resolve())


def registry():
    from coremltools.converters.mil.frontend.torch.torch_op_registry import _TORCH_OPS_REGISTRY

    return _TORCH_OPS_REGISTRY


@pytest.fixture(scope="module")
def unsupported():
    prepared = prepare(ModelSpec(cm.UnsupportedOps().eval(), (torch.rand(2, 6), torch.rand(2, 6))))
    captured = capture(prepared, "trace")
    assert captured.ok
    return prepared, captured


def test_all_unsupported_ops_at_once_with_their_lines(unsupported):
    prepared, captured = unsupported
    report = check_op_coverage(captured, prepared.module)
    assert not report.ok
    assert set(report.unsupported) == {"aten::hypot", "aten::logaddexp", "aten::erfinv"}
    assert report.unsupported["aten::hypot"].count == 2
    assert report.unsupported["aten::hypot"].lines == [
        (MODELS, marked_line("hypot-1")), (MODELS, marked_line("hypot-2"))]
    found = sorted((d.details["op"], d.line) for d in report.diagnostics)
    assert found == sorted([("aten::hypot", marked_line("hypot-1")),
                            ("aten::hypot", marked_line("hypot-2")),
                            ("aten::logaddexp", marked_line("logaddexp")),
                            ("aten::erfinv", marked_line("erfinv"))])
    for diagnostic in report.diagnostics:
        assert (diagnostic.code, diagnostic.origin, diagnostic.path) == ("TR301", "coverage",
                                                                         MODELS)
        assert "@register_torch_op" in diagnostic.message and COMPOSITE_GUIDE in diagnostic.message
    # Everything else in the graph has a converter, by coremltools' own lookup.
    assert "aten::linear" in report.supported
    assert all(registry().get_func(kind) is not None for kind in report.supported)


def test_ct_convert_agrees_and_its_location_maps_back(unsupported):
    """coremltools stops at the first op we report; its "located at" resolves to that line."""
    import coremltools as ct

    prepared, captured = unsupported
    report = check_op_coverage(captured, prepared.module)
    messages = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    logger = logging.getLogger("coremltools")
    logger.addHandler(handler)
    try:
        with pytest.raises(NotImplementedError) as error:
            ct.convert(captured.module, convert_to="mlprogram", skip_model_load=True,
                       inputs=[ct.TensorType(name=name, shape=tuple(t.shape)) for name, t in
                               zip(prepared.input_names, prepared.example_inputs)])
    finally:
        logger.removeHandler(handler)
    failing = re.search(r"convert function for op '(\w+)' not implemented", str(error.value))[1]
    assert f"aten::{failing}" in report.unsupported
    location = next(re.search(r"located at: '([^']*)'", m)[1] for m in messages
                    if "located at" in m)
    source = source_of_coreml_location(captured.module, location, prepared.module)
    assert source is not None and source.user
    assert (source.path, source.line) in report.unsupported[f"aten::{failing}"].lines


def test_composite_ops_count_as_supported(unsupported):
    from coremltools.converters.mil import Builder as mb
    from coremltools.converters.mil.frontend.torch import register_torch_op
    from coremltools.converters.mil.frontend.torch.ops import _get_inputs

    prepared, captured = unsupported
    mapping = registry().name_to_func_mapping
    previous = mapping.get("erfinv")

    def erfinv(context, node):  # not a real lowering: the registry lookup is what is tested
        (x,) = _get_inputs(context, node, expected=1)
        context.add(mb.identity(x=x, name=node.name))

    erfinv.__module__ = "torchready.convert.composite_ops.erfinv_for_test"
    register_torch_op(erfinv, override=True)
    try:
        report = check_op_coverage(captured, prepared.module)
    finally:
        if previous is None:
            del mapping["erfinv"]
        else:
            mapping["erfinv"] = previous
    assert "aten::erfinv" not in report.unsupported
    assert report.composite["aten::erfinv"] == "torchready.convert.composite_ops.erfinv_for_test"
    assert set(report.unsupported) == {"aten::hypot", "aten::logaddexp"}


def test_ops_in_nested_blocks_of_a_scripted_loop():
    prepared = prepare(ModelSpec(cm.LoopWithLen().eval(), (torch.rand(2, 4),)))
    captured = capture(prepared, "script")
    assert captured.ok and captured.frozen
    report = check_op_coverage(captured, prepared.module)
    assert "prim::Loop" in report.supported
    # aten::len of a list sits in the loop condition (outside and inside the loop body).
    assert report.kinds["aten::len"].count == 2
    assert report.kinds["aten::len"].lines == [(MODELS, marked_line("len"))]
    if registry().get_func("aten::len") is None:
        assert "aten::len" in report.unsupported
        (diagnostic,) = [d for d in report.diagnostics if d.details["op"] == "aten::len"]
        assert diagnostic.line == marked_line("len")
    else:  # a composite op for len was registered in this process
        assert "aten::len" in report.supported


def attention():
    from torchready.convert.loading import load_model

    fixtures = Path(__file__).resolve().parents[2] / "fixtures"
    return load_model(f"{fixtures / 'attention.py'}:build").module


@pytest.mark.parametrize("make_model, inputs, mode", [
    (cm.SignGate, (torch.rand(2, 8),), "hybrid"),
    (attention, tuple(torch.rand(1, 2, 4, 8) for _ in range(3)), "trace"),
])
def test_fully_supported_graphs_really_convert(make_model, inputs, mode):
    """No false 'unsupported': what coverage passes, ct.convert converts (nested ifs included)."""
    import coremltools as ct

    prepared = prepare(ModelSpec(make_model().eval(), inputs))
    captured = capture(prepared, mode)
    report = check_op_coverage(captured, prepared.module)
    assert report.ok, sorted(report.unsupported)
    mlmodel = ct.convert(captured.module, convert_to="mlprogram", skip_model_load=True,
                         inputs=[ct.TensorType(name=name, shape=tuple(t.shape)) for name, t in
                                 zip(prepared.input_names, prepared.example_inputs)],
                         outputs=[ct.TensorType(name=name) for name in prepared.output_names])
    assert [o.name for o in mlmodel.get_spec().description.output] == prepared.output_names
