"""Parity never drops what it could not check without saying so: random inputs the eager model
rejects are counted, another declared size is tried when one is rejected, and parity fails when
the eager model rejects every other size the converted model accepts; a target that cannot run
(Apple's runtime, asked for on Linux) keeps its rows, marked with why."""

import io

import pytest
import torch
from parity_helpers import convert
from torch import nn

from torchready.convert.parity.device import available
from torchready.convert.parity.engine import ParityOptions
from torchready.convert.parity.report import DEVICE, UNRUN, render_text
from torchready.convert.parity.stage import run_parity
from torchready.convert.parity.thresholds import FAIL, PASS


class FixedLength(nn.Module):
    """Flattens a sequence of exactly 8 steps: any other length fails in eager PyTorch."""

    def forward(self, x):
        return x.reshape(1, 32) * 2


class AtMostTen(nn.Module):
    def forward(self, x):
        if x.size(1) > 10:
            raise ValueError("sequences longer than 10 are not supported")
        return torch.relu(x) * 2


def test_every_other_declared_size_rejected_fails_parity():
    x = torch.randn(1, 8, 4, generator=torch.Generator().manual_seed(0))
    result = convert(FixedLength(), (x,), "fp32", mode="trace", flexible={"x": {1: (2, 16)}})
    report = run_parity(result)
    assert report.status == FAIL
    [error] = report.errors
    assert error.startswith("none of the other input sizes the model declares could be checked")
    assert report.rejected_inputs == 3  # 10 steps, then the bounds 2 and 16
    assert {shapes for _, shapes in report.cases} == {"1x8x4"}  # only the example's size
    assert report.to_json()["rejected_inputs"] == 3


def test_a_rejected_size_is_replaced_by_another_declared_one():
    x = torch.randn(1, 9, 4, generator=torch.Generator().manual_seed(0))
    result = convert(AtMostTen(), (x,), "fp32", mode="trace", flexible={"x": {1: (2, 16)}})
    report = run_parity(result)
    assert report.status == PASS, report.failures()
    assert report.rejected_inputs == 1  # 11 steps, the first other size, is refused
    assert any("x 1x2x4" in label for label, _ in report.cases)  # the lower bound was used
    assert "1 random input(s) rejected by the eager model and not used" in report.notes


@pytest.mark.skipif(available(), reason="Apple's runtime runs here: nothing fails to run")
def test_a_target_that_cannot_run_keeps_its_rows_marked():
    """Apple's runtime asked for where it does not exist: its rows stay, failed, with why."""
    x = torch.randn(2, 4, generator=torch.Generator().manual_seed(0))
    result = convert(nn.Sequential(nn.Linear(4, 3), nn.Tanh()), (x,), "fp32")
    report = run_parity(result, ParityOptions(random_inputs=1, device=True))
    [row] = [row for row in report.rows if row.target == DEVICE]
    assert row.status == FAIL and row.cases == 0
    [problem] = row.problems
    assert problem.startswith(f"{UNRUN} on example, random 1: ")
    assert report.status == FAIL and report.errors == []
    assert any(failure.startswith(f"{DEVICE} output") for failure in report.failures())
    assert f"{DEVICE} output" in report.summary() and UNRUN in report.summary()
    stream = io.StringIO()
    render_text(report, stream, width=250)
    assert f"{DEVICE}" in stream.getvalue().split("rule:")[0]  # a row of the table
