"""Float-only unary ops on integer inputs convert with torch's type promotion (int -> fp32), on
every capture path, and pass parity: `torch.sqrt` of a count, `math.sqrt` of a size in a scripted
model, and every op of the family over generated shapes and integer dtypes (traced and exported:
the scripted path is the `math.sqrt` model's)."""

import math

import pytest
import torch
from eager_oracle import OP_SETTINGS, assert_matches_eager
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from torchready import to_coreml
from torchready.convert import composite_ops
from torchready.convert.composite_ops.float_unary import ALIASES, KIND

pytestmark = pytest.mark.usefixtures("single_torch_thread")


class CountNormalised(nn.Module):
    """RAFT's pattern: a feature divided by the square root of an integer count."""

    def forward(self, x, counts):
        return x / torch.sqrt(counts) + torch.tanh(counts)


class HeadScaled(nn.Module):
    """A scripted attention score scaled by math.sqrt of the head size (an int in TorchScript)."""

    def forward(self, q, k):
        return torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(q.size(-1))


def _counts():
    return (torch.randn(2, 5, generator=torch.Generator().manual_seed(0)),
            torch.randint(1, 50, (2, 5), generator=torch.Generator().manual_seed(1)))


@pytest.mark.parametrize("mode", ["trace", "script", "export"])
def test_sqrt_of_an_integer_tensor_converts_with_parity_on_every_capture_path(mode):
    result = to_coreml(CountNormalised(), _counts(), mode=mode, lint=False)
    assert result.ok, (result.failed_stage, result.error)
    assert result.parity.status == "pass"
    assert "sqrt" in result.composite_ops_applied


@pytest.mark.parametrize("mode", ["trace", "export"])
def test_without_the_promotion_coremltools_rejects_the_integer(mode):
    with composite_ops.disabled(KIND):
        result = to_coreml(CountNormalised(), _counts(), mode=mode, lint=False)
    assert not result.ok and result.failed_stage == "convert"
    assert "expects tensor or scalar of dtype from type domain" in result.error


def test_math_sqrt_of_a_size_in_a_scripted_model():
    generator = torch.Generator().manual_seed(2)
    inputs = (torch.randn(1, 2, 5, 8, generator=generator),
              torch.randn(1, 2, 5, 8, generator=generator))
    with composite_ops.disabled(KIND):
        before = to_coreml(HeadScaled(), inputs, mode="script", lint=False)
    assert not before.ok and "type domain" in (before.error or "")
    result = to_coreml(HeadScaled(), inputs, mode="script", lint=False,
                       flexible={"q": {2: (1, 16)}, "k": {2: (1, 16)}})
    assert result.ok, (result.failed_stage, result.error)
    assert result.parity.status == "pass" and "sqrt" in result.composite_ops_applied


class Unary(nn.Module):
    def __init__(self, name, dtype):
        super().__init__()
        self.name, self.dtype = name, dtype

    def forward(self, x):
        values = {"int": (x * 3).round().to(torch.int64), "bool": x > 0,
                  "int32": (x * 3).round().to(torch.int32)}[self.dtype]
        if self.name in ("log", "log2", "log10", "sqrt", "rsqrt", "reciprocal"):
            # away from 0, where MIL's log/rsqrt/inverse add an epsilon and torch is infinite
            values = values.abs() + 1 if self.dtype != "bool" else torch.ones_like(values)
        if self.name in ("asin", "acos", "atanh"):
            values = values.clamp(-1, 1) if self.dtype != "bool" else values
            if self.name == "atanh":
                values = values * 0  # atanh(+-1) is infinite
        return getattr(torch, self.name)(values)


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
@OP_SETTINGS
@given(name=st.sampled_from((KIND, *ALIASES)), dtype=st.sampled_from(["int", "int32", "bool"]),
       shape=st.lists(st.integers(1, 4), min_size=1, max_size=3),
       capture=st.sampled_from(["trace", "export"]), seed=st.integers(0, 2**16))
def test_every_float_only_unary_op_promotes_integers(precision, name, dtype, shape, capture,
                                                     seed):
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(seed))
    assert_matches_eager(Unary(name, dtype), (x,), precision, mode=capture)
