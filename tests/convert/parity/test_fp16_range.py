"""Values fp16 cannot represent get one sentence with the values and the way out (--precision
fp32): PyTorch outputs below fp16's smallest subnormal (a randomly initialised classifier whose
logits are about 1e-40 used to get only "cosine 0.00000"), and a diverging intermediate above
65504. A model within range gets no such sentence."""

import io
import re

import pytest
import torch
from parity_helpers import convert
from torch import nn

import parity_zoo
from torchready.convert.parity.fp16_range import RangeCount
from torchready.convert.parity.report import render_text
from torchready.convert.parity.stage import run_parity
from torchready.convert.parity.thresholds import FAIL, PASS


class TinyClassifier(nn.Module):
    """A classifier head initialised far too small: its logits are about 1e-40."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.features = nn.Sequential(nn.Linear(16, 32), nn.ReLU())
        self.head = nn.Linear(32, 10)
        with torch.no_grad():
            self.head.weight.mul_(1e-39)
            self.head.bias.zero_()

    def forward(self, x):
        return self.head(self.features(x))


def _text(report):
    stream = io.StringIO()
    render_text(report, stream, width=300)
    return stream.getvalue()


def test_outputs_below_the_smallest_subnormal_are_named_with_their_values():
    x = torch.randn(2, 16, generator=torch.Generator().manual_seed(1))
    logits = TinyClassifier()(x)
    assert 0 < logits.abs().max() < 1e-37
    report = run_parity(convert(TinyClassifier(), (x,), "fp16"))
    assert report.status == FAIL and report.cause == "fp16"  # fp32 passes: a range problem
    [sentence] = [s for s in report.fp16_range if s.startswith("PyTorch's output")]
    assert "below fp16's smallest subnormal 2^-24" in sentence and "--precision fp32" in sentence
    # every logit of the example and the three random inputs, and the smallest of them all
    assert "80 of 80 nonzero values below" in sentence
    smallest = float(re.search(r"down to (\S+)\)", sentence)[1])
    assert smallest <= logits.abs()[logits != 0].min().item()
    assert "fp16 range" in _text(report) and report.to_json()["fp16_range"] == report.fp16_range


def test_an_intermediate_above_65504_is_named_at_its_line():
    module, inputs = parity_zoo.large_scale()
    report = run_parity(convert(module, inputs, "fp16"))
    assert report.status == FAIL
    [sentence] = report.fp16_range  # the outputs (after a layer norm) are within range
    assert sentence.startswith("PyTorch's value of aten::mul")
    assert "parity_zoo.py" in sentence and "above fp16's largest 65504" in sentence
    assert "--precision fp32" in sentence


@pytest.mark.parametrize("precision", ["fp16", "fp32"])
def test_values_within_range_get_no_sentence(precision):
    module, inputs = parity_zoo.lstm()
    report = run_parity(convert(module, inputs, precision))
    assert report.status == PASS and report.fp16_range == []


def test_the_count_of_values_outside_fp16s_range():
    count = RangeCount().add([70000.0, -1e6, 1.0, 0.0, 1e-9, -3e-30, float("inf")])
    assert (count.above, count.largest, count.below, count.smallest) == (2, 1e6, 2, 3e-30)
    assert (count.size, count.nonzero) == (7, 5)
    assert not RangeCount().add([65504.0, 2.0 ** -24, 0.0]).outside
