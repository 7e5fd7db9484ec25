"""Each composite op: its minimal model fails ct.convert without it, converts with it, and the
lowering computes what torch computes."""

import pytest
import torch

from torchready.convert import composite_ops
from torchready.convert.composite_ops.parity import _value_inference_check, check_parity
from torchready.convert.coreml.conversion import convert_script_module

OPS = composite_ops.composite_ops()
# What coremltools 9.0 does without the op: no converter at all, or a converter that crashes.
EXPECTED_WITHOUT = {"diff": ("TR301", "not implemented"),
                    "new_ones": ("TR301", "not implemented"),
                    "int": ("TR303", "only 0-dimensional arrays"),
                    "scaled_dot_product_attention": ("TR303", "Incompatible dim 1"),
                    "_internal_op_tensor_inplace_copy": ("TR303", "updates tensor should have"),
                    "upsample_bicubic2d": ("TR301", "not implemented"),
                    "upsample_bilinear2d": ("TR303", "float output size is not supported"),
                    # converts without the fix, silently wrong: tests/convert/zoo shows it
                    "_upsample_bilinear2d_aa": None,
                    # the nearest-exact half of the example has no converter at all
                    "upsample_nearest2d": ("TR301", "not implemented"),
                    "sqrt": ("TR303", "expects tensor or scalar of dtype from type domain")}
# Fixes of converters coremltools has but gets wrong (the rest are ops it lacks).
OVERRIDES = {"int", "scaled_dot_product_attention", "_internal_op_tensor_inplace_copy",
             "upsample_bilinear2d", "_upsample_bilinear2d_aa", "upsample_nearest2d", "sqrt"}
FAILING_WITHOUT = [op for op in OPS if EXPECTED_WITHOUT[op.kind] is not None]


def _convert(op):
    example = op.example()
    traced = torch.jit.trace(example.module, example.example_inputs)
    declared = example.convert_kwargs()["inputs"]
    flexible = {}
    for item in declared:
        dims = {i: (d.lower_bound, d.upper_bound) for i, d in enumerate(item.shape.shape)
                if hasattr(d, "lower_bound")}
        if dims:
            flexible[item.name] = dims
    return convert_script_module(traced, input_names=[item.name for item in declared],
                                 example_inputs=list(example.example_inputs),
                                 output_names=["result"], flexible=flexible)


def test_every_op_module_is_listed_with_its_contract():
    assert [op.kind for op in OPS] == ["diff", "new_ones", "int", "scaled_dot_product_attention",
                                       "_internal_op_tensor_inplace_copy", "upsample_bicubic2d",
                                       "upsample_bilinear2d", "_upsample_bilinear2d_aa",
                                       "upsample_nearest2d", "sqrt"]
    for op in OPS:
        assert op.summary and callable(op.lower)
        assert op.override == (op.kind in OVERRIDES)  # only broken converters are overridden


def test_installed_routes_coremltools_to_our_lowering_only_inside_the_block():
    from coremltools.converters.mil.frontend.torch.torch_op_registry import _TORCH_OPS_REGISTRY

    before = dict(_TORCH_OPS_REGISTRY.name_to_func_mapping)
    with composite_ops.installed(), composite_ops.installed():  # re-entrant
        for op in OPS:
            for name in op.names:
                converter = _TORCH_OPS_REGISTRY.get_func(name)
                assert converter.__name__ == name and converter.__module__ == op.module.__name__
        assert composite_ops.skipped_because_upstream() == []
    assert _TORCH_OPS_REGISTRY.name_to_func_mapping == before


@pytest.mark.parametrize("op", FAILING_WITHOUT, ids=lambda op: op.kind)
def test_minimal_model_fails_without_the_op_and_converts_with_it(op):
    code, text = EXPECTED_WITHOUT[op.kind]
    with composite_ops.disabled(op.kind):
        without = _convert(op)
    assert not without.ok
    [diagnostic] = without.diagnostics
    assert diagnostic.code == code and text in diagnostic.message

    with_op = _convert(op)
    assert with_op.ok, with_op.diagnostics
    assert op.kind in with_op.composite_ops_applied


@pytest.mark.parametrize("op", OPS, ids=lambda op: op.kind)
def test_lowering_matches_torch(op):
    checks = check_parity(op)
    ran = [check for check in checks if check.ran]
    # value inference runs unless coremltools cannot fold an op the lowering emits (its
    # tensor-assignment ops have no value_inference); the reference runtime then decides.
    assert ran and (ran[0].oracle == "value-inference"
                    or "did not fold" in checks[0].detail)
    for check in ran:
        assert check.passed, check
        assert check.max_abs_error == 0.0 or check.max_abs_error <= 1e-5


def test_the_parity_oracle_catches_a_wrong_lowering():
    from coremltools.converters.mil import Builder as mb
    from coremltools.converters.mil.frontend.torch import register_torch_op
    from coremltools.converters.mil.frontend.torch.ops import _get_inputs

    def diff(context, node):  # wrong on purpose: drops the first element, never subtracts
        inputs = _get_inputs(context, node, min_expected=1)
        parts = [value for value in (inputs[3], inputs[0]) if value is not None]
        x = mb.concat(values=parts, axis=-1) if len(parts) > 1 else parts[0]
        for _ in range(int(inputs[1].val)):
            x = mb.slice_by_index(x=x, begin=[0, 1], end=[0, 0], begin_mask=[True, False],
                                  end_mask=[True, True])
        context.add(mb.identity(x=x, name=node.name), node.name)

    from coremltools.converters.mil.frontend.torch.torch_op_registry import _TORCH_OPS_REGISTRY

    with composite_ops.disabled("diff"):
        register_torch_op(diff)
        try:
            check = _value_inference_check(composite_ops.by_kind("diff"), 1e-5)
        finally:
            del _TORCH_OPS_REGISTRY.name_to_func_mapping["diff"]
    assert check.ran and not check.passed
