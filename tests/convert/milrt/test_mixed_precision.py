"""Mixed-precision programs: fp32 islands in an fp16 program run as Core ML types them.

coremltools' `FP16ComputePrecision(op_selector=...)` leaves the unselected ops in fp32 and casts
around them. The reference runtime must round onto the fp16 grid after fp16-typed ops only: the
casts into the island lose nothing, the island computes in fp32 (values beyond 65504 included),
and the cast out of it rounds. Checked against torch doing exactly that by hand, over generated
shapes and scales, with the all-fp16 program as the control that overflows.
"""

import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from milrt_helpers import quiet

from torchready.convert.milrt import load_program

ISLAND = frozenset({"exp", "reduce_sum", "real_div"})  # a softmax written out, kept fp32


class ExpNormalise(torch.nn.Module):
    def forward(self, x):
        scaled = x * 3.0
        exponentials = torch.exp(scaled)
        weights = exponentials / exponentials.sum(-1, keepdim=True)
        return weights * x + 1.0


def _convert(selector):
    import coremltools as ct

    quiet()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(ExpNormalise().eval(), torch.randn(2, 8))
    shape = ct.Shape((ct.RangeDim(1, 8), ct.RangeDim(1, 64)))
    return ct.convert(traced, inputs=[ct.TensorType(name="x", shape=shape)],
                      outputs=[ct.TensorType(name="y")], convert_to="mlprogram",
                      compute_precision=ct.transform.FP16ComputePrecision(op_selector=selector),
                      skip_model_load=True)


@pytest.fixture(scope="module")
def mixed():
    return load_program(_convert(lambda op: op.op_type not in ISLAND))


@pytest.fixture(scope="module")
def all_fp16():
    return load_program(_convert(lambda op: True))


def _by_hand(x: torch.Tensor) -> torch.Tensor:
    """The mixed program's arithmetic in torch: fp16 rounding after the fp16 ops only."""
    def fp16(t):
        return t.half().float()

    x16 = fp16(x)
    scaled = fp16(x16 * 3.0)  # mul: fp16
    exponentials = torch.exp(scaled)  # the island: fp32, no rounding
    weights = exponentials / exponentials.sum(-1, keepdim=True)
    return fp16(fp16(fp16(weights) * x16) + 1.0)  # cast out, then mul and add in fp16


def test_the_program_really_is_mixed(mixed):
    dtypes = {op.op_type: op.outputs[0].dtype.__name__
              for op in mixed.program.functions["main"].operations if op.op_type != "const"}
    assert {dtypes[t] for t in ISLAND} == {"fp32"}
    assert dtypes["mul"] == dtypes["add"] == "fp16"


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.integers(1, 8), columns=st.integers(1, 64),
       scale=st.floats(0.05, 6.0), seed=st.integers(0, 2**16))  # exp(3x) finite in fp32
def test_fp32_islands_compute_in_fp32_and_round_only_where_the_program_is_fp16(
        mixed, rows, columns, scale, seed):
    x = torch.randn(rows, columns, generator=torch.Generator().manual_seed(seed)) * scale
    run = mixed.run({"x": x.numpy()}, keep="all")
    expected = _by_hand(x).numpy()
    np.testing.assert_array_equal(run.outputs["y"], expected)
    assert np.isfinite(run.outputs["y"]).all()
    # Values typed fp16 sit on the fp16 grid; the island's values need not (and, with inputs
    # this large, exceed fp16's range without becoming inf).
    for op in mixed.program.functions["main"].operations:
        if op.op_type == "const":
            continue
        value = run.intermediates[op.outputs[0].name]
        if op.outputs[0].dtype.__name__ == "fp16":
            assert value.dtype == np.float16
        elif op.op_type == "exp":
            exact = torch.exp((x.half().float() * 3.0).half().float()).numpy()
            np.testing.assert_array_equal(value, exact)


def test_the_all_fp16_program_overflows_where_the_mixed_one_does_not(mixed, all_fp16):
    x = torch.linspace(-1.0, 6.0, 40).reshape(2, 20)  # exp(3 * 6) = 6.6e7 > 65504
    mixed_y = mixed.run({"x": x.numpy()}).outputs["y"]
    fp16_y = all_fp16.run({"x": x.numpy()}).outputs["y"]
    reference = ExpNormalise()(x).numpy()
    assert np.isfinite(mixed_y).all()
    # fp16 rounding of 3x before exp costs up to ~1% of a weight: close, and finite
    np.testing.assert_allclose(mixed_y, reference, rtol=1e-2, atol=1e-2)
    assert not np.isfinite(fp16_y).all()


def test_a_runtime_that_rounded_everything_or_nothing_would_not_match(mixed):
    """The control for the exact comparison: the same program with every value kept in fp32
    (precision="fp32") and torch rounding after every op both differ from the program's
    fp16_storage run, so the equality above pins the rounding to the fp16-typed ops."""
    x = torch.randn(4, 33, generator=torch.Generator().manual_seed(1)) * 2
    faithful = mixed.run({"x": x.numpy()}).outputs["y"]
    unrounded = mixed.run({"x": x.numpy()}, precision="fp32").outputs["y"]

    def fp16(t):
        return t.half().float()

    x16 = fp16(x)
    exponentials = fp16(torch.exp(fp16(x16 * 3.0)))
    total = fp16(exponentials.sum(-1, keepdim=True))
    everywhere = fp16(fp16(fp16(exponentials / total) * x16) + 1.0).numpy()
    assert not np.array_equal(faithful, unrounded)
    assert not np.array_equal(faithful, everywhere)
