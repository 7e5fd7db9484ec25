"""Shape probing catches sizes the trace baked in, names the input dimension, and points at the
line that froze it; with the static rules off (these tests run the dynamic half only)."""

import math

import pytest
import torch
from parity_helpers import line_of, same_file
from torch import nn

import attention
import parity_zoo
from torchready.convert.capture import capture
from torchready.convert.parity.shape_probing import default_dimensions, probe_shapes
from torchready.convert.prepare import prepare
from torchready.convert.spec import ModelSpec
from torchready.lint.types import Severity


def _probe(module, inputs, mode="trace", **spec):
    prepared = prepare(ModelSpec(module, inputs, **spec))
    captured = capture(prepared, mode)
    assert captured.ok, captured.error
    return probe_shapes(prepared, captured.module, mode=captured.mode,
                        traced_submodules=captured.traced_submodules,
                        existing=captured.diagnostics), captured


def test_the_talks_math_sqrt_is_caught_on_the_declared_feature_dimension():
    module, inputs = attention.build()
    report, _ = _probe(module, inputs, flexible={"query": {3: (8, 64)}})
    sqrt_line = line_of(attention.__file__, "math.sqrt(head_dim)")
    [finding] = [d for d in report.diagnostics if d.code == "TR102"]
    assert same_file(finding.path, attention.__file__) and finding.line == sqrt_line
    assert finding.severity == Severity.ERROR  # flexible in Core ML: wrong at other sizes
    assert "input 'query' dimension 3 (declared flexible, 16 in the example)" in finding.message
    assert "key dim 3" in finding.message  # moved together, or the eager model rejects it
    assert finding.details["trace_holds"] == ["4.0"]  # sqrt(16), baked in
    assert finding.details["probe_trace_holds"] == [str(round(math.sqrt(20), 6))]
    [dim] = [d for d in report.dimensions if d.target.input_name == "query"
             and d.target.dim == 3]
    assert dim.status == "specialized"


def test_the_feature_dimension_of_a_4d_input_is_probed_without_declaration():
    module, inputs = attention.build()
    report, captured = _probe(module, inputs, mode="auto")
    assert captured.mode == "trace"  # fixed shapes: auto keeps the trace
    [finding] = [d for d in report.diagnostics if d.code == "TR102"]
    assert finding.line == line_of(attention.__file__, "math.sqrt(head_dim)")
    assert finding.origin == "probe" and "dimension 3" in finding.message
    # The trace's own TR102 for the same line is replaced, its severity and evidence kept.
    assert finding.details.get("trace_evidence")


def test_dividing_by_math_sqrt_of_the_sequence_length_is_caught_with_no_declaration():
    module, inputs = parity_zoo.sequence_mean()
    report, _ = _probe(module, inputs, mode="auto")
    [finding] = report.diagnostics
    assert (finding.code, finding.line) == ("TR102", line_of(parity_zoo.__file__,
                                                             "/ math.sqrt(length)"))
    assert "input 'x' dimension 1 (sequence, 8 in the example)" in finding.message
    assert "at size 10" in finding.message
    statuses = {(d.target.dim, d.status) for d in report.dimensions}
    # batch follows, the sequence is specialized, the feature size is refused by the Linear
    assert statuses == {(0, "follows"), (1, "specialized"), (2, "rejected")}


class RootScaled(nn.Module):
    """The same model written the traceable way: `size ** 0.5` is recorded."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(16, 16)

    def forward(self, x):
        return self.proj(x).sum(dim=1) / x.size(1) ** 0.5


def test_a_model_that_follows_its_sizes_has_nothing_to_report():
    torch.manual_seed(0)
    report, _ = _probe(RootScaled(), (torch.randn(2, 8, 16),), mode="trace")
    assert report.diagnostics == [] and report.notes == []
    assert {d.status for d in report.dimensions} == {"follows", "rejected"}


class WeightedSum(nn.Module):
    """A Python loop over a dimension: the trace unrolls the example's 6 iterations."""

    def forward(self, x):
        total = x[:, 0] * 0
        for position in range(x.size(1)):
            total = total + x[:, position] * (position + 1)
        return total


def test_an_unrolled_loop_is_reported_as_tr105_at_its_body():
    report, _ = _probe(WeightedSum(), (torch.randn(1, 6, 4),), mode="trace",
                       flexible={"x": {1: (2, 12)}})
    body = line_of(__file__, "total = total + x[:, position]")
    found = {(d.code, d.line) for d in report.diagnostics}
    assert ("TR105", body) in found
    [finding] = [d for d in report.diagnostics if d.line == body]
    assert "declared flexible" in finding.message and "unrolled" in finding.message


def test_hybrid_capture_follows_the_size_so_probing_finds_nothing():
    module, inputs = parity_zoo.sequence_mean()
    report, captured = _probe(module, inputs, mode="script")
    assert captured.mode == "script"
    assert [d.status for d in report.dimensions if d.target.dim == 1] == ["follows"]
    assert report.diagnostics == []


@pytest.mark.parametrize("shape, dtype, image, expected", [
    ((1, 3, 32, 32), torch.float32, True, [0, 2, 3]),
    ((1, 9), torch.int64, False, [0, 1]),
    ((1, 400), torch.float32, False, [0, 1]),
    ((2, 5, 8), torch.float32, False, [0, 1, 2]),
])
def test_default_dimensions(shape, dtype, image, expected):
    tensor = torch.zeros(shape, dtype=dtype)
    assert [dim for dim, _ in default_dimensions(tensor, image)] == expected


class Normaliser(nn.Module):
    def forward(self, x):
        return x.sum(dim=1) / math.sqrt(x.size(1))


class Repeated(nn.Module):
    """Hybrid: the loop is scripted, `normaliser` is traced (and bakes the size in)."""

    def __init__(self):
        super().__init__()
        self.normaliser = Normaliser()

    def forward(self, x, steps: int = 2):
        total = self.normaliser(x)
        for _ in range(steps):
            total = total + self.normaliser(x)
        return total


def test_in_hybrid_mode_the_traced_submodule_is_what_gets_re_traced():
    x = torch.randn(1, 6, 4, generator=torch.Generator().manual_seed(1))
    report, captured = _probe(Repeated(), (x,), mode="hybrid", traced_submodules=["normaliser"],
                              flexible={"x": {1: (2, 12)}})
    assert captured.mode == "hybrid" and captured.traced_submodules == ["normaliser"]
    [finding] = report.diagnostics
    assert (finding.code, finding.line) == ("TR102", line_of(__file__, "/ math.sqrt(x.size(1))"))
    assert finding.severity == Severity.ERROR and "input 'x' dimension 1" in finding.message
