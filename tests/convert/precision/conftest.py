import sys
from pathlib import Path

import pytest

# The fixture models are importable (`import parity_zoo`).
FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"
if str(FIXTURES) not in sys.path:
    sys.path.insert(0, str(FIXTURES))


@pytest.fixture(autouse=True)
def _precision_test_environment(single_torch_thread, quiet_coremltools):
    """Every precision test: one torch thread, no coremltools chatter."""
