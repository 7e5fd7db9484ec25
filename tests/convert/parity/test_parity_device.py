"""Apple's Core ML runtime as a parity target: macOS only (skipped elsewhere, where coremltools
has no prediction library)."""

import pytest
import torch
from parity_helpers import convert
from torch import nn

from torchready.convert.parity.device import available
from torchready.convert.parity.engine import ParityOptions
from torchready.convert.parity.report import DEVICE, REFERENCE
from torchready.convert.parity.stage import run_parity
from torchready.convert.parity.thresholds import FAIL

pytestmark = pytest.mark.skipif(not available(), reason="Core ML prediction needs macOS")


def test_the_device_runs_next_to_the_reference_runtime():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
    report = run_parity(convert(model, (torch.randn(1, 3, 8, 8),), "fp32"),
                        ParityOptions(random_inputs=1, device=True))
    targets = {row.target for row in report.rows}
    assert {DEVICE, REFERENCE} <= targets
    assert all(row.status != FAIL for row in report.rows)
