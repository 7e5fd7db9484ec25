"""What the rules' documentation says torch and coremltools do, checked against torch and
coremltools themselves.

* Script hazards (TR201-TR204): every INVALID example of those rules is imported as a module, so
  its `torch.jit.script` runs for real and must fail with the compiler message the rule quotes;
  the example's expected fix must then script; every VALID example must script.
* Trace hazards (TR102-TR106): small modules, one per documented claim, traced for real: the
  TracerWarning the docs quote, and the wrong (or right) result on a second input.
* Core ML (TR302): the float64 example converted for real, and the constants coremltools wrote.
"""

from __future__ import annotations

import importlib.util
import itertools
import math
import random
import sys
import warnings
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from examples import example_source  # noqa: E402
from torchready.lint.rules import rule_by_code  # noqa: E402

TYPING = "from typing import Dict, List, Optional, Tuple\n"
# The compiler messages each rule's documentation quotes; an INVALID example must fail with one.
SCRIPT_ERRORS = {
    "TR201": ["Could not match type", "Expected a value of type 'Tensor'"],
    "TR202": ["Expected a default value of type Tensor (inferred)",
              "all inputs of range must be ints, found Tensor (inferred)",
              "Arguments for call are not valid"],
    "TR203": ["'Tensor' object has no attribute or method",
              "Compiled functions can't take variable number of arguments",
              "Lambda aren't supported", "try blocks aren't supported",
              "Comprehension ifs are not supported yet", "Unknown type name 'np.ndarray'",
              "getattr's second argument must be a string literal",
              "cannot statically infer the expected size of a list in this context",
              "function definitions aren't supported",
              "Expected integer literal for index but got a variable or non-integer",
              "Unable to extract string literal index", "Unknown type name 'dict'",
              "Attempted to use Dict without contained types",
              "Attempted to use List without a contained type",
              "Unsupported annotation typing.Optional[dict] could not be resolved",
              "Expression of type dots cannot be used in a type expression",
              "Unknown type constructor Sequence"],
    "TR204": ["but instead found type 'Optional[Tensor]'",
              "but instead found type 'Optional[float]'",
              "'Optional[Tensor]' object has no attribute or method"],
    "TR205": ["failed to convert Python type"],
}
_counter = itertools.count()


def _import(source: str, directory: Path) -> None:
    """Import the source as a real module (TorchScript reads the source file back)."""
    path = directory / f"example_{next(_counter)}.py"
    path.write_text(TYPING + source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    # Registered while it runs: script looks classes (interfaces) up through their module.
    sys.modules[path.stem] = module
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            spec.loader.exec_module(module)
    finally:
        del sys.modules[path.stem]


SCRIPT_CASES = [
    pytest.param(code, kind, index, id=f"{code}-{kind}-{index}")
    for code in SCRIPT_ERRORS
    for kind in ("valid", "invalid")
    for index in range(len(getattr(rule_by_code(code), kind.upper())))
]


@pytest.mark.parametrize("code, kind, index", SCRIPT_CASES)
def test_script_examples_behave_as_documented(code, kind, index, tmp_path):
    example = getattr(rule_by_code(code), kind.upper())[index]
    if kind == "valid":
        _import(example_source(example.code), tmp_path)
        return
    with pytest.raises(Exception) as failure:
        _import(example_source(example.code), tmp_path)
    message = " ".join(str(failure.value).split())
    assert any(expected in message for expected in SCRIPT_ERRORS[code]), message
    if example.expected_fix is not None:
        _import(example_source(example.expected_fix), tmp_path)  # the fix makes it script


# -- trace hazards ------------------------------------------------------------------------------
def _trace(module: nn.Module, *inputs: torch.Tensor):
    """(traced module, TracerWarning texts)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        traced = torch.jit.trace(module, inputs, check_trace=False)
    texts = [str(w.message) for w in caught if w.category is torch.jit.TracerWarning]
    return traced, texts


class _Crop(nn.Module):  # TR102: min() of a size
    def forward(self, x):
        return x[: min(x.size(0), 4)]


class _Scale(nn.Module):  # TR102: math.sqrt of a size
    def forward(self, x):
        return x / math.sqrt(x.size(-1))


class _TensorScale(nn.Module):  # TR102 (not reported): torch.tensor(size) is recorded
    def forward(self, x):
        return x / torch.sqrt(torch.tensor(x.size(-1), dtype=torch.float))


def test_tr102_size_math_and_min_are_baked_but_torch_tensor_of_a_size_is_not():
    traced, warned = _trace(_Crop(), torch.rand(3, 2))
    assert any("Converting a tensor to a Python boolean" in w for w in warned)
    assert traced(torch.rand(8, 2)).shape[0] == 8 and _Crop()(torch.rand(8, 2)).shape[0] == 4

    traced, warned = _trace(_Scale(), torch.ones(2, 4))
    assert any("Converting a tensor to a Python float" in w for w in warned)
    assert not torch.allclose(traced(torch.ones(2, 16)), _Scale()(torch.ones(2, 16)))

    traced, warned = _trace(_TensorScale(), torch.ones(2, 4))
    assert any("torch.tensor results are registered as constants" in w for w in warned)
    assert torch.allclose(traced(torch.ones(2, 16)), _TensorScale()(torch.ones(2, 16)))


def _torch_int(x):
    return x.to(torch.int64) if isinstance(x, torch.Tensor) else int(x)


class _GuardedInt(nn.Module):  # TR102: int() in the else of isinstance(x, torch.Tensor)
    def forward(self, x):
        return x.reshape(-1, _torch_int(x.shape[-1]), 1)


def test_tr102_a_tensor_guarded_int_is_an_export_hazard_only():
    traced, _ = _trace(_GuardedInt(), torch.rand(2, 4))
    assert traced(torch.rand(2, 6)).shape == (2, 6, 1)  # the trace follows the size
    with pytest.raises(Exception, match="Constraints violated"):
        torch.export.export(_GuardedInt(), (torch.rand(2, 4),),
                            dynamic_shapes=({1: torch.export.Dim("w", min=2)},))


class _CheckMessage(nn.Module):  # TR103 (information): a traced value in a check's message
    def forward(self, x):
        n_positive = (x > 0).sum()
        torch._assert(x.numel() > 0, f"{n_positive} positive values")
        return x * 2


def test_tr103_a_check_message_warns_but_leaves_the_graph_alone():
    traced, warned = _trace(_CheckMessage(), torch.rand(2, 3))
    assert any("Converting a tensor to a Python number" in w for w in warned)
    other = torch.randn(4, 5)
    assert torch.equal(traced(other), _CheckMessage()(other))


class _Crop2(nn.Module):  # TR103: the first INVALID example
    def forward(self, hidden, attention_mask):
        max_len = attention_mask.sum(-1).max().item()
        return hidden[:, :max_len]


def test_tr103_item_is_baked_with_the_documented_warning():
    mask = torch.tensor([[1, 1, 0, 0]])
    traced, warned = _trace(_Crop2(), torch.rand(1, 4), mask)
    assert any("Converting a tensor to a Python number might cause the trace to be incorrect. "
               "We can't record the data flow of Python values" in w for w in warned)
    longer = torch.tensor([[1, 1, 1, 0]])
    assert traced(torch.rand(1, 4), longer).shape[1] == 2  # eager keeps 3
    assert _Crop2()(torch.rand(1, 4), longer).shape[1] == 3


class _Branch(nn.Module):  # TR104
    def forward(self, x):
        if x.sum() > 0:
            return x * 2
        return -x


class _Equal(nn.Module):  # TR104: torch.equal, baked without a warning
    def forward(self, x, y):
        if torch.equal(x, y):
            return x
        return x + y


def test_tr104_branches_on_values_are_baked():
    traced, warned = _trace(_Branch(), torch.ones(3))
    assert any("Converting a tensor to a Python boolean" in w for w in warned)
    negative = -torch.ones(3)
    assert torch.equal(traced(negative), negative * 2) and torch.equal(_Branch()(negative),
                                                                       torch.ones(3))
    traced, warned = _trace(_Equal(), torch.ones(2), torch.ones(2))
    assert warned == []
    assert torch.equal(traced(torch.ones(2), torch.zeros(2)), torch.ones(2))  # eager: 1 + 0
    assert torch.equal(_Equal()(torch.ones(2), 2 * torch.ones(2)), 3 * torch.ones(2))


class _Loop(nn.Module):  # TR105: range(x.size(1)), silently unrolled
    def forward(self, x):
        total = x[:, 0]
        for t in range(1, x.size(1)):
            total = total + x[:, t]
        return total


class _Rows(nn.Module):  # TR105: iterating a tensor
    def forward(self, x):
        return torch.stack([row * 2 for row in x])


def test_tr105_shape_loops_are_unrolled():
    traced, warned = _trace(_Loop(), torch.ones(2, 3))
    assert warned == []  # no warning at all
    assert traced(torch.ones(2, 5))[0].item() == 3.0 and _Loop()(torch.ones(2, 5))[0].item() == 5
    traced, warned = _trace(_Rows(), torch.ones(2, 3))
    assert any("Iterating over a tensor might cause the trace to be incorrect" in w
               for w in warned)


class _Noise(nn.Module):  # TR106: Python's random is evaluated once
    def forward(self, x):
        return x * random.random()


class _Streaming(nn.Module):  # TR106: state written to self is not updated by the trace
    def __init__(self):
        super().__init__()
        self.register_buffer("last", torch.zeros(3))

    def forward(self, x):
        out = x + self.last
        self.last = x.detach()
        return out


def test_tr106_side_effects_happen_once_at_trace_time():
    traced, warned = _trace(_Noise(), torch.ones(3))
    assert warned == [] and torch.equal(traced(torch.ones(3)), traced(torch.ones(3)))
    traced, _ = _trace(_Streaming(), torch.ones(3))
    two, five = torch.full((3,), 2.0), torch.full((3,), 5.0)
    assert traced(two)[0].item() == 2.0 and traced(five)[0].item() == 5.0
    eager = _Streaming()
    assert eager(two)[0].item() == 2.0 and eager(five)[0].item() == 7.0


# -- Core ML ------------------------------------------------------------------------------------
class _Float64(nn.Module):  # TR302's first INVALID example
    def forward(self, x):
        return (x.double() * 1e-300 * 1e300).float()


def test_tr302_coremltools_silently_computes_float64_in_float32():
    ct = pytest.importorskip("coremltools")
    traced = torch.jit.trace(_Float64().eval(), torch.rand(2, 4))
    model = ct.convert(traced, inputs=[ct.TensorType(shape=(2, 4))], convert_to="mlprogram",
                       compute_precision=ct.precision.FLOAT32, skip_model_load=True)
    constants = [value.val.item() for op in model._mil_program.functions["main"].operations
                 for value in op.inputs.values()
                 if value.op is not None and value.op.op_type == "const"
                 and getattr(value.val, "size", 0) == 1]
    assert 0.0 in constants and math.inf in constants  # 1e-300 and 1e300 do not fit float32
    assert torch.equal(_Float64()(torch.ones(1, 4)), torch.ones(1, 4))  # eager keeps float64
